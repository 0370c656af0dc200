"""CSV reading for the sources: pyarrow for speed, exact header checks, and errors that name file, line and column.

pyarrow reports neither the line of a bad value nor of a short row, so every file is read as strings
first, each typed column is cast afterwards, and on failure the offending record is located with a
vectorised check (or, for malformed rows, a scan with the standard csv module on the error path only).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from imax_hub.errors import SourceError

_PATTERNS = {
    "int": r"^\s*[-+]?\d+\s*$",
    "float": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$|^\s*[-+]?(nan|NaN|inf|Inf)\s*$",
}
_EXPECTED = {"int": "an integer", "float": "a number"}


def open_text(path: Path) -> io.TextIOBase:
    """Open a plain or gzipped text file (by suffix)."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


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
    if not row:
        raise SourceError(path, "the file is empty; expected a CSV header", line=1)
    if row[0].startswith("\ufeff"):
        row[0] = row[0][1:]
    return row


def check_header(path: Path, found: Sequence[str], expected: Sequence[str]) -> None:
    """Fail unless ``found`` equals ``expected`` exactly (names and order)."""
    if list(found) == list(expected):
        return
    for i, (f, e) in enumerate(zip(found, expected)):
        if f != e:
            raise SourceError(
                path,
                f"unexpected header: column {i + 1} is {f!r}, expected {e!r} (expected header: {','.join(expected)})",
                line=1,
                column=f,
            )
    raise SourceError(
        path,
        f"unexpected header: {len(found)} columns, expected {len(expected)} ({','.join(expected)})",
        line=1,
    )


def check_required(path: Path, found: Sequence[str], required: Sequence[str]) -> None:
    """Fail unless every name in ``required`` is a column (in any order)."""
    missing = [c for c in required if c not in found]
    if missing:
        raise SourceError(
            path,
            f"missing column(s) {', '.join(repr(m) for m in missing)}; header has: {','.join(found)}",
            line=1,
        )


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
    except Exception:  # noqa: BLE001 - only used to decorate an error that is already being raised
        return None
    return None


def _find_malformed_row(path: Path, ncols: int) -> tuple[int, int] | None:
    """(line, field count) of the first record whose field count differs from the header's."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        next(reader, None)
        line = reader.line_num + 1
        for row in reader:
            if len(row) != ncols:
                return line, len(row)
            line = reader.line_num + 1
    return None


def _translate_read_error(path: Path, exc: Exception, ncols: int) -> SourceError:
    text = str(exc)
    if isinstance(exc, OSError) or "compressed" in text.lower() or "gzip" in text.lower():
        return SourceError(path, f"cannot read the file ({text}); it is truncated or corrupt: download it again")
    if "Expected" in text and "columns" in text:
        found = _find_malformed_row(path, ncols)
        if found:
            line, n = found
            return SourceError(path, f"row has {n} fields, expected {ncols} like the header", line=line)
    return SourceError(path, f"malformed CSV: {text}")


def fail_at(path: Path, record: int, column: str | None, message: str, *, multiline: bool = False) -> SourceError:
    """Build an error for data record ``record`` (0-based), with its line number."""
    line = line_of_record(path, record) if multiline else record + 2
    return SourceError(path, message, line=line, record=record + 1 if multiline else None, column=column)


def cast_column(path: Path, table: pa.Table, name: str, kind: str, dtype: pa.DataType, *, multiline: bool = False) -> pa.Array:
    """Cast a string column to ``dtype``; on failure, name the first bad record."""
    col = table.column(name)
    try:
        if kind == "int":
            return pc.cast(pc.utf8_trim_whitespace(col), dtype)
        return pc.cast(col, dtype)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        ok = pc.match_substring_regex(col, _PATTERNS[kind])
        bad = pc.and_(pc.is_valid(col), pc.invert(ok))
        idx = np.flatnonzero(bad.to_numpy(zero_copy_only=False))
        if len(idx) == 0:  # the values look right but overflow the type
            idx = np.array([0])
        i = int(idx[0])
        value = col[i].as_py()
        raise fail_at(path, i, name, f"expected {_EXPECTED[kind]}, found {value!r}", multiline=multiline) from None


def require_non_null(path: Path, table: pa.Table, names: Sequence[str], *, multiline: bool = False) -> None:
    """Fail on the first empty cell in any of ``names``."""
    for name in names:
        col = table.column(name)
        if col.null_count:
            i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
            raise fail_at(path, i, name, "empty value where one is required", multiline=multiline)


def read_strings(
    path: Path,
    *,
    header: Sequence[str] | None = None,
    required: Sequence[str] | None = None,
    newlines_in_values: bool = False,
    block_size: int | None = None,
) -> pa.Table:
    """Read a CSV file as a table of string columns (empty cells are nulls) after checking its header."""
    found = read_header(path)
    if header is not None:
        check_header(path, found, header)
    if required is not None:
        check_required(path, found, required)
    read_opts = pacsv.ReadOptions(column_names=found, skip_rows=1, block_size=block_size or (1 << 24))
    parse_opts = pacsv.ParseOptions(newlines_in_values=newlines_in_values)
    conv = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in found},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    try:
        return pacsv.read_csv(path, read_options=read_opts, parse_options=parse_opts, convert_options=conv)
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise _translate_read_error(path, exc, len(found)) from None


def stream_strings(
    path: Path,
    *,
    header: Sequence[str],
    newlines_in_values: bool = False,
    block_size: int = 1 << 25,
) -> Iterator[pa.RecordBatch]:
    """Stream a large CSV file as record batches of strings after checking its header exactly."""
    found = read_header(path)
    check_header(path, found, header)
    read_opts = pacsv.ReadOptions(column_names=found, skip_rows=1, block_size=block_size, use_threads=True)
    parse_opts = pacsv.ParseOptions(newlines_in_values=newlines_in_values)
    conv = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in found}, strings_can_be_null=True, null_values=[""]
    )
    try:
        reader = pacsv.open_csv(path, read_options=read_opts, parse_options=parse_opts, convert_options=conv)
        for batch in reader:
            yield batch
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise _translate_read_error(path, exc, len(found)) from None


_DICOM_ID = r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$"


def check_dicom_ids(path: Path, table: pa.Table, name: str = "dicom_id", *, multiline: bool = False) -> None:
    """Fail on the first dicom_id that is not five dash-joined groups of 8 lower-case hex digits."""
    col = table.column(name)
    ok = pc.match_substring_regex(col, _DICOM_ID)
    bad = np.flatnonzero(~ok.to_numpy(zero_copy_only=False).astype(bool))
    if len(bad):
        i = int(bad[0])
        raise fail_at(
            path, i, name,
            f"expected a dicom_id like 02aa804e-bde0afdd-112c0b34-7bc16630-4e384014, found {col[i].as_py()!r}",
            multiline=multiline,
        )


def strip_prefix_int(path: Path, table: pa.Table, name: str, prefix: str) -> pa.Array:
    """Parse ids written with an optional letter prefix (``s50414267``) as int64."""
    col = pc.utf8_trim_whitespace(table.column(name))
    col = pc.replace_substring_regex(col, f"^{re.escape(prefix)}", "")
    return cast_column(path, pa.table({name: col}), name, "int", pa.int64())
