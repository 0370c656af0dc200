"""REC and REG entries from CheXmask: heart, left lung and right lung boxes of frontal images.

Boxes come straight from the RLE runs at original resolution (:mod:`imax_hub.geometry`); only masks of
images whose Dice RCA (Mean) exceeds the threshold (default 0.7, as in the paper) are used. On the
answer side a box is ``<x1><y1><x2><y2>`` on a 0-1000 grid of the image: the inclusive pixel box is
turned into pixel edges ``(x1, y1, x2 + 1, y2 + 1)``, divided by the width/height and rounded half up,
so the full image is ``<0><0><1000><1000>`` whatever its size.

The paper has about one REC and one REG entry per image (51,045 each for 47,600 images), so by default
each image contributes one structure per task, chosen deterministically from (seed, image, task);
``structures_per_image=3`` keeps all three.

Both tasks are declared here (one builder makes their entries): REC's answer is the first
``<x1><y1><x2><y2>`` box in the text with x1 < x2 <= 1000 and y1 < y2 <= 1000; REG's is exactly one of the
three structure names, after VQA normalisation.
"""

from __future__ import annotations

import hashlib

import numpy as np

from imax_hub.sources import iter_chexmask
from imax_hub.sources.chexmask import ChexmaskStats
from imax_hub.sources.layout import CHEXMASK
from imax_hub.tasks import CandidateList, TaskContext
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat, family_box, one_name, read_box
from imax_hub.tasks.answers import parse_box, parse_name
from imax_hub.tasks.spec import HarnessTask, Metric, PseudoLabels, TaskSpec

# CheXmask's "Left Lung" is the patient's left lung (on the image's right).
STRUCTURES = (("heart", "heart"), ("left_lung", "left lung"), ("right_lung", "right lung"))


