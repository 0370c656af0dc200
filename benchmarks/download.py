"""`imax download` transfer throughput against the local PhysioNet stand-in (tests/physionet_server.py).

    python benchmarks/download.py [--small 5000] [--small-kb 40] [--large 3] [--large-mb 200] [--pools 1,4,8,16,32]
                                  [--latency-ms 0] [--repeats 3] [--sets small,large]

Writes a MIMIC-CXR-JPG-shaped project (``--small`` files of ``--small-kb`` KB under files/pXX/…, ``--large`` files
of ``--large-mb`` MB, and their SHA256SUMS.txt), serves it from a separate process on 127.0.0.1 behind basic auth,
and fetches each set with every pool size through the real code path (resume-capable GET, SHA-256 verification,
atomic rename, ledger), ``--repeats`` times into a fresh folder; prints the median seconds, files/s and MB/s.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def write_tree(root: Path, small: int, small_kb: int, large: int, large_mb: int) -> dict[str, list[tuple[str, str]]]:
    project = root / "mimic-cxr-jpg" / "2.1.0"
    rng = os.urandom
    sets: dict[str, list[tuple[str, str]]] = {"small": [], "large": []}
    for i in range(small):
        rel = f"files/p1{i % 10}/p1{i % 10}{i:06d}/s5{i:07d}/{i:08x}.jpg"
        data = rng(small_kb * 1000)
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_bytes(data)
        sets["small"].append((hashlib.sha256(data).hexdigest(), rel))
    for i in range(large):
        rel = f"large/part-{i}.bin"
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with open(project / rel, "wb") as fh:
            for _ in range(large_mb):
                block = rng(1_000_000)
                digest.update(block)
                fh.write(block)
        sets["large"].append((digest.hexdigest(), rel))
    (project / "SHA256SUMS.txt").write_text("".join(f"{h} {r}\n" for s in sets.values() for h, r in s))
    return sets


def serve(root: str, queue, latency: float) -> None:
    from physionet_server import PhysioNetStandIn

    with PhysioNetStandIn(Path(root), {"bench": ("pw", None)}, latency=latency) as server:
        queue.put(server.url)
        while True:
            time.sleep(3600)


def fetch_all(url: str, dest: Path, entries: list[tuple[str, str]], pool: int) -> float:
    from imax_hub.download import Credentials, Fetcher, Job, Summary, run_jobs
    from imax_hub.sources import layout

    shutil.rmtree(dest, ignore_errors=True)
    fetcher = Fetcher(dest, url, Credentials("bench", "pw"), jobs=pool)
    summary = Summary()
    t0 = time.perf_counter()
    try:
        run_jobs(fetcher, [Job(layout.MIMIC_CXR_JPG, rel, h) for h, rel in entries], summary, pool,
                 lambda *a: None, "bench")
    finally:
        fetcher.close()
    wall = time.perf_counter() - t0
    assert summary.ok and summary.fetched == len(entries), summary.failed
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/imax-download-bench"))
    ap.add_argument("--small", type=int, default=5000)
    ap.add_argument("--small-kb", type=int, default=40)
    ap.add_argument("--large", type=int, default=3)
    ap.add_argument("--large-mb", type=int, default=200)
    ap.add_argument("--pools", default="1,4,8,16,32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=0.0, help="server delay before each answer (a WAN round trip)")
    ap.add_argument("--sets", default="small,large")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    sets = write_tree(args.work / "server", args.small, args.small_kb, args.large, args.large_mb)
    queue = mp.get_context("spawn").Queue()
    proc = mp.get_context("spawn").Process(target=serve, args=(str(args.work / "server"), queue, args.latency_ms / 1000),
                                           daemon=True)
    proc.start()
    url = queue.get(timeout=60)
    results = []
    try:
        for name, entries in sets.items():
            if not entries or name not in args.sets.split(","):
                continue
            size = sum((args.work / "server" / "mimic-cxr-jpg" / "2.1.0" / r).stat().st_size for _, r in entries)
            for pool in (int(p) for p in args.pools.split(",")):
                walls = [fetch_all(url, args.work / "client", entries, pool) for _ in range(args.repeats)]
                wall = statistics.median(walls)
                results.append({"set": name, "latency_ms": args.latency_ms, "files": len(entries), "mb": round(size / 1e6, 1), "pool": pool,
                                "median_s": round(wall, 2), "runs_s": [round(w, 2) for w in walls],
                                "files_per_s": round(len(entries) / wall, 1), "mb_per_s": round(size / 1e6 / wall, 1)})
                print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        proc.terminate()
    print(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
