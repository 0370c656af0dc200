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

Layout evidence: PhysioNet's MIMIC-CXR-JPG 2.1.0 page (files section) and the MIT-LCP/mimic-cxr repository
(``dcm/create-mimic-cxr-jpg-metadata.ipynb`` writes the metadata; its export also made an
``AcquisitionDeviceProcessingDescription`` column, so columns are taken by name and extras ignored).
The CSVs are released gzipped; a gunzipped copy (``.csv``) is read the same. The split, CheXpert/NegBio
and test-set label files feed no task: ``imax check`` reads them when present and notes their absence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.errors import SourceError
from imax_hub.sources import _csv, readlog
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
# What the build needs of the metadata; the other released columns are read when present (null otherwise).
METADATA_REQUIRED = ["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"]
CHEXPERT_LABELS = [
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
]
SPLITS = ("train", "validate", "test")
FRONTAL_VIEW_CODES = ("antero-posterior", "postero-anterior")
OPTIONAL_FILES = (SPLIT_FILE, CHEXPERT_FILE, NEGBIO_FILE, TEST_LABELS_FILE, "IMAGE_FILENAMES")


def jpg_root(root: str | Path) -> Path:
    """The MIMIC-CXR-JPG folder under a PhysioNet root."""
    return require(MIMIC_CXR_JPG, root)


def image_path(subject_id: pa.Array, study_id: pa.Array, dicom_id: pa.Array) -> pa.Array:
    """``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg`` for each image."""
    subj = pc.cast(subject_id, pa.string())
    return pc.binary_join_element_wise(
        "files/p", pc.utf8_slice_codeunits(subj, 0, 2), "/p", subj, "/s", pc.cast(study_id, pa.string()),
        "/", dicom_id, ".jpg", "",
    )


def _string(t: pa.Table, name: str) -> pa.Array:
    return t.column(name) if name in t.column_names else pa.nulls(t.num_rows, pa.string())


