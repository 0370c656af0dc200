"""Baselines that need no weights: ``oracle`` (the gold answer: the wiring check) and ``prior`` (a floor).

``prior`` answers every test item with what the train split says most often for the item's task and
subtask — what the task's spec says (``TaskSpec.prior``: the mean value for CTR/CPAR, the mean box for
REC), else the most frequent answer (ties: the alphabetically first). It uses the subtask only where the
prompt states it (``TaskSpec.subtask_in_prompt``: which ratio, which structure, which report section,
which question type); for REG the subtask is the answer, so REG's prior is per task.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from lighteval.models.abstract_model import ModelConfig
from lighteval.models.model_output import ModelResponse
from lighteval.tasks.requests import Doc

from imax_hub.backends.common import GenerativeModel, drop_images
from imax_hub.build.manifest import resolve_dataset
from imax_hub.errors import ImaxError
from imax_hub.tasks import registry


class BaselineConfig(ModelConfig):
    model_name: str  # "oracle" or "prior"
    dataset: str | None = None  # prior: where the train split is
    config: str = "imax"  # prior: whose train split
    revision: str | None = None


class _NoCache:
    """Baselines are instant; lighteval only needs something to hand its registry to."""

    def _init_registry(self, registry) -> None:
        pass


def _prior_key(task: str, subtask: str) -> tuple[str, str]:
    return (task, subtask if registry.get(task).subtask_in_prompt else "")


def prior_answers(rows) -> dict[tuple[str, str], str]:
    """(task, subtask) -> the prior's answer text, from train rows (task, subtask, answer, target)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[_prior_key(r["task"], r["subtask"])].append(r)
    out = {}
    for key, members in groups.items():
        prior = registry.get(key[0]).prior
        if prior is not None:
            out[key] = prior([json.loads(r["target"]) for r in members])
        else:
            counts = Counter(r["answer"] for r in members)
            best = max(counts.values())
            out[key] = min(a for a, c in counts.items() if c == best)
    return out


def load_train_rows(dataset: str, config: str, revision: str | None = None) -> list[dict]:
    from datasets import load_dataset

    try:
        ds = load_dataset(dataset, config, split="train", revision=revision)
    except Exception as exc:  # datasets raises many types for a missing config/split/folder
        raise ImaxError(f"prior baseline: cannot load the train split of {dataset!r}, config {config!r} ({exc})") from None
    return ds.select_columns(["task", "subtask", "answer", "target"]).to_list()


class BaselineModel(GenerativeModel):
    def __init__(self, config: BaselineConfig):
        if config.model_name not in ("oracle", "prior"):
            raise ImaxError(f"unknown baseline {config.model_name!r}: expected oracle or prior")
        self.config = config
        self._cache = _NoCache()
        self.answers: dict[tuple[str, str], str] = {}
        if config.model_name == "prior":
            self.answers = prior_answers(load_train_rows(resolve_dataset(config.dataset), config.config,
                                                         config.revision))

    @property
    def tokenizer(self):
        return None

    @property
    def max_length(self) -> int:
        return 0

    def _answer(self, doc: Doc) -> str:
        if self.config.model_name == "oracle":
            return doc.choices[doc.gold_index]
        key = _prior_key(doc.specific["task"], doc.specific["subtask"])
        if key not in self.answers:  # a subtask the train split lacks: fall back to the task's answer
            key = next((k for k in sorted(self.answers) if k[0] == key[0]), None)
        return self.answers.get(key, "")

    def greedy_until(self, docs: list[Doc]) -> list[ModelResponse]:  # instant: no prediction cache
        out = [ModelResponse(input=d.query, text=[self._answer(d)]) for d in docs]
        drop_images(docs)
        return out
