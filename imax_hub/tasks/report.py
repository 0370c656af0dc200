"""Report-generation entries from MIMIC-CXR: findings then impression (official sectioning) as one text.

A report applies to every frontal image of its study. Studies with neither section are skipped
(their ``last_paragraph`` fallback is not a findings/impression text) and counted.
"""

from __future__ import annotations

import pyarrow.compute as pc

from imax_hub.sources import read_reports
from imax_hub.sources.layout import MIMIC_CXR_REPORTS
from imax_hub.tasks import CandidateList, TaskContext


def candidates(ctx: TaskContext):
    """One entry per frontal image whose study report has findings and/or impression."""
    reports = read_reports(ctx.root)
    images = ctx.frontal.select(["dicom_id", "study_id"])
    joined = images.join(reports.select(["study_id", "findings", "impression"]), "study_id", join_type="inner")
    joined = joined.sort_by("dicom_id")
    out = CandidateList(MIMIC_CXR_REPORTS.tag(ctx.root))
    for row in joined.to_pylist():
        parts = [(name, row[name]) for name in ("findings", "impression") if row[name]]
        if not parts:
            ctx.skipped["report: neither findings nor impression"] += 1
            continue
        sections = [name for name, _ in parts]
        out.add(row["dicom_id"], "report", "_".join(sections), "report", {},
                {"text": " ".join(text for _, text in parts), "sections": sections})
    ctx.skipped["report: frontal images without a report"] += len(images) - int(
        pc.sum(pc.is_in(images.column("study_id"), value_set=reports.column("study_id"))).as_py() or 0)
    return out.table()
