"""Compiled (numba) single pass from CheXmask RLE text to boxes.

Parsing the text dominates once the box arithmetic is vectorised, so this kernel reads the bytes of an
Arrow string column once, parses start/length pairs and folds them into boxes and areas as it goes:
no integer arrays, no masks. It only recognises the canonical form CheXmask writes (single spaces,
ASCII digits, sorted non-overlapping runs inside the image); on anything else it reports the mask and
:func:`imax_hub.geometry.boxes_from_rle_column` falls back to the strict NumPy path, which is
authoritative for both odd-but-valid input (e.g. surrounding whitespace) and error messages.
Imported lazily: importing numba costs a few hundred ms that `imax --help` should not pay.
"""

from __future__ import annotations

import sys

import numpy as np
from numba import njit

# Larger values cannot be a pixel index of any radiograph; refusing them also rules out int64 overflow.
_MAX_VALUE = 1 << 40


def _boxes_kernel(data, offsets, valid, heights, widths, boxes, areas):  # pragma: no cover - compiled
    """Fill ``boxes`` (n, 4) and ``areas`` (n,); return -1, or the index of the first non-canonical mask."""
    n = heights.shape[0]
    for i in range(n):
        boxes[i, 0] = -1
        boxes[i, 1] = -1
        boxes[i, 2] = -1
        boxes[i, 3] = -1
        areas[i] = 0
        if not valid[i]:
            continue
        w = np.int64(widths[i])
        last_pixel = np.int64(heights[i]) * w - 1
        p = np.int64(offsets[i])
        end = np.int64(offsets[i + 1])
        val = np.int64(0)
        in_digits = False
        tokens = 0
        start = np.int64(0)
        prev_end = np.int64(-1)
        x1 = np.int64(1 << 62)
        x2 = np.int64(-1)
        area = np.int64(0)
        while p <= end:
            c = data[p] if p < end else 32  # a virtual space closes the last token
            if 48 <= c <= 57:
                val = val * 10 + (c - 48)
                in_digits = True
                if val > _MAX_VALUE:
                    return i
            elif c == 32:
                if not in_digits:
                    if p == end and tokens == 0:
                        break  # empty string: empty mask
                    return i
                if tokens % 2 == 0:
                    start = val
                else:
                    a = start - 1
                    b = a + val - 1
                    if start < 1 or val < 1 or b > last_pixel or a <= prev_end:
                        return i
                    ra = a // w
                    rb = b // w
                    if ra != rb:  # the run wraps onto the next row: it touches both edges
                        cmin = np.int64(0)
                        cmax = w - 1
                    else:
                        cmin = a - ra * w
                        cmax = b - rb * w
                    if tokens == 1:
                        boxes[i, 1] = ra
                    boxes[i, 3] = rb
                    if cmin < x1:
                        x1 = cmin
                    if cmax > x2:
                        x2 = cmax
                    area += val
                    prev_end = b
                tokens += 1
                val = 0
                in_digits = False
            else:
                return i
            p += 1
        if tokens % 2:
            return i
        if tokens:
            boxes[i, 0] = x1
            boxes[i, 2] = x2
            areas[i] = area
    return -1


def _compile(fn):
    """The kernel compiled with numba's on-disk cache; where no cache folder is writable (a read-only package and
    HOME), compiled for this run only, with a one-line note (numba would otherwise refuse to import it)."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError as exc:
        if "no locator available" not in str(exc):
            raise
        print("note: numba finds no writable cache folder here (set NUMBA_CACHE_DIR to keep the compiled RLE pass); "
              "compiling it for this run only", file=sys.stderr)
        return njit(nogil=True)(fn)


boxes_kernel = _compile(_boxes_kernel)
