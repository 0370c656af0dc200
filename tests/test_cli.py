"""``imax synth`` then ``imax check``: all seven tasks enabled; partial trees say what is missing."""

import re
import shutil
import subprocess
import sys
from pathlib import Path


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


def test_score_then_compare_two_prediction_files(tiny_tree, tmp_path):
    import json
    import random

    import pyarrow.parquet as pq

    out = tmp_path / "imax"
    assert _imax("build", "--physionet-root", tiny_tree, "--out", out, "--target-images", "20",
                 "--config", "imax").returncode == 0
    rows = [r for f in sorted(out.glob("data/*/test-*.parquet")) for r in pq.read_table(f).to_pylist()]
    rng = random.Random(0)
    files = []
    for name, p_wrong in (("baseline", 0.7), ("model", 0.2)):
        path = tmp_path / f"{name}.jsonl"
        with open(path, "w") as fh:
            for r in rows:
                fh.write(json.dumps({"id": r["id"], "prediction": "no idea" if rng.random() < p_wrong else r["answer"]}) + "\n")
        files.append(path)
    r = _imax("score", files[1], "--dataset", out)
    assert r.returncode == 0, r.stderr
    assert "unparsed outputs" in r.stdout and (tmp_path / "model.scores.json").is_file()
    r = _imax("compare", files[0], tmp_path / "model.scores.json", "--dataset", out, "--bootstrap", "50",
              "--out", tmp_path / "cmp")
    assert r.returncode == 0, r.stderr
    assert "Table 1 style" in r.stdout and "/ 16" in r.stdout and "Δ" in r.stdout
    result = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert result["runs"][1]["improved"] >= 12 and result["runs"][1]["delta"] > 0
    assert (tmp_path / "cmp" / "radar.png").stat().st_size > 10_000
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    r = _imax("score", bad, "--dataset", out)
    assert r.returncode == 1 and "bad.jsonl, line 1" in r.stderr


def test_help_lists_choices_and_shows_flags_as_flags():
    from typer.testing import CliRunner

    from imax_hub.cli import app

    runner = CliRunner()
    text = runner.invoke(app, ["build", "--help"], env={"COLUMNS": "200"}).output
    assert "--config <imax|dmax|all>" in text and "--split-by <patient|image>" in text
    assert "--require <available|all>" in text
    assert re.search(r"--embed-images\s+Store", text) and "<bool>" not in text
    text = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "300"}).output
    assert "--backend <transformers|stock|vllm>" in text and "|minigpt-v2|auto>" in text
    result = runner.invoke(app, ["build", "--physionet-root", ".", "--config", "both"])
    assert result.exit_code == 2 and "both" in result.output


REPO = Path(__file__).resolve().parents[1]
DOC_PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _documented_commands() -> list[tuple[str, list[str]]]:
    """(where, tokens from `imax` on) of every imax command line in the README's and docs' bash blocks."""
    import shlex

    found = []
    for page in DOC_PAGES:
        blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S)
        for block in blocks:
            for line in block.replace("\\\n", " ").splitlines():
                tokens = shlex.split(line, comments=True)
                while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):  # environment assignments
                    tokens = tokens[1:]
                start = 1 if tokens[:1] == ["imax"] else None
                if tokens[:2] == ["accelerate", "launch"] and "-m" in tokens:
                    start = tokens.index("-m") + 2 if tokens[tokens.index("-m") + 1] == "imax_hub" else None
                if start is not None:
                    found.append((f"{page.name}: {line.strip()[:80]}", tokens[start:]))
    return found


def test_every_documented_imax_command_names_a_real_subcommand_and_real_options():
    import typer

    from imax_hub.cli import app

    group = typer.main.get_command(app)
    commands = _documented_commands()
    assert len(commands) > 40  # the README and the docs pages are full of them
    for where, tokens in commands:
        assert tokens and tokens[0] in group.commands, f"{where}: no subcommand {tokens[:1]}"
        options = {o for p in group.commands[tokens[0]].params for o in p.opts + p.secondary_opts} | {"--help"}
        for tok in tokens[1:]:
            if tok.startswith("--"):
                assert tok.split("=", 1)[0] in options, f"{where}: `imax {tokens[0]}` has no option {tok}"


def test_documentation_links_stay_inside_the_repository_and_resolve():
    """Every relative link of the README and docs pages names a file in the repository (and, with #anchor, a heading
    of it); nothing points above the repository root."""
    def anchors(page: Path) -> set[str]:  # GitHub's rule: lower case, punctuation dropped, spaces to hyphens
        heads = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}

    checked = 0
    for page in [*DOC_PAGES, REPO / "model_cards" / "README.md"]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://|mailto:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.is_relative_to(REPO) and dest.exists(), f"{page.name}: link {target} leaves or misses the repo"
            if anchor:
                assert anchor in anchors(dest), f"{page.name}: {target} names no heading of {dest.name}"
            checked += 1
    assert checked > 20
