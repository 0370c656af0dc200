"""MIMIC-CXR-PE-Severity 1.0.1: pulmonary edema grades (0 none, 1 vascular congestion, 2 interstitial
edema, 3 alveolar edema) from three files.

``read_pe_severity`` returns one row per label:
    subject_id int64; study_id int64; dicom_id str (null for the study-level files);
    edema_severity int8 (0-3); label_source str: ``consensus`` (per image, radiologists' consensus),
    ``expert`` (per study, expert report reading) or ``regex`` (per study, regular expressions).

Layout evidence: PhysioNet's mimic-cxr-pe-severity 1.0.1 page and the authors' RayRuizhiLiao/mimic_cxr_edema
repository, which holds the same three CSVs (headers ``subject_id,study_id,edema_severity`` and
``subject_id,study_id,dicom_id,edema_severity``). Columns are taken by name; extra ones are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from imax_hub.sources import _csv, readlog
from imax_hub.sources.layout import PE_SEVERITY, require

GRADES = ("none", "vascular congestion", "interstitial edema", "alveolar edema")
FILES = {
    "regex": ("regex_report_edema_severity.csv", ["subject_id", "study_id", "edema_severity"]),
    "expert": ("expert_report_edema_severity.csv", ["subject_id", "study_id", "edema_severity"]),
    "consensus": ("consensus_image_edema_severity.csv", ["subject_id", "study_id", "dicom_id", "edema_severity"]),
}


def _read(path: Path, header: list[str], source: str, log: readlog.ReadLog) -> pa.Table:
    t = _csv.read_strings(path, required=header, log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required(header)
    dicom = rows.dicom_ids() if "dicom_id" in header else pa.nulls(t.num_rows, pa.string())
    key = rows.ids("subject_id", "study_id")
    grade = rows.int("edema_severity", pa.int8(), lo=0, hi=3, expected="a grade 0-3")
    # consensus labels are per image, the report labels per study
    rows.unique("dicom_id" if "dicom_id" in header else "study_id")
    return rows.finish({
        "subject_id": key["subject_id"],
        "study_id": key["study_id"],
        "dicom_id": dicom,
        "edema_severity": grade,
        "label_source": pa.array([source] * t.num_rows, pa.string()),
    })


def read_pe_severity(root: str | Path) -> pa.Table:
    """All three label files stacked (consensus, expert, regex)."""
    log = readlog.current()
    base = require(PE_SEVERITY, root)
    return pa.concat_tables([_read(_csv.find_file(base, FILES[s][0]), FILES[s][1], s, log)
                             for s in ("consensus", "expert", "regex")])