def read_metadata(root: str | Path) -> pa.Table:
    """The image metadata table (see the module docstring for its schema)."""
    log = readlog.current()
    path = _csv.find_file(jpg_root(root), METADATA_FILE)
    t = _csv.read_strings(path, required=METADATA_REQUIRED, optional=METADATA_COLUMNS, log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(["dicom_id", "subject_id", "study_id", "Rows", "Columns"])
    dicom = rows.dicom_ids()
    key = rows.ids("subject_id", "study_id")
    height = rows.int("Rows", pa.int32(), lo=1, expected="a positive image height in pixels")
    width = rows.int("Columns", pa.int32(), lo=1, expected="a positive image width in pixels")
    date = _study_date(rows, t) if "StudyDate" in t.column_names else pa.nulls(t.num_rows, pa.date32())
    time = _study_time(rows, t) if "StudyTime" in t.column_names else pa.nulls(t.num_rows, pa.time32("ms"))
    rows.unique("dicom_id")
    view = t.column("ViewPosition")
    code = _string(t, "ViewCodeSequence_CodeMeaning")
    frontal = pc.or_kleene(
        pc.is_in(view, pa.array(["AP", "PA"])),
        pc.and_kleene(pc.is_null(view), pc.is_in(code, pa.array(FRONTAL_VIEW_CODES))),
    )
    return rows.finish({
        "dicom_id": dicom,
        "subject_id": key["subject_id"],
        "study_id": key["study_id"],
        "procedure": _string(t, "PerformedProcedureStepDescription"),
        "view_position": view,
        "rows": height,
        "columns": width,
        "study_date": date,
        "study_time": time,
        "procedure_code": _string(t, "ProcedureCodeSequence_CodeMeaning"),
        "view_code": code,
        "patient_orientation": _string(t, "PatientOrientationCodeSequence_CodeMeaning"),
        "frontal": pc.fill_null(frontal, False),
        "image_path": image_path(key["subject_id"], key["study_id"], dicom),
    })


def _study_date(rows: _csv.Rows, t: pa.Table) -> pa.Array:
    values = rows.int("StudyDate", pa.int64(), expected="a date YYYYMMDD")
    v = values.to_numpy(zero_copy_only=False).astype(np.float64)
    ok = ~np.isnan(v)
    iv = np.where(ok, v, 21000101).astype(np.int64)
    year, md = np.divmod(iv, 10000)
    month, day = np.divmod(md, 100)
    bad = ok & ((month < 1) | (month > 12) | (day < 1) | (day > 31) | (year < 1) | (year > 9999))
    rows.flag(bad, "StudyDate: not a date", "StudyDate", lambda i: f"expected a date YYYYMMDD, found {int(iv[i])}")
    ok &= ~bad
    year, month, day = np.where(ok, year, 2100), np.where(ok, month, 1), np.where(ok, day, 1)
    strings = pa.array([f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in zip(year, month, day)])
    dates = pc.cast(pc.strptime(strings, "%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    return pc.if_else(pa.array(ok), dates, pa.nulls(len(v), pa.date32()))


def _study_time(rows: _csv.Rows, t: pa.Table) -> pa.Array:
    """StudyTime ``HHMMSS.fff`` (float, leading zero dropped) as milliseconds since midnight."""
    v = rows.float("StudyTime", allow_nan=False, expected="a time HHMMSS.fff").to_numpy(zero_copy_only=False)
    ok = ~np.isnan(v)
    ms = np.rint(np.where(ok, v, 0) * 1000).astype(np.int64)
    hh = ms // 10_000_000
    mm = ms // 100_000 % 100
    ss_ms = ms % 100_000
    bad = ok & ((hh > 23) | (mm > 59) | (ss_ms >= 60_000) | (ms < 0))
    rows.flag(bad, "StudyTime: not a time", "StudyTime", lambda i: f"expected a time HHMMSS.fff, found {rows.value('StudyTime', i)!r}")
    ok &= ~bad
    total = np.where(ok, hh * 3_600_000 + mm * 60_000 + ss_ms, 0).astype(np.int32)
    return pa.array(total, type=pa.time32("ms"), mask=~ok)


def read_split(root: str | Path) -> pa.Table:
    """The official image-level split."""
    log = readlog.current()
    path = _csv.find_file(jpg_root(root), SPLIT_FILE)
    t = _csv.read_strings(path, required=["dicom_id", "study_id", "subject_id", "split"], log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(["dicom_id", "study_id", "subject_id", "split"])
    key = rows.ids("study_id", "subject_id")
    dicom, split = rows.dicom_ids(), rows.one_of("split", SPLITS)
    rows.unique("dicom_id")
    return rows.finish({"dicom_id": dicom, "study_id": key["study_id"], "subject_id": key["subject_id"], "split": split})


def _label_columns(rows: _csv.Rows, names: list[str]) -> dict[str, pa.Array]:
    out = {}
    for name in names:
        values = rows.float(name, allow_nan=False, expected="1.0, 0.0, -1.0 or empty")
        v = values.to_numpy(zero_copy_only=False)
        bad = ~np.isnan(v) & ~np.isin(v, (1.0, 0.0, -1.0))
        rows.flag(bad, f"{name}: not a label", name,
                  lambda i, name=name: f"expected 1.0, 0.0, -1.0 or empty, found {rows.value(name, i)!r}")
        out[name] = pc.cast(pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), values), pa.int8())
    return out


def read_labels(root: str | Path, labeler: str = "chexpert") -> pa.Table:
    """Study-level CheXpert or NegBio labels."""
    files = {"chexpert": CHEXPERT_FILE, "negbio": NEGBIO_FILE}
    if labeler not in files:
        raise ValueError(f"labeler must be 'chexpert' or 'negbio', not {labeler!r}")
    log = readlog.current()
    path = _csv.find_file(jpg_root(root), files[labeler])
    t = _csv.read_strings(path, required=["subject_id", "study_id", *CHEXPERT_LABELS], log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(["subject_id", "study_id"])
    cols = rows.ids("subject_id", "study_id")
    cols.update(_label_columns(rows, CHEXPERT_LABELS))
    rows.unique("study_id")
    return rows.finish(cols)


def read_test_set_labels(root: str | Path) -> pa.Table:
    """Radiologist labels of the test studies (2.1.0); ``Airspace Opacity`` is read as ``Lung Opacity``."""
    log = readlog.current()
    path = _csv.find_file(jpg_root(root), TEST_LABELS_FILE)
    found = _csv.read_header(path)
    # One third-party loader reports "Airspace Opacity" in this file (unverified): accept both spellings.
    names = ["study_id", *CHEXPERT_LABELS]
    if "Airspace Opacity" in found and "Lung Opacity" not in found:
        names = [("Airspace Opacity" if c == "Lung Opacity" else c) for c in names]
    t = _csv.read_strings(path, required=names, log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(["study_id"])
    cols = rows.ids("study_id")
    labels = _label_columns(rows, names[1:])
    cols.update({("Lung Opacity" if k == "Airspace Opacity" else k): v for k, v in labels.items()})
    rows.unique("study_id")
    return rows.finish(cols)


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


def jpeg_problem(path: Path, *, decode: bool = False) -> str | None:
    """What is wrong with a JPG, or None: absent, empty, no JPEG start marker, no end marker (truncated); with
    ``decode``, also any decoding error. The marker check reads four bytes and costs no decoding."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "0 bytes"
        with open(path, "rb") as fh:
            head = fh.read(2)
            fh.seek(max(0, size - 1024))
            tail = fh.read()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if head != b"\xff\xd8":
        return "not a JPEG (no start marker)"
    if b"\xff\xd9" not in tail:  # the end marker, allowing for padding written after it
        return "truncated (no JPEG end marker)"
    if decode:
        from PIL import Image

        try:
            with Image.open(path) as img:
                img.load()
        except (OSError, ValueError, SyntaxError) as exc:
            return f"cannot be decoded ({exc})"
    return None
