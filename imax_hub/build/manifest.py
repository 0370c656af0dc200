"""The one reader of a build folder: its manifest, the configs its card declares, its test rows and train
shards, the public form of its build command, and its fingerprint. Nothing else opens ``build_manifest.json``.

Layout: ``data/<task>/<split>-NNNNN-of-NNNNN.parquet`` (IMAX, one folder per task),
``data/dmax-<task>/train-…`` (DMAX), ``data/pseudo_imax/train-…`` (after ``imax pseudo-label``); the
``imax`` and ``dmax`` configs are the unions of their task folders, so no row is stored twice, and DMAX's
test split *is* IMAX's test split.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shlex
import shutil
from pathlib import Path

from imax_hub.errors import ImaxError
from imax_hub.files import write_atomic
from imax_hub.tasks.registry import names

MANIFEST = "build_manifest.json"
DEFAULT_DATASET = "./imax"  # where evaluation looks for a build when none is named (or IMAX_DATASET)
EVAL_PREFIX = "eval-"
PSEUDO_CONFIG = "pseudo_imax"
STAGE3_CONFIG = "pseudo_imax-stage3"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def recover(out: str | Path) -> list[str]:
    """Tidy what interrupted builds left beside ``out``: the temporary ``.NAME.building-PID`` folders of dead
    processes are removed, and a ``.NAME.previous-PID`` build that a kill caught between two renames is put back
    under ``NAME`` when that is missing (else removed). Returns what was done, one line each."""
    out = Path(out)
    done = []
    if not out.parent.is_dir():
        return done
    for kind in ("building", "previous"):
        for left in sorted(out.parent.glob(f".{glob.escape(out.name)}.{kind}-*")):
            pid = left.name.rsplit("-", 1)[-1]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            if kind == "previous" and not out.exists() and (left / MANIFEST).is_file():
                left.rename(out)
                done.append(f"restored the build {out} that an interrupted build had set aside")
            else:
                shutil.rmtree(left, ignore_errors=True)
                done.append(f"removed {left.name}, left by an interrupted build")
    return done


def is_build(folder: str | Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: str | Path) -> dict:
    """A build folder's manifest, or a clear error (after tidying what an interrupted build left beside it)."""
    recover(folder)
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise ImaxError(f"{path} not found: is {folder} really a build? It must be a folder written by `imax build`")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ImaxError(f"{path}: cannot read the build manifest ({exc}); rebuild the folder") from None


