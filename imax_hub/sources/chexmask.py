"""CheXmask 1.0.0, MIMIC-CXR-JPG file: heart and lung masks as RLE, streamed, reduced to boxes.

The original-resolution file is gigabytes on the real data, so it is read in blocks and each block's
RLEs are turned into boxes straight from their runs (:mod:`imax_hub.geometry`); no mask is decoded.

``iter_chexmask`` yields tables with one row per image:
    dicom_id str; dice_rca_mean float64; dice_rca_max float64; height int32; width int32 (mask size,
    = the JPG's Rows/Columns at original resolution, 1024 in Preprocessed);
    right_lung_box, left_lung_box, heart_box: fixed-size list of 4 int32 ``x1, y1, x2, y2``, inclusive
    pixel coordinates (x = column, y = row), null for an empty mask ("Left Lung" is the *patient's*
    left lung, on the image's right); right_lung_area, left_lung_area, heart_area int64 (pixels);
    rca_ok bool (Dice RCA (Mean) above the threshold, default 0.7);
    landmarks: fixed-size list of 240 float32 (x, y of 120 points: right lung 0-43, left lung 44-93,
    heart 94-119), only with ``with_landmarks=True``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.errors import SourceError
from imax_hub.geometry import RLEError, boxes_from_rle_column
from imax_hub.sources import _csv
from imax_hub.sources.layout import CHEXMASK, require

HEADER = ["dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Landmarks", "Left Lung", "Right Lung", "Heart", "Height", "Width"]
MASKS = (("Right Lung", "right_lung"), ("Left Lung", "left_lung"), ("Heart", "heart"))
N_LANDMARK_VALUES = 240
DEFAULT_RCA_THRESHOLD = 0.7
FILES = {"original": "OriginalResolution/MIMIC-CXR-JPG.csv", "preprocessed": "Preprocessed/MIMIC-CXR-JPG.csv"}


@dataclass
class ChexmaskStats:
    """What a pass over the file saw besides the rows it returned."""

    rows: int = 0
    below_threshold: int = 0
    empty_masks: dict[str, int] = field(default_factory=lambda: {k: 0 for _, k in MASKS})
    unknown_images: int = 0  # dicom_ids absent from the metadata (dropped)


def chexmask_path(root: str | Path, resolution: str = "original") -> Path:
    if resolution not in FILES:
        raise ValueError(f"resolution must be 'original' or 'preprocessed', not {resolution!r}")
    return require(CHEXMASK, root) / FILES[resolution]


def _landmarks(path: Path, col: pa.ChunkedArray | pa.Array, offset: int, multiline: bool) -> pa.Array:
    """Landmarks in either file's encoding (flat ``"x,y,..."`` or a NumPy ``[[x y] ...]`` repr) as 240 floats."""
    # The spec: "pull all numbers with a regex and reshape to (-1, 2)", whatever the brackets and separators.
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    text = pc.utf8_trim(pc.replace_substring_regex(col, r"[^0-9.eE+-]+", " "), " ")
    lists = pc.split_pattern(text, " ")
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(counts != N_LANDMARK_VALUES)
    if bad.size:
        i = int(bad[0])
        raise _csv.fail_at(path, offset + i, "Landmarks",
                           f"expected 120 (x, y) points (240 numbers), found {int(counts[i])} numbers", multiline=multiline)
    try:
        values = pc.cast(pc.list_flatten(lists), pa.float32())
    except pa.ArrowInvalid:
        raise _csv.fail_at(path, offset, "Landmarks", "landmarks are not numbers", multiline=multiline) from None
    return pa.FixedSizeListArray.from_arrays(values, N_LANDMARK_VALUES)


