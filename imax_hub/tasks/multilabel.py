"""Multi-label entries from CXR-LT 2024: the paper's ten findings, in its order, as ten 0/1 digits.

An answer is exactly ten comma-separated binary digits, in the listed order.
"""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from imax_hub.sources import read_cxr_lt
from imax_hub.sources.layout import CXR_LT
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat, label_set
from imax_hub.tasks.answers import parse_label_vector
from imax_hub.tasks.spec import HarnessTask, Metric, PseudoLabels, TaskSpec

# The paper's order (Figure 1 and Supplementary A), not CXR-LT's alphabetical column order.
PAPER_LABELS = ("Lung Opacity", "Pleural Effusion", "Atelectasis", "Pneumonia", "Edema", "Consolidation",
                "Pneumothorax", "Fracture", "Infiltration", "Nodule")


def candidates(ctx: TaskContext):
    """One entry per frontal image labelled in CXR-LT's task-1 files."""
    table = read_cxr_lt(ctx.root)
    table = table.filter(pc.is_in(table.column("dicom_id"), value_set=ctx.frontal_ids)).sort_by("dicom_id")
    vectors = np.stack([table.column(name).to_numpy(zero_copy_only=False) for name in PAPER_LABELS], axis=1)
    out = CandidateList(CXR_LT.tag(ctx.root))
    labels = list(PAPER_LABELS)
    for dicom_id, vector in zip(table.column("dicom_id").to_pylist(), vectors.tolist()):
        out.add(dicom_id, "multilabel", "findings10", "findings10", {"labels": labels},
                {"labels": labels, "vector": [int(v) for v in vector]})
    return out.table()


def parse(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """Paper: exactly ten comma-separated digits. Family modes: label names in any order, "none of the listed",
    or a digit vector with brackets, spaces or semicolons."""
    labels = target.get("labels") or PAPER_LABELS[: len(target["vector"])]
    vector = parse_label_vector(text, len(labels)) if fmt.paper else label_set(text, labels)
    return None if vector is None else {"vector": vector}


def _units(dicom_id: str, seed: int) -> list[tuple[str, str, dict]]:
    return [("findings10", "findings10", {"labels": list(PAPER_LABELS)})]


def _pseudo_target(inputs: dict, text: str, image_size: tuple[int, int], fmt: AnswerFormat) -> tuple[dict | None, str]:
    parsed = parse(text, {"labels": inputs["labels"], "vector": [0] * len(inputs["labels"])}, fmt)
    vector = None if parsed is None else parsed["vector"]
    if vector is None:
        return None, "not 10 binary digits"
    return {"labels": inputs["labels"], "vector": vector}, ""


SPEC = TaskSpec(
    name="multilabel",
    family="disease classification",
    project=CXR_LT,
    candidates=candidates,
    scorer="labels",
    parse=parse,
    parse_rule=f"{len(PAPER_LABELS)}-binary-digits",
    scorer_params={"labels": len(PAPER_LABELS)},
    metrics=(
        Metric("multilabel_micro_f1", "Multi-label micro-F1", None, True, "micro-f1"),
        Metric("multilabel_macro_f1", "Multi-label macro-F1", None, True, "macro-f1"),
    ),
    harness=(HarnessTask("imax_cls_multilabel", None, ("multilabel_micro_f1", "multilabel_macro_f1"), 40),),
    paper_entries=45_186,
    pseudo=PseudoLabels(units=_units, target=_pseudo_target),
)
