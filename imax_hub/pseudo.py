"""Stage 2 of the paper's three-stage strategy: cross-task pseudo labels for the DMAX training images.

For every DMAX training image, the tasks it lacks are asked with the same templates (prompt variant,
row id and template sha as a real row would get) through the same backends as ``imax eval``; answers
are parsed with the same parsers, and what does not parse or is implausible is dropped and counted.
The build folder then gets the ``pseudo_imax`` config (DMAX's real rows plus the kept pseudo rows, each
marked by ``origin`` = real | pseudo with the generating model's id and revision; train split only)
and ``pseudo_imax-stage3`` (the DMAX rows again, for the final fine-tuning; same files as ``dmax``).

Only tasks whose prompt needs no annotation can be pseudo-labelled: calculation (CTR, CPAR), report,
multi-class, multi-label and REC (one structure per image, picked as the build picks). REG needs a box
and VQA a question, which an image without those annotations does not have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from imax_hub.build import manifest as build_manifest
from imax_hub.build.folder import write_card, write_split
from imax_hub.build.manifest import PSEUDO_CONFIG, STAGE3_CONFIG  # noqa: F401  (the configs this module writes)
from imax_hub.build.rows import ROW_SCHEMA, messages_column
from imax_hub.build.stats import describe, write_stats
from imax_hub.errors import ImaxError
from imax_hub.files import write_atomic
from imax_hub.tasks import ANATOMY, MODALITY, registry
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks.spec import TaskSpec
from imax_hub.tasks.templates import pick_variant

PSEUDO_COLUMNS = [("origin", pa.string()), ("pseudo_model", pa.string()), ("pseudo_revision", pa.string())]
Tick = Callable[[str, int, int], None]


def pseudo_tasks() -> tuple[TaskSpec, ...]:
    """The tasks whose prompt needs no annotation, so an image without them can be asked."""
    return tuple(t for t in registry.tasks() if t.pseudo is not None)


@dataclass
class PseudoResult:
    kept: Counter = field(default_factory=Counter)  # task -> rows kept
    dropped: Counter = field(default_factory=Counter)  # "task: reason" -> rows dropped
    images: int = 0
    asked: int = 0

    def as_dict(self) -> dict:
        return {"images": self.images, "asked": self.asked, "kept": dict(sorted(self.kept.items())),
                "dropped": dict(sorted(self.dropped.items()))}


def _units(dicom_id: str, have: set[str], seed: int) -> list[tuple[str, str, str, dict]]:
    """(task, subtask, key, inputs) of the pseudo-labellable entries an image lacks."""
    return [(t.name, *unit) for t in pseudo_tasks() if t.name not in have for unit in t.pseudo.units(dicom_id, seed)]


def parse_pseudo(task: str, inputs: dict, text: str, image_size: tuple[int, int],
                 answer_format: AnswerFormat = PAPER) -> tuple[dict | None, str]:
    """The structured target of a generated answer, or (None, why it was dropped)."""
    spec = registry.get(task)
    if spec.pseudo is None:
        raise ImaxError(f"task {task!r} cannot be pseudo-labelled ({spec.not_pseudo or 'no pseudo-label rule'})")
    return spec.pseudo.target(inputs, (text or "").strip(), image_size, answer_format)


def _image_size(image: dict) -> tuple[int, int]:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]) as img:
        return img.size


def _read_generations(path: Path, *, repair: bool = True) -> dict[str, str]:
    """Finished generations of an earlier run; a line cut by a killed run is dropped (and, with ``repair``, the
    file is rewritten without it, so what is appended next is read back)."""
    done: dict[str, str] = {}
    if not path.is_file():
        return done
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        try:
            obj = json.loads(line)
            done[obj["id"]] = obj["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    if repair and len(done) < len(lines):
        write_atomic(path, "".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in done.items()))
    return done


def pseudo_label(folder: Path, out: Path, model, *, model_id: str, revision: str | None = None,
                 config: str = "dmax", chunk_size: int = 256, max_images: int | None = None,
                 identity: dict | None = None, tick: Tick = lambda *a: None,
                 answer_format: AnswerFormat = PAPER) -> PseudoResult:
    """Generate, parse and write the pseudo-IMAX configs into build ``folder``; generations go to ``out``.

    ``model`` is a backend (``greedy_until(docs)``, as ``imax eval`` makes them). Generations are appended to
    ``out/generations.jsonl`` chunk by chunk, so a killed run resumes where it stopped. ``max_images`` labels
    only the first N images in dicom-id order (a trial run: the config then holds pseudo rows for those only).
    ``out/run.json`` records which model (``model_id``, ``revision`` and ``identity``, e.g. an adapter's hash) and
    which rows the generations belong to; a run with another model or build refuses to mix into them.
    """
    from lighteval.tasks.requests import Doc

    manifest, paths = build_manifest.train_shards(folder, config)
    seed = manifest["options"]["seed"]
    real = pa.concat_tables([pq.read_table(p) for p in paths]).sort_by("id")
    by_image: dict[str, dict] = {}
    for i, (d, t) in enumerate(zip(real.column("dicom_id").to_pylist(), real.column("task").to_pylist())):
        entry = by_image.setdefault(d, {"tasks": set(), "row": i})
        entry["tasks"].add(t)
    budget = {t.name: max(h.generation_size for h in t.harness) for t in pseudo_tasks()}
    meta = real.select(["dicom_id", "subject_id", "study_id", "image", "image_path"]).to_pylist()
    units = []  # (row id, dicom, task, subtask, key, inputs, variant, template)
    if max_images is not None and max_images < 1:
        raise ImaxError(f"max_images must be at least 1, not {max_images}")
    for dicom in sorted(by_image)[:max_images]:
        for task, subtask, key, inputs in _units(dicom, by_image[dicom]["tasks"], seed):
            template = registry.get(task).template
            row_id = f"{dicom}/{task}/{key}"
            units.append((row_id, dicom, task, subtask, key, inputs, pick_variant(row_id, template.n_variants, seed),
                          template))
    result = PseudoResult(images=min(len(by_image), max_images or len(by_image)), asked=len(units))
    # under `accelerate launch` every process runs this with the same units (the backend shards each chunk's
    # prompts and gathers the answers); only the main process writes
    main = model._is_main() if hasattr(model, "_is_main") else True
    barrier = getattr(model, "_barrier", lambda: None)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen_path = out / "generations.jsonl"
    run = {"model": model_id, "revision": revision, **(identity or {}), "from_config": config,
           "rows_hash": hashlib.sha256("\n".join(real.column("id").to_pylist()).encode()).hexdigest()[:16]}
    if gen_path.is_file():
        try:
            before = json.loads((out / "run.json").read_text())
        except (OSError, json.JSONDecodeError):
            before = None
        if before != run:
            differs = sorted(k for k in run.keys() | (before or {}).keys() if (before or {}).get(k) != run.get(k))
            raise ImaxError(f"{out} holds generations of another run ({', '.join(differs) if before else 'no run.json'} "
                            "differ): resuming would mix them in; pass a new --out or delete that folder")
    if main:
        write_atomic(out / "run.json", json.dumps(run, indent=1) + "\n")
    done = _read_generations(gen_path, repair=main)
    barrier()  # every process has read the same finished generations before any is appended
    todo = [u for u in units if u[0] not in done]
    tick("pseudo-label", len(units) - len(todo), len(units))
    with (open(gen_path, "a", encoding="utf-8") if main else contextlib.nullcontext()) as fh:
        for start in range(0, len(todo), chunk_size):
            chunk = todo[start:start + chunk_size]
            docs = []
            for row_id, dicom, task, subtask, key, inputs, variant, template in chunk:
                prompt = template.prompt(variant, inputs)
                user_turn = {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": prompt}]}
                docs.append(Doc(query=prompt, choices=[""], gold_index=0, task_name=f"imax_pseudo_{task}",
                                generation_size=budget[task],
                                specific={"id": row_id, "task": task, "subtask": subtask, "messages": [user_turn],
                                          "image": dict(meta[by_image[dicom]["row"]]["image"])}))
            responses = model.greedy_until(docs)
            for (row_id, *_), resp in zip(chunk, responses):
                text = resp.final_text[0] if resp.final_text else (resp.text[0] if resp.text else "")
                done[row_id] = text if isinstance(text, str) else ""
            if fh is not None:
                fh.write("".join(json.dumps({"id": u[0], "text": done[u[0]]}) + "\n" for u in chunk))
                fh.flush()
                os.fsync(fh.fileno())
            tick("pseudo-label", len(units) - len(todo) + start + len(chunk), len(units))

    if not main:  # the main process parses and writes the configs
        return PseudoResult(images=min(len(by_image), max_images or len(by_image)), asked=len(units))
    rows = {name: [] for name in ROW_SCHEMA.names}
    sizes: dict[str, tuple[int, int]] = {}
    for row_id, dicom, task, subtask, key, inputs, variant, template in units:
        m = meta[by_image[dicom]["row"]]
        size = (0, 0)
        if registry.get(task).pseudo.needs_image_size:  # e.g. a box goes back to pixels of this image
            size = sizes[dicom] if dicom in sizes else sizes.setdefault(dicom, _image_size(m["image"]))
        target, why = parse_pseudo(task, inputs, done[row_id], size, answer_format)
        if target is None:
            result.dropped[f"{task}: {why}"] += 1
            continue
        result.kept[task] += 1
        context = {**inputs, **target}
        prompt, answer = template.prompt(variant, context), template.answer(context)
        for name, value in (("id", row_id), ("dicom_id", dicom), ("subject_id", m["subject_id"]),
                            ("study_id", m["study_id"]), ("image", m["image"]), ("image_path", m["image_path"]),
                            ("task", task), ("subtask", subtask), ("prompt", prompt), ("answer", answer),
                            ("target", json.dumps(target, separators=(",", ":"))), ("source", f"pseudo:{model_id}"),
                            ("template_id", template.template_id(variant)), ("template_sha", template.sha256),
                            ("modality", MODALITY), ("anatomy", ANATOMY), ("task_family", registry.get(task).family)):
            rows[name].append(value)
    if rows["id"]:
        rows["messages"] = messages_column(rows["prompt"], rows["answer"])
        pseudo = pa.table(rows, schema=ROW_SCHEMA)
    else:  # nothing kept (a model that never answers in format): pseudo_imax = the real rows
        pseudo = ROW_SCHEMA.empty_table()
    n_real, n_pseudo = real.num_rows, pseudo.num_rows
    table = pa.concat_tables([real.select(ROW_SCHEMA.names).cast(ROW_SCHEMA), pseudo])
    table = table.append_column("origin", pa.array(["real"] * n_real + ["pseudo"] * n_pseudo))
    table = table.append_column("pseudo_model", pa.array([None] * n_real + [model_id] * n_pseudo, pa.string()))
    table = table.append_column("pseudo_revision", pa.array([None] * n_real + [revision] * n_pseudo, pa.string()))
    table = table.sort_by("id")
    write_pseudo_config(Path(folder), manifest, table, {"model": model_id, "revision": revision, "from_config": config,
                                                         "max_images": max_images, "answer_format": answer_format.name,
                                                         **result.as_dict()})
    write_atomic(out / "pseudo_label.json",
                 json.dumps({"model": model_id, "revision": revision, **result.as_dict()}, indent=1) + "\n")
    stats = json.loads((Path(folder) / "stats" / "stats.json").read_text())
    stats["pseudo_imax_train"] = describe(table)
    stats["pseudo_imax_train"]["pseudo_entries"] = n_pseudo
    write_stats(stats, Path(folder) / "stats")
    write_card(Path(folder), build_manifest.read_manifest(folder), stats)
    return result


def write_pseudo_config(folder: Path, manifest: dict, table: pa.Table, info: dict) -> None:
    """Replace the folder's pseudo_imax shards and record them (and how they were made) in the manifest."""
    tmp = folder / f".{PSEUDO_CONFIG}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        records = write_split(table, tmp, PSEUDO_CONFIG, "train", embedded=False, pseudo=True)
        final = folder / "data" / PSEUDO_CONFIG
        shutil.rmtree(final, ignore_errors=True)
        (tmp / "data" / PSEUDO_CONFIG).replace(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    manifest["shards"] = [s for s in manifest["shards"] if s["config_dir"] != PSEUDO_CONFIG] + records
    manifest["fingerprint"] = build_manifest.fingerprint(manifest["shards"])
    manifest[PSEUDO_CONFIG] = info
    build_manifest.write_manifest(folder, manifest)