def iter_chexmask(
    root: str | Path,
    *,
    resolution: str = "original",
    image_sizes: pa.Table | None = None,
    rca_threshold: float = DEFAULT_RCA_THRESHOLD,
    with_landmarks: bool = False,
    block_size: int = 1 << 26,
    stats: ChexmaskStats | None = None,
) -> Iterator[pa.Table]:
    """Stream the MIMIC CheXmask file as tables of boxes (see the module docstring).

    ``image_sizes`` (``dicom_id``, ``rows``, ``columns``, e.g. :func:`read_metadata`) makes every
    original-resolution row's Height/Width be checked against the JPG's Rows/Columns; rows whose
    dicom_id is not in it are dropped and counted in ``stats.unknown_images``.
    """
    path = chexmask_path(root, resolution)
    stats = stats if stats is not None else ChexmaskStats()
    multiline = True  # the original-resolution Landmarks field is a NumPy repr with embedded newlines
    offset = 0
    for batch in _csv.stream_strings(path, header=HEADER, newlines_in_values=True, block_size=block_size):
        t = pa.Table.from_batches([batch])
        n = t.num_rows
        for name in ("dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Height", "Width"):
            col = t.column(name)
            if col.null_count:
                i = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                raise _csv.fail_at(path, offset + i, name, "empty value where one is required", multiline=multiline)
        ids = t.column("dicom_id")
        ok = pc.match_substring_regex(ids, r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$").to_numpy(zero_copy_only=False)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            raise _csv.fail_at(path, offset + i, "dicom_id", f"expected a dicom_id, found {ids[i].as_py()!r}", multiline=multiline)
        heights = _cast(path, t, "Height", "int", pa.int32(), offset)
        widths = _cast(path, t, "Width", "int", pa.int32(), offset)
        h = heights.to_numpy(zero_copy_only=False).astype(np.int64)
        w = widths.to_numpy(zero_copy_only=False).astype(np.int64)
        bad = np.flatnonzero((h <= 0) | (w <= 0))
        if bad.size:
            raise _csv.fail_at(path, offset + int(bad[0]), "Height", "expected positive Height and Width", multiline=multiline)
        keep = np.ones(n, dtype=bool)
        if image_sizes is not None and resolution == "original":
            idx = pc.index_in(ids, value_set=image_sizes.column("dicom_id"))
            known = idx.is_valid().to_numpy(zero_copy_only=False)
            idx_i = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            rows = image_sizes.column("rows").to_numpy()[idx_i]
            cols = image_sizes.column("columns").to_numpy()[idx_i]
            mismatch = known & ((rows != h) | (cols != w))
            if mismatch.any():
                i = int(np.flatnonzero(mismatch)[0])
                raise _csv.fail_at(
                    path, offset + i, "Height",
                    f"mask size Height={h[i]} x Width={w[i]} disagrees with the image metadata Rows={rows[i]} x "
                    f"Columns={cols[i]} for dicom_id {ids[i].as_py()}",
                    multiline=multiline,
                )
            stats.unknown_images += int((~known).sum())
            keep = known
        rca_mean = _cast(path, t, "Dice RCA (Mean)", "float", pa.float64(), offset)
        rca_max = _cast(path, t, "Dice RCA (Max)", "float", pa.float64(), offset)
        out = {"dicom_id": ids, "dice_rca_mean": rca_mean, "dice_rca_max": rca_max, "height": heights, "width": widths}
        areas = {}
        for column, key in MASKS:
            try:
                rb = boxes_from_rle_column(t.column(column), h, w)
            except RLEError as exc:
                raise _csv.fail_at(path, offset + exc.index, column, str(exc), multiline=multiline) from None
            flat = pa.array(rb.boxes.reshape(-1), pa.int32())
            out[f"{key}_box"] = pa.FixedSizeListArray.from_arrays(flat, 4, mask=pa.array(rb.empty))
            areas[f"{key}_area"] = pa.array(rb.areas, pa.int64())
            stats.empty_masks[key] += int(rb.empty[keep].sum())
        out.update(areas)
        ok_rca = pc.greater(rca_mean, rca_threshold)
        out["rca_ok"] = ok_rca
        if with_landmarks:
            out["landmarks"] = _landmarks(path, t.column("Landmarks"), offset, multiline)
        table = pa.table(out)
        if not keep.all():
            table = table.filter(pa.array(keep))
        stats.rows += table.num_rows
        stats.below_threshold += int(pc.sum(pc.invert(table.column("rca_ok"))).as_py() or 0)
        offset += n
        yield table


def _cast(path: Path, t: pa.Table, name: str, kind: str, dtype: pa.DataType, offset: int) -> pa.Array:
    try:
        return _csv.cast_column(path, t, name, kind, dtype, multiline=False)
    except SourceError as exc:
        # re-anchor the record number of this block to the whole file
        record = (exc.line or 2) - 2
        raise _csv.fail_at(path, offset + record, name, exc.detail, multiline=True) from None


def read_chexmask(root: str | Path, **kwargs) -> pa.Table:
    """The whole file as one table of boxes (streamed; see :func:`iter_chexmask`)."""
    tables = list(iter_chexmask(root, **kwargs))
    if not tables:
        return pa.table({"dicom_id": pa.array([], pa.string())})
    return pa.concat_tables(tables)
