"""Calculation entries from CXR-Cardiomegaly: CTR and CPAR as separate entries, value with 4 decimals.

Error codes (2, 3, 4) and implausible values are skipped and counted; only frontal images are used.
"""

from __future__ import annotations

import pyarrow.compute as pc

from imax_hub.sources import read_cardiomegaly
from imax_hub.sources.layout import CXR_CARDIOMEGALY
from imax_hub.tasks import CandidateList, TaskContext


def candidates(ctx: TaskContext):
    """One entry per (frontal image, measure) with a valid value."""
    table = read_cardiomegaly(ctx.root)
    table = table.filter(pc.is_in(table.column("dicom_id"), value_set=ctx.frontal_ids))
    out = CandidateList(CXR_CARDIOMEGALY.tag(ctx.root))
    for row in table.to_pylist():
        for measure in ("ctr", "cpar"):
            status = row[f"{measure}_status"]
            if status != "ok":
                if status != "missing":
                    ctx.skipped[f"calculation: {measure} {status}"] += 1
                continue
            value = round(float(row[measure]), 4)
            out.add(row["dicom_id"], "calculation", measure, measure, {"measure": measure},
                    {"measure": measure, "value": value})
    return out.table()
