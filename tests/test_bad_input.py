"""Bad input: a clear message naming file, line and column; non-zero exit; no traceback."""

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from imax_hub.errors import SourceError
from imax_hub.sources import read_chexmask, read_metadata, read_vqa
from imax_hub.sources.readlog import recording
from imax_hub.sources.reports import read_reports

sys.path.insert(0, str(Path(__file__).parent))
from bad_input_corpus import CASES  # noqa: E402

JPG = "mimic-cxr-jpg/2.1.0"
CHEXMASK = "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv"
META = f"{JPG}/mimic-cxr-2.0.0-metadata.csv.gz"


def _rewrite_gz(path, fn):
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    path.write_bytes(gzip.compress(("\n".join(fn(lines)) + "\n").encode()))


def _imax(*args):
    return subprocess.run([sys.executable, "-m", "imax_hub", *map(str, args)], capture_output=True, text=True)


def test_bad_header(tree_copy):
    """A required column missing (here renamed) is an error naming it and the columns found."""
    _rewrite_gz(tree_copy / META, lambda ls: [ls[0].replace("ViewPosition", "View")] + ls[1:])
    with pytest.raises(SourceError) as e:
        read_metadata(tree_copy)
    assert e.value.line == 1 and "missing column(s) 'ViewPosition'" in str(e.value)
    assert "header has: dicom_id,subject_id,study_id,PerformedProcedureStepDescription,View,Rows" in str(e.value)


def test_wrong_type(tree_copy):
    """One bad cell sets its row aside (counted); past --max-bad-rows it is an error naming line, column, value."""
    def bad(lines):
        cells = lines[3].split(",")
        cells[5] = "tall"
        lines[3] = ",".join(cells)
        return lines
    _rewrite_gz(tree_copy / META, bad)
    n = read_metadata(tree_copy).num_rows
    with recording() as log:
        assert read_metadata(tree_copy).num_rows == n
    f = log.file(tree_copy / META)
    assert dict(f.malformed) == {"Rows: not an integer": 1} and f.rows == n + 1 and f.lines()[0].line == 4
    with recording(max_bad_rows=0), pytest.raises(SourceError) as e:
        read_metadata(tree_copy)
    assert e.value.line == 4 and e.value.column == "Rows" and "'tall'" in str(e.value)
    assert str(tree_copy / META) in str(e.value)


def test_short_row(tree_copy):
    _rewrite_gz(tree_copy / META, lambda ls: ls[:5] + [ls[5].rsplit(",", 3)[0]] + ls[6:])
    with recording() as log:
        read_metadata(tree_copy)
    assert dict(log.file(tree_copy / META).malformed) == {"wrong number of fields": 1}
    with recording(max_bad_rows=0), pytest.raises(SourceError) as e:
        read_metadata(tree_copy)
    assert e.value.line == 6 and "9 fields, expected 12" in str(e.value)


def test_truncated_gzip(tree_copy):
    path = tree_copy / META
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="truncated or corrupt"):
        read_metadata(tree_copy)


def _edit_chexmask(tree, column, fn, row=0):
    import csv
    path = tree / CHEXMASK
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    rows[row + 1][header.index(column)] = fn(rows[row + 1][header.index(column)], rows[row + 1], header)
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def test_rle_leaving_the_image(tree_copy):
    def leave(v, row, header):
        n = int(row[header.index("Height")]) * int(row[header.index("Width")])
        return v + f" {n - 2} 10"
    _edit_chexmask(tree_copy, "Heart", leave, row=2)
    with recording(max_bad_rows=0), pytest.raises(SourceError) as e:
        read_chexmask(tree_copy)
    assert e.value.column == "Heart" and "leaves the" in str(e.value)
    assert e.value.record == 3 and e.value.line > 3  # landmarks span several lines per record


def test_rle_overlapping_runs(tree_copy):
    _edit_chexmask(tree_copy, "Left Lung", lambda v, r, h: " ".join(v.split()[:2] + v.split()[:2] + v.split()[2:]))
    with recording(max_bad_rows=0), pytest.raises(SourceError, match="overlap") as e:
        read_chexmask(tree_copy)
    assert e.value.record == 1 and e.value.column == "Left Lung"


def test_chexmask_size_disagrees_with_metadata(tree_copy):
    _edit_chexmask(tree_copy, "Height", lambda v, r, h: str(int(v) + 1), row=1)
    meta = read_metadata(tree_copy)
    with recording(max_bad_rows=0), pytest.raises(SourceError, match="disagrees with the image metadata") as e:
        read_chexmask(tree_copy, image_sizes=meta)
    assert e.value.record == 2


