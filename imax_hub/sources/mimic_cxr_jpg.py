"""MIMIC-CXR-JPG 2.1.0: image metadata, official split, CheXpert/NegBio labels, the labelled test set.

Schemas (keys are int64 ``subject_id``/``study_id`` and string ``dicom_id`` in every reader):

``read_metadata`` — one row per image, file order (sorted by subject_id, study_id):
    dicom_id str; subject_id int64; study_id int64; procedure str (PerformedProcedureStepDescription);
    view_position str, null when empty (~4%); rows int32 (height px); columns int32 (width px);
    study_date date32 (shifted to 21xx); study_time time32[ms] (StudyTime ``HHMMSS.fff`` is written
    without a leading zero, e.g. ``80556.875`` = 08:05:56.875); procedure_code str; view_code str
    (ViewCodeSequence_CodeMeaning); patient_orientation str; frontal bool (ViewPosition AP/PA, or an
    empty ViewPosition whose view code is antero-/postero-anterior); image_path str
    (``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg``, relative to the MIMIC-CXR-JPG root).
``read_split`` — dicom_id, study_id, subject_id, split (``train`` | ``validate`` | ``test``).
``read_labels`` — study level: subject_id, study_id, then the 14 CheXpert categories as int8:
    1 positive, 0 negative, -1 uncertain, null = not mentioned.
``read_test_set_labels`` — study_id and the 14 categories (radiologist labels of the test set).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.errors import SourceError
from imax_hub.sources import _csv
from imax_hub.sources.layout import MIMIC_CXR_JPG, require

METADATA_FILE = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT_FILE = "mimic-cxr-2.0.0-split.csv.gz"
CHEXPERT_FILE = "mimic-cxr-2.0.0-chexpert.csv.gz"
NEGBIO_FILE = "mimic-cxr-2.0.0-negbio.csv.gz"
TEST_LABELS_FILE = "mimic-cxr-2.1.0-test-set-labeled.csv"

METADATA_COLUMNS = [
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows", "Columns",
    "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
]
CHEXPERT_LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]
SPLITS = ("train", "validate", "test")
FRONTAL_VIEW_CODES = ("antero-posterior", "postero-anterior")


def jpg_root(root: str | Path) -> Path:
    """The MIMIC-CXR-JPG 2.1.0 folder under a PhysioNet root."""
    return require(MIMIC_CXR_JPG, root)


def image_path(subject_id: pa.Array, study_id: pa.Array, dicom_id: pa.Array) -> pa.Array:
    """``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg`` for each image."""
    subj = pc.cast(subject_id, pa.string())
    return pc.binary_join_element_wise(
        "files/p", pc.utf8_slice_codeunits(subj, 0, 2), "/p", subj, "/s", pc.cast(study_id, pa.string()),
        "/", dicom_id, ".jpg", "",
    )


def _check_ids(path: Path, table: pa.Table, subject: pa.Array | None, study: pa.Array | None) -> None:
    for name, arr, lo in (("subject_id", subject, 10_000_000), ("study_id", study, 50_000_000)):
        if arr is None:
            continue
        values = arr.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((values < lo) | (values >= lo + 10_000_000))
        if bad.size:
            i = int(bad[0])
            digit = str(lo)[0]
            raise _csv.fail_at(path, i, name, f"expected an 8-digit id starting with {digit}, found {int(values[i])}")


def read_metadata(root: str | Path) -> pa.Table:
    """The image metadata table (see the module docstring for its schema)."""
    path = jpg_root(root) / METADATA_FILE
    t = _csv.read_strings(path, header=METADATA_COLUMNS)
    _csv.require_non_null(path, t, ["dicom_id", "subject_id", "study_id", "Rows", "Columns"])
    _csv.check_dicom_ids(path, t)
    subject = _csv.cast_column(path, t, "subject_id", "int", pa.int64())
    study = _csv.cast_column(path, t, "study_id", "int", pa.int64())
    _check_ids(path, t, subject, study)
    rows = _csv.cast_column(path, t, "Rows", "int", pa.int32())
    cols = _csv.cast_column(path, t, "Columns", "int", pa.int32())
    for name, arr in (("Rows", rows), ("Columns", cols)):
        bad = np.flatnonzero(arr.to_numpy(zero_copy_only=False) <= 0)
        if bad.size:
            raise _csv.fail_at(path, int(bad[0]), name, "expected a positive image size in pixels")
    date_int = _csv.cast_column(path, t, "StudyDate", "int", pa.int64())
    date = _study_date(path, date_int)
    time = _study_time(path, _csv.cast_column(path, t, "StudyTime", "float", pa.float64()))
    view = t.column("ViewPosition")
    code = t.column("ViewCodeSequence_CodeMeaning")
    frontal = pc.or_kleene(
        pc.is_in(view, pa.array(["AP", "PA"])),
        pc.and_kleene(pc.is_null(view), pc.is_in(code, pa.array(FRONTAL_VIEW_CODES))),
    )
    return pa.table({
        "dicom_id": t.column("dicom_id"),
        "subject_id": subject,
        "study_id": study,
        "procedure": t.column("PerformedProcedureStepDescription"),
        "view_position": view,
        "rows": rows,
        "columns": cols,
        "study_date": date,
        "study_time": time,
        "procedure_code": t.column("ProcedureCodeSequence_CodeMeaning"),
        "view_code": code,
        "patient_orientation": t.column("PatientOrientationCodeSequence_CodeMeaning"),
        "frontal": pc.fill_null(frontal, False),
        "image_path": image_path(subject, study, t.column("dicom_id")),
    })


def _study_date(path: Path, values: pa.Array) -> pa.Array:
    v = values.to_numpy(zero_copy_only=False).astype(np.float64)
    ok = ~np.isnan(v)
    iv = np.where(ok, v, 21000101).astype(np.int64)
    year, md = np.divmod(iv, 10000)
    month, day = np.divmod(md, 100)
    bad = ok & ((month < 1) | (month > 12) | (day < 1) | (day > 31))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _csv.fail_at(path, i, "StudyDate", f"expected a date YYYYMMDD, found {int(iv[i])}")
    strings = pa.array([f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in zip(year, month, day)])
    dates = pc.cast(pc.strptime(strings, "%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    return pc.if_else(pa.array(ok), dates, pa.nulls(len(v), pa.date32()))


def _study_time(path: Path, values: pa.Array) -> pa.Array:
    """StudyTime ``HHMMSS.fff`` (float, leading zero dropped) as milliseconds since midnight."""
    v = values.to_numpy(zero_copy_only=False)
    ok = ~np.isnan(v)
    ms = np.rint(np.where(ok, v, 0) * 1000).astype(np.int64)
    hh = ms // 10_000_000
    mm = ms // 100_000 % 100
    ss_ms = ms % 100_000
    bad = ok & ((hh > 23) | (mm > 59) | (ss_ms >= 60_000) | (ms < 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _csv.fail_at(path, i, "StudyTime", f"expected a time HHMMSS.fff, found {v[i]!r}")
    total = (hh * 3_600_000 + mm * 60_000 + ss_ms).astype(np.int32)
    return pa.array(total, type=pa.time32("ms"), mask=~ok)


def read_split(root: str | Path) -> pa.Table:
    """The official image-level split."""
    path = jpg_root(root) / SPLIT_FILE
    t = _csv.read_strings(path, header=["dicom_id", "study_id", "subject_id", "split"])
    _csv.require_non_null(path, t, ["dicom_id", "study_id", "subject_id", "split"])
    _csv.check_dicom_ids(path, t)
    study = _csv.cast_column(path, t, "study_id", "int", pa.int64())
    subject = _csv.cast_column(path, t, "subject_id", "int", pa.int64())
    split = t.column("split")
    bad = np.flatnonzero(~pc.is_in(split, pa.array(SPLITS)).to_numpy(zero_copy_only=False))
    if bad.size:
        i = int(bad[0])
        raise _csv.fail_at(path, i, "split", f"expected one of {', '.join(SPLITS)}, found {split[i].as_py()!r}")
    return pa.table({"dicom_id": t.column("dicom_id"), "study_id": study, "subject_id": subject, "split": split})


def _label_columns(path: Path, t: pa.Table, names: list[str]) -> dict[str, pa.Array]:
    out = {}
    for name in names:
        values = _csv.cast_column(path, t, name, "float", pa.float64())
        v = values.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~np.isnan(v) & ~np.isin(v, (1.0, 0.0, -1.0)))
        if bad.size:
            i = int(bad[0])
            raise _csv.fail_at(path, i, name, f"expected 1.0, 0.0, -1.0 or empty, found {v[i]!r}")
        out[name] = pc.cast(values, pa.int8())
    return out


def read_labels(root: str | Path, labeler: str = "chexpert") -> pa.Table:
    """Study-level CheXpert or NegBio labels."""
    files = {"chexpert": CHEXPERT_FILE, "negbio": NEGBIO_FILE}
    if labeler not in files:
        raise ValueError(f"labeler must be 'chexpert' or 'negbio', not {labeler!r}")
    path = jpg_root(root) / files[labeler]
    t = _csv.read_strings(path, header=["subject_id", "study_id", *CHEXPERT_LABELS])
    _csv.require_non_null(path, t, ["subject_id", "study_id"])
    cols = {
        "subject_id": _csv.cast_column(path, t, "subject_id", "int", pa.int64()),
        "study_id": _csv.cast_column(path, t, "study_id", "int", pa.int64()),
    }
    cols.update(_label_columns(path, t, CHEXPERT_LABELS))
    return pa.table(cols)


def read_test_set_labels(root: str | Path) -> pa.Table:
    """Radiologist labels of the test studies (2.1.0); ``Airspace Opacity`` is read as ``Lung Opacity``."""
    path = jpg_root(root) / TEST_LABELS_FILE
    found = _csv.read_header(path)
    # One third-party loader reports "Airspace Opacity" in this file (unverified): accept both spellings.
    expected = ["study_id", *CHEXPERT_LABELS]
    if "Airspace Opacity" in found:
        expected = [("Airspace Opacity" if c == "Lung Opacity" else c) for c in expected]
    t = _csv.read_strings(path, header=expected)
    _csv.require_non_null(path, t, ["study_id"])
    cols = {"study_id": _csv.cast_column(path, t, "study_id", "int", pa.int64())}
    labels = _label_columns(path, t, expected[1:])
    cols.update({("Lung Opacity" if k == "Airspace Opacity" else k): v for k, v in labels.items()})
    return pa.table(cols)


def read_image_filenames(root: str | Path) -> list[str]:
    """Relative JPG paths listed in ``IMAGE_FILENAMES``."""
    path = jpg_root(root) / "IMAGE_FILENAMES"
    if not path.exists():
        raise SourceError(path, "file not found")
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not (line.startswith("files/p") and line.endswith(".jpg")):
            raise SourceError(path, f"expected a path like files/p10/p10000032/s50414267/<dicom_id>.jpg, found {line!r}", line=i + 1)
    return lines

