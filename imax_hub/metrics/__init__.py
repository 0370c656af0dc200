"""The paper's 16 metrics (Table 2), each with a sacrebleu-style signature saying how it was computed.

``score(rows, predictions)`` -> :class:`RunScores`: per-metric value, signature, item statistics (for the
paired bootstrap) and per-task parse-failure counts. Which metrics a task has, and how its answers are
read, come from the task registry (:mod:`imax_hub.tasks.registry`); how each metric is computed from
per-item statistics, from its family (:mod:`imax_hub.metrics.families`). Unparseable outputs are never
dropped: each family scores them as its worst case.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from imax_hub.errors import ImaxError
from imax_hub.metrics import families
from imax_hub.metrics.families import Resources, Statistic
from imax_hub.metrics.text import versions
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks import registry
from imax_hub.tasks.spec import Metric

RESULTS_FORMAT = "imax-hub/scores/1"


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric with its computation: the task's :class:`~imax_hub.tasks.spec.Metric` and the family's
    :class:`~imax_hub.metrics.families.Statistic`."""

    metric: Metric
    task: str
    statistic: Statistic
    signature: str  # template: {package} fields are filled with installed versions by :func:`signature_of`

    @property
    def key(self) -> str:
        return self.metric.key

    @property
    def label(self) -> str:
        return self.metric.label

    @property
    def subtask(self) -> str | None:
        return self.metric.subtask

    @property
    def higher_is_better(self) -> bool:
        return self.metric.higher_is_better

    def reduce(self, sums: np.ndarray, totals: np.ndarray, resources: Resources | None = None) -> np.ndarray:
        """Values (x100) of B rows of summed item statistics over B item counts."""
        return self.statistic.reduce(sums, totals, resources or Resources())


def metric_specs() -> tuple[MetricSpec, ...]:
    """Every registered metric, in task order (the paper's 16 and any registered since)."""
    out = []
    for task in registry.tasks():
        family = families.FAMILIES[task.scorer]
        for m in task.metrics:
            stat = family[m.statistic]
            out.append(MetricSpec(m, task.name, stat, stat.signature(task)))
    return tuple(out)


def metrics_by_key() -> dict[str, MetricSpec]:
    return {m.key: m for m in metric_specs()}


def __getattr__(name: str):
    # METRICS / METRICS_BY_KEY follow the registry (a task registered later has its metrics here too)
    if name == "METRICS":
        return metric_specs()
    if name == "METRICS_BY_KEY":
        return metrics_by_key()
    raise AttributeError(f"module 'imax_hub.metrics' has no attribute {name!r}")


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
    answer_format: AnswerFormat = PAPER
    # per item (in item order), an anonymous index of its image (0..images-1): resampling images, not items
    image_of_item: list[int] = field(default_factory=list)

    @property
    def test_set_hash(self) -> str:
        return hashlib.sha256("\n".join(sorted(self.item_ids)).encode()).hexdigest()[:16]

    def values(self) -> dict[str, float]:
        return {k: m.value for k, m in self.metrics.items()}


def signature_of(spec: MetricSpec, answer_format: AnswerFormat = PAPER) -> str:
    """The metric's signature with installed versions filled in, and the answer format unless it is the paper's."""
    signature = spec.signature.format(**versions())
    return f"{signature}|{answer_format.signature}" if answer_format.signature else signature


def score(rows: list[dict], predictions: dict[str, str], *, meteor: bool = True,
          metrics: set[str] | None = None, answer_format: AnswerFormat = PAPER) -> RunScores:
    """Score ``predictions`` (id -> model text) on test ``rows`` (id, task, subtask, answer, target).

    Every row needs a prediction (an empty string is a prediction, scored as the worst case). ``metrics``
    limits the metrics computed (default: all of the rows' tasks); ``meteor=False`` skips METEOR (no JVM).
    ``answer_format`` says how answers are read (:mod:`imax_hub.tasks.answer_formats`).
    """
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
    unknown = sorted(set(by_task) - set(registry.names()))
    if unknown:
        raise ImaxError(f"unknown task {unknown[0]!r} in the test rows")
    specs = metrics_by_key()
    out: dict[str, MetricScore] = {}
    failures: dict[str, int] = {}
    for task in registry.tasks():
        idx = by_task.get(task.name)
        if not idx:
            continue
        task_rows = [rows[k] for k in idx]
        task_preds = [preds[k] for k in idx]
        targets = families._targets(task_rows)
        failures[task.name] = sum(task.parse(p, t, answer_format) is None for p, t in zip(task_preds, targets))
        computed: dict[tuple, tuple[np.ndarray, float | None]] = {}  # statistics shared by metrics (MAE and RMSE)
        for m in task.metrics:
            spec = specs[m.key]
            if (metrics is not None and m.key not in metrics) or (not meteor and spec.statistic.starts_jvm):
                continue
            sel = [j for j, r in enumerate(task_rows) if m.subtask is None or r["subtask"] == m.subtask]
            if not sel:  # no item of this metric's subtask (a partial run): no value rather than nan
                continue
            key = (spec.statistic.compute, m.subtask)
            if key not in computed:
                computed[key] = spec.statistic.compute([task_preds[j] for j in sel], [task_rows[j] for j in sel], task,
                                                       answer_format)
            stats, value = computed[key]
            if value is None:
                value = float(spec.reduce(spec.statistic.summable(stats).sum(0)[None, :], np.array([len(sel)]))[0])
            out[m.key] = MetricScore(m.key, value, signature_of(spec, answer_format), np.array([idx[j] for j in sel], dtype=np.int64),
                                     stats)
    ordered = {m.key: out[m.key] for m in metric_specs() if m.key in out}
    images = sorted({_image_of(i) for i in ids})
    index = {d: k for k, d in enumerate(images)}
    return RunScores(item_ids=ids, metrics=ordered, parse_failures=failures,
                     items_per_task={t: len(v) for t, v in by_task.items()}, answer_format=answer_format,
                     image_of_item=[index[_image_of(i)] for i in ids])


def _image_of(item_id: str) -> str:
    """The image of a test row (row ids are ``DICOM_ID/task/key``)."""
    return item_id.split("/", 1)[0]


def reduce_metric(key: str, stats: np.ndarray, weights: np.ndarray, resources: Resources | None = None) -> np.ndarray:
    """Values of metric ``key`` for each row of ``weights`` (B x items) over its item ``stats``.

    ``resources`` holds what a reduction may need to start once for a whole bootstrap (METEOR's JVM).
    A resample without any item of a metric gives nan for it.
    """
    totals = weights.sum(1)
    spec = metrics_by_key()[key]
    sums = weights @ spec.statistic.summable(stats)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.asarray(spec.reduce(sums, totals, resources), dtype=np.float64)
    return np.where(totals > 0, values, np.nan)
