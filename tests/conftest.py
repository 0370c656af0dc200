import ipaddress
import os
import shutil
import socket
from pathlib import Path

import pytest

# Tests never touch the network: the Hub libraries are offline, and any socket connection to an address
# outside the loopback range is refused in this process (the fake Hub of tests/fake_hub.py is on 127.0.0.1).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")


def is_loopback(address) -> bool:
    if not isinstance(address, tuple):  # a Unix socket path
        return True
    host = str(address[0]).split("%")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name other than localhost
        return False


def _loopback_only(real):
    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            raise OSError(f"tests never touch the network: connection to {address!r} refused (tests/conftest.py)")
        return real(self, address)

    connect.loopback_only = True
    return connect


socket.socket.connect = _loopback_only(socket.socket.connect)
socket.socket.connect_ex = _loopback_only(socket.socket.connect_ex)

from imax_hub.synth import synthesize  # noqa: E402


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory) -> Path:
    """A small synthetic tree with images, shared read-only by the tests."""
    root = tmp_path_factory.mktemp("tiny") / "physionet"
    synthesize(root, patients=24, seed=3, image_size=128)
    return root


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_c") / "physionet"
    cohort = synthesize(root, patients=24, seed=3, image_size=128)
    return root, cohort


@pytest.fixture
def tree_copy(tiny_tree, tmp_path) -> Path:
    """A private copy of the tiny tree that a test may damage."""
    dst = tmp_path / "physionet"
    shutil.copytree(tiny_tree, dst)
    return dst


@pytest.fixture
def imax_cli():
    """``imax ARGS…`` in this process (its real CLI); a non-zero exit fails the test."""
    from imax_hub.cli import main

    def run(args) -> None:
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            assert not exc.code, f"imax {args[0]} exited with {exc.code}"

    return run


# Modules whose module-scoped fixture is costly (tests/test_hub.py's `demo`: a build and three evaluations, ~90 s)
# go to one xdist worker as a whole, so it is set up once; every other test is balanced one by one as under
# `-n 2`'s default. (pytest-xdist's `xdist_group` mark does not take under pytest 9 here: its node-id suffix is
# lost, so a scheduler hook does it.)
KEEP_TOGETHER = ("tests/test_hub.py",)


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class CostlyModulesTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::")[0]
            return module if module in KEEP_TOGETHER else nodeid

    return CostlyModulesTogether(config, log)