def test_json_entry_missing_field(tree_copy):
    path = tree_copy / "mimic-ext-mimic-cxr-vqa/1.0.0/MIMIC-Ext-MIMIC-CXR-VQA/dataset/train.json"
    entries = json.loads(path.read_text())
    del entries[1]["semantic_type"]
    path.write_text(json.dumps(entries, indent=4))
    with recording(max_bad_rows=0), pytest.raises(SourceError) as e:
        read_vqa(tree_copy)
    assert e.value.column == "semantic_type" and "entry 1" in str(e.value)
    assert path.read_text().splitlines()[e.value.line - 1].strip() == "{"


def test_json_truncated(tree_copy):
    path = tree_copy / "mimic-ext-mimic-cxr-vqa/1.0.0/MIMIC-Ext-MIMIC-CXR-VQA/dataset/valid.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(SourceError, match="invalid JSON"):
        read_vqa(tree_copy)


def test_corrupt_report_zip(tree_copy):
    path = tree_copy / "mimic-cxr/2.1.0/mimic-cxr-reports.zip"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SourceError, match="zip"):
        read_reports(tree_copy)


def test_cli_image_listed_but_absent(tree_copy):
    jpg = next((tree_copy / JPG / "files").rglob("*.jpg"))
    jpg.unlink()
    r = _imax("check", tree_copy)
    assert r.returncode == 1
    assert jpg.name in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    r = _imax("check", tree_copy, "--allow-missing-images")
    assert r.returncode == 0, r.stdout + r.stderr


def test_cli_user_error_has_no_traceback_unless_debug(tmp_path):
    r = _imax("check", tmp_path / "nowhere")
    assert r.returncode == 1 and "not a folder" in r.stderr and "Traceback" not in r.stderr
    r = _imax("--debug", "check", tmp_path / "nowhere")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_cli_checksum_mismatch(tree_copy):
    path = tree_copy / "cxr-cardiomegaly/1.0.0/CTRs.csv"
    path.write_text(path.read_text() + "\n")
    r = _imax("check", tree_copy, "--verify-checksums")
    assert r.returncode == 1 and "checksum mismatch" in r.stderr and "CTRs.csv" in r.stderr


# -- the corpus: every damaged source file, through `imax check`, in this process ----------------------------

def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _run_imax(args, capsys) -> tuple[int, str]:
    """``imax ARGS`` in this process: (exit code, stdout + stderr with line breaks and runs of spaces as one)."""
    from imax_hub.cli import main

    capsys.readouterr()
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


@pytest.mark.parametrize("case", CASES, ids=str)
def test_damaged_source_fails_check_naming_file_and_place(case, tiny_tree, tmp_path, capsys):
    root = tmp_path / "physionet"
    shutil.copytree(tiny_tree, root, symlinks=True)
    damaged = case.damage(root)
    damaged = damaged if isinstance(damaged, Path) else None
    before = _files(tmp_path)
    code, text = _run_imax(["check", root, "--max-bad-rows", "0"], capsys)
    assert code == case.exit, text
    assert "Traceback" not in text
    if case.exit == 0:
        assert "unreadable (no task uses it)" in text
    assert (damaged or Path(case.file)).name in text, text
    for fragment in case.expect:
        assert fragment in text, f"{fragment!r} not in: {text}"
    assert _files(tmp_path) == before


def test_the_corpus_holds_every_case_once():
    names = [c.name for c in CASES]
    assert len(names) == len(set(names)) and len(CASES) >= 100 - len(COMMAND_CASES)


# -- commands given bad files or paths: a clear error before any work, nothing written ------------------------

@pytest.fixture(scope="module")
def scored(tiny_tree, tmp_path_factory):
    """A tiny build, its test ids, and a results file scored on it."""
    from imax_hub.build import BuildOptions, build
    from imax_hub.build.manifest import load_test_rows
    from imax_hub.metrics.runs import score_file

    folder = tmp_path_factory.mktemp("bad_cmd")
    out = build(BuildOptions(physionet_root=tiny_tree, out=folder / "imax", target_images=40)).out
    rows, _ = load_test_rows(out, "imax")
    preds = folder / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": r["id"], "prediction": ""}) + "\n" for r in rows))
    results = folder / "run.json"
    results.write_text(json.dumps(score_file(out, preds)))
    return {"build": out, "preds": preds, "results": results, "folder": folder}


def _results_with(scored, tmp_path, change):
    doc = json.loads(scored["results"].read_text())
    change(doc)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    return path


def _set_value(value):
    def change(doc):
        doc["metrics"][next(iter(doc["metrics"]))]["value"] = value
    return change


