"""The paper's 16 metrics (Table 2), each with a sacrebleu-style signature saying how it was computed.

``score(rows, predictions)`` -> :class:`RunScores`: per-metric value, signature, item statistics (for the
paired bootstrap) and per-task parse-failure counts. Unparseable outputs are never dropped: each family
scores them as its worst case (see :mod:`imax_hub.metrics.families`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from imax_hub.metrics import families
from imax_hub.metrics.normalize import SIGNATURE as NORM

RESULTS_FORMAT = "imax-hub/scores/1"


@dataclass(frozen=True)
class MetricSpec:
    key: str
    label: str
    task: str
    subtask: str | None  # rows of this subtask only (None: the whole task)
    higher_is_better: bool
    signature: str
    reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]  # (B x k sums, B weights) -> B values (x100)


def _mean(col: int = 0):
    return lambda s, w: 100 * s[:, col] / w


def _rmse(s, w):
    return 100 * np.sqrt(s[:, 1] / w)


def _micro_f1(s, w):
    tp, fp, fn = s[:, 0::3].sum(1), s[:, 1::3].sum(1), s[:, 2::3].sum(1)
    den = 2 * tp + fp + fn
    # nothing positive in gold or prediction is full agreement (scikit-learn's zero_division=1)
    return 100 * np.divide(2 * tp, den, out=np.ones_like(den), where=den > 0)


def _macro_f1(s, w):
    tp, fp, fn = s[:, 0::3], s[:, 1::3], s[:, 2::3]
    den = 2 * tp + fp + fn
    # a label with no positive in gold or prediction is agreement and scores 1 (scikit-learn's zero_division=1):
    # so a perfect prediction scores 100 on a test set where some label never occurs
    return 100 * np.divide(2 * tp, den, out=np.ones_like(den), where=den > 0).mean(1)


def _bleu1(s, w):
    from imax_hub.metrics.text import bleu1_from_sums

    return 100 * bleu1_from_sums(s)


_PARSE = "fail:worst"
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("cpar_mae", "CPAR MAE", "calculation", "cpar", False,
               f"mae|x100|parse:first-number-in[0,1]|{_PARSE}:far-end-of[0,1]|sample", _mean(0)),
    MetricSpec("cpar_rmse", "CPAR RMSE", "calculation", "cpar", False,
               f"rmse|x100|parse:first-number-in[0,1]|{_PARSE}:far-end-of[0,1]|sample", _rmse),
    MetricSpec("ctr_mae", "CTR MAE", "calculation", "ctr", False,
               f"mae|x100|parse:first-number-in[0,1]|{_PARSE}:far-end-of[0,1]|sample", _mean(0)),
    MetricSpec("ctr_rmse", "CTR RMSE", "calculation", "ctr", False,
               f"rmse|x100|parse:first-number-in[0,1]|{_PARSE}:far-end-of[0,1]|sample", _rmse),
    MetricSpec("report_bleu1", "Report BLEU-1", "report", None, True,
               "bleu1|pycocoevalcap-{pycocoevalcap}|tok:ptb-corenlp-3.4.1-lc|ref:closest|corpus|empty:counted", _bleu1),
    MetricSpec("report_rouge1", "Report ROUGE-1", "report", None, True,
               f"rouge1-f|rouge-{{rouge}}|{NORM}|sample-mean|empty:0", _mean(0)),
    MetricSpec("report_meteor", "Report METEOR", "report", None, True,
               f"meteor-1.5|pycocoevalcap-{{pycocoevalcap}}-jar|{NORM}|tok:ptb-corenlp-3.4.1-lc|-norm|corpus", None),
    MetricSpec("multiclass_acc", "Multi-class ACC", "multiclass", None, True,
               f"acc|{NORM}|exact|{_PARSE}:wrong|sample", _mean(0)),
    MetricSpec("multilabel_micro_f1", "Multi-label micro-F1", "multilabel", None, True,
               f"f1-micro|10-labels|zero-division:1|parse:10-binary-digits|{_PARSE}:all-labels-flipped|corpus", _micro_f1),
    MetricSpec("multilabel_macro_f1", "Multi-label macro-F1", "multilabel", None, True,
               f"f1-macro|10-labels|zero-division:1|parse:10-binary-digits|{_PARSE}:all-labels-flipped|corpus",
               _macro_f1),
    MetricSpec("rec_iou", "REC IoU", "rec", None, True,
               f"iou|grid:0-1000-edges|parse:<x1><y1><x2><y2>|{_PARSE}:iou0|sample-mean", _mean(0)),
    MetricSpec("rec_r50", "REC R@0.5", "rec", None, True,
               f"recall@iou>=0.5|grid:0-1000-edges|parse:<x1><y1><x2><y2>|{_PARSE}:miss|sample-mean", _mean(1)),
    MetricSpec("reg_acc", "REG ACC", "reg", None, True, f"acc|{NORM}|exact|sample", _mean(0)),
    MetricSpec("vqa_verify_acc", "VQA verify ACC", "vqa", "verify", True,
               f"acc|{NORM}|gold-in-prediction|sample", _mean(0)),
    MetricSpec("vqa_choose_bleu1", "VQA choose BLEU-1", "vqa", "choose", True,
               f"bleu1|nltk-{{nltk}}-sentence_bleu-w(1,0,0,0)|{NORM}|sample-mean", _mean(0)),
    MetricSpec("vqa_query_bleu1", "VQA query BLEU-1", "vqa", "query", True,
               f"bleu1|nltk-{{nltk}}-sentence_bleu-w(1,0,0,0)|{NORM}|sample-mean", _mean(0)),
)
METRICS_BY_KEY = {m.key: m for m in METRICS}


@dataclass
class MetricScore:
    key: str
    value: float
    signature: str
    items: np.ndarray  # indices into the run's item list
    stats: np.ndarray  # items x k


@dataclass
class RunScores:
    """Scores of one prediction set on one test set."""

    item_ids: list[str]
    metrics: dict[str, MetricScore]
    parse_failures: dict[str, int]
    items_per_task: dict[str, int]
    meteor_stats: list[str] = field(default_factory=list)  # METEOR's own per-item statistics lines

    @property
    def test_set_hash(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.item_ids)).encode()).hexdigest()[:16]

    def values(self) -> dict[str, float]:
        return {k: m.value for k, m in self.metrics.items()}


def signature_of(spec: MetricSpec) -> str:
    from imax_hub.metrics.text import versions

    return spec.signature.format(**versions())


def score(rows: list[dict], predictions: dict[str, str], *, meteor: bool = True) -> RunScores:
    """Score ``predictions`` (id -> model text) on test ``rows`` (id, task, subtask, answer, target).

    Every row needs a prediction (an empty string is a prediction, scored as the worst case).
    """
    from imax_hub.errors import ImaxError
    from imax_hub.metrics import text as text_metrics

    ids = [r["id"] for r in rows]
    missing = [i for i in ids if i not in predictions]
    if missing:
        raise ImaxError(f"{len(missing):,} of {len(ids):,} test items have no prediction, e.g. {missing[0]!r}")
    extra = set(predictions) - set(ids)
    if extra:
        raise ImaxError(f"{len(extra):,} predictions are for ids not in the test set, e.g. {sorted(extra)[0]!r}")
    preds = [predictions[i] if isinstance(predictions[i], str) else "" for i in ids]
    by_task: dict[str, list[int]] = {}
    for k, r in enumerate(rows):
        by_task.setdefault(r["task"], []).append(k)
    metrics: dict[str, MetricScore] = {}
    failures: dict[str, int] = {}
    meteor_lines: list[str] = []

    def put(key: str, idx: list[int], stats: np.ndarray) -> None:
        if not idx:  # no item of this metric's subtask (a partial run): no value rather than nan
            return
        spec = METRICS_BY_KEY[key]
        items = np.array(idx, dtype=np.int64)
        value = float(spec.reduce(stats.sum(0)[None, :], np.array([len(idx)]))[0]) if len(idx) else math.nan
        metrics[key] = MetricScore(key, value, signature_of(spec), items, stats)

    for task, idx in by_task.items():
        task_rows = [rows[k] for k in idx]
        task_preds = [preds[k] for k in idx]
        targets = families.targets_of(task_rows)
        if task == "calculation":
            stats, parsed = families.calculation(task_preds, targets)
            for sub in ("cpar", "ctr"):
                sel = [j for j, r in enumerate(task_rows) if r["subtask"] == sub]
                put(f"{sub}_mae", [idx[j] for j in sel], stats[sel])
                put(f"{sub}_rmse", [idx[j] for j in sel], stats[sel])
        elif task == "report":
            golds = [r["answer"] for r in task_rows]
            parsed = np.array([bool(p.strip()) for p in task_preds])
            tok = text_metrics.ptb_tokenize(task_preds + golds)
            put("report_bleu1", idx, text_metrics.bleu1_stats(tok[: len(idx)], tok[len(idx):]))
            put("report_rouge1", idx, text_metrics.rouge1_f(task_preds, golds)[:, None])
            if meteor:
                norm = text_metrics.ptb_tokenize([families.normalize_answer(t) for t in task_preds + golds])
                scorer = text_metrics.Meteor()
                try:
                    meteor_lines = scorer.stats(norm[: len(idx)], norm[len(idx):])
                    value = 100 * scorer.corpus(meteor_lines)
                finally:
                    scorer.close()
                stats = np.array([[float(x) for x in line.split()] for line in meteor_lines])
                metrics["report_meteor"] = MetricScore("report_meteor", value, signature_of(METRICS_BY_KEY["report_meteor"]),
                                                       np.array(idx, dtype=np.int64), stats)
        elif task == "multiclass":
            stats, parsed = families.multiclass(task_preds, targets)
            put("multiclass_acc", idx, stats)
        elif task == "multilabel":
            stats, parsed = families.multilabel(task_preds, targets)
            put("multilabel_micro_f1", idx, stats)
            put("multilabel_macro_f1", idx, stats)
        elif task == "rec":
            stats, parsed = families.rec(task_preds, targets)
            put("rec_iou", idx, stats)
            put("rec_r50", idx, stats)
        elif task == "reg":
            stats, parsed = families.reg(task_preds, targets)
            put("reg_acc", idx, stats)
        elif task == "vqa":
            golds = [r["answer"] for r in task_rows]
            parsed = np.array([bool(p.strip()) for p in task_preds])
            for sub, fn in (("verify", families.vqa_verify), ("choose", families.vqa_bleu1), ("query", families.vqa_bleu1)):
                sel = [j for j, r in enumerate(task_rows) if r["subtask"] == sub]
                stats, _ = fn([task_preds[j] for j in sel], [golds[j] for j in sel])
                key = "vqa_verify_acc" if sub == "verify" else f"vqa_{sub}_bleu1"
                put(key, [idx[j] for j in sel], stats)
        else:
            raise ImaxError(f"unknown task {task!r} in the test rows")
        failures[task] = int((~parsed).sum())
    return RunScores(item_ids=ids, metrics=metrics, parse_failures=failures,
                     items_per_task={t: len(v) for t, v in by_task.items()}, meteor_stats=meteor_lines)


def reduce_metric(key: str, stats: np.ndarray, weights: np.ndarray, meteor=None) -> np.ndarray:
    """Values of metric ``key`` for each row of ``weights`` (B x items) over its item ``stats``.

    ``meteor`` is an open :class:`imax_hub.metrics.text.Meteor` to reuse (one JVM for a whole bootstrap).
    A resample without any item of a metric gives nan for it.
    """
    totals = weights.sum(1)
    if key == "report_meteor":
        from imax_hub.metrics.text import Meteor, meteor_aggregable

        sums = weights @ meteor_aggregable(stats)
        scorer = meteor or Meteor()
        try:
            values = 100 * np.array(scorer.aggregate(sums))
        finally:
            if meteor is None:
                scorer.close()
        values[totals == 0] = np.nan
        return values
    sums = weights @ stats
    with np.errstate(invalid="ignore", divide="ignore"):
        values = METRICS_BY_KEY[key].reduce(sums, totals)
    return np.where(totals > 0, values, np.nan)
