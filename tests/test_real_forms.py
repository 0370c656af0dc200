"""The PhysioNet files as they come: every real-world variant reads like the pristine tree, or sets rows aside."""

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imax_hub.build import BuildOptions, build
from imax_hub.check import run_check
from imax_hub.errors import SourceError
from imax_hub.geometry import boxes_from_rle_column
from imax_hub.sources import (
    read_cardiomegaly, read_chexmask, read_cxr_lt, read_metadata, read_pe_severity, read_reports, read_vqa,
)
from imax_hub.sources import layout
from imax_hub.sources.readlog import recording
from imax_hub.sources.reports import decode_report, iter_report_texts
from imax_hub.synth.variants import VARIANTS, apply_variants, swap_canvas
from imax_hub.tasks import registry


@pytest.fixture
def variant_tree(tiny_tree, tmp_path):
    def make(*names):
        root = tmp_path / "-".join(names)
        shutil.copytree(tiny_tree, root)
        apply_variants(root, names)
        return root
    return make


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_enables_the_same_tasks_and_verifies(name, variant_tree, tiny_tree):
    pristine = run_check(tiny_tree)
    report = run_check(variant_tree(name), verify=True)
    assert report.ok, [s.error for s in report.sources if s.error] + report.checksum_failures
    assert report.tasks == pristine.tasks and all(report.tasks.values())


@pytest.mark.parametrize("name,reader", [
    ("metadata-extra-column", read_metadata), ("metadata-float-integers", read_metadata),
    ("jpg-gunzipped", read_metadata), ("cardiomegaly-index-column", read_cardiomegaly),
    ("pe-index-column", read_pe_severity), ("cxr-lt-float-labels", read_cxr_lt), ("cxr-lt-excel", read_cxr_lt),
    ("chexmask-max-before-mean", read_chexmask), ("chexmask-gzipped", read_chexmask),
    ("chexmask-float-sizes", read_chexmask), ("reports-crlf", read_reports), ("reports-folder-crlf", read_reports),
    ("vqa-integer-ids", read_vqa),
])
def test_same_data_in_another_form_reads_identically(name, reader, variant_tree, tiny_tree):
    with recording() as log:
        got = reader(variant_tree(name))
    assert got.equals(reader(tiny_tree))
    assert not any(f.set_aside for f in log.files.values())


def test_extra_and_index_columns_are_reported(variant_tree):
    root = variant_tree("metadata-extra-column", "cardiomegaly-index-column")
    report = run_check(root)
    notes = {s.project.key: s.file_notes() for s in report.sources}
    assert any("extra column(s) ignored: AcquisitionDeviceProcessingDescription" in n for n in notes["mimic_cxr_jpg"])
    assert sum("unnamed index column was dropped" in n for n in notes["cxr_cardiomegaly"]) == 2


def test_gunzipped_and_gzipped_forms_are_named(variant_tree):
    report = run_check(variant_tree("jpg-gunzipped", "chexmask-gzipped"))
    forms = {s.project.key: s.forms for s in report.sources}
    assert forms["mimic_cxr_jpg"] == "csv" and forms["chexmask"] == "csv.gz"


def test_optional_file_absent_is_a_note(variant_tree):
    report = run_check(variant_tree("no-test-set-labels"))
    jpg = report.sources[0]
    assert jpg.error is None and "test-set labels" not in jpg.rows
    assert any("mimic-cxr-2.1.0-test-set-labeled.csv absent (no task uses it)" in n for n in jpg.notes)


def test_one_bad_metadata_row_is_set_aside(variant_tree, tiny_tree):
    root = variant_tree("metadata-one-bad-row")
    with recording() as log:
        got = read_metadata(root)
    assert got.num_rows == read_metadata(tiny_tree).num_rows - 1
    (f,) = log.files.values()
    assert dict(f.malformed) == {"Rows: not an integer": 1} and "'n/a'" in f.examples[0].message
    with recording(max_bad_rows=0), pytest.raises(SourceError, match="1 of 138 rows cannot be used"):
        read_metadata(root)


def test_unknown_version_is_used_with_a_note(variant_tree):
    root = variant_tree("chexmask-unknown-version")
    found = layout.CHEXMASK.find(root)
    assert found.version == "1.1.0" and not found.known
    report = run_check(root)
    status = next(s for s in report.sources if s.project is layout.CHEXMASK)
    assert status.ok and any("version 1.1.0 is not one imax-hub was written against" in n for n in status.notes)
    assert layout.CHEXMASK.tag(root) == "chexmask-cxr-segmentation-data/1.1.0"


