"""Scoring a full IMAX-size test split end to end: time per metric family and peak RSS.

    python benchmarks/metrics.py /tmp/bench/imax

Predictions are the gold answers of *another* test row of the same task (seeded), so reports have
realistic length and vocabulary and every metric does real work; 30% are replaced by junk to exercise
the worst-case paths.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    args = ap.parse_args()
    from imax_hub.metrics import families, score, text
    from imax_hub.build.manifest import load_test_rows

    t0 = time.perf_counter()
    rows, _ = load_test_rows(Path(args.folder))
    load_s = time.perf_counter() - t0
    rng = random.Random(0)
    by_task: dict[str, list[str]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r["answer"])
    preds = {r["id"]: ("junk output" if rng.random() < 0.3 else rng.choice(by_task[r["task"]])) for r in rows}

    timings: dict[str, float] = {}

    def timed(name, fn):
        def wrapper(*a, **k):
            s = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                timings[name] = timings.get(name, 0.0) + time.perf_counter() - s
        return wrapper

    for family, statistics in families.FAMILIES.items():
        for stat_name, stat in statistics.items():
            statistics[stat_name] = dataclasses.replace(stat, compute=timed(f"{family}: {stat_name}", stat.compute))
    for name, label in (("ptb_tokenize", "report: PTB tokenizer (2 calls)"), ("bleu1_stats", "report: BLEU-1"),
                        ("rouge1_f", "report: ROUGE-1")):
        setattr(text, name, timed(label, getattr(text, name)))
    text.Meteor.stats = timed("report: METEOR 1.5 (jar)", text.Meteor.stats)

    t0 = time.perf_counter()
    result = score(rows, preds)
    total = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"items": len(rows), "items_per_task": result.items_per_task, "load_rows_s": round(load_s, 1),
              "score_s": round(total, 1), "peak_rss_mb": round(peak),
              "family_s": {k: round(v, 2) for k, v in sorted(timings.items(), key=lambda kv: -kv[1])},
              "values": {k: round(v, 2) for k, v in result.values().items()}}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
