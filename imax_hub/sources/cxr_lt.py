"""CXR-LT 2024 (PhysioNet ``cxr-lt-iccv-workshop-cvamd`` 2.0.0, folder ``cxr-lt-2024/``).

``read_cxr_lt`` returns one row per image from the task-1 files (``train_labeled.csv``,
``development_labeled_task1.csv``, ``test_labeled_task1.csv``), split given by the file:
    dicom_id str; subject_id int64; study_id int64 (the files write it as ``s50414267``);
    view_position str (null when empty); view_code str; image_path str (``fpath``, relative to the
    MIMIC-CXR-JPG root); lt_split str (``train`` | ``development`` | ``test``); then the 40 task-1
    labels as int8 0/1, by name (never by position: task-2 files order ``Normal`` before ``Nodule``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.sources import _csv
from imax_hub.sources.layout import CXR_LT, require

LABELS_40 = (
    "Adenopathy", "Atelectasis", "Azygos Lobe", "Calcification of the Aorta", "Cardiomegaly", "Clavicle Fracture",
    "Consolidation", "Edema", "Emphysema", "Enlarged Cardiomediastinum", "Fibrosis", "Fissure", "Fracture",
    "Granuloma", "Hernia", "Hydropneumothorax", "Infarction", "Infiltration", "Kyphosis", "Lobar Atelectasis",
    "Lung Lesion", "Lung Opacity", "Mass", "Nodule", "Normal", "Pleural Effusion", "Pleural Other",
    "Pleural Thickening", "Pneumomediastinum", "Pneumonia", "Pneumoperitoneum", "Pneumothorax",
    "Pulmonary Embolism", "Pulmonary Hypertension", "Rib Fracture", "Round(ed) Atelectasis",
    "Subcutaneous Emphysema", "Support Devices", "Tortuous Aorta", "Tuberculosis",
)
ZERO_SHOT_5 = ("Bulla", "Cardiomyopathy", "Hilum", "Osteopenia", "Scoliosis")
LABELS_45 = tuple(sorted(LABELS_40 + ZERO_SHOT_5, key=lambda s: s.lower()))
LABELS_TASK2 = (
    "Atelectasis", "Calcification of the Aorta", "Cardiomegaly", "Consolidation", "Edema", "Emphysema",
    "Enlarged Cardiomediastinum", "Fibrosis", "Fracture", "Hernia", "Infiltration", "Lung Lesion", "Lung Opacity",
    "Mass", "Normal", "Nodule", "Pleural Effusion", "Pleural Other", "Pleural Thickening", "Pneumomediastinum",
    "Pneumonia", "Pneumoperitoneum", "Pneumothorax", "Subcutaneous Emphysema", "Support Devices", "Tortuous Aorta",
)
ID_COLUMNS = ("dicom_id", "subject_id", "study_id", "ViewPosition", "ViewCodeSequence_CodeMeaning", "fpath")
TASK1_FILES = {
    "train": "train_labeled.csv",
    "development": "development_labeled_task1.csv",
    "test": "test_labeled_task1.csv",
}


def read_file(path: Path, labels=LABELS_40, split: str | None = None) -> pa.Table:
    """One labelled CXR-LT file; label columns are selected by name."""
    t = _csv.read_strings(path, required=[*ID_COLUMNS, *labels])
    _csv.require_non_null(path, t, ["dicom_id", "subject_id", "study_id", "fpath", *labels])
    _csv.check_dicom_ids(path, t)
    cols = {
        "dicom_id": t.column("dicom_id"),
        "subject_id": _csv.cast_column(path, t, "subject_id", "int", pa.int64()),
        "study_id": _csv.strip_prefix_int(path, t, "study_id", "s"),
        "view_position": t.column("ViewPosition"),
        "view_code": t.column("ViewCodeSequence_CodeMeaning"),
        "image_path": t.column("fpath"),
    }
    fpath = t.column("fpath")
    ok = pc.match_substring_regex(fpath, r"^files/p1\d/p\d{8}/s\d{8}/[0-9a-f-]{44}\.jpg$").to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise _csv.fail_at(path, i, "fpath", f"expected files/pXX/pSUBJECT/sSTUDY/DICOM.jpg, found {fpath[i].as_py()!r}")
    if split is not None:
        cols["lt_split"] = pa.array([split] * t.num_rows, pa.string())
    for name in labels:
        values = _csv.cast_column(path, t, name, "int", pa.int8())
        v = values.to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((v != 0) & (v != 1))
        if bad.size:
            raise _csv.fail_at(path, int(bad[0]), name, f"expected 0 or 1, found {int(v[bad[0]])}")
        cols[name] = values
    return pa.table(cols)


def read_cxr_lt(root: str | Path) -> pa.Table:
    """All task-1 labelled images (train, development, test) with their 40 labels."""
    base = require(CXR_LT, root)
    tables = [read_file(base / name, LABELS_40, split) for split, name in TASK1_FILES.items()]
    return pa.concat_tables(tables)
