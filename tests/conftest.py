import os
import shutil
from pathlib import Path

import pytest

# Tests never touch the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

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
