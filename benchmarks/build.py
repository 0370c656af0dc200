"""`imax build` on a full-size tree: wall time and peak RSS per phase.

    python benchmarks/build.py /tmp/bench/full --out /tmp/bench/imax [--config all]

The tree is `imax synth ROOT --patients 65379 --no-images` (images absent, so the build runs with
--allow-missing-images). A sampler thread reads VmRSS every 0.1 s and charges it to the current phase.
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from pathlib import Path


def _rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class PhaseClock:
    """Tick callback: time and peak RSS per phase (a phase runs from its first tick to the next phase's)."""

    def __init__(self):
        self.phase = "start"
        self.started = time.perf_counter()
        self.phases: dict[str, dict] = {}
        self._stop = False
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop:
            rec = self.phases.setdefault(self.phase, {"seconds": 0.0, "peak_rss_mb": 0.0})
            rec["peak_rss_mb"] = max(rec["peak_rss_mb"], _rss_mb())
            time.sleep(0.1)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase:
            self._switch(phase)

    def _switch(self, phase: str) -> None:
        now = time.perf_counter()
        rec = self.phases.setdefault(self.phase, {"seconds": 0.0, "peak_rss_mb": 0.0})
        rec["seconds"] += now - self.started
        self.phase, self.started = phase, now

    def stop(self) -> None:
        self._switch("end")
        self._stop = True
        self._thread.join()
        self.phases.pop("end", None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--out", default="/tmp/bench/imax")
    ap.add_argument("--config", default="all")
    args = ap.parse_args()
    from imax_hub.build import BuildOptions, build

    clock = PhaseClock()
    t0 = time.perf_counter()
    result = build(BuildOptions(physionet_root=Path(args.root), out=Path(args.out), config=args.config,
                                overwrite=True, allow_missing_images=True), tick=clock)
    total = time.perf_counter() - t0
    clock.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.stats
    report = {"total_seconds": round(total, 1), "peak_rss_mb": round(peak), "phases": clock.phases,
              "imax": {k: s["imax"][k] for k in ("images", "entries", "tasks_per_image")},
              "imax_train": {k: s["imax_train"][k] for k in ("images", "entries", "entries_per_image")},
              "dmax_train": {k: s["dmax_train"][k] for k in ("images", "entries", "tasks_per_image", "entries_per_image")}
              if "dmax_train" in s else None,
              "entries_per_task": s["imax"]["entries_per_task"],
              "dmax_shortfall": result.manifest["selection"]["dmax_shortfall"]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
