"""The one list of tasks. Each entry is the :class:`~imax_hub.tasks.spec.TaskSpec` its module declares; the
order is the paper's (Figure 1), and it fixes the order of tasks everywhere (selection, shards, metrics).

Adding a task is one module (its builder, parser and spec, plus a template in ``imax_hub/templates/``) and
one line below; :func:`register` adds one at run time (the tests register a toy task that way).
"""

from __future__ import annotations

from imax_hub.sources.layout import Project
from imax_hub.tasks import calculation, grounding, multiclass, multilabel, report, vqa
from imax_hub.tasks.spec import HarnessTask, Metric, TaskSpec

_TASKS: list[TaskSpec] = [
    calculation.SPEC,
    report.SPEC,
    multiclass.SPEC,
    multilabel.SPEC,
    grounding.REC,
    grounding.REG,
    vqa.SPEC,
]


def tasks() -> tuple[TaskSpec, ...]:
    """Every task, in order."""
    return tuple(_TASKS)


def names() -> tuple[str, ...]:
    return tuple(t.name for t in _TASKS)


def get(name: str) -> TaskSpec:
    for t in _TASKS:
        if t.name == name:
            return t
    raise KeyError(f"unknown task {name!r}; the tasks are {', '.join(names())}")


def for_project(project: Project) -> tuple[TaskSpec, ...]:
    """The tasks whose annotations come from ``project``."""
    return tuple(t for t in _TASKS if t.project is project)


def metrics() -> tuple[Metric, ...]:
    """Every metric of every task, in task order (the paper's 16)."""
    return tuple(m for t in _TASKS for m in t.metrics)


def metric_task(key: str) -> TaskSpec:
    """The task a metric belongs to."""
    for t in _TASKS:
        if any(m.key == key for m in t.metrics):
            return t
    raise KeyError(f"unknown metric {key!r}")


def harness_tasks() -> tuple[tuple[TaskSpec, HarnessTask], ...]:
    """(task, harness task) for every lighteval / lmms-eval task, in order."""
    return tuple((t, h) for t in _TASKS for h in t.harness)


def register(spec: TaskSpec) -> None:
    """Add a task (after the others); its name, metric keys and harness names must be new."""
    if spec.name in names():
        raise ValueError(f"a task named {spec.name!r} is registered already")
    keys = {m.key for m in metrics()} | {h.name for _, h in harness_tasks()}
    clash = [k for k in [m.key for m in spec.metrics] + [h.name for h in spec.harness] if k in keys]
    if clash:
        raise ValueError(f"task {spec.name!r}: metric or harness names already in use: {', '.join(clash)}")
    _TASKS.append(spec)


def unregister(name: str) -> None:
    _TASKS[:] = [t for t in _TASKS if t.name != name]
