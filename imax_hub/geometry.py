"""CheXmask run-length encoding, boxes straight from runs, and polygon masks.

RLE convention (CheXmask ``DataPostprocessing/utils.py``): space-separated ``start length`` pairs;
starts are **1-based** indices into the mask flattened in row-major order (index = row * width + col + 1);
foreground only; runs sorted and non-overlapping. Boxes are inclusive pixel boxes
``(x1, y1, x2, y2)`` with x = column and y = row, top-left origin.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class RLEError(ValueError):
    """An RLE string that cannot describe a mask of the given size."""

    def __init__(self, index: int, message: str):
        self.index = index  # position of the offending mask in the batch
        super().__init__(message)


def parse_rle(rle: str) -> tuple[np.ndarray, np.ndarray]:
    """Starts (1-based) and lengths of one RLE string."""
    values = np.array(rle.split(), dtype=np.int64)
    if values.size % 2:
        raise ValueError(f"odd number of integers ({values.size}) in an RLE of start/length pairs")
    return values[0::2], values[1::2]


def encode_rle(mask: np.ndarray) -> str:
    """Encode a binary mask as CheXmask RLE (1-based row-major starts)."""
    flat = np.concatenate([[0], (np.asarray(mask).reshape(-1) > 0).astype(np.int8), [0]])
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    changes[1::2] -= changes[0::2]
    return " ".join(map(str, changes))


def decode_rle(rle: str, height: int, width: int) -> np.ndarray:
    """Decode CheXmask RLE to a (height, width) uint8 mask of 0/255, as the official decoder does."""
    starts, lengths = parse_rle(rle)
    flat = np.zeros(height * width, dtype=np.uint8)
    for s, n in zip(starts - 1, lengths):
        flat[s : s + n] = 255
    return flat.reshape(height, width)


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Inclusive (x1, y1, x2, y2) box of a mask's foreground, or None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


@dataclass
class RunBoxes:
    """Boxes, areas and emptiness of a batch of masks computed from their runs."""

    boxes: np.ndarray  # (n, 4) int32 x1, y1, x2, y2; -1 where the mask is empty
    areas: np.ndarray  # (n,) int64 foreground pixels
    empty: np.ndarray  # (n,) bool
    errors: dict[int, str] = field(default_factory=dict)  # mask index -> what is wrong (collect mode; empty there)


def _first_per_mask(flags: np.ndarray, seg: np.ndarray, n: int) -> dict[int, int]:
    """mask index -> index of its first flagged run."""
    runs = np.flatnonzero(flags)
    masks, first = np.unique(seg[runs], return_index=True)
    return {int(m): int(runs[f]) for m, f in zip(masks, first)}


def boxes_from_runs(
    starts: np.ndarray, lengths: np.ndarray, run_counts: np.ndarray, heights: np.ndarray, widths: np.ndarray,
    *, errors: str = "raise", known_errors: dict[int, str] | None = None,
) -> RunBoxes:
    """Boxes of many masks from their concatenated runs, without materialising any mask.

    ``run_counts[i]`` runs belong to mask i, of size ``heights[i] x widths[i]``. A run may wrap from the
    end of one image row to the next; it then touches column 0 and column width-1.
    A mask whose runs leave the image, are not positive, or overlap / are out of order is an error:
    ``errors="raise"`` raises :class:`RLEError` naming the first such mask; ``errors="collect"`` lists them
    in :attr:`RunBoxes.errors` and treats them as empty. Every check is made before any addition, so no
    value can overflow int64 into a plausible-looking run.
    """
    n = len(run_counts)
    run_counts = np.asarray(run_counts, dtype=np.int64)
    seg = np.repeat(np.arange(n, dtype=np.int64), run_counts)
    w = np.asarray(widths, dtype=np.int64)[seg]
    h = np.asarray(heights, dtype=np.int64)[seg]
    pixels = h * w
    found: dict[int, str] = dict(known_errors or {})

    below = (starts < 1) | (lengths < 1)
    for m, k in _first_per_mask(below, seg, n).items():
        found.setdefault(m, "RLE has a start below 1 or a length below 1")
    # start > pixels or length > pixels first: start + length could otherwise wrap around int64
    leaves = ~below & ((starts > pixels) | (lengths > pixels) | (starts - 1 > pixels - lengths))
    for m, k in _first_per_mask(leaves, seg, n).items():
        found.setdefault(m, f"RLE run starting at {int(starts[k])} with length {int(lengths[k])} leaves the "
                            f"{int(h[k])}x{int(w[k])} image (last pixel {int(pixels[k])})")
    a = np.where(below | leaves, 0, starts - 1)
    b = np.where(below | leaves, 0, a + lengths - 1)
    if len(a) > 1:
        same = seg[1:] == seg[:-1]
        overlap = np.concatenate([[False], same & (a[1:] <= b[:-1])])
        for m, k in _first_per_mask(overlap, seg, n).items():
            found.setdefault(m, f"RLE runs overlap or are out of order (run at {int(starts[k])} begins before the "
                                f"previous run ends at {int(b[k - 1]) + 1})")
    if found and errors == "raise":
        first = min(found)
        raise RLEError(first, found[first])
    if found:  # drop the bad masks' runs; they count as empty
        bad_mask = np.zeros(n, dtype=bool)
        bad_mask[list(found)] = True
        keep = ~bad_mask[seg]
        run_counts = np.where(bad_mask, 0, run_counts)
        a, b, lengths, w = a[keep], b[keep], lengths[keep], w[keep]

    # float division is exact here (indices < 2**53) and much faster than int64 divmod
    wf = w.astype(np.float64)
    ra = np.floor(a / wf).astype(np.int64)
    rb = np.floor(b / wf).astype(np.int64)
    ca = a - ra * w
    cb = b - rb * w
    wraps = ra != rb
    cmin = np.where(wraps, 0, ca)
    cmax = np.where(wraps, w - 1, cb)

    boxes = np.full((n, 4), -1, dtype=np.int32)
    areas = np.zeros(n, dtype=np.int64)
    nonempty = run_counts > 0
    if nonempty.any():
        first = (np.cumsum(run_counts) - run_counts)[nonempty]
        boxes[nonempty, 0] = np.minimum.reduceat(cmin, first)
        boxes[nonempty, 1] = ra[first]  # runs are sorted, so the first run has the top row
        boxes[nonempty, 2] = np.maximum.reduceat(cmax, first)
        last = first + run_counts[nonempty] - 1
        boxes[nonempty, 3] = rb[last]
        areas[nonempty] = np.add.reduceat(lengths, first)
    return RunBoxes(boxes=boxes, areas=areas, empty=~nonempty, errors=dict(sorted(found.items())))


def split_rle_column(rles: pa.Array | pa.ChunkedArray, *, errors: str = "raise"
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Starts, lengths and run counts of a column of RLE strings (nulls = empty masks).

    ``errors="raise"``: raises :class:`RLEError` for the first string that is not pairs of integers.
    ``errors="collect"``: such strings count as empty and a fourth value maps their index to the reason.
    """
    if isinstance(rles, pa.ChunkedArray):
        rles = rles.combine_chunks()
    fast = _split_fast(rles)
    if fast is None:
        starts, lengths, counts, found = _split_strict(rles)
    else:
        (starts, lengths, counts), found = fast, {}
    if errors == "raise":
        if found:
            first = min(found)
            raise RLEError(first, found[first])
        return starts, lengths, counts
    return starts, lengths, counts, found