def test_reports_crlf_zip_equals_lf_folder(variant_tree, tiny_tree):
    """The zip (CRLF) and the folder (LF) forms of the same reports give identical sectioned tables."""
    root = variant_tree("reports-crlf")
    from_zip = read_reports(root)
    (root / "mimic-cxr/2.1.0/mimic-cxr-reports.zip").unlink()
    assert from_zip.equals(read_reports(root))
    assert from_zip.column("last_paragraph").null_count < from_zip.num_rows  # paragraph breaks survived


def test_decode_report_normalises_line_ends_like_universal_newlines(tmp_path):
    raw = b"  FINAL REPORT\r\n FINDINGS: a\r b\n IMPRESSION: c\r\n"
    (tmp_path / "r.txt").write_bytes(raw)
    assert decode_report(raw) == ((tmp_path / "r.txt").read_text(), "utf-8")
    assert decode_report("caf\u00e9".encode("latin-1")) == ("caf\u00e9", "cp1252")
    assert decode_report(b"\x81") == ("\x81", "latin-1")  # undefined in cp1252


def test_latin1_report_is_decoded_and_counted(variant_tree):
    root = variant_tree("reports-latin1")
    with recording() as log:
        texts = [text for *_, text in iter_report_texts(root)]
    assert sum("38\u00b0C, caf\u00e9" in t for t in texts) == 1
    (f,) = log.files.values()
    assert f.notes == ["1 report(s) are not UTF-8: decoded as cp1252"]


def test_one_chexmask_size_mismatch_sets_one_row_aside(variant_tree, tiny_tree):
    root = variant_tree("chexmask-one-size-mismatch")
    meta = read_metadata(root)
    with recording() as log:
        got = read_chexmask(root, image_sizes=meta)
    assert got.num_rows == read_chexmask(tiny_tree, image_sizes=meta).num_rows - 1
    f = next(iter(log.files.values()))
    assert dict(f.malformed) == {"Height/Width disagree with the JPG metadata": 1}
    assert f.lines()[0].line > 3  # a real line number in a file whose records span lines


def test_swap_canvas_is_what_back_mimic_writes():
    # a 3-row x 5-column image; the polygon pixels keep their (row, column) on a 5 x 3 canvas, clipped
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, 1] = mask[1, 2] = mask[2, 4] = True
    from imax_hub.geometry import decode_rle, encode_rle
    canvas = decode_rle(swap_canvas(encode_rle(mask), 3, 5), 5, 3) > 0
    assert canvas.shape == (5, 3) and canvas[0, 1] and canvas[1, 2] and canvas.sum() == 2  # (2, 4) clipped


def test_swapped_rows_are_read_in_their_written_frame(variant_tree, tiny_tree):
    root = variant_tree("chexmask-swapped-sizes")
    meta = read_metadata(root)
    pristine = {r["dicom_id"]: r for r in read_chexmask(tiny_tree, image_sizes=meta).to_pylist()}
    with recording() as log:
        got = read_chexmask(root, image_sizes=meta).to_pylist()
    swapped = [r for r in got if r["size_swapped"]]
    assert swapped and any(not r["size_swapped"] for r in got)
    for r in got:  # every kept row: the same boxes and the JPG's own size as the pristine row
        p = pristine[r["dicom_id"]]
        assert (r["heart_box"], r["left_lung_box"], r["right_lung_box"], r["height"], r["width"]) == \
               (p["heart_box"], p["left_lung_box"], p["right_lung_box"], p["height"], p["width"])
    f = next(iter(log.files.values()))
    assert not f.malformed and set(f.handled) <= {"swapped Height/Width: mask may be clipped",
                                                  "swapped Height/Width: mask outside the JPG"}
    assert len(got) + f.set_aside == len(pristine)
    # every row set aside really was clipped: its pristine box reaches past the short side of the canvas
    kept = {r["dicom_id"] for r in got}
    for d, p in pristine.items():
        if d not in kept:
            boxes = [p[k] for k in ("heart_box", "left_lung_box", "right_lung_box") if p[k]]
            short = min(p["height"], p["width"])
            assert any(b[3] >= short - 1 or b[2] >= short - 1 for b in boxes), d


