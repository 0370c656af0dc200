"""CheXmask 1.0.0, MIMIC-CXR-JPG file: heart and lung masks as RLE, streamed, reduced to boxes.

The original-resolution file is gigabytes on the real data, so it is read in blocks and each block's
RLEs are turned into boxes straight from their runs (:mod:`imax_hub.geometry`); no mask is decoded.

``iter_chexmask`` yields tables with one row per image:
    dicom_id str; dice_rca_mean float64; dice_rca_max float64 (null when the column is absent); height int32;
    width int32 (the JPG's Rows/Columns when ``image_sizes`` is given, else the file's Height/Width; 1024 in
    Preprocessed); size_swapped bool (the row was written on a Columns x Rows canvas, see below);
    right_lung_box, left_lung_box, heart_box: fixed-size list of 4 int32 ``x1, y1, x2, y2``, inclusive
    pixel coordinates (x = column, y = row), null for an empty mask ("Left Lung" is the *patient's*
    left lung, on the image's right); right_lung_area, left_lung_area, heart_area int64 (pixels);
    rca_ok bool (Dice RCA (Mean) above the threshold, default 0.7);
    landmarks: fixed-size list of 240 float32 (x, y of 120 points: right lung 0-43, left lung 44-93,
    heart 94-119), only with ``with_landmarks=True``.

Layout evidence: PhysioNet's chexmask-cxr-segmentation-data 1.0.0 ``README.md`` and ``DATA_DICTIONARY.md``
(columns, RLE) and the authors' ngaggion/CheXmask-Database code: ``DataPostprocessing/utils.py``
(``get_mask_from_RLE``: 1-based starts, row-major, ``reshape((height, width))``) and
``DataPostprocessing/ReversePreprocessing/back_mimic.py`` (how the original-resolution file was written).
Columns are taken by name (the data dictionary lists ``Dice RCA (Max)`` before ``(Mean)``); the file may
be plain or gzipped.

Rows whose Height/Width are the JPG's Columns/Rows (swapped). ``back_mimic.py`` reads the padding table
(written by ``DataPreparation/mimic.py`` as ``filename,height,width,...`` from ``img.shape[:2]``, i.e.
height = rows) with ``height, width = pad_row["width"], pad_row["height"]``: the two are swapped. It then
draws the landmark polygons with ``cv2.drawContours`` on ``np.zeros([height, width])`` -- a canvas of
Columns x Rows -- at the landmarks' own (x = column, y = row) pixel positions of the JPG, flattens that
canvas row-major into the RLE and writes ``Height: height, Width: width``. So such an RLE, decoded as the
official decoder does with the file's own Height and Width, puts every pixel at its true (row, column) in
the JPG: the mask lies in the image's frame, on a canvas of the wrong shape. What falls outside that
canvas was clipped away (on a portrait image, everything below row = Columns). Decision: decode such a row
in its written frame, keep its boxes (image coordinates, the JPG's true size for the 0-1000 grid) when
no mask touches the canvas edge that is short of the image, and set aside -- counted, not held against
``--max-bad-rows`` -- a row whose mask touches that edge (it may have been clipped) or lies outside the
JPG. Any other disagreement with the JPG metadata sets the row aside as malformed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.geometry import boxes_from_rle_column
from imax_hub.sources import _csv, readlog
from imax_hub.sources.layout import CHEXMASK, require

HEADER = ["dicom_id", "Dice RCA (Mean)", "Dice RCA (Max)", "Landmarks", "Left Lung", "Right Lung", "Heart", "Height", "Width"]
REQUIRED = ["dicom_id", "Dice RCA (Mean)", "Left Lung", "Right Lung", "Heart", "Height", "Width"]
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
    swapped: int = 0  # rows written on a Columns x Rows canvas, read in their frame (see the module docstring)


def chexmask_path(root: str | Path, resolution: str = "original") -> Path:
    if resolution not in FILES:
        raise ValueError(f"resolution must be 'original' or 'preprocessed', not {resolution!r}")
    folder, name = FILES[resolution].split("/")
    return _csv.find_file(require(CHEXMASK, root) / folder, name)


def _landmarks(rows: _csv.Rows) -> pa.Array:
    """Landmarks in either file's encoding (flat ``"x,y,..."`` or a NumPy ``[[x y] ...]`` repr) as 240 floats."""
    # The spec: "pull all numbers with a regex and reshape to (-1, 2)", whatever the brackets and separators.
    col = rows.table.column("Landmarks")
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    col = pc.fill_null(col, "")
    text = pc.utf8_trim(pc.replace_substring_regex(col, r"[^0-9.eE+-]+", " "), " ")
    lists = pc.split_pattern(text, " ")
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    numeric = pc.match_substring_regex(text, r"^[-+]?[0-9.]+([eE][-+]?\d+)?( [-+]?[0-9.]+([eE][-+]?\d+)?)*$")
    bad = (counts != N_LANDMARK_VALUES) | ~numeric.to_numpy(zero_copy_only=False)
    rows.flag(bad, "Landmarks: not 120 points", "Landmarks",
              lambda i: f"expected 120 (x, y) points (240 numbers), found {int(counts[i])} values")
    good = np.flatnonzero(~bad)
    values = np.full((len(counts), N_LANDMARK_VALUES), np.nan, dtype=np.float32)
    if good.size:
        kept = pc.list_flatten(lists.take(pa.array(good)))
        values[good] = pc.cast(kept, pa.float32()).to_numpy().reshape(-1, N_LANDMARK_VALUES)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), N_LANDMARK_VALUES)


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
    original-resolution row's Height/Width be checked against the JPG's Rows/Columns (equal, swapped, or
    the row is set aside); rows whose dicom_id is not in it are dropped and counted in ``stats.unknown_images``.
    Rows that cannot be used are set aside (:mod:`imax_hub.sources.readlog`); the file's share of malformed
    rows is held against ``--max-bad-rows`` after the last block.
    """
    log = readlog.current()
    path = chexmask_path(root, resolution)
    stats = stats if stats is not None else ChexmaskStats()
    required = REQUIRED + (["Landmarks"] if with_landmarks else [])
    offset = 0
    seen: dict = {}
    # the original-resolution Landmarks field is a NumPy repr with embedded newlines
    for t in _csv.stream_strings(path, required=required, optional=HEADER, newlines_in_values=True,
                                 block_size=block_size, log=log):
        n = t.num_rows
        rows = _csv.Rows(path, t, log=log, offset=offset, multiline=True)
        rows.required(["dicom_id", "Dice RCA (Mean)", "Height", "Width"])
        ids = rows.dicom_ids()
        heights = rows.int("Height", pa.int32(), lo=1, expected="a positive mask height in pixels")
        widths = rows.int("Width", pa.int32(), lo=1, expected="a positive mask width in pixels")
        h = pc.fill_null(heights, 1).to_numpy(zero_copy_only=False).astype(np.int64)
        w = pc.fill_null(widths, 1).to_numpy(zero_copy_only=False).astype(np.int64)
        rca_mean = rows.float("Dice RCA (Mean)", allow_nan=False, lo=0.0, hi=1.0, expected="a Dice score in [0, 1]")
        rca_max = (rows.float("Dice RCA (Max)", allow_nan=False, lo=0.0, hi=1.0, expected="a Dice score in [0, 1]")
                   if "Dice RCA (Max)" in t.column_names else pa.nulls(n, pa.float64()))
        rows.unique("dicom_id", seen=seen)
        image_h, image_w = h, w
        keep = np.ones(n, dtype=bool)
        swapped = np.zeros(n, dtype=bool)
        if image_sizes is not None and resolution == "original":
            idx = pc.index_in(ids, value_set=image_sizes.column("dicom_id"))
            known = idx.is_valid().to_numpy(zero_copy_only=False)
            idx_i = pc.fill_null(idx, 0).to_numpy(zero_copy_only=False).astype(np.int64)
            img_rows = image_sizes.column("rows").to_numpy()[idx_i].astype(np.int64)
            img_cols = image_sizes.column("columns").to_numpy()[idx_i].astype(np.int64)
            same = (img_rows == h) & (img_cols == w)
            swapped = known & ~same & (img_rows == w) & (img_cols == h)
            rows.flag(known & ~same & ~swapped, "Height/Width disagree with the JPG metadata", "Height",
                      lambda i: f"mask size Height={h[i]} x Width={w[i]} disagrees with the image metadata "
                                f"Rows={img_rows[i]} x Columns={img_cols[i]} for dicom_id {ids[i].as_py()}")
            image_h = np.where(known, img_rows, h)
            image_w = np.where(known, img_cols, w)
            stats.unknown_images += int((~known).sum())
            keep = known
        out = {"dicom_id": ids, "dice_rca_mean": rca_mean, "dice_rca_max": rca_max,
               "height": pa.array(image_h, pa.int32()), "width": pa.array(image_w, pa.int32())}
        areas = {}
        for column, key in MASKS:
            # decoded in the file's own frame (its Height x Width), as the official decoder does
            rb = boxes_from_rle_column(t.column(column), h, w, errors="collect")
            bad = np.zeros(n, dtype=bool)
            bad[list(rb.errors)] = True
            rows.flag(bad, f"{column}: bad RLE", column, lambda i: rb.errors[i])
            boxes = rb.boxes.astype(np.int64)
            clipped = swapped & ~rb.empty & (((boxes[:, 3] == h - 1) & (h < image_h))
                                             | ((boxes[:, 2] == w - 1) & (w < image_w)))
            outside = swapped & ~rb.empty & ((boxes[:, 2] >= image_w) | (boxes[:, 3] >= image_h))
            rows.flag(outside, "swapped Height/Width: mask outside the JPG", column,
                      lambda i: "mask lies outside the JPG", malformed=False)
            rows.flag(clipped, "swapped Height/Width: mask may be clipped", column,
                      lambda i: "mask touches the edge of a canvas smaller than the JPG", malformed=False)
            flat = pa.array(rb.boxes.reshape(-1), pa.int32())
            out[f"{key}_box"] = pa.FixedSizeListArray.from_arrays(flat, 4, mask=pa.array(rb.empty))
            areas[f"{key}_area"] = pa.array(rb.areas, pa.int64())
            stats.empty_masks[key] += int((rb.empty & keep & ~rows.bad).sum())
        out.update(areas)
        out["rca_ok"] = pc.fill_null(pc.greater(rca_mean, rca_threshold), False)
        out["size_swapped"] = pa.array(swapped)
        if with_landmarks:
            out["landmarks"] = _landmarks(rows)
        stats.swapped += int((swapped & ~rows.bad).sum())
        # rows of images absent from the metadata are dropped (counted above), not set aside as bad
        table = rows.finish(out | {"_keep": pa.array(keep)}, settle=False)
        table = table.filter(table.column("_keep")).drop_columns(["_keep"])
        stats.rows += table.num_rows
        stats.below_threshold += int(pc.sum(pc.invert(table.column("rca_ok"))).as_py() or 0)
        offset += n
        yield table
    log.settle(path)


def read_chexmask(root: str | Path, **kwargs) -> pa.Table:
    """The whole file as one table of boxes (streamed; see :func:`iter_chexmask`)."""
    tables = list(iter_chexmask(root, **kwargs))
    if not tables:
        return pa.table({"dicom_id": pa.array([], pa.string())})
    return pa.concat_tables(tables)
