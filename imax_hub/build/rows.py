"""Selected candidate entries -> output rows: rendered prompt/answer, chat messages, image reference."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from imax_hub.tasks import ANATOMY, MODALITY, registry
from imax_hub.tasks.templates import pick_variant

_TEXT_PART = pa.struct([("type", pa.string()), ("text", pa.string())])
_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.list_(_TEXT_PART))])
IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # datasets' Image() storage

ROW_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("dicom_id", pa.string()),
    ("subject_id", pa.int64()),
    ("study_id", pa.int64()),
    ("image", IMAGE_TYPE),
    ("image_path", pa.string()),
    ("task", pa.string()),
    ("subtask", pa.string()),
    ("prompt", pa.string()),
    ("answer", pa.string()),
    ("messages", pa.list_(_MESSAGE)),
    ("target", pa.string()),
    ("source", pa.string()),
    ("template_id", pa.string()),
    ("template_sha", pa.string()),
    ("modality", pa.string()),
    ("anatomy", pa.string()),
    ("task_family", pa.string()),
])


def render(candidates: pa.Table, seed: int) -> tuple[list[str], list[str], list[str], list[str], list[str]]:
    """(ids, prompts, answers, template ids, template shas) of every candidate row, in order."""
    ids, prompts, answers, tids, shas = [], [], [], [], []
    cols = [candidates.column(n).to_pylist() for n in ("dicom_id", "task", "key", "inputs", "target")]
    for dicom_id, task, key, inputs, target in zip(*cols):
        template = registry.get(task).template
        row_id = f"{dicom_id}/{task}/{key}"
        context = {**json.loads(inputs), **json.loads(target)}
        variant = pick_variant(row_id, template.n_variants, seed)
        ids.append(row_id)
        prompts.append(template.prompt(variant, context))
        answers.append(template.answer(context))
        tids.append(template.template_id(variant))
        shas.append(template.sha256)
    return ids, prompts, answers, tids, shas


def messages_column(prompts: list[str], answers: list[str]) -> pa.Array:
    """``[{user: [image, text(prompt)]}, {assistant: [text(answer)]}]`` per row, built column-wise."""
    n = len(prompts)
    types = pa.array(["image", "text", "text"] * n, pa.string())  # typed: an empty split has no values to infer from
    texts = [None] * (3 * n)
    texts[1::3] = prompts
    texts[2::3] = answers
    parts = pa.StructArray.from_arrays([types, pa.array(texts, pa.string())], fields=list(_TEXT_PART))
    part_offsets = np.zeros(2 * n + 1, dtype=np.int32)
    part_offsets[1:] = np.cumsum(np.tile([2, 1], n))
    content = pa.ListArray.from_arrays(pa.array(part_offsets), parts, type=pa.list_(_TEXT_PART))
    roles = pa.array(["user", "assistant"] * n, pa.string())
    message = pa.StructArray.from_arrays([roles, content], fields=list(_MESSAGE))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), message,
                                    type=pa.list_(_MESSAGE))


def encode_image(path: Path, size: int) -> bytes:
    """The JPG resized so that its long side is at most ``size`` px, re-encoded as JPEG (quality 90)."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("L", (size, size))  # lets libjpeg decode at a reduced scale: much faster on large images
        img = img.convert("L")
        img.thumbnail((size, size), Image.Resampling.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90, optimize=True)
        return buf.getvalue()


def output_rows(candidates: pa.Table, images: pa.Table, image_row: dict[str, int], jpg_root: Path, seed: int,
                embedded: dict[str, bytes] | None = None) -> pa.Table:
    """Final rows for the selected ``candidates`` (sorted by id).

    ``images`` holds subject_id, study_id, image_path per image (the metadata) and ``image_row`` the row of
    each dicom_id in it; ``embedded`` holds
    resized JPEG bytes per dicom_id when images are embedded (then ``image.path`` is relative, so no local
    path is stored).
    """
    ids, prompts, answers, tids, shas = render(candidates, seed)
    order = np.argsort(np.array(ids, dtype=object), kind="stable")
    take = pa.array(order)
    cand = candidates.take(take)
    ids, prompts, answers, tids, shas = ([v[i] for i in order] for v in (ids, prompts, answers, tids, shas))
    rows_meta = np.array([image_row[d] for d in cand.column("dicom_id").to_pylist()], dtype=np.int64)
    sub = images.take(pa.array(rows_meta))
    rel = sub.column("image_path").to_pylist()
    dicom = cand.column("dicom_id").to_pylist()
    if embedded is None:
        root = str(jpg_root.resolve())
        paths = [f"{root}/{p}" for p in rel]
        image = pa.StructArray.from_arrays([pa.nulls(len(paths), pa.binary()), pa.array(paths, pa.string())],
                                           fields=list(IMAGE_TYPE))
    else:
        image = pa.StructArray.from_arrays([pa.array([embedded[d] for d in dicom], pa.binary()),
                                            pa.array(rel, pa.string())], fields=list(IMAGE_TYPE))
    tasks = cand.column("task").to_pylist()
    n = len(ids)
    data = {
        "id": ids, "dicom_id": dicom, "subject_id": sub.column("subject_id"), "study_id": sub.column("study_id"),
        "image": image, "image_path": rel, "task": tasks, "subtask": cand.column("subtask"),
        "prompt": prompts, "answer": answers, "messages": messages_column(prompts, answers),
        "target": cand.column("target"), "source": cand.column("source"), "template_id": tids,
        "template_sha": shas, "modality": [MODALITY] * n, "anatomy": [ANATOMY] * n,
        "task_family": [registry.get(t).family for t in tasks],
    }
    return pa.table(data, schema=ROW_SCHEMA)
