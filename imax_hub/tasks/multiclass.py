"""Multi-class entries from MIMIC-CXR-PE-Severity: the pulmonary-edema grade of a frontal image.

Per image, the radiologists' consensus label beats the expert report reading, which beats the
regex label; study-level labels (expert, regex) apply to all frontal images of the study. An answer is
one of the four grade names, after VQA normalisation.
"""

from __future__ import annotations

from imax_hub.sources import read_pe_severity
from imax_hub.sources.layout import PE_SEVERITY
from imax_hub.sources.pe_severity import GRADES
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat, one_name
from imax_hub.tasks.answers import parse_grade
from imax_hub.tasks.spec import HarnessTask, Metric, PseudoLabels, TaskSpec

PRIORITY = ("consensus", "expert", "regex")


def candidates(ctx: TaskContext):
    """One entry per frontal image with an edema grade, from its most trusted label."""
    labels = read_pe_severity(ctx.root).to_pylist()
    frontal = ctx.frontal.select(["dicom_id", "study_id"]).to_pylist()
    frontal_ids = {r["dicom_id"] for r in frontal}
    by_study: dict[int, list[str]] = {}
    for r in frontal:
        by_study.setdefault(r["study_id"], []).append(r["dicom_id"])
    best: dict[str, tuple[int, int, str]] = {}  # dicom_id -> (priority, grade, source)
    for row in labels:
        rank = PRIORITY.index(row["label_source"])
        if row["dicom_id"] is not None:
            images = [row["dicom_id"]] if row["dicom_id"] in frontal_ids else []
        else:
            images = by_study.get(row["study_id"], [])
        for dicom_id in images:
            if dicom_id not in best or rank < best[dicom_id][0]:
                best[dicom_id] = (rank, int(row["edema_severity"]), row["label_source"])
    out = CandidateList(PE_SEVERITY.tag(ctx.root))
    for dicom_id in sorted(best):
        _, grade, source = best[dicom_id]
        out.add(dicom_id, "multiclass", "edema_severity", "edema", {},
                {"grade": grade, "name": GRADES[grade], "label_source": source})
    return out.table()


def parse(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """Paper: the text is a grade name. Family modes: the text names exactly one grade."""
    grade = parse_grade(text) if fmt.paper else one_name(text, GRADES)
    return None if grade is None else {"grade": grade}


def _units(dicom_id: str, seed: int) -> list[tuple[str, str, dict]]:
    return [("edema_severity", "edema", {})]


def _pseudo_target(inputs: dict, text: str, image_size: tuple[int, int], fmt: AnswerFormat) -> tuple[dict | None, str]:
    grade = parse(text, {}, fmt)
    grade = None if grade is None else grade["grade"]
    if grade is None:
        return None, "not an edema grade"
    return {"grade": grade, "name": GRADES[grade]}, ""


SPEC = TaskSpec(
    name="multiclass",
    family="disease grading",
    project=PE_SEVERITY,
    candidates=candidates,
    scorer="match",
    parse=parse,
    metrics=(Metric("multiclass_acc", "Multi-class ACC", None, True, "acc"),),
    harness=(HarnessTask("imax_cls_multiclass", None, ("multiclass_acc",), 16),),
    paper_entries=6_019,
    pseudo=PseudoLabels(units=_units, target=_pseudo_target),
)
