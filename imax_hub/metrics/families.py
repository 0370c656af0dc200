"""Per-item statistics of each metric family, their reductions and their signatures.

Every corpus metric is a function of weighted sums of its items' statistics (items x k): that one shape
makes the metrics, their parse-failure policies and the paired bootstrap exact and fast, since a
resample is a weight vector over items. A task names its family (``TaskSpec.scorer``) and each metric
its statistic (``Metric.statistic``); the family reads answers through the task's own parser.

Each statistic's signature is assembled from the constants its computation uses (the parser's rule,
the failure policy, the normaliser, the tokenizer, the package versions), the way sacrebleu builds a
signature from a metric's parameters: a parameter cannot change without its signature changing.
Unparsed answers are never dropped: each family scores them as its worst case, and says how.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from imax_hub.metrics import text
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks.normalize import SIGNATURE as NORM
from imax_hub.tasks.normalize import normalize_answer
from imax_hub.tasks.spec import TaskSpec

FAIL = "fail:worst"
RATIO_RANGE = (0.0, 1.0)  # calculation answers are ratios; an unparsed one is the end of this range farther from gold
IOU_HIT = 0.5  # R@0.5
SENTENCE_BLEU_WEIGHTS = (1, 0, 0, 0)


class Resources:
    """What some reductions need and is costly to start: the process's METEOR jar (:func:`text.shared_meteor`),
    started only when a METEOR reduction first asks for it."""

    @property
    def meteor(self) -> text.Meteor:
        return text.shared_meteor()


@dataclass(frozen=True)
class Statistic:
    """How one metric is computed: per-item statistics, their reduction and its signature."""

    # (predictions, rows with answer/target, task, answer format) -> (items x k statistics, corpus value or None)
    compute: Callable[[list[str], list[dict], TaskSpec, AnswerFormat], tuple[np.ndarray, float | None]]
    # (B x k summed statistics, B item counts, resources) -> B values (x100)
    reduce: Callable[[np.ndarray, np.ndarray, Resources], np.ndarray]
    # the signature template ({package} fields are filled with installed versions), from the task's parameters
    signature: Callable[[TaskSpec], str]
    # per-item statistics -> the form whose (weighted) sums ``reduce`` takes
    summable: Callable[[np.ndarray], np.ndarray] = lambda stats: stats
    starts_jvm: bool = False  # computing it starts Java (callers that only want cheap metrics skip it)


def _targets(rows: list[dict]) -> list[dict]:
    return [json.loads(r["target"]) if isinstance(r["target"], str) else r["target"] for r in rows]


def _parsed(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat) -> list[dict | None]:
    return [spec.parse(p, t, fmt) for p, t in zip(preds, _targets(rows))]


def _mean(col: int) -> Callable:
    return lambda s, w, res: 100 * s[:, col] / w


def _sig(*parts: str) -> str:
    return "|".join(parts)


# -- ratio: a number compared with a gold number ----------------------------------------------------

def ratio_errors(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """(abs error, squared error) per item. An unparsed answer is taken as the end of [0, 1] farther from the
    gold value: the worst plausible answer."""
    stats = np.zeros((len(preds), 2))
    for i, (p, t) in enumerate(zip(_parsed(preds, rows, spec, fmt), _targets(rows))):
        gold = float(t["value"])
        value = p["value"] if p is not None else (RATIO_RANGE[0] if gold >= 0.5 else RATIO_RANGE[1])
        err = value - gold
        stats[i] = (abs(err), err * err)
    return stats, None


def _ratio_sig(name: str) -> Callable[[TaskSpec], str]:
    lo, hi = (f"{v:g}" for v in RATIO_RANGE)
    return lambda spec: _sig(name, "x100", f"parse:{spec.parse_rule}", f"{FAIL}:far-end-of[{lo},{hi}]", "sample")


# -- match: a structured answer equal to the gold one -------------------------------------------------

def matches(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """1 when the parsed answer equals the gold target on every field the parser returns; unparsed is wrong."""
    stats = np.zeros((len(preds), 1))
    for i, (p, t) in enumerate(zip(_parsed(preds, rows, spec, fmt), _targets(rows))):
        stats[i, 0] = p is not None and all(t.get(k) == v for k, v in p.items())
    return stats, None


# -- labels: a binary vector against the gold vector ---------------------------------------------------

def label_counts(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """Per item and label (tp, fp, fn): 3 columns per label. Unparsed = every label wrong."""
    targets = _targets(rows)
    n_labels = len(targets[0]["vector"]) if targets else spec.scorer_params.get("labels", 10)
    stats = np.zeros((len(preds), 3 * n_labels))
    for i, (p, t) in enumerate(zip(_parsed(preds, rows, spec, fmt), targets)):
        gold = np.array(t["vector"], dtype=np.int64)
        pred = np.array(p["vector"], dtype=np.int64) if p is not None else 1 - gold
        stats[i, 0::3] = (pred == 1) & (gold == 1)
        stats[i, 1::3] = (pred == 1) & (gold == 0)
        stats[i, 2::3] = (pred == 0) & (gold == 1)
    return stats, None


def _micro_f1(s, w, res):
    tp, fp, fn = s[:, 0::3].sum(1), s[:, 1::3].sum(1), s[:, 2::3].sum(1)
    den = 2 * tp + fp + fn
    # nothing positive in gold or prediction is full agreement (scikit-learn's zero_division=1)
    return 100 * np.divide(2 * tp, den, out=np.ones_like(den), where=den > 0)


def _macro_f1(s, w, res):
    tp, fp, fn = s[:, 0::3], s[:, 1::3], s[:, 2::3]
    den = 2 * tp + fp + fn
    # a label with no positive in gold or prediction is agreement and scores 1 (scikit-learn's zero_division=1):
    # so a perfect prediction scores 100 on a test set where some label never occurs
    return 100 * np.divide(2 * tp, den, out=np.ones_like(den), where=den > 0).mean(1)


def _f1_sig(name: str) -> Callable[[TaskSpec], str]:
    return lambda spec: _sig(name, f"{spec.scorer_params['labels']}-labels", "zero-division:1",
                             f"parse:{spec.parse_rule}", f"{FAIL}:all-labels-flipped", "corpus")


# -- box: a box against the gold box -------------------------------------------------------------------

def box_iou(a: list[int], b: list[int]) -> float:
    """IoU of two boxes given by their edges (x1, y1, x2, y2) on the 0-1000 grid."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_overlaps(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """(IoU, IoU >= 0.5) per item; an unparsed or degenerate box has IoU 0."""
    stats = np.zeros((len(preds), 2))
    for i, (p, t) in enumerate(zip(_parsed(preds, rows, spec, fmt), _targets(rows))):
        iou = box_iou(p["box_grid"], t["box_grid"]) if p is not None else 0.0
        stats[i] = (iou, iou >= IOU_HIT)
    return stats, None


def _box_sig(name: str, fail: str) -> Callable[[TaskSpec], str]:
    return lambda spec: _sig(name, f"grid:{spec.scorer_params['grid']}", f"parse:{spec.parse_rule}", f"{FAIL}:{fail}",
                             "sample-mean")


# -- report text: corpus BLEU-1, ROUGE-1, METEOR at paper parity ---------------------------------------------

def _golds(rows: list[dict]) -> list[str]:
    return [r["answer"] for r in rows]


def report_bleu1(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    tok = text.ptb_tokenize(preds + _golds(rows))
    return text.bleu1_stats(tok[: len(preds)], tok[len(preds):]), None


def report_rouge1(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    return text.rouge1_f(preds, _golds(rows))[:, None], None


def report_meteor(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, float]:
    """The jar's statistics line per item, and its corpus score (METEOR is not a mean of item scores)."""
    norm = text.ptb_tokenize([normalize_answer(t) for t in preds + _golds(rows)])
    meteor = text.shared_meteor()
    lines = meteor.stats(norm[: len(preds)], norm[len(preds):])
    value = 100 * meteor.corpus(lines)
    return np.array([[float(x) for x in line.split()] for line in lines]), value


