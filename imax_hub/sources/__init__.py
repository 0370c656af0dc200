"""One reader per PhysioNet source; each returns an Arrow table with a documented schema.

Joining keys are the same everywhere: ``dicom_id`` (string), ``study_id`` and ``subject_id`` (int64).
The readers are imported on first use (PEP 562), so importing a light module of this package (``layout``,
``readlog``) does not load pyarrow's CSV machinery: ``imax --help`` stays fast.
"""

from __future__ import annotations

import importlib

_READERS = {
    "read_cardiomegaly": "cardiomegaly", "read_chexmask": "chexmask", "iter_chexmask": "chexmask",
    "read_cxr_lt": "cxr_lt", "read_labels": "mimic_cxr_jpg", "read_metadata": "mimic_cxr_jpg",
    "read_split": "mimic_cxr_jpg", "read_test_set_labels": "mimic_cxr_jpg", "read_vqa": "mimic_cxr_vqa",
    "read_pe_severity": "pe_severity", "read_reports": "reports",
}
__all__ = list(_READERS)


def __getattr__(name: str):
    if name in _READERS:
        return getattr(importlib.import_module(f"imax_hub.sources.{_READERS[name]}"), name)
    raise AttributeError(f"module 'imax_hub.sources' has no attribute {name!r}")