def _model_folder(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.bin").write_bytes(b"0")
    return tmp_path / "model"


def _after(_, args: list) -> list:
    """The command line, once the bad input it names has been made."""
    return args


COMMAND_CASES = [
    ("score predictions not UTF-8",
     lambda s, t: _after((t / "p.jsonl").write_bytes(b'{"id": "a", "prediction": "\xff"}\n'),
                         ["score", t / "p.jsonl", "--dataset", s["build"]]),
     ("p.jsonl", "line 1", "UTF-8")),
    ("score predictions not JSON",
     lambda s, t: _after((t / "p.jsonl").write_text('{"id": "a", "prediction": ""}\n{oops\n'),
                         ["score", t / "p.jsonl", "--dataset", s["build"]]),
     ("p.jsonl", "line 2", "not valid JSON")),
    ("score predictions absent", lambda s, t: ["score", t / "none.jsonl", "--dataset", s["build"]], ("none.jsonl",)),
    ("score --out a folder",
     lambda s, t: _after((t / "out").mkdir(), ["score", s["preds"], "--dataset", s["build"], "--out", t / "out"]),
     ("out", "is a folder")),
    ("score --out in a missing folder",
     lambda s, t: ["score", s["preds"], "--dataset", s["build"], "--out", t / "no" / "r.json"],
     ("r.json", "does not exist")),
    ("score --dataset not a build", lambda s, t: ["score", s["preds"], "--dataset", t], ("build_manifest.json",)),
    ("compare --out a file",
     lambda s, t: _after((t / "c").write_text("x"), ["compare", s["results"], s["results"], "--out", t / "c"]),
     ("c", "is a file")),
    ("compare value not a number",
     lambda s, t: ["compare", s["results"], _results_with(s, t, _set_value("high")), "--out", t / "cmp"],
     ("edited.json", ".value", "'high'")),
    ("compare value null",
     lambda s, t: ["compare", s["results"], _results_with(s, t, _set_value(None)), "--out", t / "cmp"],
     ("edited.json", ".value")),
    ("compare metrics missing",
     lambda s, t: ["compare", s["results"], _results_with(s, t, lambda d: d.pop("metrics")), "--out", t / "cmp"],
     ("edited.json", "metrics")),
    ("compare item stats cut",
     lambda s, t: ["compare", s["results"], _results_with(
         s, t, lambda d: next(iter(d["item_stats"].values()))["stats"].pop()), "--out", t / "cmp"],
     ("edited.json", "item_stats")),
    ("compare not a results file",
     lambda s, t: _after((t / "x.json").write_text("[1, 2]"), ["compare", s["results"], t / "x.json", "--out", t / "cmp"]),
     ("x.json", "not an imax results file")),
    ("compare not JSON",
     lambda s, t: _after((t / "x.json").write_bytes(b"\xff\x00"), ["compare", s["results"], t / "x.json", "--out", t / "cmp"]),
     ("x.json", "cannot read")),
    ("eval --model a missing folder",
     lambda s, t: ["eval", "--model", t / "nowhere", "--dataset", s["build"], "--output-dir", t / "res"],
     ("nowhere", "no such folder")),
    ("eval --model not a model folder",
     lambda s, t: ["eval", "--model", _model_folder(t), "--dataset", s["build"], "--output-dir", t / "res"],
     ("model", "no config.json")),
    ("stats of a folder that is no build", lambda s, t: ["stats", t], ("stats.json",)),
    ("show a folder that is no build", lambda s, t: ["show", t, "--out", t / "g.html"], ("build_manifest.json",)),
    ("show an unknown config",
     lambda s, t: ["show", s["build"], "--config", "nope", "--out", t / "g.html"], ("'nope'", "configs and splits")),
    ("show predictions cut mid-line",
     lambda s, t: _after((t / "cut.jsonl").write_text(s["preds"].read_text()[:60]),
                         ["show", s["build"], "--predictions", t / "cut.jsonl", "--out", t / "g.html"]),
     ("cut.jsonl", "line 1", "not valid JSON")),
    ("show predictions of another build",
     lambda s, t: _after((t / "other.jsonl").write_text('{"id": "x", "prediction": "a"}\n'),
                         ["show", s["build"], "--predictions", t / "other.jsonl", "--out", t / "g.html"]),
     ("other.jsonl", "no prediction is for a row")),
    ("show --out a folder", lambda s, t: ["show", s["build"], "--out", t], ("--out", "is a folder")),
]


@pytest.mark.parametrize("name,make_args,expect", COMMAND_CASES, ids=[c[0] for c in COMMAND_CASES])
def test_command_with_bad_input_fails_clearly_and_writes_nothing(name, make_args, expect, scored, tmp_path, capsys):
    args = make_args(scored, tmp_path)
    before, build_before = _files(tmp_path), _files(scored["folder"])
    code, text = _run_imax(args, capsys)
    assert code == 1, text
    assert "Traceback" not in text and text.startswith("error: "), text
    for fragment in expect:
        assert fragment in text, f"{fragment!r} not in: {text}"
    assert _files(tmp_path) == before and _files(scored["folder"]) == build_before


# -- silent bad data, now honest ----------------------------------------------------------------------------------

def _ids_per_shard(folder: Path) -> dict[str, list[str]]:
    import pyarrow.parquet as pq

    return {str(p.relative_to(folder)): pq.read_table(p, columns=["id"]).column("id").to_pylist()
            for p in sorted(folder.glob("data/*/*.parquet"))}


def test_exactly_repeated_rows_count_once_and_every_config_has_unique_ids(tree_copy, tmp_path):
    from bad_input_corpus import CHEXMASK as MASKS
    from bad_input_corpus import LT_TRAIN, _read, _write

    from imax_hub.build import BuildOptions, build

    pristine = build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "a", target_images=40))
    for rel in (META, LT_TRAIN, MASKS):
        rows = _read(tree_copy / rel)
        _write(tree_copy / rel, rows[:3] + [rows[2]] + rows[3:])  # data row 1 twice
    again = build(BuildOptions(physionet_root=tree_copy, out=tmp_path / "b", target_images=40))
    assert again.manifest["fingerprint"] == pristine.manifest["fingerprint"]
    handled = {p.name: dict(f.handled) for p, f in again.read_log.files.items() if f.handled}
    assert handled == {"mimic-cxr-2.0.0-metadata.csv.gz": {"dicom_id: exact duplicate of an earlier row": 1},
                       "train_labeled.csv": {"dicom_id: exact duplicate of an earlier row": 1},
                       "MIMIC-CXR-JPG.csv": {"dicom_id: exact duplicate of an earlier row": 1}}
    for shard, ids in _ids_per_shard(tmp_path / "b").items():
        assert len(ids) == len(set(ids)), shard


