"""CSV reading for the sources: pyarrow for speed, columns by name, rows rather than files as the unit of failure.

Every file is read as strings first (a gzipped file is recognised by its first bytes, whatever its
name), columns are chosen by name (extra columns are ignored and logged, a leading unnamed index column
that pandas' ``to_csv`` writes is dropped, a missing required column is an error naming what was
found), and each typed column is parsed by :class:`Rows`: a cell that cannot be used sets its row aside
with a reason, and only a file with more than ``--max-bad-rows`` of its rows set aside is an error
(:mod:`imax_hub.sources.readlog`). Values are read as common tools write them: ``320.0`` for an
integer (pandas writes integer columns with a missing value as floats), surrounding spaces.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from imax_hub.errors import SourceError
from imax_hub.sources import readlog
from imax_hub.sources.readlog import Example

_FLOAT = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_NAN = r"^\s*[-+]?(nan|NaN|NAN|inf|Inf|INF)\s*$"
_INTEGRAL_FLOAT = r"^([-+]?\d+)\.0*$"  # "320.0" -> "320"
_INT = r"^[-+]?\d{1,18}$"  # at most 18 digits: always inside int64, so the cast cannot overflow
_INDEX_NAMES = ("", "Unnamed: 0")  # what pandas' to_csv (and a re-read of its output) calls the index column
_DICOM_ID = r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$"
DICOM_EXAMPLE = "02aa804e-bde0afdd-112c0b34-7bc16630-4e384014"
_ID_RANGES = {"subject_id": (10_000_000, 19_999_999), "study_id": (50_000_000, 59_999_999)}


def file_forms(name: str) -> tuple[str, ...]:
    """The names a CSV may have on disk: as released, or gunzipped / gzipped by the user."""
    if name.endswith(".csv.gz"):
        return name, name[: -len(".gz")]
    if name.endswith(".csv"):
        return name, name + ".gz"
    return (name,)


def find_file(folder: Path, name: str) -> Path:
    """``folder/name`` in whichever form it was downloaded (see :func:`file_forms`)."""
    for form in file_forms(name):
        if (folder / form).is_file():
            return folder / form
    also = [f for f in file_forms(name)[1:]]
    raise SourceError(folder / name, "file not found" + (f" (nor {', '.join(also)})" if also else ""))


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def open_text(path: Path) -> io.TextIOBase:
    """Open a plain or gzipped text file (recognised by its first bytes)."""
    if is_gzip(path):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _stream(path: Path) -> pa.NativeFile:
    return pa.input_stream(str(path), compression="gzip" if is_gzip(path) else None)


def read_header(path: Path) -> list[str]:
    """The header row of a CSV file."""
    if not path.exists():
        raise SourceError(path, "file not found")
    try:
        with open_text(path) as fh:
            row = next(csv.reader(fh), None)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SourceError(path, f"cannot read the file ({exc}); it may be truncated or corrupt: download it again") from None
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text ({exc})", line=1) from None
    except csv.Error as exc:
        raise SourceError(path, f"malformed CSV header ({exc})", line=1) from None
    if not row:
        raise SourceError(path, "the file is empty; expected a CSV header", line=1)
    if row[0].startswith("\ufeff"):
        row[0] = row[0][1:]
    return row


def select_columns(path: Path, found: Sequence[str], required: Sequence[str], optional: Sequence[str] = (), *,
                   log: readlog.ReadLog) -> list[str]:
    """The columns to read: ``required`` (all must be there) and whichever of ``optional`` are.

    Unknown extra columns are logged and ignored; a leading unnamed index column is dropped; a missing
    required column or a column name given twice is an error naming the columns found.
    """
    log = log.file(path)
    names = list(found)
    if names and names[0] in _INDEX_NAMES and names[0] not in required:
        log.index_column = True
        names = names[1:]
    seen = set()
    for name in names:
        if name in seen:
            raise SourceError(path, f"column {name!r} appears more than once in the header; header has: {','.join(found)}",
                              line=1, column=name)
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise SourceError(
            path,
            f"missing column(s) {', '.join(repr(m) for m in missing)}; header has: {','.join(found)}",
            line=1,
        )
    wanted = set(required) | set(optional)
    log.extra_columns = [c for c in names if c not in wanted]
    return [c for c in names if c in wanted]


def line_of_record(path: Path, record: int) -> int | None:
    """1-based line number where data record ``record`` (0-based, after the header) starts."""
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh)
            next(reader, None)
            line = reader.line_num + 1
            for i, _ in enumerate(reader):
                if i == record:
                    return line
                line = reader.line_num + 1
    except Exception:  # noqa: BLE001 - only used to decorate a message that is already being made
        return None
    return None


class _InvalidRows:
    """pyarrow's invalid-row handler: rows whose field count differs from the header's are set aside."""

    def __init__(self, path: Path, ncols: int, log: readlog.ReadLog):
        self.log = log
        self.path = path
        self.ncols = ncols
        self.count = 0
        self.examples: list[Example] = []

    def __call__(self, row) -> str:
        self.count += 1
        if len(self.examples) < 5:
            # row.number counts CSV rows from 1 with the header (known when reading on one thread)
            record = row.number - 2 if row.number is not None else -1
            self.examples.append(Example(record, None, f"row has {row.actual_columns} fields, expected {self.ncols} "
                                                       "like the header"))
        return "skip"

    def report(self, multiline: bool) -> None:
        if not self.count:
            return
        log = self.log.file(self.path)
        log.malformed["wrong number of fields"] += self.count
        log.rows += self.count
        examples = self.examples
        if any(e.record < 0 for e in examples):  # a threaded reader does not know the rows: find them by a scan
            examples = [Example(r, None, f"row has {k} fields, expected {self.ncols} like the header")
                        for r, k in _malformed_records(self.path, self.ncols)]
        log.add_examples([e if multiline else Example(e.record, e.column, e.message, e.record + 2) for e in examples])
        if multiline and log.locate_line is None:
            log.locate_line = lambda record, path=self.path: line_of_record(path, record)


def _malformed_records(path: Path, ncols: int) -> list[tuple[int, int]]:
    """(record, field count) of the first five records whose field count differs from the header's."""
    found = []
    with open_text(path) as fh:
        reader = csv.reader(fh)
        next(reader, None)
        for i, row in enumerate(reader):
            if len(row) != ncols:
                found.append((i, len(row)))
                if len(found) == 5:
                    break
    return found


