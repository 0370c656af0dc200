"""VQA entries from MIMIC-Ext-MIMIC-CXR-VQA, keeping semantic_type (the subtask) and content_type.

Entries whose answer is the empty list are skipped and counted: there is no text to train on or to
score, and rendering them as a word such as "none" would make the answer unparseable back to ``[]``.
The dataset's own train/valid/test split is not used; IMAX/DMAX make their own (see ``imax_hub.build``).
Any non-empty text is an answer: verify questions are scored by whether the gold answer is in it,
choose and query questions by BLEU-1 against the gold answers joined with ", ".
"""

from __future__ import annotations

import pyarrow.compute as pc

from imax_hub.sources import read_vqa
from imax_hub.sources.layout import MIMIC_CXR_VQA
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat, yes_no
from imax_hub.tasks.spec import HarnessTask, Metric, TaskSpec


def candidates(ctx: TaskContext):
    """One entry per question about a frontal image."""
    table = read_vqa(ctx.root)
    table = table.filter(pc.is_in(table.column("dicom_id"), value_set=ctx.frontal_ids))
    out = CandidateList(MIMIC_CXR_VQA.tag(ctx.root))
    cols = [table.column(n).to_pylist() for n in ("dicom_id", "split", "idx", "question", "semantic_type",
                                                   "content_type", "answer")]
    for dicom_id, split, idx, question, semantic, content, answer in zip(*cols):
        if not answer:
            ctx.skipped["vqa: empty answer"] += 1
            continue
        out.add(dicom_id, "vqa", semantic, f"{split}-{idx}", {"question": question},
                {"answer": list(answer), "semantic_type": semantic, "content_type": content})
    return out.table()


def parse(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """Any non-empty text; in family modes a verify answer must lead with yes or no (and not hold both)."""
    if not fmt.paper and target.get("semantic_type") == "verify":
        answer = yes_no(text)
        return None if answer is None else {"yes_no": answer}
    return {"text": text} if text.strip() else None


SPEC = TaskSpec(
    name="vqa",
    family="visual question answering",
    project=MIMIC_CXR_VQA,
    candidates=candidates,
    scorer="answer-text",
    parse=parse,
    metrics=(
        Metric("vqa_verify_acc", "VQA verify ACC", "verify", True, "acc-contains"),
        Metric("vqa_choose_bleu1", "VQA choose BLEU-1", "choose", True, "bleu1-sentence"),
        Metric("vqa_query_bleu1", "VQA query BLEU-1", "query", True, "bleu1-sentence"),
    ),
    harness=(
        HarnessTask("imax_vqa_verify", "verify", ("vqa_verify_acc",), 16),
        HarnessTask("imax_vqa_choose", "choose", ("vqa_choose_bleu1",), 32),
        HarnessTask("imax_vqa_query", "query", ("vqa_query_bleu1",), 64),
    ),
    paper_entries=100_901,
    not_pseudo="its prompt needs a question",
)
