"""Report-generation entries from MIMIC-CXR: findings then impression (official sectioning) as one text.

A report applies to every frontal image of its study. Studies with neither section are skipped
(their ``last_paragraph`` fallback is not a findings/impression text) and counted. Any non-empty text
is an answer; BLEU-1, ROUGE-1 and METEOR score it.
"""

from __future__ import annotations

import re

import pyarrow.compute as pc

from imax_hub.sources import read_reports
from imax_hub.sources.layout import MIMIC_CXR_REPORTS
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks.spec import HarnessTask, Metric, PseudoLabels, TaskSpec

PSEUDO_CHARS = (10, 4000)  # a generated report shorter or longer than this is implausible


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


def parse(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    return {"text": text} if text.strip() else None


def _units(dicom_id: str, seed: int) -> list[tuple[str, str, dict]]:
    return [("findings_impression", "report", {})]


def _pseudo_target(inputs: dict, text: str, image_size: tuple[int, int], fmt: AnswerFormat) -> tuple[dict | None, str]:
    if not PSEUDO_CHARS[0] <= len(text) <= PSEUDO_CHARS[1]:
        return None, f"report length outside {PSEUDO_CHARS[0]}-{PSEUDO_CHARS[1]} characters"
    if sum(bool(re.fullmatch(r"[A-Za-z][A-Za-z'-]*[.,;:]?", w)) for w in text.split()) < 3:
        return None, "report without three words"
    return {"text": " ".join(text.split()), "sections": ["findings", "impression"]}, ""


SPEC = TaskSpec(
    name="report",
    family="report generation",
    project=MIMIC_CXR_REPORTS,
    candidates=candidates,
    scorer="report-text",
    parse=parse,
    metrics=(
        Metric("report_bleu1", "Report BLEU-1", None, True, "bleu1-corpus"),
        Metric("report_rouge1", "Report ROUGE-1", None, True, "rouge1"),
        Metric("report_meteor", "Report METEOR", None, True, "meteor"),
    ),
    harness=(HarnessTask("imax_report", None, ("report_bleu1", "report_rouge1", "report_meteor"), 256),),
    paper_entries=45_715,
    free_text=True,
    pseudo=PseudoLabels(units=_units, target=_pseudo_target),
)