def _translate_read_error(path: Path, exc: Exception) -> SourceError:
    text = str(exc)
    if isinstance(exc, OSError) or "compressed" in text.lower() or "gzip" in text.lower():
        return SourceError(path, f"cannot read the file ({text}); it is truncated or corrupt: download it again")
    if "UTF8" in text or "utf-8" in text.lower():
        return SourceError(path, f"not UTF-8 text ({text})")
    return SourceError(path, f"malformed CSV: {text}")


def _options(path: Path, found: list[str], columns: list[str], newlines_in_values: bool, block_size: int,
             threads: bool, log: readlog.ReadLog) -> tuple:
    handler = _InvalidRows(path, len(found), log)
    read_opts = pacsv.ReadOptions(column_names=[f"{i}:{c}" for i, c in enumerate(found)], skip_rows=1,
                                  block_size=block_size, use_threads=threads)
    parse_opts = pacsv.ParseOptions(newlines_in_values=newlines_in_values, invalid_row_handler=handler)
    index = {c: f"{found.index(c)}:{c}" for c in columns}
    conv = pacsv.ConvertOptions(
        column_types={index[c]: pa.string() for c in columns},
        include_columns=[index[c] for c in columns],
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    return read_opts, parse_opts, conv, handler


def _named(table: pa.Table | pa.RecordBatch, columns: list[str]) -> pa.Table:
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    return table.rename_columns(columns)


def read_strings(
    path: Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    newlines_in_values: bool = False,
    block_size: int | None = None,
    log: readlog.ReadLog,
) -> pa.Table:
    """Read a CSV file's ``required`` (and present ``optional``) columns as strings (empty cells are nulls)."""
    found = read_header(path)
    columns = select_columns(path, found, required, optional, log=log)
    log.file(path).form = "csv.gz" if is_gzip(path) else "csv"
    read_opts, parse_opts, conv, handler = _options(path, found, columns, newlines_in_values, block_size or (1 << 24),
                                                    threads=False, log=log)
    try:
        table = pacsv.read_csv(_stream(path), read_options=read_opts, parse_options=parse_opts, convert_options=conv)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise _translate_read_error(path, exc) from None
    handler.report(newlines_in_values)
    return _named(table, columns)


def stream_strings(
    path: Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    newlines_in_values: bool = False,
    block_size: int = 1 << 25,
    log: readlog.ReadLog,
) -> Iterator[pa.Table]:
    """Stream a large CSV file as tables of string columns (see :func:`read_strings`); the caller settles the
    file's set-aside rows (:meth:`ReadLog.settle`) once the last block is done."""
    found = read_header(path)
    columns = select_columns(path, found, required, optional, log=log)
    log.file(path).form = "csv.gz" if is_gzip(path) else "csv"
    read_opts, parse_opts, conv, handler = _options(path, found, columns, newlines_in_values, block_size, threads=True,
                                                    log=log)
    try:
        reader = pacsv.open_csv(_stream(path), read_options=read_opts, parse_options=parse_opts, convert_options=conv)
        for batch in reader:
            yield _named(batch, columns)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise _translate_read_error(path, exc) from None
    handler.report(newlines_in_values)


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _mask(arr) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


class Rows:
    """Typed columns of one CSV table (or one block of a streamed file); a cell that cannot be used marks
    its row, which :meth:`finish` sets aside with the reason, counted in the read log.

    ``offset`` is the block's first data record in the file; ``multiline`` says records may span
    lines (line numbers are then found by a scan, only for the few rows a message names).
    """

    def __init__(self, path: Path, table: pa.Table, *, log: readlog.ReadLog, offset: int = 0, multiline: bool = False):
        self.log = log
        self.path = path
        self.table = table
        self.offset = offset
        self.multiline = multiline
        self.n = table.num_rows
        self.bad = np.zeros(self.n, dtype=bool)
        self.reasons: dict[str, int] = {}
        self.handled: dict[str, int] = {}
        self.examples: list[Example] = []

    def flag(self, mask: np.ndarray, reason: str, column: str | None, describe: Callable[[int], str], *,
             malformed: bool = True) -> None:
        """Set aside the rows in ``mask`` (those not already set aside) for ``reason``. ``malformed=False`` is for
        rows set aside for a known, documented cause: counted and reported, but not held against the threshold."""
        mask = np.asarray(mask, dtype=bool) & ~self.bad
        if not mask.any():
            return
        idx = np.flatnonzero(mask)
        self.bad |= mask
        if not malformed:
            self.handled[reason] = self.handled.get(reason, 0) + len(idx)
            return
        self.reasons[reason] = self.reasons.get(reason, 0) + len(idx)
        for i in idx[:5]:
            record = self.offset + int(i)
            self.examples.append(Example(record, column, describe(int(i)), None if self.multiline else record + 2))

    def value(self, name: str, i: int):
        return self.table.column(name)[i].as_py()

    def required(self, names: Sequence[str]) -> None:
        for name in names:
            col = self.table.column(name)
            if col.null_count:
                self.flag(_mask(pc.is_null(col)), f"{name}: empty", name, lambda i: "empty value where one is required")

    def int(self, name: str, dtype: pa.DataType = pa.int64(), *, lo: int | None = None, hi: int | None = None,
            expected: str | None = None) -> pa.Array:
        """Integers as written by common tools (``320``, ``320.0``, `` 320 ``); bad or out-of-range cells set
        their row aside (null in the result). ``lo``/``hi`` bound the value (default: the type's range)."""
        col = _column(self.table, name)
        text = pc.replace_substring_regex(pc.utf8_trim_whitespace(col), _INTEGRAL_FLOAT, r"\1")
        ok = _mask(pc.match_substring_regex(text, _INT))
        valid = _mask(pc.is_valid(col))
        what = expected or "an integer"
        self.flag(valid & ~ok, f"{name}: not an integer", name, lambda i: f"expected {what}, found {self.value(name, i)!r}")
        values = pc.cast(pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string())), pa.int64())
        info = np.iinfo(dtype.to_pandas_dtype())
        lo = info.min if lo is None else lo
        hi = info.max if hi is None else hi
        v = values.to_numpy(zero_copy_only=False)
        with np.errstate(invalid="ignore"):
            inside = ~ok | ((v >= lo) & (v <= hi))
        self.flag(~inside, f"{name}: out of range", name,
                  lambda i: f"expected {expected or f'an integer from {lo} to {hi}'}, found {self.value(name, i).strip()}")
        keep = ok & inside
        return pc.cast(pc.if_else(pa.array(keep), values, pa.scalar(None, pa.int64())), dtype)

    def float(self, name: str, *, allow_nan: bool = True, lo: float | None = None, hi: float | None = None,
              expected: str | None = None) -> pa.Array:
        """Numbers; ``nan``/``inf`` only with ``allow_nan``; bad cells set their row aside (null)."""
        col = _column(self.table, name)
        ok = _mask(pc.match_substring_regex(col, _FLOAT))
        if allow_nan:
            ok |= _mask(pc.match_substring_regex(col, _NAN))
        valid = _mask(pc.is_valid(col))
        what = expected or "a number"
        self.flag(valid & ~ok, f"{name}: not a number", name, lambda i: f"expected {what}, found {self.value(name, i)!r}")
        values = pc.cast(pc.utf8_trim_whitespace(pc.if_else(pa.array(ok), col, pa.scalar(None, pa.string()))),
                         pa.float64())
        if lo is not None or hi is not None:
            v = values.to_numpy(zero_copy_only=False)
            with np.errstate(invalid="ignore"):
                outside = ok & ~np.isnan(v) & (((v < lo) if lo is not None else False) | ((v > hi) if hi is not None else False))
            self.flag(outside, f"{name}: out of range", name,
                      lambda i: f"expected {expected or f'a number from {lo} to {hi}'}, found {self.value(name, i)!r}")
        return values

    def ids(self, *names: str) -> dict[str, pa.Array]:
        """The 8-digit MIMIC ``subject_id`` (1xxxxxxx) and ``study_id`` (5xxxxxxx) columns among ``names``, as int64."""
        out = {}
        for name in names:
            lo, hi = _ID_RANGES[name]
            out[name] = self.int(name, pa.int64(), lo=lo, hi=hi, expected=f"an 8-digit id starting with {str(lo)[0]}")
        return out

    def dicom_ids(self, name: str = "dicom_id") -> pa.Array:
        col = _column(self.table, name)
        ok = _mask(pc.match_substring_regex(col, _DICOM_ID))
        valid = _mask(pc.is_valid(col))
        self.flag(valid & ~ok, f"{name}: not a dicom_id", name,
                  lambda i: f"expected a dicom_id like {DICOM_EXAMPLE}, found {self.value(name, i)!r}")
        return col

    def one_of(self, name: str, allowed: Sequence[str]) -> pa.Array:
        col = _column(self.table, name)
        ok = _mask(pc.is_in(col, pa.array(list(allowed))))
        valid = _mask(pc.is_valid(col))
        self.flag(valid & ~ok, f"{name}: unknown value", name,
                  lambda i: f"expected one of {', '.join(allowed)}, found {self.value(name, i)!r}")
        return col

    def matches(self, name: str, pattern: str, expected: str) -> pa.Array:
        col = _column(self.table, name)
        ok = _mask(pc.match_substring_regex(col, pattern))
        valid = _mask(pc.is_valid(col))
        self.flag(valid & ~ok, f"{name}: malformed", name, lambda i: f"expected {expected}, found {self.value(name, i)!r}")
        return col

    def unique(self, *keys: str, seen: dict | None = None) -> None:
        """Each value of ``keys`` (one column, or several together) once. A row that repeats an earlier one
        exactly is set aside (the same row twice is one row: a documented rule, counted); rows that share the
        key but differ are an error naming both lines, since which one is right cannot be decided. ``seen``
        carries keys across the blocks of a streamed file, or across the files of one source."""
        strings = [pc.cast(_column(self.table, k), pa.string()) for k in keys]
        key_col = strings[0] if len(keys) == 1 else pc.binary_join_element_wise(*strings, "\x1f")
        if seen is None:
            counts = pc.value_counts(key_col)
            repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
            if len(repeated) == 0:
                return
            candidates = np.flatnonzero(_mask(pc.is_in(key_col, value_set=repeated)))
            seen = {}
        else:
            candidates = np.arange(self.n)
        whole = pc.binary_join_element_wise(
            *[pc.cast(_column(self.table, c), pa.string()) for c in self.table.column_names], "\x1f",
            null_handling="replace", null_replacement="\x00")
        take = pa.array(candidates, pa.int64())
        exact = np.zeros(self.n, dtype=bool)
        earlier: dict[int, int] = {}
        for i, value, text in zip(candidates, key_col.take(take).to_pylist(), whole.take(take).to_pylist()):
            if value is None or self.bad[i]:
                continue
            record = self.offset + int(i)
            if value not in seen:
                seen[value] = (self.path, self.multiline, record, hash(text))
                continue
            path, multiline, first, digest = seen[value]
            if path == self.path and digest == hash(text):
                exact[i] = True
                earlier[int(i)] = first
                continue
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, value.split("\x1f")))
            first_at = f"line {line_of_record(path, first) if multiline else first + 2}"
            if path != self.path:
                first_at += f" of {path}"
            raise SourceError(self.path, f"{shown} appears on {first_at} and again here with different values; "
                              "which one is right cannot be told: fix or re-download the file",
                              line=line_of_record(self.path, record) if self.multiline else record + 2,
                              column=keys[0])
        self.flag(exact, f"{'/'.join(keys)}: exact duplicate of an earlier row", keys[0],
                  lambda i: f"the same row as record {earlier[i] + 1}", malformed=False)

    def finish(self, columns: dict[str, pa.Array], *, settle: bool = True) -> pa.Table:
        """The table of ``columns`` without the rows set aside; logs them, and (``settle``) fails when the file's
        share of malformed rows is above the threshold. Streaming readers settle once, after the last block."""
        log = self.log
        f = log.file(self.path)
        f.rows += self.n
        for reason, k in self.reasons.items():
            f.malformed[reason] += k
        for reason, k in self.handled.items():
            f.handled[reason] += k
        f.add_examples(self.examples)
        if self.multiline and f.locate_line is None:
            f.locate_line = lambda record, path=self.path: line_of_record(path, record)
        table = pa.table(columns)
        if self.bad.any():
            table = table.filter(pa.array(~self.bad))
        if settle:
            log.settle(self.path)
        return table


def strip_prefix(table: pa.Table, name: str, prefix: str) -> pa.Table:
    """The column ``name`` with an optional letter prefix (``s50414267``) removed, for :meth:`Rows.int`."""
    col = pc.replace_substring_regex(pc.utf8_trim_whitespace(_column(table, name)), f"^{re.escape(prefix)}", "")
    return table.set_column(table.column_names.index(name), name, col)