def write_manifest(folder: str | Path, manifest: dict) -> None:
    write_atomic(Path(folder) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def resolve_dataset(dataset: str | os.PathLike | None = None) -> str:
    """A local folder (made absolute) or a Hub repo id, from the argument, ``IMAX_DATASET`` or ``./imax``."""
    value = str(dataset or os.environ.get("IMAX_DATASET") or DEFAULT_DATASET)
    path = Path(value).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return value


def dataset_fingerprint(dataset: str | Path) -> str | None:
    """The fingerprint of the ``imax`` config (its shards hold the shared test split) of a local build folder
    (:func:`config_fingerprint`); None for anything else (a Hub repo id)."""
    return config_fingerprint(read_manifest(dataset), "imax") if is_build(dataset) else None


def config_fingerprint(manifest: dict, config: str) -> str:
    """sha256 over the shards one config reads (all its splits): what results, cards and training recipes cite.

    The build's own ``fingerprint`` covers every shard, so it changes when ``imax pseudo-label`` adds the
    pseudo-IMAX configs; a config's fingerprint changes only when a row it reads does."""
    layout = {c["name"]: c for c in config_layout(manifest["shards"])}
    if config not in layout:
        raise ImaxError(f"the build has no config {config!r} (configs: {', '.join(layout)})")
    read = {(pattern.split("/")[1], split) for split, part in layout[config]["splits"].items() for pattern in part["paths"]}
    return fingerprint([s for s in manifest["shards"] if (s["config_dir"], s["split"]) in read])


def configs(folder: str | Path) -> dict[str, dict]:
    """The configs of a build, by name (see :func:`config_layout`)."""
    return {c["name"]: c for c in config_layout(read_manifest(folder)["shards"])}


def config_layout(shards: list[dict]) -> list[dict]:
    """The card's configs: ``imax`` (default), ``dmax``, one per task for both, and ``eval-<task>`` (the shared
    test split of one task with undecoded images, for evaluation), from the shards written."""
    have: dict[tuple[str, str], dict] = {}
    for s in shards:
        entry = have.setdefault((s["config_dir"], s["split"]), {"rows": 0, "arrow_bytes": 0})
        entry["rows"] += s["rows"]
        entry["arrow_bytes"] += s["arrow_bytes"]

    def test_dir(task: str) -> str | None:
        for d in (task, f"dmax-{task}"):
            if (d, "test") in have:
                return d
        return None

    configs = []

    def add(name: str, what: str, parts: dict[str, list[str]], default: bool = False, decode: bool = True,
            pseudo: bool = False) -> None:
        splits = {}
        for split, dirs in parts.items():
            dirs = [d for d in dirs if d and (d, split) in have]
            if dirs:
                splits[split] = {"paths": [f"data/{d}/{split}-*" for d in dirs],
                                 "rows": sum(have[(d, split)]["rows"] for d in dirs),
                                 "arrow_bytes": sum(have[(d, split)]["arrow_bytes"] for d in dirs)}
        if splits:
            configs.append({"name": name, "what": what, "default": default, "splits": splits, "decode_image": decode,
                            "pseudo": pseudo})

    imax_tasks = [t for t in names() if (t, "train") in have or (t, "test") in have]
    dmax_tasks = [t for t in names() if (f"dmax-{t}", "train") in have]
    if imax_tasks:
        add("imax", "IMAX: all tasks, image-centric", {"train": imax_tasks, "test": imax_tasks}, default=True)
    if dmax_tasks:
        add("dmax", "DMAX: all tasks, decentralised (test = IMAX test)",
            {"train": [f"dmax-{t}" for t in dmax_tasks], "test": [test_dir(t) for t in dmax_tasks]},
            default=not imax_tasks)
    for t in imax_tasks:
        add(t, f"IMAX, {t} only", {"train": [t], "test": [t]})
    for t in dmax_tasks:
        add(f"dmax-{t}", f"DMAX, {t} only", {"train": [f"dmax-{t}"], "test": [test_dir(t)]})
    if (PSEUDO_CONFIG, "train") in have:  # the three-stage strategy (imax pseudo-label)
        add(PSEUDO_CONFIG, "pseudo-IMAX (stage 2): DMAX's real rows + pseudo-labels (`origin`); train only",
            {"train": [PSEUDO_CONFIG]}, pseudo=True)
        add(STAGE3_CONFIG, "stage 3: DMAX fine-tuning after pseudo-IMAX (the dmax rows)",
            {"train": [f"dmax-{t}" for t in dmax_tasks], "test": [test_dir(t) for t in dmax_tasks]})
    for t in names():
        add(f"{EVAL_PREFIX}{t}", f"{t} test split, image as a path (for evaluation harnesses)", {"test": [test_dir(t)]},
            decode=False)
    return configs


def train_shards(folder: Path, config: str) -> tuple[dict, list[Path]]:
    """(manifest, train shard files) of a build's config, or a clear error naming the configs that have a train split."""
    manifest = read_manifest(folder)
    configs = {c["name"]: c for c in config_layout(manifest["shards"])}
    if config not in configs or "train" not in configs[config]["splits"]:
        have = ", ".join(n for n, c in configs.items() if "train" in c["splits"])
        raise ImaxError(f"{folder} has no train split for config {config!r} (configs with one: {have})")
    return manifest, [p for pattern in configs[config]["splits"]["train"]["paths"]
                      for p in sorted(Path(folder).glob(pattern + ".parquet"))]


def load_rows(folder: Path, config: str, split: str, columns: list[str]) -> list[dict]:
    """``columns`` of every row of one split of a build's config, in shard order; a clear error naming the configs
    and splits there are."""
    import pyarrow.parquet as pq

    manifest = read_manifest(folder)
    layout = {c["name"]: c for c in config_layout(manifest["shards"])}
    if config not in layout or split not in layout[config]["splits"]:
        have = "; ".join(f"{n}: {', '.join(c['splits'])}" for n, c in layout.items() if not n.startswith(EVAL_PREFIX))
        raise ImaxError(f"{folder} has no {split} split in config {config!r} (configs and splits: {have})")
    rows = []
    for pattern in layout[config]["splits"][split]["paths"]:
        for path in sorted(Path(folder).glob(pattern if pattern.endswith(".parquet") else pattern + ".parquet")):
            rows += pq.read_table(path, columns=columns).to_pylist()
    return rows


def load_test_rows(folder: Path, config: str = "imax") -> tuple[list[dict], str]:
    """Test rows (id, task, subtask, answer, target) of a built folder's config, sorted by id; and the config's
    fingerprint."""
    rows = load_rows(folder, config, "test", ["id", "task", "subtask", "answer", "target"])
    rows.sort(key=lambda r: r["id"])
    return rows, config_fingerprint(read_manifest(folder), config)


def public_command(manifest: dict) -> str:
    """The build command with local paths masked: cards and results travel, local paths must not.

    Masked by argument, never as a substring (a root named ``phys`` must not turn ``--physionet-root`` into
    ``--PHYSIONET_ROOTionet-root``): the value of ``--physionet-root`` becomes ``PHYSIONET_ROOT`` and that of
    ``--out`` its last component (the dataset's name)."""
    try:
        words = shlex.split(manifest["command"])
    except ValueError:  # an older build wrote the command unquoted
        words = manifest["command"].split()
    masks = {"--physionet-root": lambda v: "PHYSIONET_ROOT", "--out": lambda v: Path(v).name or v}
    out = []
    pending = None
    for word in words:
        name, eq, value = word.partition("=")
        if pending is not None:
            out.append(pending(word))
            pending = None
        elif word in masks:
            out.append(word)
            pending = masks[word]
        elif eq and name in masks:
            out.append(f"{name}={masks[name](value)}")
        else:
            out.append(word)
    return shlex.join(out)


def fingerprint(shards: list[dict]) -> str:
    """sha256 over every shard's path and sha256: changes whenever any row does."""
    h = hashlib.sha256()
    for s in sorted(shards, key=lambda s: s["path"]):
        h.update(f"{s['path']}\0{s['sha256']}\n".encode())
    return h.hexdigest()[:16]
