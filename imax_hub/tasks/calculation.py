"""Calculation entries from CXR-Cardiomegaly: CTR and CPAR as separate entries, value with 4 decimals.

Error codes (2, 3, 4) and implausible values are skipped and counted; only frontal images are used.
An answer is the first number in the text; CTR and CPAR are ratios, so only a value in [0, 1] counts.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from imax_hub.sources import read_cardiomegaly
from imax_hub.sources.layout import CXR_CARDIOMEGALY
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat, ratio
from imax_hub.tasks.answers import parse_number
from imax_hub.tasks.spec import HarnessTask, Metric, PseudoLabels, TaskSpec

MEASURES = ("ctr", "cpar")
PARSE_RULE = "first-number-in[0,1]"


def candidates(ctx: TaskContext):
    """One entry per (frontal image, measure) with a valid value."""
    table = read_cardiomegaly(ctx.root)
    table = table.filter(pc.is_in(table.column("dicom_id"), value_set=ctx.frontal_ids))
    out = CandidateList(CXR_CARDIOMEGALY.tag(ctx.root))
    for row in table.to_pylist():
        for measure in MEASURES:
            status = row[f"{measure}_status"]
            if status != "ok":
                if status != "missing":
                    ctx.skipped[f"calculation: {measure} {status}"] += 1
                continue
            value = round(float(row[measure]), 4)
            out.add(row["dicom_id"], "calculation", measure, measure, {"measure": measure},
                    {"measure": measure, "value": value})
    return out.table()


def parse(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """The first number of the text, when it is a ratio (in [0, 1]); family modes also read a decimal comma
    ("0,52") and a percentage ("52%")."""
    value = parse_number(text) if fmt.paper else ratio(text)
    return {"value": value} if value is not None and 0.0 <= value <= 1.0 else None


def prior(targets: list[dict]) -> str:
    return f"{np.mean([t['value'] for t in targets]):.4f}"


def _units(dicom_id: str, seed: int) -> list[tuple[str, str, dict]]:
    return [(m, m, {"measure": m}) for m in MEASURES]


def _pseudo_target(inputs: dict, text: str, image_size: tuple[int, int], fmt: AnswerFormat) -> tuple[dict | None, str]:
    value = parse_number(text) if fmt.paper else ratio(text)
    if value is None:
        return None, "no number"
    if not 0 < value < 1:  # CTR and CPAR are ratios of a part to a whole
        return None, "ratio outside (0, 1)"
    return {"measure": inputs["measure"], "value": round(value, 4)}, ""


SPEC = TaskSpec(
    name="calculation",
    family="measurement",
    project=CXR_CARDIOMEGALY,
    candidates=candidates,
    scorer="ratio",
    parse=parse,
    parse_rule=PARSE_RULE,
    metrics=(
        Metric("cpar_mae", "CPAR MAE", "cpar", False, "mae"),
        Metric("cpar_rmse", "CPAR RMSE", "cpar", False, "rmse"),
        Metric("ctr_mae", "CTR MAE", "ctr", False, "mae"),
        Metric("ctr_rmse", "CTR RMSE", "ctr", False, "rmse"),
    ),
    harness=(
        HarnessTask("imax_calc_ctr", "ctr", ("ctr_mae", "ctr_rmse"), 16),
        HarnessTask("imax_calc_cpar", "cpar", ("cpar_mae", "cpar_rmse"), 16),
    ),
    paper_entries=54_684,
    prior=prior,
    pseudo=PseudoLabels(units=_units, target=_pseudo_target),
)
