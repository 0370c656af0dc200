"""``imax build``: sources -> task entries -> IMAX/DMAX selection -> rendered rows -> dataset folder.

The build writes into a hidden sibling folder and renames it into place only when everything has
succeeded, so a failed or interrupted build leaves any previous output untouched.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shlex
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from imax_hub import __version__
from imax_hub.build import folder as folder_mod
from imax_hub.build import manifest as build_manifest
from imax_hub.build import rows as rows_mod
from imax_hub.build import selection
from imax_hub.build import stats as stats_mod
from imax_hub.build.rows import encode_image
from imax_hub.errors import ImaxError
from imax_hub.files import sha256_file
from imax_hub.sources import layout, mimic_cxr_jpg, readlog
from imax_hub.sources._csv import find_file
from imax_hub.sources.readlog import DEFAULT_MAX_BAD_ROWS, ReadLog, recording
from imax_hub.tasks import TaskContext, registry
from imax_hub.tasks.spec import TaskSpec

Tick = Callable[[str, int, int], None]

@dataclass
class BuildOptions:
    """Everything that determines a build (recorded in the manifest)."""

    physionet_root: Path
    out: Path | None = None  # None: selection only (imax download)
    config: str = "all"  # imax | dmax | all
    seed: int = 0
    split_by: str = "patient"  # patient | image (image reproduces the paper)
    target_images: int = 47_600
    min_tasks: int = 3
    rca_threshold: float = 0.7
    structures_per_image: int = 1
    embed_images: bool = False
    image_size: int = 512
    overwrite: bool = False
    require: str = "available"  # available | all
    allow_missing_images: bool = False
    evaluation_framework: str = "imax-hub"  # eval.yaml's harness id (build.folder.DEFAULT_EVALUATION_FRAMEWORK)
    max_bad_rows: float = DEFAULT_MAX_BAD_ROWS  # share of a source file's rows that may be set aside as malformed
    verify_images: bool = False  # decode every selected JPEG (the default checks its markers only)

    def check(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", self.evaluation_framework):
            raise ImaxError(f"--evaluation-framework must be a Hub framework id (lower-case letters, digits, '.', '_', "
                            f"'-'), not {self.evaluation_framework!r}")
        if self.config not in ("imax", "dmax", "all"):
            raise ImaxError(f"--config must be imax, dmax or all, not {self.config!r}")
        if self.split_by not in ("patient", "image"):
            raise ImaxError(f"--split-by must be patient or image, not {self.split_by!r}")
        if self.require not in ("available", "all"):
            raise ImaxError(f"--require must be available or all, not {self.require!r}")
        if not 1 <= self.min_tasks <= len(registry.names()):
            raise ImaxError(f"--min-tasks must be between 1 and {len(registry.names())}, not {self.min_tasks}")
        if self.target_images < 1:
            raise ImaxError("--target-images must be at least 1")
        if self.structures_per_image not in (1, 3):
            raise ImaxError("--structures-per-image must be 1 or 3")
        if not 0 <= self.rca_threshold < 1:
            raise ImaxError("--rca-threshold must be in [0, 1)")
        if not 0 <= self.max_bad_rows < 1:
            raise ImaxError(f"--max-bad-rows must be a share in [0, 1) (0.01 = 1%), not {self.max_bad_rows}")


@dataclass
class BuildResult:
    out: Path
    manifest: dict
    stats: dict
    tasks_missing: list[str] = field(default_factory=list)
    read_log: ReadLog | None = None
    heavy_filters: list[str] = field(default_factory=list)  # see heavy_filters()
    selection_messages: list[str] = field(default_factory=list)  # see selection_messages()


def _quiet(phase: str, done: int, total: int) -> None:
    pass


def selection_messages(opts: BuildOptions, manifest: dict, stats: dict) -> list[str]:
    """One line each when IMAX falls short of its target or DMAX of IMAX-train's per-task counts: the numbers,
    and which option to change."""
    lines = []
    imax, eligible = stats["imax"]["images"], manifest["selection"]["eligible_images"]
    if imax < opts.target_images:
        lines.append(f"IMAX has {imax:,} images, short of --target-images {opts.target_images:,}: only {eligible:,} "
                     f"frontal images have at least --min-tasks {opts.min_tasks} tasks; lower --min-tasks, add the "
                     "missing sources, or set --target-images to what the tree holds")
    shortfall = manifest["selection"]["dmax_shortfall"]
    if shortfall:
        wanted = stats["imax_train"]["entries_per_task"]
        detail = ", ".join(f"{t}: {wanted[t] - n:,} of {wanted[t]:,}" for t, n in sorted(shortfall.items()))
        share = "all" if imax >= eligible else f"{imax:,} of the {eligible:,}"
        lines.append(f"DMAX has fewer entries than IMAX-train for {len(shortfall)} task(s) ({detail}): IMAX took "
                     f"{share} eligible images, and DMAX draws from the images outside it; a smaller "
                     f"--target-images (e.g. {max(1, imax // 2):,}) leaves more of them to DMAX")
    return lines


def heavy_filters(skipped: dict[str, int], candidates: pa.Table) -> list[str]:
    """A line per task whose filters (``TaskContext.skipped``, keyed ``"task[/task]: reason"``) dropped more of
    its candidates than they kept: usually a damaged or mismatched source rather than the data itself."""
    kept = dict(zip(*[c.to_pylist() for c in pc.value_counts(candidates.column("task")).flatten()]))
    dropped: dict[str, dict[str, int]] = {}
    for reason, n in skipped.items():
        names, _, why = reason.partition(": ")
        for task in names.split("/"):
            dropped.setdefault(task, {})[why] = n
    lines = []
    for task, reasons in sorted(dropped.items()):
        total = sum(reasons.values())
        if total > kept.get(task, 0):
            detail = "; ".join(f"{why}: {n:,}" for why, n in sorted(reasons.items()))
            lines.append(f"{task}: filters dropped {total:,} candidates and kept {kept.get(task, 0):,} ({detail})")
    return lines


def check_output(opts: BuildOptions) -> None:
    """Refuse to overwrite anything that is not an earlier build, or anything without --overwrite."""
    out = opts.out
    if out.exists():
        if not out.is_dir() or any(out.iterdir()):
            if not opts.overwrite:
                raise ImaxError(f"{out} already exists; pass --overwrite to replace it")
            if not build_manifest.is_build(out):
                raise ImaxError(f"{out} exists and is not an imax build (no build_manifest.json); "
                                "refusing to replace it, even with --overwrite")


def _hash_inputs(root: Path, used: list[layout.Project]) -> list[dict]:
    records = []
    for project in used:
        found = project.find(root)
        folder = found.folder
        names = list(project.input_files)
        if project is layout.MIMIC_CXR_REPORTS and not (folder / names[0]).exists():
            names = []  # the folder form: thousands of small files, summarised below
            files = sorted((folder / "files").rglob("*.txt"))
            h = hashlib.sha256()
            size = 0
            for f in files:
                h.update(str(f.relative_to(folder)).encode() + b"\0" + f.read_bytes())
                size += f.stat().st_size
            records.append({"project": project.slug, "version": found.version or project.version, "path": "files/**/*.txt",
                            "files": len(files), "bytes": size, "sha256": h.hexdigest()})
        for name in names:
            path = find_file(folder, name)
            records.append({"project": project.slug, "version": found.version or project.version,
                            "path": str(path.relative_to(root)) if path.is_relative_to(root) else str(path),
                            "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    return records


def build(opts: BuildOptions, tick: Tick = _quiet, command: str | None = None) -> BuildResult:
    """Run a whole build (see the module docstring); raises :class:`ImaxError` on user errors."""

    opts.check()
    build_manifest.recover(opts.out)
    check_output(opts)
    root = Path(opts.physionet_root)
    available, missing = _sources(opts, root)
    used_projects = [layout.MIMIC_CXR_JPG] + list(dict.fromkeys(t.project for t in available))
    pool = ThreadPoolExecutor(max_workers=1)  # hashing releases the GIL: it overlaps with reading
    hashing = pool.submit(_hash_inputs, root, used_projects)
    try:
        with recording(opts.max_bad_rows) as read_log:
            chosen = _select(opts, root, available, tick)
        ctx, candidates, sel, parts = chosen.ctx, chosen.candidates, chosen.sel, chosen.parts
        frontal, image_row, rel_path, wanted_ids = chosen.frontal, chosen.image_row, chosen.rel_path, chosen.wanted_ids
        jpg_root = mimic_cxr_jpg.jpg_root(root)
        _check_images(jpg_root, rel_path, wanted_ids, opts.allow_missing_images, tick, decode=opts.verify_images)
        embedded = _embed(jpg_root, rel_path, wanted_ids, opts.image_size, tick) if opts.embed_images else None

        outputs = {}
        for k, (name, rows) in enumerate(parts.items()):
            tick("render", k, len(parts))
            outputs[name] = rows_mod.output_rows(candidates.take(pa.array(rows)), frontal, image_row, jpg_root,
                                                  opts.seed, embedded)
        tick("render", len(parts), len(parts))

        tmp = opts.out.parent / f".{opts.out.name}.building-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            shards = []
            jobs = []
            for t in registry.names():
                if opts.config in ("imax", "all"):
                    jobs += [(f"{t}", "train", "imax_train", t), (f"{t}", "test", "imax_test", t)]
                if opts.config in ("dmax", "all"):
                    jobs.append((f"dmax-{t}", "train", "dmax_train", t))
                    if opts.config == "dmax":
                        jobs.append((f"dmax-{t}", "test", "imax_test", t))
            for j, (data_dir, split, part, t) in enumerate(jobs):
                tick("write shards", j, len(jobs))
                table = outputs[part]
                table = table.filter(pc.equal(table.column("task"), t))
                shards += folder_mod.write_split(table, tmp, data_dir, split, embedded is not None)
            tick("write shards", len(jobs), len(jobs))

            tick("stats", 0, 1)
            imax_all = pa.concat_tables([outputs["imax_train"], outputs["imax_test"]])
            stat_parts = {"imax": imax_all, "imax_train": outputs["imax_train"], "imax_test": outputs["imax_test"]}
            if "dmax_train" in outputs:
                stat_parts["dmax_train"] = outputs["dmax_train"]
            stats = stats_mod.build_stats(stat_parts)
            stats_mod.write_stats(stats, tmp / "stats")
            tick("stats", 1, 1)

            tick("hash inputs", 0, 1)
            inputs = hashing.result()
            tick("hash inputs", 1, 1)
            tasks_built = [t.name for t in available]
            tasks_missing = [t.name for t in missing]
            skipped = dict(sorted(ctx.skipped.items()))
            manifest = {
                "imax_hub_version": __version__,
                "command": command or _command_line(opts),
                "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(opts).items()
                            if k not in ("out", "overwrite")},
                "physionet_root": str(root.resolve()),
                "jpg_root": str(jpg_root.resolve()),
                "out_name": opts.out.name,
                "configs_built": ["imax", "dmax"] if opts.config == "all" else [opts.config],
                "tasks_built": tasks_built,
                "tasks_missing": tasks_missing,
                "inputs": inputs,
                "images": {"referenced": len(wanted_ids), "embedded": embedded is not None,
                           "image_size": opts.image_size if embedded is not None else None},
                "templates": {t.name: {"version": t.template.version, "sha256": t.template.sha256,
                                       "variants": t.template.n_variants} for t in available},
                "selection": {"eligible_images": sel.eligible_images, "test_patients": int(len(sel.test_patients)),
                              "dmax_shortfall": sel.dmax_shortfall},
                "skipped": skipped,
                "sources_read": read_log.summary(root),
                "source_notes": {k: v for k, v in sorted(read_log.notes.items())},
                "shards": shards,
                "fingerprint": build_manifest.fingerprint(shards),
            }
            build_manifest.write_manifest(tmp, manifest)
            folder_mod.write_card(tmp, manifest, stats)
            _replace(tmp, opts.out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return BuildResult(out=opts.out, manifest=manifest, stats=stats, tasks_missing=tasks_missing, read_log=read_log,
                       heavy_filters=heavy_filters(ctx.skipped, candidates),
                       selection_messages=selection_messages(opts, manifest, stats) if opts.config != "dmax" else [])


@dataclass
class _Selection:
    ctx: object
    frontal: pa.Table
    candidates: pa.Table
    sel: object
    parts: dict
    image_row: dict
    rel_path: dict
    wanted_ids: set


def _sources(opts: BuildOptions, root: Path) -> tuple[list[TaskSpec], list[TaskSpec]]:
    """(available, missing) tasks: a task is available when its source is under ``root``. MIMIC-CXR-JPG and at
    least one task's source are required."""
    if not root.is_dir():
        raise ImaxError(f"PhysioNet root {root} is not a folder")
    layout.require(layout.MIMIC_CXR_JPG, root)
    available, missing = [], []
    for task in registry.tasks():
        (available if task.project.locate(root) is not None else missing).append(task)
    if missing and opts.require == "all":
        names = "; ".join(f"{t.project.title} ({t.name}): {t.project.files_url}" for t in missing)
        raise ImaxError(f"--require all: missing sources: {names}")
    if not available:
        raise ImaxError(f"no task source found under {root}; run `imax check {root}` to see what is missing")
    return available, missing