def box_to_grid(box: list[int], width: int, height: int) -> list[int]:
    """Inclusive pixel box -> 0-1000 grid coordinates of its edges (integer arithmetic, half up)."""
    x1, y1, x2, y2 = box
    edges = ((x1, width), (y1, height), (x2 + 1, width), (y2 + 1, height))
    return [(2000 * e + size) // (2 * size) for e, size in edges]


def grid_to_edges(grid: list[float], width: int, height: int) -> tuple[float, float, float, float]:
    """0-1000 grid coordinates -> pixel edges (floats): the inverse of :func:`box_to_grid` before rounding."""
    x1, y1, x2, y2 = grid
    return x1 * width / 1000, y1 * height / 1000, x2 * width / 1000, y2 * height / 1000


GRID = "0-1000-edges"  # how box_to_grid maps pixels to the answer grid (recorded in the REC signatures)
PARSE_RULE = "<x1><y1><x2><y2>"


def _pick(seed: int, dicom_id: str, task: str, n: int) -> int:
    digest = hashlib.blake2b(f"{seed}\0{dicom_id}\0{task}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n


def candidates(ctx: TaskContext):
    """REC and REG entries (one or three structures per image and task)."""
    stats = ChexmaskStats()
    out = CandidateList(CHEXMASK.tag(ctx.root))
    sizes = ctx.frontal.select(["dicom_id", "rows", "columns"])
    for block in iter_chexmask(ctx.root, image_sizes=sizes, rca_threshold=ctx.rca_threshold, stats=stats):
        cols = {name: block.column(name).to_pylist()
                for name in ("dicom_id", "width", "height", "rca_ok", "heart_box", "left_lung_box", "right_lung_box")}
        for i, dicom_id in enumerate(cols["dicom_id"]):
            if not cols["rca_ok"][i]:
                ctx.skipped["rec/reg: Dice RCA (Mean) at or below the threshold"] += 1
                continue
            w, h = cols["width"][i], cols["height"][i]
            present = [(key, name, cols[f"{key}_box"][i]) for key, name in STRUCTURES if cols[f"{key}_box"][i]]
            for task in ("rec", "reg"):
                chosen = present
                if ctx.structures_per_image == 1 and present:
                    chosen = [present[_pick(ctx.seed, dicom_id, task, len(present))]]
                for key, name, box in chosen:
                    grid = box_to_grid(box, w, h)
                    target = {"structure": name, "box": list(box), "box_grid": grid, "image_size": [w, h]}
                    inputs = {"structure": name, "box_grid": grid}
                    out.add(dicom_id, task, key, key, inputs, target)
    if stats.unknown_images:
        ctx.skipped["rec/reg: CheXmask rows of images that are not frontal views in the metadata"] += stats.unknown_images
    return out.table()


def parse_rec(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """The answer's box on the 0-1000 grid (a family's own convention in family modes, see answer_formats)."""
    box = read_box(text, fmt, tuple(target.get("image_size") or (1000, 1000)))
    return None if box is None else {"box_grid": box}


def parse_reg(text: str, target: dict, fmt: AnswerFormat = PAPER) -> dict | None:
    """Paper: the text is a structure name. Family modes: the text names exactly one ('lung' alone does not)."""
    names = [name for _, name in STRUCTURES]
    i = parse_name(text, names) if fmt.paper else one_name(text, names)
    return None if i is None else {"structure": STRUCTURES[i][1]}


def prior_box(targets: list[dict]) -> str:
    box = np.mean([t["box_grid"] for t in targets], axis=0)
    return "".join(f"<{int(np.floor(v + 0.5))}>" for v in box)


def _rec_units(dicom_id: str, seed: int) -> list[tuple[str, str, dict]]:
    key, name = STRUCTURES[_pick(seed, dicom_id, "rec", len(STRUCTURES))]
    return [(key, key, {"structure": name})]


def _rec_pseudo_target(inputs: dict, text: str, image_size: tuple[int, int], fmt: AnswerFormat) -> tuple[dict | None, str]:
    if (parse_box(text) if fmt.paper else family_box(text, fmt, image_size) or parse_box(text)) is None:
        return None, "no box"
    grid = read_box(text, fmt, image_size)
    if grid is None:
        return None, "box empty or outside the image"
    grid = [int(round(v)) for v in grid]
    x1, y1, x2, y2 = grid
    if not (x1 < x2 and y1 < y2):
        return None, "box empty or outside the image"
    w, h = image_size
    left, top, right, bottom = grid_to_edges(grid, w, h)  # edges back to an inclusive pixel box, rounded
    box = [round(left), round(top), max(round(right) - 1, 0), max(round(bottom) - 1, 0)]
    return {"structure": inputs["structure"], "box": box, "box_grid": grid, "image_size": [w, h]}, ""


REC = TaskSpec(
    name="rec",
    family="grounding",
    project=CHEXMASK,
    candidates=candidates,
    scorer="box",
    parse=parse_rec,
    parse_rule=PARSE_RULE,
    scorer_params={"grid": GRID},
    metrics=(Metric("rec_iou", "REC IoU", None, True, "iou"), Metric("rec_r50", "REC R@0.5", None, True, "r50")),
    harness=(HarnessTask("imax_rec", None, ("rec_iou", "rec_r50"), 32),),
    paper_entries=51_045,
    prior=prior_box,
    pseudo=PseudoLabels(units=_rec_units, target=_rec_pseudo_target, needs_image_size=True),
)
REG = TaskSpec(
    name="reg",
    family="region captioning",
    project=CHEXMASK,
    candidates=candidates,
    scorer="match",
    parse=parse_reg,
    metrics=(Metric("reg_acc", "REG ACC", None, True, "acc"),),
    harness=(HarnessTask("imax_reg", None, ("reg_acc",), 16),),
    paper_entries=51_045,
    subtask_in_prompt=False,  # the subtask is the structure, i.e. the answer
    not_pseudo="its prompt needs a box",
)
