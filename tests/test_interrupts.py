"""A build killed (SIGKILL) at any instant leaves the old build or the new one under the final name, loadable;
the next command tidies what the killed run left. Each kill runs in a forked child of this process (the
imports are already warm, so a kill point costs a fraction of a second)."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal

import pyarrow.parquet as pq
import pytest

import imax_hub.build as build_mod
from imax_hub.build import BuildOptions, build
from imax_hub.build import folder as folder_mod
from imax_hub.build import manifest as build_manifest
from imax_hub.files import sha256_file


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _at_tick(phase: str, when: str):
    def inject():
        def tick(p, done, total):
            if p == phase and (done == 0 if when == "start" else done == total):
                _die()
        return tick
    return inject


def _between_renames():
    """No one-step exchange: the old build is renamed aside, and the kill falls before the new one is renamed in."""
    build_mod._exchange = lambda a, b: False
    real = pathlib.Path.rename

    def rename(self, target):
        result = real(self, target)
        if ".previous-" in str(target):
            _die()
        return result
    pathlib.Path.rename = rename


def _after_exchange():
    real = build_mod._exchange

    def exchange(a, b):
        done = real(a, b)
        _die()
        return done
    build_mod._exchange = exchange


def _removing_old(exchange: bool):
    def inject():
        if not exchange:
            build_mod._exchange = lambda a, b: False
        real_replace, real_rmtree = build_mod._replace, shutil.rmtree
        replaced = []

        def replace(tmp, out):
            replaced.append(True)
            return real_replace(tmp, out)

        def rmtree(path, *args, **kwargs):
            if replaced:
                next(pathlib.Path(path).rglob("*.parquet")).unlink()  # part of the old build is gone
                _die()
            return real_rmtree(path, *args, **kwargs)
        build_mod._replace = replace
        build_mod.shutil.rmtree = rmtree
    return inject


def _in(module, name: str, after_call: bool):
    def inject():
        real = getattr(module, name)

        def wrapped(*args, **kwargs):
            if not after_call:
                _die()
            result = real(*args, **kwargs)
            _die()
            return result
        setattr(module, name, wrapped)
    return inject


KILL_POINTS = {
    "reading metadata": _at_tick("read metadata", "start"),
    "reading sources": _at_tick("read sources", "start"),
    "selecting": _at_tick("select", "start"),
    "checking images": _at_tick("check images", "start"),
    "rendering": _at_tick("render", "start"),
    "writing shards": _at_tick("write shards", "start"),
    "after the shards": _at_tick("write shards", "end"),
    "statistics": _at_tick("stats", "start"),
    "hashing inputs": _at_tick("hash inputs", "start"),
    "writing the manifest": _in(build_manifest, "write_manifest", after_call=False),
    "after the card": _in(folder_mod, "write_card", after_call=True),
    "_replace: between the two renames": _between_renames,
    "_replace: right after the exchange": _after_exchange,
    "_replace: removing the old build (exchanged)": _removing_old(exchange=True),
    "_replace: removing the old build (renamed aside)": _removing_old(exchange=False),
}


def _in_child(fn) -> int:
    """Run ``fn`` in a forked child; its wait status."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            fn()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - the child reports by exit status (and its traceback)
            import traceback

            traceback.print_exc()
            code = 99
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1]


def _loadable(out: pathlib.Path) -> str:
    """The fingerprint of a whole, readable build under ``out`` (every shard present, intact and readable)."""
    manifest = build_manifest.read_manifest(out)  # tidies what a killed run left first
    for shard in manifest["shards"]:
        path = out / shard["path"]
        assert sha256_file(path) == shard["sha256"], path
        assert pq.read_metadata(path).num_rows == shard["rows"]
    assert build_manifest.fingerprint(manifest["shards"]) == manifest["fingerprint"]
    return manifest["fingerprint"]


@pytest.fixture(scope="module")
def fingerprints(tiny_tree, tmp_path_factory):
    folder = tmp_path_factory.mktemp("kill_ref")
    return {seed: build(BuildOptions(physionet_root=tiny_tree, out=folder / f"s{seed}", target_images=20,
                                     seed=seed)).manifest["fingerprint"] for seed in (0, 1)}


def test_a_build_killed_at_any_point_leaves_a_loadable_build(tiny_tree, tmp_path, fingerprints):
    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=20, seed=0))
    current = fingerprints[0]
    for name, inject in KILL_POINTS.items():
        seed = 1 if current == fingerprints[0] else 0

        def run(inject=inject, seed=seed):
            extra = inject()
            build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=20, seed=seed, overwrite=True),
                  **({"tick": extra} if callable(extra) else {}))

        status = _in_child(run)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"{name}: the kill point was not reached"
        found = _loadable(out)
        assert found in (current, fingerprints[seed]), name
        assert not list(tmp_path.glob(".imax.*")), f"{name}: left {list(tmp_path.glob('.imax.*'))}"
        current = found
    assert len(KILL_POINTS) >= 10


def test_a_lone_previous_build_is_restored_and_dead_temporaries_removed(tiny_tree, tmp_path):
    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=20))
    pid = os.fork()  # a process that has exited: what it left is stale
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    out.rename(tmp_path / f".imax.previous-{pid}")
    (tmp_path / f".imax.building-{pid}").mkdir()
    (tmp_path / f".imax.building-{os.getpid()}").mkdir()  # a live process's: left alone
    done = build_manifest.recover(out)
    assert len(done) == 2
    assert build_manifest.is_build(out)
    assert sorted(p.name for p in tmp_path.glob(".imax.*")) == [f".imax.building-{os.getpid()}"]


def test_ctrl_c_while_the_old_build_is_removed_exits_0_with_the_new_build(tiny_tree, tmp_path, fingerprints):
    from imax_hub.cli import main

    out = tmp_path / "imax"
    build(BuildOptions(physionet_root=tiny_tree, out=out, target_images=20, seed=0))

    def run():
        signal.signal(signal.SIGINT, signal.default_int_handler)
        real_replace, real_rmtree = build_mod._replace, shutil.rmtree
        replaced = []

        def replace(tmp, o):
            replaced.append(True)
            return real_replace(tmp, o)

        def rmtree(path, *args, **kwargs):
            if replaced:
                os.kill(os.getpid(), signal.SIGINT)
            return real_rmtree(path, *args, **kwargs)
        build_mod._replace = replace
        build_mod.shutil.rmtree = rmtree
        main(["build", "--physionet-root", str(tiny_tree), "--out", str(out), "--target-images", "20", "--seed", "1",
              "--overwrite"])

    status = _in_child(run)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert _loadable(out) == fingerprints[1]