def _select(opts: BuildOptions, root: Path, available: list, tick: Tick) -> _Selection:
    """Metadata and annotations -> candidate entries -> IMAX/DMAX selection; reads no image."""

    log = readlog.current()
    for project in dict.fromkeys([layout.MIMIC_CXR_JPG] + [t.project for t in available]):
        note = project.version_note(project.find(root))
        if note:
            log.note(project.key, note)
    tick("read metadata", 0, 1)
    meta = mimic_cxr_jpg.read_metadata(root)
    frontal = meta.filter(meta.column("frontal")).select(
        ["dicom_id", "subject_id", "study_id", "image_path", "rows", "columns"])
    tick("read metadata", 1, 1)
    ctx = TaskContext(root=str(root), frontal=frontal, seed=opts.seed, rca_threshold=opts.rca_threshold,
                      structures_per_image=opts.structures_per_image)
    builders = list(dict.fromkeys(t.candidates for t in available))  # one builder may make several tasks' entries
    wanted = {t.name for t in available}
    tables = []
    for i, build_candidates in enumerate(builders):
        tick("read sources", i, len(builders))
        table = build_candidates(ctx)
        tables.append(table.filter(pc.is_in(table.column("task"), pa.array(sorted(wanted)))))
    tick("read sources", len(builders), len(builders))
    candidates = pa.concat_tables(tables)
    order = pc.sort_indices(candidates, [("dicom_id", "ascending"), ("task", "ascending"), ("key", "ascending")])
    candidates = candidates.take(order)

    tick("select", 0, 1)
    frontal_ids = frontal.column("dicom_id").to_pylist()
    subject_of = dict(zip(frontal_ids, frontal.column("subject_id").to_pylist()))
    rel_path = dict(zip(frontal_ids, frontal.column("image_path").to_pylist()))
    image_row = {d: i for i, d in enumerate(frontal_ids)}
    sel = selection.select(candidates, subject_of, target_images=opts.target_images, min_tasks=opts.min_tasks,
                           split_by=opts.split_by, seed=opts.seed)
    tick("select", 1, 1)
    if len(sel.imax_train) + len(sel.imax_test) == 0:
        raise ImaxError(f"no image has at least --min-tasks {opts.min_tasks} tasks "
                        f"({len(available)} task sources found); lower --min-tasks or add the missing sources")
    parts = {"imax_train": sel.imax_train, "imax_test": sel.imax_test}
    if opts.config in ("dmax", "all"):
        parts["dmax_train"] = sel.dmax_train
    wanted_ids = set()
    for rows in parts.values():
        wanted_ids.update(candidates.column("dicom_id").take(pa.array(rows)).to_pylist())
    return _Selection(ctx, frontal, candidates, sel, parts, image_row, rel_path, wanted_ids)