def _split_fast(rles: pa.Array):
    """One C-level parse of all strings at once; None when anything looks off (the strict path then explains)."""
    filled = pc.fill_null(rles, "") if rles.null_count else rles
    lengths = pc.binary_length(filled).to_numpy(zero_copy_only=False)
    counts = pc.count_substring(filled, " ").to_numpy(zero_copy_only=False).astype(np.int64) + 1
    counts[lengths == 0] = 0
    spaced = pc.binary_join_element_wise(filled, pa.scalar(" "), "")  # each string followed by one space
    if spaced.type != pa.string():
        return None
    offsets = np.frombuffer(spaced.buffers()[1], dtype=np.int32)[spaced.offset : spaced.offset + len(spaced) + 1]
    data = memoryview(spaced.buffers()[2])[offsets[0] : offsets[-1]]
    if counts.sum() == 0:
        values = np.zeros(0, dtype=np.int64)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(bytes(data), dtype=np.int64, sep=" ")
            except (DeprecationWarning, ValueError):
                return None
    if values.size != counts.sum() or (counts % 2).any() or (values.size and values.min() < 0):
        return None
    return values[0::2], values[1::2], counts // 2


_DIGITS = r"^\d{1,18}( \d{1,18})*$"  # at most 18 digits: every value fits int64


