"""The tasks: one module per task (grounding.py holds REC and REG, which one builder makes), each declaring
its :class:`~imax_hub.tasks.spec.TaskSpec`, listed in :mod:`imax_hub.tasks.registry`.

Each module turns one source into *candidate entries* for the frontal images in the MIMIC-CXR-JPG
metadata: one row per (image, task, subtask, key) with the template inputs and the structured
target as JSON, and reads a model's answer back into that structure. Rendering (templates) and
selection (IMAX/DMAX) happen later, on these rows only.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

CANDIDATE_SCHEMA = pa.schema([
    ("dicom_id", pa.string()),
    ("task", pa.string()),
    ("subtask", pa.string()),
    ("key", pa.string()),  # unique per (dicom_id, task); part of the stable row id
    ("inputs", pa.string()),  # JSON: what the prompt needs besides the image
    ("target", pa.string()),  # JSON: the structured answer
    ("source", pa.string()),  # PhysioNet project slug/version the entry comes from
])

# Med-MAT's (modality, anatomy, task family) triplet, so rows mix with Med-MAT/MedMax-style collections; the
# family is each task's own (TaskSpec.family).
MODALITY = "X-ray"
ANATOMY = "chest"


@dataclass
class TaskContext:
    """What every candidate builder gets."""

    root: str
    frontal: pa.Table  # dicom_id, subject_id, study_id, image_path, rows, columns of the frontal images
    seed: int = 0
    rca_threshold: float = 0.7
    structures_per_image: int = 1
    skipped: Counter = field(default_factory=Counter)  # reason -> entries left out, for the manifest

    @property
    def frontal_ids(self) -> pa.Array:
        return self.frontal.column("dicom_id").combine_chunks()


class CandidateList:
    """Collects one source's candidate entries and turns them into a table."""

    def __init__(self, source: str):
        self.source = source
        self.columns: dict[str, list] = {name: [] for name in CANDIDATE_SCHEMA.names if name != "source"}

    def add(self, dicom_id: str, task: str, subtask: str, key: str, inputs: dict, target: dict) -> None:
        c = self.columns
        c["dicom_id"].append(dicom_id)
        c["task"].append(task)
        c["subtask"].append(subtask)
        c["key"].append(key)
        c["inputs"].append(json.dumps(inputs, separators=(",", ":"), ensure_ascii=False))
        c["target"].append(json.dumps(target, separators=(",", ":"), ensure_ascii=False))

    def table(self) -> pa.Table:
        n = len(self.columns["dicom_id"])
        data = dict(self.columns, source=[self.source] * n)
        return pa.Table.from_pydict(data, schema=CANDIDATE_SCHEMA)


__all__ = ["CANDIDATE_SCHEMA", "TaskContext", "CandidateList", "MODALITY", "ANATOMY"]