def needed_images(physionet_root: str | Path, tick: Tick = _quiet, **selection) -> list[str]:
    """The images (``files/pXX/…/DICOM.jpg``, relative to MIMIC-CXR-JPG) a build with the same selection
    options (``config``, ``seed``, ``split_by``, ``target_images``, ``min_tasks``, ``rca_threshold``,
    ``structures_per_image``, ``max_bad_rows``) uses: the selection runs on metadata and annotations alone, so
    ``imax download`` can fetch just these."""
    opts = BuildOptions(physionet_root=Path(physionet_root), **selection)
    opts.check()
    root = Path(opts.physionet_root)
    available, _ = _sources(opts, root)
    with recording(opts.max_bad_rows):
        chosen = _select(opts, root, available, tick)
    return sorted(chosen.rel_path[d] for d in chosen.wanted_ids)


def _command_line(opts: BuildOptions) -> str:
    d = BuildOptions(physionet_root=opts.physionet_root, out=opts.out)
    parts = ["imax", "build", "--physionet-root", str(opts.physionet_root), "--out", opts.out.name]
    for k, v in asdict(opts).items():
        if k in ("physionet_root", "out", "overwrite") or v == getattr(d, k):
            continue
        flag = "--" + k.replace("_", "-")
        parts += [flag] if v is True else [flag, str(v)]
    return shlex.join(parts)


