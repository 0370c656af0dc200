"""Small file helpers shared by the commands."""

from __future__ import annotations

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
