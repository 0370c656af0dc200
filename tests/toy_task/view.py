"""A toy eighth task, added the way the registry says a task is added: this module, its template beside it,
and one ``register`` call. Entries come from MIMIC-CXR-JPG's own metadata (ViewPosition of frontal images)."""

from pathlib import Path

import pyarrow.compute as pc

from imax_hub.sources import read_metadata
from imax_hub.sources.layout import MIMIC_CXR_JPG
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answers import parse_name
from imax_hub.tasks.spec import HarnessTask, Metric, TaskSpec

VIEWS = ("AP", "PA")


def candidates(ctx: TaskContext):
    meta = read_metadata(ctx.root)
    meta = meta.filter(pc.is_in(meta.column("dicom_id"), value_set=ctx.frontal_ids))
    out = CandidateList(MIMIC_CXR_JPG.tag(ctx.root))
    for dicom_id, view in zip(meta.column("dicom_id").to_pylist(), meta.column("view_position").to_pylist()):
        if view in VIEWS:
            out.add(dicom_id, "view", "projection", "view", {}, {"view": view})
    return out.table()


def parse(text: str, target: dict, fmt: str = "paper") -> dict | None:
    i = parse_name(text, VIEWS)
    return None if i is None else {"view": VIEWS[i]}


SPEC = TaskSpec(
    name="view",
    family="view classification",
    project=MIMIC_CXR_JPG,
    candidates=candidates,
    scorer="match",
    parse=parse,
    metrics=(Metric("view_acc", "View ACC", None, True, "acc"),),
    harness=(HarnessTask("imax_view", None, ("view_acc",), 8),),
    template_dir=Path(__file__).resolve().parent,
)