def _meteor_reduce(s, w, res):
    return 100 * np.array(res.meteor.aggregate(s))


# -- VQA answers: the gold in the prediction, or sentence BLEU-1 ----------------------------------------------

def gold_contained(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """Paper: 1 when the normalised gold is contained in the normalised prediction (the reference's rule, so
    "yes no" is right whatever the gold). Family modes: the answer's leading yes/no equals the gold."""
    stats = np.zeros((len(preds), 1))
    if fmt.paper:
        for i, (p, g) in enumerate(zip(preds, _golds(rows))):
            stats[i, 0] = normalize_answer(g) in normalize_answer(p)
        return stats, None
    for i, (p, g) in enumerate(zip(_parsed(preds, rows, spec, fmt), _golds(rows))):
        stats[i, 0] = p is not None and p.get("yes_no") == normalize_answer(g)
    return stats, None


def sentence_bleu1(preds: list[str], rows: list[dict], spec: TaskSpec, fmt: AnswerFormat = PAPER) -> tuple[np.ndarray, None]:
    """nltk sentence BLEU with weights (1, 0, 0, 0) on normalised whitespace tokens, per item."""
    from nltk.translate.bleu_score import sentence_bleu

    stats = np.zeros((len(preds), 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on hypotheses without matching n-grams; they score 0
        for i, (p, g) in enumerate(zip(preds, _golds(rows))):
            hyp = normalize_answer(p).split()
            stats[i, 0] = sentence_bleu([normalize_answer(g).split()], hyp, weights=SENTENCE_BLEU_WEIGHTS) if hyp else 0.0
    return stats, None


_PTB = f"tok:{text.PTB_SIGNATURE}"
_W = ",".join(map(str, SENTENCE_BLEU_WEIGHTS))

# family -> statistic -> how it is computed
FAMILIES: dict[str, dict[str, Statistic]] = {
    "ratio": {
        "mae": Statistic(ratio_errors, _mean(0), _ratio_sig("mae")),
        "rmse": Statistic(ratio_errors, lambda s, w, res: 100 * np.sqrt(s[:, 1] / w), _ratio_sig("rmse")),
    },
    "report-text": {
        "bleu1-corpus": Statistic(report_bleu1, lambda s, w, res: 100 * text.bleu1_from_sums(s),
                                  lambda spec: _sig("bleu1", "pycocoevalcap-{pycocoevalcap}", _PTB, "ref:closest",
                                                    "corpus", "empty:counted")),
        "rouge1": Statistic(report_rouge1, _mean(0), lambda spec: _sig("rouge1-f", "rouge-{rouge}", NORM, "sample-mean",
                                                                       "empty:0")),
        "meteor": Statistic(report_meteor, _meteor_reduce,
                            lambda spec: _sig("meteor-1.5", "pycocoevalcap-{pycocoevalcap}-jar", NORM, _PTB, "-norm",
                                              "corpus", "empty:counted"),
                            summable=text.meteor_aggregable, starts_jvm=True),
    },
    "match": {
        "acc": Statistic(matches, _mean(0), lambda spec: _sig("acc", NORM, "exact", f"{FAIL}:wrong", "sample")),
    },
    "labels": {
        "micro-f1": Statistic(label_counts, _micro_f1, _f1_sig("f1-micro")),
        "macro-f1": Statistic(label_counts, _macro_f1, _f1_sig("f1-macro")),
    },
    "box": {
        "iou": Statistic(box_overlaps, _mean(0), _box_sig("iou", "iou0")),
        "r50": Statistic(box_overlaps, _mean(1), _box_sig(f"recall@iou>={IOU_HIT:g}", "miss")),
    },
    "answer-text": {
        "acc-contains": Statistic(gold_contained, _mean(0), lambda spec: _sig("acc", NORM, "gold-in-prediction", "sample")),
        "bleu1-sentence": Statistic(sentence_bleu1, _mean(0),
                                    lambda spec: _sig("bleu1", "nltk-{nltk}-sentence_bleu-w(" + _W + ")", NORM,
                                                      "sample-mean")),
    },
}

# Signatures of earlier releases whose computation was the same as today's (hand-written then, and silent on a
# policy they applied): results files carrying them still compare with today's.
EQUIVALENT_SIGNATURES = {
    "acc|norm:vqa(uni-med)|exact|sample": "acc|norm:vqa(uni-med)|exact|fail:worst:wrong|sample",
}


def canonical_signature(signature: str | None) -> str | None:
    """A signature with earlier releases' equivalent spellings mapped to today's."""
    if signature is None:
        return None
    if signature.startswith("meteor-1.5|") and signature.endswith("|-norm|corpus"):
        return signature + "|empty:counted"  # the jar always counted an empty hypothesis; the signature now says so
    return EQUIVALENT_SIGNATURES.get(signature, signature)
