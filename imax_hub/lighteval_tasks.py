"""lighteval task definitions for the IMAX test split: ten tasks, the paper's 16 metrics.

Use as ``--custom-tasks imax_hub.lighteval_tasks`` (the module form; ``eval_tasks/imax_tasks.py`` is the
same table as a file). The dataset is a folder written by ``imax build`` or a Hub repo id: environment
``IMAX_DATASET`` (default ``./imax``) and, for a Hub repo, ``IMAX_REVISION``. IMAX, DMAX and pseudo-IMAX
share one test split, so there is no config to choose here (``imax eval --config`` checks and records it).

Each task reads the ``eval-<task>`` config (images as paths, opened batch by batch by our backends) and
scores with one lighteval corpus metric group whose computation is :func:`imax_hub.metrics.score`, so the
numbers are the ones ``imax score`` gives; each value comes with a bootstrap standard error. The table is
the task registry's harness tasks (:mod:`imax_hub.tasks.registry`).

Importing this module only defines the table. The guards that keep lighteval offline-safe and keep it from
uploading imax details are installed by the entry points: our commands, and for the ``lighteval`` command
the start-up hook that ``imax setup-lighteval`` writes (:mod:`imax_hub.lighteval_guards`).
"""

from __future__ import annotations

import os

from lighteval.metrics.metrics_corpus import CorpusLevelComputation
from lighteval.metrics.sample_preparator import Preparator
from lighteval.metrics.utils.metric_utils import CorpusLevelMetricGrouping
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc, SamplingMethod

from imax_hub.backends.common import LazyImages
from imax_hub.build.manifest import EVAL_PREFIX, dataset_fingerprint, resolve_dataset
from imax_hub.metrics import metrics_by_key, score
from imax_hub.metrics.runs import bootstrap_standard_errors
from imax_hub.tasks import registry
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks.spec import HarnessTask, TaskSpec

BOOTSTRAP_RESAMPLES = 1000


def task_names() -> list[str]:
    """The harness task names (``imax_calc_ctr``, ...), in order."""
    return [h.name for _, h in registry.harness_tasks()]


def _spec_of(task_name: str) -> tuple[TaskSpec, HarnessTask]:
    name = task_name.split("|")[0]
    return next((t, h) for t, h in registry.harness_tasks() if h.name == name)


def prompt_function(line: dict, task_name: str) -> Doc | None:
    """One test row -> Doc; rows of other subtasks -> None (skipped).

    The image stays a path (or bytes) in ``specific``: lighteval builds every Doc before generating, and
    decoding every X-ray up front would not fit in memory. Our backends open images batch by batch and
    drop them again, so details files never carry image bytes.
    """
    task, harness = _spec_of(task_name)
    if line["task"] != task.name or (harness.subtask is not None and line["subtask"] != harness.subtask):
        return None
    user_turn = [m for m in line["messages"] if m["role"] != "assistant"]
    specific = {"id": line["id"], "task": line["task"], "subtask": line["subtask"], "target": line["target"],
                "template_sha": line["template_sha"], "messages": user_turn, "image": dict(line["image"])}
    # lighteval's own VLM path reads Doc.images; ours open specific["image"] batch by batch. Either way the
    # image is opened only when a batch is generated.
    return Doc(query=line["prompt"], choices=[line["answer"]], gold_index=0, specific=specific,
               images=LazyImages(specific))


def answer_text(model_response) -> str:
    """The model's answer. lighteval 0.13's own VLM class returns ``text`` as a str where a list is expected, and
    the pipeline then splits it into characters (``final_text`` = ['0', '.', ...]): read the whole str there."""
    if isinstance(model_response.text, str):
        return model_response.text
    text = model_response.final_text[0] if model_response.final_text else ""
    return text if isinstance(text, str) else ""


def record_of(doc: Doc, prediction: str) -> dict:
    """What the metrics need of one scored item (also what ``imax eval`` collects for its summary)."""
    s = doc.specific
    return {"id": s["id"], "task": s["task"], "subtask": s["subtask"], "answer": doc.choices[doc.gold_index],
            "target": s["target"], "template_sha": s["template_sha"], "prediction": prediction}