def test_a_split_with_repeated_row_ids_is_refused_at_write_time(tmp_path):
    import pyarrow as pa

    from imax_hub.build.folder import write_split
    from imax_hub.errors import ImaxError

    table = pa.table({"id": ["a/report/x", "a/report/x"], "task": ["report", "report"]})
    with pytest.raises(ImaxError, match="row id a/report/x occurs 2 times in report/test; nothing was written"):
        write_split(table, tmp_path, "report", "test", embedded=False)
    assert not list(tmp_path.rglob("*"))


def test_a_filter_that_drops_most_of_a_task_is_said_in_the_build_output(tree_copy, tmp_path, capsys):
    from bad_input_corpus import CHEXMASK as MASKS
    from bad_input_corpus import _read, _write

    rows = _read(tree_copy / MASKS)
    col = rows[0].index("Dice RCA (Mean)")
    for row in rows[1:]:
        row[col] = "0.5"  # valid, but below the 0.7 threshold everywhere
    _write(tree_copy / MASKS, rows)
    code, text = _run_imax(["build", "--physionet-root", tree_copy, "--out", tmp_path / "imax", "--target-images", "40"],
                           capsys)
    assert code == 0, text
    for task in ("rec", "reg"):
        assert f"warning: {task}: filters dropped" in text and "kept 0 (Dice RCA (Mean) at or below the threshold" in text


def test_build_refuses_damaged_jpgs_by_their_markers_and_decodes_them_on_request(tiny_tree, tree_copy, tmp_path,
                                                                                 capsys):
    jpgs = sorted((tree_copy / JPG / "files").rglob("*.jpg"))
    for jpg in jpgs:
        data = jpg.read_bytes()
        jpg.write_bytes(data[: len(data) // 2])  # cut off: no end marker
    args = ["build", "--physionet-root", tree_copy, "--out", tmp_path / "imax", "--target-images", "40"]
    code, text = _run_imax(args, capsys)
    assert code == 1 and "not whole JPEGs" in text and "truncated (no JPEG end marker)" in text and ".jpg" in text
    assert not (tmp_path / "imax").exists() and not list(tmp_path.glob(".imax*"))
    for jpg in jpgs:  # start and end markers intact, the header destroyed: only decoding finds it
        data = (tiny_tree / jpg.relative_to(tree_copy)).read_bytes()
        jpg.write_bytes(data[:2] + bytes(40) + data[42:])
    code, text = _run_imax(args, capsys)
    assert code == 0, text
    shutil.rmtree(tmp_path / "imax")
    code, text = _run_imax([*args, "--verify-images"], capsys)
    assert code == 1 and "cannot be decoded" in text and not (tmp_path / "imax").exists()