def test_rle_with_a_start_near_int64_max_is_rejected_not_overflowed():
    """Through the compiled pass (which hands such values to the strict path) and the strict NumPy path itself."""
    from imax_hub.geometry import RLEError, boxes_from_runs, split_rle_column

    rle = pa.array(["1 2 9223372036854775807 5", "1 2 9223372036854775800 9", "3 9223372036854775806"])
    strict = lambda rles, h, w, errors: boxes_from_runs(*split_rle_column(rles, errors="collect")[:3], h, w,  # noqa: E731
                                                        errors=errors)
    for boxes_of in (boxes_from_rle_column, strict):
        got = boxes_of(rle, [4, 4, 4], [4, 4, 4], errors="collect")
        assert set(got.errors) == {0, 1, 2} and all("leaves the" in m for m in got.errors.values()), got.errors
        assert got.empty.all() and (got.areas == 0).all()
        with pytest.raises(RLEError, match="leaves the"):
            boxes_of(rle, [4, 4, 4], [4, 4, 4], errors="raise")


def test_build_of_every_same_data_variant_equals_the_pristine_build(variant_tree, tiny_tree, tmp_path):
    same_data = ["metadata-extra-column", "metadata-float-integers", "jpg-gunzipped", "no-test-set-labels",
                 "reports-crlf", "cardiomegaly-index-column", "pe-index-column", "cxr-lt-float-labels", "cxr-lt-excel",
                 "chexmask-max-before-mean", "chexmask-gzipped", "chexmask-float-sizes", "vqa-integer-ids"]
    root = variant_tree(*same_data)
    results = [build(BuildOptions(physionet_root=r, out=tmp_path / name, target_images=40))
               for r, name in ((tiny_tree, "pristine"), (root, "variants"))]

    shards = sorted(p.relative_to(tmp_path / "pristine") for p in (tmp_path / "pristine").rglob("*.parquet"))
    assert shards == sorted(p.relative_to(tmp_path / "variants") for p in (tmp_path / "variants").rglob("*.parquet"))
    for rel in shards:
        assert _rows(tmp_path / "variants" / rel) == _rows(tmp_path / "pristine" / rel), rel
    sources = results[1].manifest["sources_read"]
    metadata = next(v for k, v in sources.items() if k.endswith("mimic-cxr-2.0.0-metadata.csv"))
    assert metadata["form"] == "csv" and metadata["extra_columns_ignored"] == ["AcquisitionDeviceProcessingDescription"]


def test_build_with_damaged_rows_keeps_every_task(variant_tree, tmp_path):
    root = variant_tree("metadata-one-bad-row", "chexmask-one-size-mismatch", "chexmask-swapped-sizes",
                        "reports-latin1", "chexmask-unknown-version")
    result = build(BuildOptions(physionet_root=root, out=tmp_path / "out", target_images=40))
    assert result.tasks_missing == [] and result.manifest["tasks_built"] == list(registry.names())
    sources = result.manifest["sources_read"]
    chexmask = next(v for k, v in sources.items() if "chexmask" in k)
    assert chexmask["set_aside"]["Height/Width disagree with the JPG metadata"] == 1
    assert result.manifest["source_notes"]["chexmask"][0].startswith("version 1.1.0 is not one")
    sources = {r["source"] for p in (tmp_path / "out").rglob("*.parquet") for r in _rows(p)}
    assert "chexmask-cxr-segmentation-data/1.1.0" in sources and "chexmask-cxr-segmentation-data/1.0.0" not in sources


def _rows(path):
    """A shard's rows without the image column (it holds the tree's local paths)."""
    table = pq.read_table(path)
    return table.drop_columns([c for c in table.column_names if c == "image"]).to_pylist()


def test_cli_check_summarises_each_source(variant_tree):
    import subprocess
    import sys

    root = variant_tree("metadata-extra-column", "chexmask-gzipped", "chexmask-swapped-sizes", "reports-latin1",
                        "chexmask-unknown-version")
    r = subprocess.run([sys.executable, "-m", "imax_hub", "check", str(root)], capture_output=True, text=True,
                       env={**__import__("os").environ, "COLUMNS": "250"})
    text = r.stdout + r.stderr
    assert r.returncode == 0, text
    assert "extra column(s) ignored: AcquisitionDeviceProcessingDescription" in text
    assert "1.1.0 (unknown)" in text and "csv.gz" in text and "zip" in text
    assert "rows set aside (swapped Height/Width: mask may be clipped:" in text
    assert "1 report(s) are not UTF-8: decoded as cp1252" in text
    assert "7 of 7 tasks enabled" in text