def _check_images(jpg_root: Path, rel: dict[str, str], ids: set[str], allow_missing: bool, tick: Tick,
                  decode: bool = False) -> None:
    """Every selected image is a whole JPEG (start and end markers; ``decode``: decodes). Absent ones may be
    allowed (``--allow-missing-images``); a damaged one never is: a build must not point at it."""
    ordered = sorted(ids)
    problems: dict[str, list[str]] = {}
    for i, d in enumerate(ordered):
        if i % 1000 == 0:
            tick("check images", i, len(ordered))
        why = mimic_cxr_jpg.jpeg_problem(jpg_root / rel[d], decode=decode)
        if why is not None:
            problems.setdefault(why if why == "missing" else "damaged", []).append(f"{rel[d]} ({why})")
    tick("check images", len(ordered), len(ordered))
    damaged = problems.get("damaged", [])
    if damaged:
        raise ImaxError(f"{len(damaged):,} of {len(ids):,} selected images under {jpg_root} are not whole JPEGs, "
                        f"e.g. {damaged[0]}; download them again (`imax check --verify-checksums` finds them all)")
    missing = problems.get("missing", [])
    if missing and not allow_missing:
        raise ImaxError(f"{len(missing):,} of {len(ids):,} selected images are missing under {jpg_root}, "
                        f"e.g. {missing[0].removesuffix(' (missing)')}; download them, or pass "
                        "--allow-missing-images to build anyway")