class ItemPreparator(Preparator):
    """Per item: the record for each metric name of the group (lighteval groups want one value per name)."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def __repr__(self) -> str:  # lighteval's prediction cache hashes this; the default repr holds an address
        return f"ItemPreparator({', '.join(self.names)})"

    __str__ = __repr__

    def prepare(self, doc: Doc, model_response, **kwargs) -> dict:
        rec = record_of(doc, answer_text(model_response))
        return dict.fromkeys(self.names, rec)


class ImaxCorpusScore(CorpusLevelComputation):
    """All metrics of one task at once, via :func:`imax_hub.metrics.score`, plus bootstrap standard errors.

    Returning a dict makes lighteval store every value and skip its own per-metric bootstrap (which
    would start 1,000 METEOR JVMs).
    """

    def __init__(self, names: tuple[str, ...], answer_format: AnswerFormat = PAPER):
        self.names = names
        self.answer_format = answer_format

    def __repr__(self) -> str:  # as ItemPreparator's: part of the prediction cache's key
        fmt = f"; {self.answer_format.signature}" if self.answer_format.signature else ""
        return f"ImaxCorpusScore({', '.join(self.names)}{fmt})"

    __str__ = __repr__

    def compute_corpus(self, items: list[dict]) -> dict[str, float]:
        rows = sorted(items, key=lambda r: r["id"])
        scores = score(rows, {r["id"]: r["prediction"] for r in rows}, metrics=set(self.names),
                       answer_format=self.answer_format)
        out = {k: scores.metrics[k].value for k in self.names}
        out.update({f"{k}_stderr": v for k, v in
                    bootstrap_standard_errors(scores, self.names, n_boot=BOOTSTRAP_RESAMPLES).items()})
        return out


def metric_group(harness: HarnessTask, answer_format: AnswerFormat = PAPER) -> CorpusLevelMetricGrouping:
    corpus = ImaxCorpusScore(harness.metrics, answer_format)
    specs = metrics_by_key()
    return CorpusLevelMetricGrouping(
        metric_name=list(harness.metrics),
        higher_is_better={k: specs[k].higher_is_better for k in harness.metrics},
        category=SamplingMethod.GENERATIVE,
        sample_level_fn=ItemPreparator(harness.metrics),
        corpus_level_fn=dict.fromkeys(harness.metrics, corpus),
    )


def tasks_table(dataset: str | os.PathLike | None = None, revision: str | None = None,
                answer_format: AnswerFormat | None = None) -> list[LightevalTaskConfig]:
    """The task configs for one dataset (argument, ``IMAX_DATASET`` or ``./imax``) and answer format (argument,
    ``IMAX_ANSWER_FORMAT`` — a family name — or the paper's)."""
    dataset = resolve_dataset(dataset)
    if answer_format is None:
        answer_format = AnswerFormat(os.environ.get("IMAX_ANSWER_FORMAT") or "paper")
    fingerprint = dataset_fingerprint(dataset)
    # lighteval's prediction cache keys on the task config (prompt functions by name only): a rebuilt
    # local folder has a new fingerprint, hence a new version, hence no stale generations.
    version = int(fingerprint[:8], 16) if fingerprint else 0
    return [
        LightevalTaskConfig(
            name=harness.name,
            prompt_function=prompt_function,
            hf_repo=dataset,
            hf_subset=f"{EVAL_PREFIX}{task.name}",
            hf_revision=revision or os.environ.get("IMAX_REVISION") or None,
            hf_avail_splits=["test"],
            evaluation_splits=["test"],
            few_shots_split="test",
            metrics=[metric_group(harness, answer_format)],
            generation_size=harness.generation_size,
            stop_sequence=[],
            version=version,
        )
        for task, harness in registry.harness_tasks()
    ]


def __getattr__(name: str):
    # the names lighteval and older callers read; computed on access, so a task registered later is included
    if name == "TASKS":
        return tuple(h for _, h in registry.harness_tasks())
    if name == "TASK_NAMES":
        return task_names()
    raise AttributeError(f"module 'imax_hub.lighteval_tasks' has no attribute {name!r}")


TASKS_TABLE = tasks_table()
