"""The IMAX tasks for lmms-eval: one YAML per harness task, a group ``imax``, and ``utils.py`` (``--include_path``).

The YAML files follow lmms-eval's task format (``dataset_path``/``dataset_name``/``test_split``, ``doc_to_visual``,
``doc_to_text``, ``process_results``, ``metric_list`` with aggregation functions; see its ``tasks/mme``). Each task
reads the build's ``eval-<task>`` config (images as paths), and every metric is computed by
:func:`imax_hub.metrics.score` over the task's items, read with ``IMAX_ANSWER_FORMAT`` (default: the paper's),
so the numbers are the ones ``imax score`` gives. ``eval_tasks/lmms_eval/`` ships them for a build named
``imax`` in the working directory; ``imax lmms-tasks --dataset PATH_OR_REPO --out DIR`` writes them for another.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from imax_hub.backends.common import open_image
from imax_hub.build.manifest import EVAL_PREFIX
from imax_hub.errors import ImaxError
from imax_hub.files import write_atomic
from imax_hub.metrics import metrics_by_key, score
from imax_hub.tasks import registry
from imax_hub.tasks.answer_formats import AnswerFormat

GROUP = "imax"
DEFAULT_DATASET = "imax"  # a build folder of that name in the directory lmms-eval runs from


def _yaml(task, harness, dataset: str) -> str:
    specs = metrics_by_key()
    lines = [
        f"# written by `imax lmms-tasks` from the task registry: {harness.name} ({task.name}"
        + (f", {harness.subtask}" if harness.subtask else "") + ")",
        f"task: {harness.name}",
        f"dataset_path: {json.dumps(dataset)}",
        f"dataset_name: {EVAL_PREFIX}{task.name}",
        "test_split: test",
        "output_type: generate_until",
        f"process_docs: !function utils.process_docs_{harness.name}",
        "doc_to_visual: !function utils.doc_to_visual",
        "doc_to_text: !function utils.doc_to_text",
        'doc_to_target: "answer"',
        "generation_kwargs:",
        f"  max_new_tokens: {harness.generation_size}",
        "  temperature: 0",
        "  do_sample: false",
        "process_results: !function utils.process_results",
        "metric_list:",
    ]
    for key in harness.metrics:
        lines += [f"  - metric: {key}", f"    aggregation: !function utils.aggregate_{key}",
                  f"    higher_is_better: {str(specs[key].higher_is_better).lower()}"]
    lines += ["metadata:", "  - version: 1.0"]
    return "\n".join(lines) + "\n"


def _group_yaml() -> str:
    names = [h.name for _, h in registry.harness_tasks()]
    return "\n".join([f"group: {GROUP}", "task:", *(f"  - {n}" for n in names)]) + "\n"


UTILS = '''"""lmms-eval hooks for the IMAX tasks (written by `imax lmms-tasks`; the logic is imax_hub.lmms_tasks')."""

from imax_hub.lmms_tasks import aggregators, doc_to_text, doc_to_visual, process_docs_functions, process_results

globals().update(process_docs_functions())
globals().update(aggregators())
'''


def write_tasks(out: str | Path, dataset: str = DEFAULT_DATASET) -> list[Path]:
    """Write the task folder (YAMLs, group, utils.py) for ``dataset`` (a build folder or a Hub repo id)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ImaxError(f"--out {out} is a file; pass a folder")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for task, harness in registry.harness_tasks():
        path = out / f"{harness.name}.yaml"
        write_atomic(path, _yaml(task, harness, dataset))
        written.append(path)
    for name, text in ((f"_{GROUP}.yaml", _group_yaml()), ("utils.py", UTILS)):
        write_atomic(out / name, text)
        written.append(out / name)
    return written


# -- the hooks utils.py exposes ---------------------------------------------------------------------------------

def doc_to_visual(doc: dict) -> list:
    """The row's X-ray as one RGB image, opened when lmms-eval asks for it."""
    return [open_image({"id": doc.get("id"), "image": doc.get("image")})]


def doc_to_text(doc: dict, lmms_eval_specific_kwargs: dict | None = None) -> str:
    kwargs = lmms_eval_specific_kwargs or {}
    return f"{kwargs.get('pre_prompt', '')}{doc['prompt']}{kwargs.get('post_prompt', '')}"


def process_docs_functions() -> dict:
    """``process_docs_<harness task>``: a task's rows of the harness task's subtask."""
    def make(task_name: str, subtask: str | None):
        def process_docs(dataset):
            return dataset.filter(lambda r: r["task"] == task_name and (subtask is None or r["subtask"] == subtask))
        return process_docs

    return {f"process_docs_{h.name}": make(t.name, h.subtask) for t, h in registry.harness_tasks()}


def process_results(doc: dict, results: list) -> dict:
    """One record per metric of the row's harness task (what the aggregations score together)."""
    prediction = results[0] if results else ""
    record = {"id": doc["id"], "task": doc["task"], "subtask": doc["subtask"], "answer": doc["answer"],
              "target": doc["target"], "prediction": prediction if isinstance(prediction, str) else ""}
    keys = [m.key for m in registry.get(doc["task"]).metrics
            if m.subtask is None or m.subtask == doc["subtask"]]
    return dict.fromkeys(keys, record)


def aggregators() -> dict:
    """``aggregate_<metric>``: the metric over all the task's records, computed by imax_hub.metrics.score."""
    def make(key: str):
        def aggregate(records: list[dict]) -> float:
            rows = sorted(records, key=lambda r: r["id"])
            fmt = AnswerFormat(os.environ.get("IMAX_ANSWER_FORMAT") or "paper")
            scores = score(rows, {r["id"]: r["prediction"] for r in rows}, metrics={key}, answer_format=fmt)
            return scores.metrics[key].value if key in scores.metrics else float("nan")
        return aggregate

    return {f"aggregate_{m.key}": make(m.key) for m in registry.metrics()}