def _embed(jpg_root: Path, rel: dict[str, str], ids: set[str], size: int, tick: Tick) -> dict[str, bytes]:

    out = {}
    ordered = sorted(ids)
    for i, d in enumerate(ordered):
        if i % 256 == 0:
            tick("embed images", i, len(ordered))
        path = jpg_root / rel[d]
        try:
            out[d] = encode_image(path, size)
        except (OSError, ValueError) as exc:
            raise ImaxError(f"{path}: cannot read the image to embed it ({exc})") from None
    tick("embed images", len(ordered), len(ordered))
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where that is not available."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _replace(tmp: Path, out: Path) -> None:
    """Put the finished build under the final name. With an earlier build there, the two are exchanged in one
    step where the system allows it; elsewhere the old one is renamed aside first, and a kill between the two
    renames leaves it as ``.NAME.previous-PID``, which the next command restores (build.manifest.recover). The
    old build is removed last; Ctrl-C during that removal leaves it for the next command to tidy."""
    if not out.exists():
        tmp.rename(out)
        return
    if _exchange(tmp, out):
        old = tmp
    else:
        old = out.parent / f".{out.name}.previous-{os.getpid()}"
        out.rename(old)
        try:
            tmp.rename(out)
        except BaseException:
            old.rename(out)
            raise
    try:
        shutil.rmtree(old, ignore_errors=True)
    except KeyboardInterrupt:  # the new build is in place: its old copy can wait for the next command
        pass
