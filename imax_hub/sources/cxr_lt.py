"""CXR-LT 2024 (PhysioNet ``cxr-lt-iccv-workshop-cvamd`` 2.0.0, folder ``cxr-lt-2024/``).

``read_cxr_lt`` returns one row per image from the task-1 files (``train_labeled.csv``,
``development_labeled_task1.csv``, ``test_labeled_task1.csv``), split given by the file:
    dicom_id str; subject_id int64; study_id int64 (the files write it as ``s50414267``);
    view_position str (null when empty); view_code str; image_path str (``fpath``, relative to the
    MIMIC-CXR-JPG root); lt_split str (``train`` | ``development`` | ``test``); then the 40 task-1
    labels as int8 0/1, by name (never by position: task-2 files order ``Normal`` before ``Nodule``).

Layout evidence: PhysioNet's cxr-lt-iccv-workshop-cvamd 2.0.0 page (the ``cxr-lt-2024/`` files) and
third-party code that reads the real files (UoS-HDS/cxr-lt-diss ``src/datasets/cxr_lt_24.py`` and its
notebooks): ``s``-prefixed study ids, ``fpath`` relative to MIMIC-CXR-JPG, labels read by name.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from imax_hub.sources import _csv, readlog
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


def read_file(path: Path, labels=LABELS_40, split: str | None = None, *, log: readlog.ReadLog,
              seen: dict | None = None) -> pa.Table:
    """One labelled CXR-LT file; label columns are selected by name. Each image once (``seen`` carries the
    images of files read before: an image in two splits is an error)."""
    t = _csv.read_strings(path, required=[*ID_COLUMNS, *labels], log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(["dicom_id", "subject_id", "study_id", "fpath", *labels])
    t = _csv.strip_prefix(t, "study_id", "s")
    rows.table = t
    key = rows.ids("subject_id", "study_id")
    cols = {
        "dicom_id": rows.dicom_ids(),
        "subject_id": key["subject_id"],
        "study_id": key["study_id"],
        "view_position": t.column("ViewPosition"),
        "view_code": t.column("ViewCodeSequence_CodeMeaning"),
        "image_path": rows.matches("fpath", r"^files/p1\d/p\d{8}/s\d{8}/[0-9a-f-]{44}\.jpg$",
                                   "files/pXX/pSUBJECT/sSTUDY/DICOM.jpg"),
    }
    if split is not None:
        cols["lt_split"] = pa.array([split] * t.num_rows, pa.string())
    for name in labels:
        # pandas writes these as 1.0/0.0 once a column has had a missing value; Rows.int reads both
        cols[name] = rows.int(name, pa.int8(), lo=0, hi=1, expected="0 or 1")
    rows.unique("dicom_id", seen=seen)
    return rows.finish(cols)


def read_cxr_lt(root: str | Path) -> pa.Table:
    """All task-1 labelled images (train, development, test) with their 40 labels."""
    log = readlog.current()
    base = require(CXR_LT, root)
    seen: dict = {}
    tables = [read_file(_csv.find_file(base, name), LABELS_40, split, log=log, seen=seen)
              for split, name in TASK1_FILES.items()]
    return pa.concat_tables(tables)
