"""User-facing errors: each names the file, the place in it and what was expected."""

from __future__ import annotations

from pathlib import Path


class ImaxError(Exception):
    """An error caused by the user's input or environment; the CLI prints it without a traceback."""


class SourceError(ImaxError):
    """A source file does not match the format the spec describes."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        record: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ):
        self.path = Path(path)
        self.line = line
        self.record = record
        self.column = column
        self.detail = message
        self.hint = hint
        where = [str(self.path)]
        if line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(f"record {record}")
        if column is not None:
            where.append(f"column {column!r}")
        text = ", ".join(where) + f": {message}"
        if hint:
            text += f"\n  hint: {hint}"
        super().__init__(text)
