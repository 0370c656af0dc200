"""REC and REG entries from CheXmask: heart, left lung and right lung boxes of frontal images.

Boxes come straight from the RLE runs at original resolution (:mod:`imax_hub.geometry`); only masks of
images whose Dice RCA (Mean) exceeds the threshold (default 0.7, as in the paper) are used. On the
answer side a box is ``<x1><y1><x2><y2>`` on a 0-1000 grid of the image: the inclusive pixel box is
turned into pixel edges ``(x1, y1, x2 + 1, y2 + 1)``, divided by the width/height and rounded half up,
so the full image is ``<0><0><1000><1000>`` whatever its size.

The paper has about one REC and one REG entry per image (51,045 each for 47,600 images), so by default
each image contributes one structure per task, chosen deterministically from (seed, image, task);
``structures_per_image=3`` keeps all three.
"""

from __future__ import annotations

import hashlib

from imax_hub.sources import iter_chexmask
from imax_hub.sources.chexmask import ChexmaskStats
from imax_hub.sources.layout import CHEXMASK
from imax_hub.tasks import CandidateList, TaskContext

# CheXmask's "Left Lung" is the patient's left lung (on the image's right).
STRUCTURES = (("heart", "heart"), ("left_lung", "left lung"), ("right_lung", "right lung"))


def box_to_grid(box: list[int], width: int, height: int) -> list[int]:
    """Inclusive pixel box -> 0-1000 grid coordinates of its edges (integer arithmetic, half up)."""
    x1, y1, x2, y2 = box
    edges = ((x1, width), (y1, height), (x2 + 1, width), (y2 + 1, height))
    return [(2000 * e + size) // (2 * size) for e, size in edges]


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
