"""``imax synth`` then ``imax check``: all seven tasks enabled; partial trees say what is missing."""

import shutil
import subprocess
import sys


def _imax(*args):
    return subprocess.run([sys.executable, "-m", "imax_hub", *map(str, args)], capture_output=True, text=True)


def test_synth_then_check(tmp_path):
    root = tmp_path / "tree"
    r = _imax("synth", root, "--patients", "8", "--seed", "2", "--image-size", "96")
    assert r.returncode == 0, r.stderr
    assert "8 patients" in r.stdout
    r = _imax("check", root, "--verify-checksums")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "7 of 7 tasks enabled" in r.stdout
    # refuses to write into a non-empty folder
    r = _imax("synth", root, "--patients", "2")
    assert r.returncode == 1 and "not empty" in r.stderr


def test_check_partial_tree_names_what_to_download(tiny_tree, tmp_path):
    root = tmp_path / "partial"
    shutil.copytree(tiny_tree, root)
    shutil.rmtree(root / "chexmask-cxr-segmentation-data")
    r = _imax("check", root)
    assert "5 of 7 tasks enabled" in r.stdout
    assert "CheXmask (heart and lung masks): not found; download it from " \
           "https://physionet.org/files/chexmask-cxr-segmentation-data/1.0.0/" in r.stderr
    assert r.returncode == 0  # missing sources only turn tasks off


def test_module_and_console_script_agree():
    r = _imax("--version")
    assert r.returncode == 0 and r.stdout.strip() == __import__("imax_hub").__version__


def test_build_then_stats_then_refuse_overwrite(tiny_tree, tmp_path):
    out = tmp_path / "imax"
    r = _imax("build", "--physionet-root", tiny_tree, "--out", out, "--target-images", "20")
    assert r.returncode == 0, r.stderr
    assert "IMAX 20 images" in r.stdout and "fingerprint" in r.stdout
    r = _imax("stats", out)
    assert r.returncode == 0 and "DMAX tasks per image" in r.stdout and "47,600" in r.stdout
    r = _imax("build", "--physionet-root", tiny_tree, "--out", out)
    assert r.returncode == 1 and "already exists; pass --overwrite" in r.stderr
    assert "Traceback" not in r.stderr
    r = _imax("stats", tmp_path)
    assert r.returncode == 1 and "not found" in r.stderr
