"""RLE decoding and boxes straight from runs, checked against decode-then-box."""

import numpy as np
import pyarrow as pa
import pytest

from imax_hub.geometry import (
    RLEError, boxes_from_rle_column, decode_rle, encode_rle, mask_box, polygon_mask, split_rle_column,
)


def _random_polygon(rng, h, w):
    k = int(rng.integers(3, 60))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    r = rng.uniform(2, max(h, w) * 0.6)
    t = np.sort(rng.uniform(0, 2 * np.pi, size=k))
    rad = r * rng.uniform(0.3, 1.0, size=k)
    # shapes may cross the border: their runs then wrap from one row to the next
    return np.stack([cx + rad * np.cos(t), cy + rad * np.sin(t)], axis=1)


def test_round_trip_official_convention():
    mask = np.zeros((5, 4), dtype=bool)
    mask[1, 1:3] = True
    mask[4, 3] = True
    rle = encode_rle(mask)
    # 1-based, row-major: row 1 col 1 -> index 1*4+1+1 = 6
    assert rle == "6 2 20 1"
    assert ((decode_rle(rle, 5, 4) > 0) == mask).all()


def test_boxes_from_runs_equal_decode_then_box_on_thousands_of_polygons():
    rng = np.random.default_rng(0)
    rles, heights, widths, expected, areas = [], [], [], [], []
    for _ in range(2000):
        h, w = int(rng.integers(20, 700)), int(rng.integers(20, 700))
        mask = polygon_mask(_random_polygon(rng, h, w), h, w)
        if rng.random() < 0.1:  # full-width bands make runs that wrap across rows
            mask[int(rng.integers(h)), :] = True
        rle = encode_rle(mask)
        rles.append(rle)
        areas.append(int(mask.sum()))
        heights.append(h)
        widths.append(w)
        expected.append(mask_box(decode_rle(rle, h, w) > 0))
    got = boxes_from_rle_column(pa.array(rles), np.array(heights), np.array(widths))
    for i, box in enumerate(expected):
        if box is None:
            assert got.empty[i]
        else:
            assert tuple(got.boxes[i]) == box, i
    assert got.areas.tolist() == areas


def test_wrapping_run_touches_both_borders():
    # one run from the last pixel of row 0 to the first of row 1 (width 5)
    got = boxes_from_rle_column(pa.array(["5 2"]), [3], [5])
    assert tuple(got.boxes[0]) == (0, 0, 4, 1)
    assert mask_box(decode_rle("5 2", 3, 5) > 0) == (0, 0, 4, 1)


def test_empty_and_null_masks():
    got = boxes_from_rle_column(pa.array(["", None, "1 1"]), [4, 4, 4], [4, 4, 4])
    assert got.empty.tolist() == [True, True, False]
    assert got.areas.tolist() == [0, 0, 1]


@pytest.mark.parametrize("rle,message", [
    ("1 3 17 5", "leaves the"),       # 4x4 image has 16 pixels
    ("1 4 3 2", "overlap"),
    ("5 1 1 1", "overlap"),            # out of order
    ("1 2 3", "odd number"),
    ("1 x", "not a list"),
    ("0 2", "below 1"),
    ("1 0", "below 1"),
    ("1  2", "repeated separators"),
])
def test_bad_runs_name_the_mask(rle, message):
    with pytest.raises(RLEError, match=message) as info:
        boxes_from_rle_column(pa.array(["1 1", rle]), [4, 4], [4, 4])
    assert info.value.index == 1


def test_split_rle_column_counts():
    starts, lengths, counts = split_rle_column(pa.array(["1 2 5 1", "", "3 4"]))
    assert counts.tolist() == [2, 0, 1]
    assert starts.tolist() == [1, 5, 3]
    assert lengths.tolist() == [2, 1, 4]


def _numpy_path(rles, heights, widths):
    from imax_hub.geometry import boxes_from_runs

    return boxes_from_runs(*split_rle_column(pa.array(rles)), np.array(heights), np.array(widths))


def test_compiled_pass_matches_numpy_path_on_sliced_chunked_and_large_strings():
    rng = np.random.default_rng(1)
    rles, heights, widths = [], [], []
    for _ in range(300):
        h, w = int(rng.integers(5, 90)), int(rng.integers(5, 90))
        mask = polygon_mask(_random_polygon(rng, h, w), h, w) if rng.random() < 0.9 else np.zeros((h, w), bool)
        rles.append(encode_rle(mask))
        heights.append(h)
        widths.append(w)
    expected = _numpy_path(rles, heights, widths)
    whole = pa.array(rles)
    variants = [
        whole,
        pa.chunked_array([whole.slice(0, 117), whole.slice(117)]),  # sliced chunks have non-zero offsets
        pa.array(rles, type=pa.large_string()),
    ]
    for column in variants:
        got = boxes_from_rle_column(column, heights, widths)
        assert (got.boxes == expected.boxes).all()
        assert (got.areas == expected.areas).all()
        assert (got.empty == expected.empty).all()


def test_non_canonical_but_valid_text_falls_back_to_the_same_boxes():
    # surrounding whitespace is not what CheXmask writes; the strict path accepts it
    got = boxes_from_rle_column(pa.array([" 6 2 20 1 ", "6 2 20 1"]), [5, 5], [4, 4])
    assert (got.boxes[0] == got.boxes[1]).all()
    assert tuple(got.boxes[1]) == (1, 1, 3, 4)


def test_without_a_writable_numba_cache_the_rle_pass_compiles_for_the_run_with_a_note():
    """numba's cache=True fails at import ("no locator available") where neither the package folder nor HOME
    is writable; emulated by giving numba no cache locator at all."""
    import subprocess
    import sys

    code = ("import numba.core.caching as c; c.CacheImpl._locator_classes = []; import pyarrow as pa; "
            "from imax_hub.geometry import boxes_from_rle_column; "
            "print(boxes_from_rle_column(pa.array(['6 2']), [4], [4]).boxes.tolist())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[[1, 1, 2, 1]]"
    notes = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(notes) == 1 and "for this run only" in notes[0] and "NUMBA_CACHE_DIR" in notes[0]
