"""lighteval task definitions for the IMAX test split: ten tasks, the paper's 16 metrics.

Use as ``--custom-tasks imax_hub.lighteval_tasks`` (the module form; ``eval_tasks/imax_tasks.py`` is the
same table as a file). The dataset is a folder written by ``imax build`` or a Hub repo id: environment
``IMAX_DATASET`` (default ``./imax``) and, for a Hub repo, ``IMAX_REVISION``. IMAX, DMAX and pseudo-IMAX
share one test split, so there is no config to choose here (``imax eval --config`` checks and records it).

Each task reads the ``eval-<task>`` config (images as paths, opened batch by batch by our backends) and
scores with one lighteval corpus metric group whose computation is :func:`imax_hub.metrics.score`, so the
numbers are the ones ``imax score`` gives; each value comes with a bootstrap standard error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from imax_hub.lighteval_offline import install as _install_offline_guard

_install_offline_guard()  # before anything imports lighteval's registry

from lighteval.metrics.metrics_corpus import CorpusLevelComputation  # noqa: E402
from lighteval.metrics.sample_preparator import Preparator  # noqa: E402
from lighteval.metrics.utils.metric_utils import CorpusLevelMetricGrouping  # noqa: E402
from lighteval.tasks.lighteval_task import LightevalTaskConfig  # noqa: E402
from lighteval.tasks.requests import Doc, SamplingMethod  # noqa: E402

from imax_hub.build.folder import EVAL_PREFIX  # noqa: E402
from imax_hub.metrics import METRICS_BY_KEY  # noqa: E402
from imax_hub.upload_guard import refuse_detail_uploads, refuse_push_flags  # noqa: E402

refuse_push_flags()
refuse_detail_uploads()

DEFAULT_DATASET = "./imax"
BOOTSTRAP_RESAMPLES = 1000


@dataclass(frozen=True)
class ImaxTask:
    name: str
    task: str
    subtask: str | None
    metrics: tuple[str, ...]
    generation_size: int  # new tokens: a little above the longest answer of its kind


TASKS: tuple[ImaxTask, ...] = (
    ImaxTask("imax_calc_ctr", "calculation", "ctr", ("ctr_mae", "ctr_rmse"), 16),
    ImaxTask("imax_calc_cpar", "calculation", "cpar", ("cpar_mae", "cpar_rmse"), 16),
    ImaxTask("imax_report", "report", None, ("report_bleu1", "report_rouge1", "report_meteor"), 256),
    ImaxTask("imax_cls_multiclass", "multiclass", None, ("multiclass_acc",), 16),
    ImaxTask("imax_cls_multilabel", "multilabel", None, ("multilabel_micro_f1", "multilabel_macro_f1"), 40),
    ImaxTask("imax_rec", "rec", None, ("rec_iou", "rec_r50"), 32),
    ImaxTask("imax_reg", "reg", None, ("reg_acc",), 16),
    ImaxTask("imax_vqa_verify", "vqa", "verify", ("vqa_verify_acc",), 16),
    ImaxTask("imax_vqa_choose", "vqa", "choose", ("vqa_choose_bleu1",), 32),
    ImaxTask("imax_vqa_query", "vqa", "query", ("vqa_query_bleu1",), 64),
)
TASKS_BY_NAME = {t.name: t for t in TASKS}
assert sorted(k for t in TASKS for k in t.metrics) == sorted(METRICS_BY_KEY), "every metric belongs to one task"


def _spec_of(task_name: str) -> ImaxTask:
    return TASKS_BY_NAME[task_name.split("|")[0]]


def prompt_function(line: dict, task_name: str) -> Doc | None:
    """One test row -> Doc; rows of other subtasks -> None (skipped).

    The image stays a path (or bytes) in ``specific``: lighteval builds every Doc before generating, and
    decoding every X-ray up front would not fit in memory. Our backends open images batch by batch and
    drop them again, so details files never carry image bytes.
    """
    spec = _spec_of(task_name)
    if line["task"] != spec.task or (spec.subtask is not None and line["subtask"] != spec.subtask):
        return None
    user_turn = [m for m in line["messages"] if m["role"] != "assistant"]
    return Doc(
        query=line["prompt"],
        choices=[line["answer"]],
        gold_index=0,
        specific={"id": line["id"], "task": line["task"], "subtask": line["subtask"], "target": line["target"],
                  "template_sha": line["template_sha"], "messages": user_turn, "image": dict(line["image"])},
    )


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
        text = model_response.final_text[0] if model_response.final_text else ""
        rec = record_of(doc, text if isinstance(text, str) else "")
        return dict.fromkeys(self.names, rec)


class ImaxCorpusScore(CorpusLevelComputation):
    """All metrics of one task at once, via :func:`imax_hub.metrics.score`, plus bootstrap standard errors.

    Returning a dict makes lighteval store every value and skip its own per-metric bootstrap (which
    would start 1,000 METEOR JVMs).
    """

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def __repr__(self) -> str:  # as ItemPreparator's: part of the prediction cache's key
        return f"ImaxCorpusScore({', '.join(self.names)})"

    __str__ = __repr__

    def compute_corpus(self, items: list[dict]) -> dict[str, float]:
        from imax_hub.metrics import score
        from imax_hub.metrics.runs import bootstrap_standard_errors

        rows = sorted(items, key=lambda r: r["id"])
        scores = score(rows, {r["id"]: r["prediction"] for r in rows}, meteor="report_meteor" in self.names)
        out = {k: scores.metrics[k].value for k in self.names}
        out.update({f"{k}_stderr": v for k, v in
                    bootstrap_standard_errors(scores, self.names, n_boot=BOOTSTRAP_RESAMPLES).items()})
        return out


def metric_group(spec: ImaxTask) -> CorpusLevelMetricGrouping:
    corpus = ImaxCorpusScore(spec.metrics)
    return CorpusLevelMetricGrouping(
        metric_name=list(spec.metrics),
        higher_is_better={k: METRICS_BY_KEY[k].higher_is_better for k in spec.metrics},
        category=SamplingMethod.GENERATIVE,
        sample_level_fn=ItemPreparator(spec.metrics),
        corpus_level_fn=dict.fromkeys(spec.metrics, corpus),
    )


def dataset_fingerprint(dataset: str) -> str | None:
    """The build fingerprint of a local folder (None for a Hub repo id)."""
    manifest = Path(dataset) / "build_manifest.json"
    if manifest.is_file():
        return json.loads(manifest.read_text())["fingerprint"]
    return None


def resolve_dataset(dataset: str | os.PathLike | None = None) -> str:
    """A local folder (made absolute) or a Hub repo id, from the argument, ``IMAX_DATASET`` or ``./imax``."""
    value = str(dataset or os.environ.get("IMAX_DATASET") or DEFAULT_DATASET)
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return value


def tasks_table(dataset: str | os.PathLike | None = None, revision: str | None = None) -> list[LightevalTaskConfig]:
    """The ten task configs for one dataset (argument, ``IMAX_DATASET`` or ``./imax``)."""
    dataset = resolve_dataset(dataset)
    fingerprint = dataset_fingerprint(dataset)
    # lighteval's prediction cache keys on the task config (prompt functions by name only): a rebuilt
    # local folder has a new fingerprint, hence a new version, hence no stale generations.
    version = int(fingerprint[:8], 16) if fingerprint else 0
    return [
        LightevalTaskConfig(
            name=spec.name,
            prompt_function=prompt_function,
            hf_repo=dataset,
            hf_subset=f"{EVAL_PREFIX}{spec.task}",
            hf_revision=revision or os.environ.get("IMAX_REVISION") or None,
            hf_avail_splits=["test"],
            evaluation_splits=["test"],
            few_shots_split="test",
            metrics=[metric_group(spec)],
            generation_size=spec.generation_size,
            stop_sequence=[],
            version=version,
        )
        for spec in TASKS
    ]


TASKS_TABLE = tasks_table()
TASK_NAMES = [t.name for t in TASKS]
