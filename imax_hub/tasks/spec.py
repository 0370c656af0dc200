"""What a task is, as data: one :class:`TaskSpec` per task, declared in the task's own module and listed in
:mod:`imax_hub.tasks.registry`. Everything downstream — the build, ``imax check``, the metrics, the
harness task tables, the baselines, pseudo-labelling — reads these fields instead of keeping its own table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imax_hub.sources.layout import Project
from imax_hub.tasks.templates import TEMPLATE_DIR, TaskTemplate, load_template


@dataclass(frozen=True)
class Metric:
    """One reported metric of a task (the paper's Table 2 has 16)."""

    key: str  # also the Hub leaderboard task id
    label: str
    subtask: str | None  # rows of this subtask only (None: every row of the task)
    higher_is_better: bool
    statistic: str  # how the per-item statistics reduce to the value: a reduction of imax_hub.metrics.families


@dataclass(frozen=True)
class HarnessTask:
    """One task of the evaluation harnesses (lighteval, lmms-eval): a task or one subtask of it."""

    name: str
    subtask: str | None
    metrics: tuple[str, ...]
    generation_size: int  # new tokens: a little above the longest answer of its kind


@dataclass(frozen=True)
class PseudoLabels:
    """How stage 2 of the three-stage strategy asks this task of an image that lacks it."""

    # (dicom_id, seed) -> (subtask, key, inputs) of the entries to ask, exactly as the build would make them
    units: Callable[[str, int], list[tuple[str, str, dict]]]
    # (inputs, generated text, image (width, height), answer format) -> (structured target, "") or (None, why not)
    target: Callable[[dict, str, tuple[int, int], object], tuple[dict | None, str]]
    needs_image_size: bool = False


@dataclass(frozen=True)
class TaskSpec:
    name: str
    family: str  # Med-MAT's task family, written into every row (``task_family``)
    project: Project  # the PhysioNet project that annotates it (besides MIMIC-CXR-JPG's images)
    candidates: Callable  # TaskContext -> candidate entries (imax_hub.tasks.CANDIDATE_SCHEMA); may serve several tasks
    scorer: str  # the metric family that scores it (imax_hub.metrics.families.SCORERS)
    # model text + the row's target + answer format (tasks.answer_formats) -> structured answer, None if none
    parse: Callable[[str, dict, object], dict | None]
    metrics: tuple[Metric, ...]
    harness: tuple[HarnessTask, ...]
    parse_rule: str = ""  # what ``parse`` accepts, in a few words (recorded in metric signatures)
    scorer_params: dict = field(default_factory=dict)  # parameters of the scorer (e.g. number of labels, grid)
    paper_entries: int | None = None  # entries in the paper's IMAX (Figure 2), for `imax stats`
    # the `prior` baseline's answer from the train targets of one (task, subtask); None: the most frequent answer
    prior: Callable[[list[dict]], str] | None = None
    subtask_in_prompt: bool = True  # False when the subtask is the answer (the prior must not see it)
    free_text: bool = False  # answers are credentialed free text (kept out of the annotations-only Hub copy)
    pseudo: PseudoLabels | None = None
    not_pseudo: str = ""  # why the task cannot be pseudo-labelled, when ``pseudo`` is None
    template_dir: Path = field(default=TEMPLATE_DIR)

    @property
    def template(self) -> TaskTemplate:
        return load_template(self.name, self.template_dir)

    def metric(self, key: str) -> Metric:
        return next(m for m in self.metrics if m.key == key)
