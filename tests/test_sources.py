"""Every reader on the synthetic tree: schema, joining keys, and the quirks of the spec."""

import gzip
import json
import shutil
import zipfile
from datetime import time

import pyarrow as pa

from imax_hub.sources import (
    read_cardiomegaly, read_chexmask, read_cxr_lt, read_labels, read_metadata, read_pe_severity, read_reports,
    read_split, read_test_set_labels, read_vqa,
)
from imax_hub.sources import layout
from imax_hub.sources.cxr_lt import LABELS_40, LABELS_45
from imax_hub.sources.mimic_cxr_jpg import CHEXPERT_LABELS

JPG = "mimic-cxr-jpg/2.1.0"


def _keys_ok(t: pa.Table):
    for name in ("subject_id", "study_id"):
        if name in t.column_names:
            assert t.schema.field(name).type == pa.int64(), name
    if "dicom_id" in t.column_names:
        assert t.schema.field("dicom_id").type == pa.string()


def test_metadata_schema_and_quirks(tiny_tree):
    t = read_metadata(tiny_tree)
    assert t.column_names == ["dicom_id", "subject_id", "study_id", "procedure", "view_position", "rows", "columns",
                              "study_date", "study_time", "procedure_code", "view_code", "patient_orientation",
                              "frontal", "image_path"]
    _keys_ok(t)
    assert t.schema.field("study_date").type == pa.date32()
    assert t.schema.field("study_time").type == pa.time32("ms")
    assert t.column("view_position").null_count > 0  # empty ViewPosition cells stay empty
    views = set(t.column("view_position").drop_null().to_pylist())
    assert {"AP", "PA"} <= views and views & {"LATERAL", "LL"}
    assert t.column("study_date").to_pylist()[0].year >= 2100
    # several images per study and several studies per patient
    pairs = list(zip(t.column("subject_id").to_pylist(), t.column("study_id").to_pylist()))
    assert len(set(pairs)) < len(pairs)
    assert len(set(t.column("study_id").to_pylist())) > len(set(t.column("subject_id").to_pylist()))
    assert all(p.startswith("files/p1") for p in t.column("image_path").to_pylist())


def test_study_time_without_leading_zero(tmp_path, tiny_tree):
    """``80556.875`` is 08:05:56.875."""
    root = tmp_path / "r"
    shutil.copytree(tiny_tree / JPG, root / JPG)
    path = root / JPG / "mimic-cxr-2.0.0-metadata.csv.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    cells = lines[1].split(",")
    cells[8] = "80556.875"
    lines[1] = ",".join(cells)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    t = read_metadata(root)
    assert t.column("study_time")[0].as_py() == time(8, 5, 56, 875000)


def test_split_values(tiny_tree):
    t = read_split(tiny_tree)
    _keys_ok(t)
    assert set(t.column("split").to_pylist()) == {"train", "validate", "test"}
    # patient-disjoint
    by_patient = {}
    for s, sp in zip(t.column("subject_id").to_pylist(), t.column("split").to_pylist()):
        by_patient.setdefault(s, set()).add(sp)
    assert all(len(v) == 1 for v in by_patient.values())


def test_labels_coding(tiny_tree):
    chex = read_labels(tiny_tree, "chexpert")
    neg = read_labels(tiny_tree, "negbio")
    _keys_ok(chex)
    assert chex.column_names == ["subject_id", "study_id", *CHEXPERT_LABELS]
    values = {v for c in CHEXPERT_LABELS for v in chex.column(c).to_pylist()}
    assert values <= {1, 0, -1, None} and {1, 0, -1, None} <= values | {-1}
    assert None in values and 1 in values
    # a study labelled by NegBio only
    assert set(neg.column("study_id").to_pylist()) > set(chex.column("study_id").to_pylist())


def test_test_set_labels_airspace_alias(tree_copy):
    path = tree_copy / JPG / "mimic-cxr-2.1.0-test-set-labeled.csv"
    text = path.read_text().replace("Lung Opacity", "Airspace Opacity", 1)
    path.write_text(text)
    t = read_test_set_labels(tree_copy)
    assert "Lung Opacity" in t.column_names and "Airspace Opacity" not in t.column_names
    assert t.column_names[0] == "study_id"


def test_cardiomegaly_error_codes(tiny_tree):
    t = read_cardiomegaly(tiny_tree)
    _keys_ok(t)
    statuses = set(t.column("ctr_status").to_pylist()) | set(t.column("cpar_status").to_pylist())
    assert {"ok", "heart_not_found", "lungs_not_found", "neither_found"} <= statuses
    for row in t.to_pylist():
        assert (row["ctr"] is None) == (row["ctr_status"] != "ok")
        if row["ctr"] is not None:
            assert 0 < row["ctr"] < 1


def test_cardiomegaly_index_column_and_paths(tree_copy):
    base = tree_copy / "cxr-cardiomegaly/1.0.0"
    lines = (base / "CTRs.csv").read_text().splitlines()
    out = [",dicom_file,CTR"] + [f"{i},files/p10/x/{ln.split(',')[0]}.jpg,{ln.split(',')[1]}" for i, ln in enumerate(lines[1:])]
    (base / "CTRs.csv").write_text("\n".join(out) + "\n")
    t = read_cardiomegaly(tree_copy)
    assert all(len(d) == 44 for d in t.column("dicom_id").to_pylist())