def _split_strict(rles: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
    filled = pc.fill_null(rles, "")
    trimmed = pc.utf8_trim_whitespace(filled)
    empty = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
    found: dict[int, str] = {}
    syntax = pc.match_substring_regex(trimmed, _DIGITS).to_numpy(zero_copy_only=False) | empty
    repeated = pc.match_substring_regex(trimmed, r"^[\d ]+$").to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~syntax):
        found[int(i)] = ("RLE has repeated separators; expected single spaces between integers"
                         if repeated[i] and not pc.match_substring_regex(trimmed[int(i)], r"\d{19}").as_py()
                         else "RLE is not a list of space-separated non-negative integers")
    clean = pc.if_else(pa.array(syntax), trimmed, "")
    lists = pc.split_pattern(clean, " ")
    counts = pc.list_value_length(lists).to_numpy(zero_copy_only=False).astype(np.int64)
    counts[~syntax | empty] = 0
    odd = np.flatnonzero(counts % 2)
    for i in odd:
        found[int(i)] = f"RLE has an odd number of integers ({int(counts[i])}); expected start/length pairs"
    if odd.size:
        counts[odd] = 0
        clean = pc.if_else(pa.array(counts > 0), clean, "")
        lists = pc.split_pattern(clean, " ")
    flat_str = pc.list_flatten(lists)
    values = pc.cast(pc.filter(flat_str, pc.not_equal(flat_str, "")), pa.int64()).to_numpy()
    return values[0::2], values[1::2], counts // 2, found


def boxes_from_rle_column(rles, heights, widths, *, errors: str = "raise") -> RunBoxes:
    """Boxes of a column of RLE strings (nulls = empty masks) of masks with the given sizes.

    One compiled pass over the text (:mod:`imax_hub._rle_native`); a column it does not recognise as
    canonical goes through the strict NumPy path, which gives the same boxes or finds what is wrong:
    ``errors="raise"`` raises :class:`RLEError` for the first bad mask, ``errors="collect"`` returns the bad
    masks in :attr:`RunBoxes.errors` (as empty masks) so a reader can set their rows aside.
    """
    from imax_hub._rle_native import boxes_kernel

    if not isinstance(rles, (pa.Array, pa.ChunkedArray)):
        rles = pa.array(rles, type=pa.string())
    chunks = rles.chunks if isinstance(rles, pa.ChunkedArray) else [rles]
    heights = np.ascontiguousarray(heights, dtype=np.int64)
    widths = np.ascontiguousarray(widths, dtype=np.int64)
    n = len(heights)
    boxes = np.empty((n, 4), dtype=np.int64)
    areas = np.empty(n, dtype=np.int64)
    done = 0
    for chunk in chunks:
        if chunk.type not in (pa.string(), pa.large_string()):
            raise TypeError(f"RLE column must hold strings, not {chunk.type}")
        k = len(chunk)
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32 if chunk.type == pa.string() else np.int64)
        offsets = offsets[chunk.offset : chunk.offset + k + 1]
        data_buffer = chunk.buffers()[2]
        data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
        valid = chunk.is_valid().to_numpy(zero_copy_only=False)
        bad = boxes_kernel(data, offsets, valid, heights[done : done + k], widths[done : done + k],
                           boxes[done : done + k], areas[done : done + k])
        if bad >= 0:
            starts, lengths, counts, found = split_rle_column(rles, errors="collect")
            return boxes_from_runs(starts, lengths, counts, heights, widths, errors=errors, known_errors=found)
        done += k
    if done != n:
        raise ValueError(f"{done} RLE strings but {n} heights/widths")
    return RunBoxes(boxes=boxes.astype(np.int32), areas=areas, empty=boxes[:, 0] < 0)


def polygon_mask(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Fill a polygon given as (k, 2) x, y points into a (height, width) bool mask."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (width, height), 0)
    ImageDraw.Draw(img).polygon([(float(x), float(y)) for x, y in points], fill=1, outline=1)
    return np.asarray(img, dtype=bool)
