"""Per-item statistics of each metric family; every corpus metric is a function of their weighted sums.

That one shape (items x k statistics, reduced from sums) is what makes the metrics, their parse-failure
policies and the paired bootstrap exact and fast: a resample is a weight vector over items.
"""

from __future__ import annotations

import json
import warnings

import numpy as np

from imax_hub.metrics.normalize import normalize_answer
from imax_hub.parsing import parse_box, parse_grade, parse_label_vector, parse_number
from imax_hub.sources.pe_severity import GRADES

STRUCTURES = ("heart", "left lung", "right lung")


def calculation(preds: list[str], targets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(abs error, squared error) per item, and which predictions parsed.

    Parsed = the first number in the text, and it lies in [0, 1] (CTR and CPAR are ratios). Otherwise the
    prediction is taken as the end of [0, 1] farther from the gold value: the worst plausible answer.
    """
    stats = np.zeros((len(preds), 2))
    parsed = np.zeros(len(preds), dtype=bool)
    for i, (p, t) in enumerate(zip(preds, targets)):
        gold = float(t["value"])
        value = parse_number(p)
        ok = value is not None and 0.0 <= value <= 1.0
        parsed[i] = ok
        if not ok:
            value = 0.0 if gold >= 0.5 else 1.0
        err = value - gold
        stats[i] = (abs(err), err * err)
    return stats, parsed


def multiclass(preds: list[str], targets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Exact match of the normalised grade name; parsed = the text is one of the four names."""
    stats = np.zeros((len(preds), 1))
    parsed = np.zeros(len(preds), dtype=bool)
    for i, (p, t) in enumerate(zip(preds, targets)):
        parsed[i] = parse_grade(p) is not None
        stats[i, 0] = normalize_answer(p) == normalize_answer(GRADES[int(t["grade"])])
    return stats, parsed


def multilabel(preds: list[str], targets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Per item and label (tp, fp, fn): 30 columns for 10 labels. Unparsed = every label wrong."""
    n_labels = len(targets[0]["vector"]) if targets else 10
    stats = np.zeros((len(preds), 3 * n_labels))
    parsed = np.zeros(len(preds), dtype=bool)
    for i, (p, t) in enumerate(zip(preds, targets)):
        gold = np.array(t["vector"], dtype=np.int64)
        vec = parse_label_vector(p, n_labels)
        parsed[i] = vec is not None
        pred = np.array(vec, dtype=np.int64) if vec is not None else 1 - gold
        stats[i, 0::3] = (pred == 1) & (gold == 1)
        stats[i, 1::3] = (pred == 1) & (gold == 0)
        stats[i, 2::3] = (pred == 0) & (gold == 1)
    return stats, parsed


def box_iou(a: list[int], b: list[int]) -> float:
    """IoU of two boxes given by their edges (x1, y1, x2, y2) on the 0-1000 grid."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def rec(preds: list[str], targets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(IoU, IoU >= 0.5) per item; an unparsed or degenerate box (x2 <= x1, y2 <= y1, > 1000) has IoU 0."""
    stats = np.zeros((len(preds), 2))
    parsed = np.zeros(len(preds), dtype=bool)
    for i, (p, t) in enumerate(zip(preds, targets)):
        box = parse_box(p)
        ok = box is not None and box[0] < box[2] <= 1000 and box[1] < box[3] <= 1000
        parsed[i] = ok
        iou = box_iou(box, t["box_grid"]) if ok else 0.0
        stats[i] = (iou, iou >= 0.5)
    return stats, parsed


def reg(preds: list[str], targets: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Exact match of the normalised structure name; parsed = the text names one of the three structures."""
    stats = np.zeros((len(preds), 1))
    parsed = np.zeros(len(preds), dtype=bool)
    names = {normalize_answer(s) for s in STRUCTURES}
    for i, (p, t) in enumerate(zip(preds, targets)):
        norm = normalize_answer(p)
        parsed[i] = norm in names
        stats[i, 0] = norm == normalize_answer(t["structure"])
    return stats, parsed


def vqa_verify(preds: list[str], golds: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """1 when the normalised gold is contained in the normalised prediction (the reference's rule)."""
    stats = np.zeros((len(preds), 1))
    parsed = np.array([bool(p.strip()) for p in preds])
    for i, (p, g) in enumerate(zip(preds, golds)):
        stats[i, 0] = normalize_answer(g) in normalize_answer(p)
    return stats, parsed


def vqa_bleu1(preds: list[str], golds: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """nltk sentence BLEU with weights (1, 0, 0, 0) on normalised whitespace tokens, per item."""
    from nltk.translate.bleu_score import sentence_bleu

    stats = np.zeros((len(preds), 1))
    parsed = np.array([bool(p.strip()) for p in preds])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on hypotheses without matching n-grams; they score 0
        for i, (p, g) in enumerate(zip(preds, golds)):
            hyp = normalize_answer(p).split()
            stats[i, 0] = sentence_bleu([normalize_answer(g).split()], hyp, weights=(1, 0, 0, 0)) if hyp else 0.0
    return stats, parsed


def targets_of(rows: list[dict]) -> list[dict]:
    return [json.loads(r["target"]) for r in rows]
