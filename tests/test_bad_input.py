"""Bad input: a clear message naming file, line and column; non-zero exit; no traceback."""

import gzip
import json
import subprocess
import sys

import pytest

from imax_hub.errors import SourceError
from imax_hub.sources import read_chexmask, read_metadata, read_vqa
from imax_hub.sources.readlog import recording
from imax_hub.sources.reports import read_reports

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
