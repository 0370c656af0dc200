"""Read every source of a (full-size, ``--no-images``) tree: time and peak RSS per source, and
boxes-from-runs vs decode-then-box on the same CheXmask rows, measured side by side.

    imax synth /data/full --patients 65379 --no-images
    python benchmarks/sources.py /data/full [--compare-rows 300] [--repeats 3]

Each reader runs in a fresh child process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import statistics
import time


def _run(name: str, root: str, queue) -> None:
    from imax_hub import sources

    t0 = time.perf_counter()
    if name == "chexmask":
        meta = sources.read_metadata(root)
        rows = sum(t.num_rows for t in sources.iter_chexmask(root, image_sizes=meta))
    else:
        fn = {"metadata": sources.read_metadata, "split": sources.read_split, "chexpert": sources.read_labels,
              "reports": sources.read_reports, "cardiomegaly": sources.read_cardiomegaly,
              "pe_severity": sources.read_pe_severity, "cxr_lt": sources.read_cxr_lt, "vqa": sources.read_vqa}[name]
        rows = fn(root).num_rows
    seconds = time.perf_counter() - t0
    queue.put({"source": name, "rows": rows, "seconds": seconds,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


def read_all(root: str) -> list[dict]:
    out = []
    ctx = mp.get_context("spawn")
    for name in ("metadata", "split", "chexpert", "reports", "cardiomegaly", "pe_severity", "cxr_lt", "vqa", "chexmask"):
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(name, root, q))
        p.start()
        result = q.get()
        p.join()
        out.append(result)
        print(json.dumps(result), flush=True)
    return out


def compare_boxes(root: str, n_rows: int, repeats: int) -> dict:
    """Median time per mask of boxes-from-runs vs decode-then-box on the first ``n_rows`` rows."""
    import csv

    import numpy as np
    import pyarrow as pa

    from imax_hub.geometry import boxes_from_rle_column, decode_rle, mask_box
    from imax_hub.sources.chexmask import chexmask_path

    csv.field_size_limit(1 << 30)
    rles, hs, ws = [], [], []
    with open(chexmask_path(root), newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i >= n_rows:
                break
            for col in ("Left Lung", "Right Lung", "Heart"):
                rles.append(row[col])
                hs.append(int(row["Height"]))
                ws.append(int(row["Width"]))
    arr, h, w = pa.array(rles), np.array(hs), np.array(ws)
    t0 = time.perf_counter()
    boxes_from_rle_column(arr[:3], h[:3], w[:3])  # loads (or compiles, first time only) the numba kernel
    warmup = time.perf_counter() - t0
    runs_t, decode_t = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fast = boxes_from_rle_column(arr, h, w)
        runs_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        slow = [mask_box(decode_rle(r, hh, ww) > 0) for r, hh, ww in zip(rles, hs, ws)]
        decode_t.append(time.perf_counter() - t0)
    assert all(tuple(fast.boxes[i]) == b for i, b in enumerate(slow)), "boxes differ"
    runs, dec = statistics.median(runs_t), statistics.median(decode_t)
    return {"masks": len(rles), "runs_s": runs, "decode_s": dec, "speedup": dec / runs, "kernel_load_s": warmup,
            "mean_runs_per_mask": float(np.mean([len(r.split()) // 2 for r in rles]))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--compare-rows", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-read", action="store_true")
    args = ap.parse_args()
    results = {} if args.skip_read else {"read": read_all(args.root)}
    if not args.skip_read:
        total = sum(r["seconds"] for r in results["read"])
        peak = max(r["peak_rss_mb"] for r in results["read"])
        print(f"all sources: {total:.1f} s, peak RSS {peak:.0f} MB", flush=True)
    results["boxes"] = compare_boxes(args.root, args.compare_rows, args.repeats)
    print(json.dumps(results["boxes"]), flush=True)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
