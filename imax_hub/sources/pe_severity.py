"""MIMIC-CXR-PE-Severity 1.0.1: pulmonary edema grades (0 none, 1 vascular congestion, 2 interstitial
edema, 3 alveolar edema) from three files.

``read_pe_severity`` returns one row per label:
    subject_id int64; study_id int64; dicom_id str (null for the study-level files);
    edema_severity int8 (0-3); label_source str: ``consensus`` (per image, radiologists' consensus),
    ``expert`` (per study, expert report reading) or ``regex`` (per study, regular expressions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from imax_hub.sources import _csv
from imax_hub.sources.layout import PE_SEVERITY, require

GRADES = ("none", "vascular congestion", "interstitial edema", "alveolar edema")
FILES = {
    "regex": ("regex_report_edema_severity.csv", ["subject_id", "study_id", "edema_severity"]),
    "expert": ("expert_report_edema_severity.csv", ["subject_id", "study_id", "edema_severity"]),
    "consensus": ("consensus_image_edema_severity.csv", ["subject_id", "study_id", "dicom_id", "edema_severity"]),
}


def _read(path: Path, header: list[str], source: str) -> pa.Table:
    t = _csv.read_strings(path, header=header)
    _csv.require_non_null(path, t, header)
    if "dicom_id" in header:
        _csv.check_dicom_ids(path, t)
        dicom = t.column("dicom_id")
    else:
        dicom = pa.nulls(t.num_rows, pa.string())
    grade = _csv.cast_column(path, t, "edema_severity", "int", pa.int8())
    g = grade.to_numpy(zero_copy_only=False)
    bad = np.flatnonzero((g < 0) | (g > 3))
    if bad.size:
        raise _csv.fail_at(path, int(bad[0]), "edema_severity", f"expected a grade 0-3, found {int(g[bad[0]])}")
    return pa.table({
        "subject_id": _csv.cast_column(path, t, "subject_id", "int", pa.int64()),
        "study_id": _csv.cast_column(path, t, "study_id", "int", pa.int64()),
        "dicom_id": dicom,
        "edema_severity": grade,
        "label_source": pa.array([source] * t.num_rows, pa.string()),
    })


def read_pe_severity(root: str | Path) -> pa.Table:
    """All three label files stacked (consensus, expert, regex)."""
    base = require(PE_SEVERITY, root)
    return pa.concat_tables([_read(base / FILES[s][0], FILES[s][1], s) for s in ("consensus", "expert", "regex")])