def test_pe_severity(tiny_tree):
    t = read_pe_severity(tiny_tree)
    _keys_ok(t)
    assert set(t.column("label_source").to_pylist()) == {"regex", "expert", "consensus"}
    assert set(t.column("edema_severity").to_pylist()) <= {0, 1, 2, 3}
    cons = t.filter(pa.compute.equal(t.column("label_source"), "consensus"))
    assert cons.column("dicom_id").null_count == 0
    meta = read_metadata(tiny_tree)
    frontal = dict(zip(meta.column("dicom_id").to_pylist(), meta.column("frontal").to_pylist()))
    assert all(frontal[d] for d in cons.column("dicom_id").to_pylist())


def test_cxr_lt(tiny_tree):
    t = read_cxr_lt(tiny_tree)
    _keys_ok(t)
    assert set(t.column("lt_split").to_pylist()) <= {"train", "development", "test"}
    for label in LABELS_40:
        assert t.schema.field(label).type == pa.int8()
    meta = read_metadata(tiny_tree)
    assert set(t.column("image_path").to_pylist()) == set(meta.column("image_path").to_pylist())
    # study ids match the metadata once the "s" prefix is stripped
    m = dict(zip(meta.column("dicom_id").to_pylist(), meta.column("study_id").to_pylist()))
    assert all(m[d] == s for d, s in zip(t.column("dicom_id").to_pylist(), t.column("study_id").to_pylist()))


def test_cxr_lt_labels_selected_by_name(tree_copy):
    """Reordering label columns (task-2 puts Normal before Nodule) changes nothing."""
    path = tree_copy / layout.CXR_LT.slug / "2.0.0/cxr-lt-2024/train_labeled.csv"
    before = read_cxr_lt(tree_copy)
    import csv
    rows = list(csv.reader(path.open()))
    order = list(range(6)) + list(reversed(range(6, len(rows[0]))))
    with path.open("w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([[r[i] for i in order] for r in rows])
    assert read_cxr_lt(tree_copy).equals(before)


def test_labels_csv_has_45(tiny_tree):
    header = (tiny_tree / layout.CXR_LT.slug / "2.0.0/cxr-lt-2024/labels.csv").open().readline().strip().split(",")
    assert header[6:-1] == list(LABELS_45) and len(LABELS_45) == 45


def test_reports_zip_and_folder_agree(tree_copy):
    from_zip = read_reports(tree_copy)
    (tree_copy / "mimic-cxr/2.1.0/mimic-cxr-reports.zip").unlink()
    from_folder = read_reports(tree_copy)
    assert from_zip.equals(from_folder)
    _keys_ok(from_zip)
    assert from_zip.column("findings").null_count > 0 and from_zip.column("impression").null_count > 0
    assert from_zip.column("last_paragraph").null_count < from_zip.num_rows
    assert any("___" in (c or "") for c in from_zip.column("comparison").to_pylist())


def test_reports_zip_without_prefix(tree_copy):
    zpath = tree_copy / "mimic-cxr/2.1.0/mimic-cxr-reports.zip"
    before = read_reports(tree_copy)
    with zipfile.ZipFile(zpath) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(zpath, "w") as zf:
        for name, data in members:
            zf.writestr(name.removeprefix("mimic-cxr-reports/"), data)
    assert read_reports(tree_copy).equals(before)


def test_chexmask(tiny_tree):
    meta = read_metadata(tiny_tree)
    t = read_chexmask(tiny_tree, image_sizes=meta, with_landmarks=True)
    _keys_ok(t)
    assert t.schema.field("heart_box").type == pa.list_(pa.int32(), 4)
    assert t.column("rca_ok").to_pylist().count(False) >= 1
    pre = read_chexmask(tiny_tree, resolution="preprocessed", with_landmarks=True)
    assert set(pre.column("height").to_pylist()) == {1024}
    assert pre.column("dicom_id").equals(t.column("dicom_id"))
    # left lung lies on the image right
    for row in t.slice(0, 5).to_pylist():
        assert row["left_lung_box"][0] > row["right_lung_box"][2] - 1
        lm = row["landmarks"]
        xs_right = lm[0:88:2]
        assert min(xs_right) == row["right_lung_box"][0]


def test_vqa(tiny_tree):
    t = read_vqa(tiny_tree)
    _keys_ok(t)
    assert set(t.column("semantic_type").to_pylist()) == {"verify", "choose", "query"}
    answers = t.column("answer").to_pylist()
    assert [] in answers and all(a == sorted(a) for a in answers)
    assert all(p.startswith("files/") for p in t.column("image_path").to_pylist())
    args = json.loads(t.column("template_arguments")[0].as_py())
    assert set(args) == {"object", "attribute", "category", "viewpos", "gender"}


def test_located_under_wget_layout(tmp_path, tiny_tree):
    """``wget -r`` leaves the projects under physionet.org/files/."""
    dst = tmp_path / "dl" / "physionet.org" / "files"
    shutil.copytree(tiny_tree, dst)
    assert read_metadata(tmp_path / "dl").num_rows == read_metadata(tiny_tree).num_rows
