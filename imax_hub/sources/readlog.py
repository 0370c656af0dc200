"""What reading the sources saw besides the rows they return: the form each file came in, columns
ignored, rows set aside and why, text decoded with a fallback, versions not known to us.

Real downloads differ from the release notes in small ways (an extra column, a gunzipped CSV, ``320.0``
for an integer, one bad row among millions). The readers accept every variant that carries the same
data and set aside the rows they cannot use; this log is where they say so, and where a source's
share of unusable rows is held against ``--max-bad-rows`` once the whole file has been read.

``imax check`` and ``imax build`` open one with :func:`recording`; a reader called outside one reports
into a throwaway log with the default threshold, so it behaves the same either way.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from imax_hub.errors import SourceError

DEFAULT_MAX_BAD_ROWS = 0.01  # share of a file's rows that may be set aside as malformed before it is an error
_EXAMPLES = 5


@dataclass
class Example:
    """One set-aside row, for messages: its 0-based data record, the column and what was wrong."""

    record: int
    column: str | None
    message: str
    line: int | None = None  # known for files without multi-line values; else found when reported


@dataclass
class FileLog:
    path: Path
    form: str = ""  # e.g. "csv.gz", "csv", "zip", "folder", "json"
    rows: int = 0  # data rows read (before setting any aside)
    extra_columns: list[str] = field(default_factory=list)
    index_column: bool = False  # a leading unnamed index column (pandas' to_csv default) was dropped
    malformed: Counter = field(default_factory=Counter)  # reason -> rows set aside; held against the threshold
    handled: Counter = field(default_factory=Counter)  # reason -> rows set aside for a known, documented cause
    examples: list[Example] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    locate_line: Callable[[int], int | None] | None = None  # record -> line, for files with multi-line values
    settled: bool = False

    @property
    def set_aside(self) -> int:
        return sum(self.malformed.values()) + sum(self.handled.values())

    def add_examples(self, examples: list[Example]) -> None:
        self.examples = sorted(self.examples + examples, key=lambda e: e.record)[:_EXAMPLES]

    def lines(self) -> list[Example]:
        """The first examples with their line numbers filled in."""
        for e in self.examples:
            if e.line is None and self.locate_line is not None:
                e.line = self.locate_line(e.record)
        return self.examples


@dataclass
class ReadLog:
    max_bad_rows: float = DEFAULT_MAX_BAD_ROWS
    files: dict[Path, FileLog] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)  # project key -> notes (version, optional files)

    def file(self, path: Path) -> FileLog:
        path = Path(path)
        if path not in self.files:
            self.files[path] = FileLog(path)
        return self.files[path]

    def note(self, project_key: str, text: str) -> None:
        notes = self.notes.setdefault(project_key, [])
        if text not in notes:
            notes.append(text)

    def allowed(self, rows: int) -> int:
        """Malformed rows a file of ``rows`` rows may have: the share ``max_bad_rows`` of them, and always one
        (a single bad row never switches a source off) unless ``max_bad_rows`` is 0."""
        return max(int(self.max_bad_rows * rows), 1) if self.max_bad_rows > 0 else 0

    def settle(self, path: Path) -> None:
        """Fail when more than ``max_bad_rows`` of the file's rows were malformed (call once it is fully read)."""
        f = self.file(path)
        f.settled = True
        bad = sum(f.malformed.values())
        if bad <= self.allowed(f.rows):
            return
        examples = f.lines()
        where = "; ".join(
            (f"line {e.line}" if e.line else f"record {e.record + 1}") + (f" column {e.column!r}" if e.column else "")
            + f": {e.message}" for e in examples)
        first = examples[0] if examples else None
        raise SourceError(
            path,
            f"{bad:,} of {f.rows:,} rows cannot be used ({bad / f.rows:.1%}, more than --max-bad-rows "
            f"{self.max_bad_rows:g}); first: {where}",
            line=first.line if first else None,
            record=first.record + 1 if first and f.locate_line is not None else None,
            column=first.column if first else None,
            hint="fix or re-download the file; or raise --max-bad-rows to set such rows aside and build anyway",
        )

    def summary(self, root: Path | None = None) -> dict:
        """A JSON-ready summary (paths relative to ``root``; counts and line numbers, never cell values)."""
        out = {}
        for path, f in sorted(self.files.items()):
            name = str(path.relative_to(root)) if root is not None and path.is_relative_to(root) else path.name
            entry: dict = {"form": f.form, "rows": f.rows}
            if f.extra_columns:
                entry["extra_columns_ignored"] = list(f.extra_columns)
            if f.index_column:
                entry["index_column_dropped"] = True
            if f.malformed or f.handled:
                entry["set_aside"] = dict(sorted((f.malformed + f.handled).items()))
                entry["first_lines"] = [e.line if e.line is not None else f"record {e.record + 1}" for e in f.lines()]
            if f.notes:
                entry["notes"] = list(f.notes)
            out[name] = entry
        return out


_ACTIVE: contextvars.ContextVar[ReadLog | None] = contextvars.ContextVar("imax_read_log", default=None)


def current() -> ReadLog:
    """The log of the enclosing :func:`recording`, or a throwaway one with the default threshold."""
    log = _ACTIVE.get()
    return log if log is not None else ReadLog()


@contextlib.contextmanager
def recording(max_bad_rows: float = DEFAULT_MAX_BAD_ROWS) -> Iterator[ReadLog]:
    """Collect what the readers inside the block saw; ``max_bad_rows`` is the share of a file's rows that may
    be set aside as malformed before reading it is an error."""
    if not 0 <= max_bad_rows < 1:
        raise ValueError(f"max_bad_rows must be in [0, 1), not {max_bad_rows}")
    log = ReadLog(max_bad_rows=max_bad_rows)
    token = _ACTIVE.set(log)
    try:
        yield log
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def active(log: ReadLog) -> Iterator[ReadLog]:
    """Make an existing log the current one again (e.g. in a worker thread)."""
    token = _ACTIVE.set(log)
    try:
        yield log
    finally:
        _ACTIVE.reset(token)
