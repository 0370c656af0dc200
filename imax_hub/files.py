"""Small file helpers shared by the commands."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write all or nothing: a failed run never leaves a half-written file (or loses the previous one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    tmp.replace(path)


def is_local_path(name: str) -> bool:
    """Whether a model name is a local folder (or path) rather than a Hub id: local paths stay on this machine."""
    return name.startswith(("/", "~", ".")) or name.count("/") > 1 or Path(name).expanduser().exists()


def safe_name(model: str) -> str:
    """A run's name as a file name: ``imax eval`` writes ``imax_<safe_name>.json`` (cards cite that file)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "__", model.strip("/")) or "model"


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in 4 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
