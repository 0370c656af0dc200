"""`imax eval --model oracle` with one METEOR jar per process (as shipped) against the earlier jar per scoring or
reduction call: the JVM start and the jar's paraphrase-table load are paid once, or about a dozen times.

    python benchmarks/meteor_jar.py [--patients 60] [--repeats 3]

A synthetic build (the demo's size by default); each run is a fresh process with an empty datasets cache, wall
time including start-up; the two modes alternate, medians of the repeats. Both modes' metrics must agree exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the earlier behaviour (before one jar per process): a jar per `Resources` object (one per reduction call, one
# per bootstrap), closed with it, and one per `report_meteor` call
EARLIER = """
import imax_hub.metrics as metrics
import imax_hub.metrics.runs as runs
from imax_hub.metrics import families, text

made = []
def per_call():
    for m in made:
        m.close()
    made[:] = [text.Meteor()]
    return made[0]

class Resources:
    _jar = None
    @property
    def meteor(self):
        if self._jar is None:
            self._jar = text.Meteor()
        return self._jar
    def __del__(self):
        if self._jar is not None:
            self._jar.close()

text.shared_meteor = per_call
families.Resources = metrics.Resources = runs.Resources = Resources
"""


def run(mode: str, dataset: Path, out: Path, env: dict) -> tuple[float, dict]:
    patch = EARLIER if mode == "earlier" else ""
    code = patch + "\nfrom imax_hub.cli import main\nmain()\n"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, "eval", "--model", "oracle", "--dataset", str(dataset),
                    "--output-dir", str(out)], check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    return wall, json.loads((out / "imax_oracle.json").read_text())["metrics"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from imax_hub.build import BuildOptions, build
    from imax_hub.synth import synthesize

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        synthesize(d / "phys", patients=args.patients, seed=11, image_size=64)
        build(BuildOptions(physionet_root=d / "phys", out=d / "imax", target_images=40, seed=0))
        times: dict[str, list[float]] = {"shared": [], "earlier": []}
        metrics = {}
        for i in range(args.repeats):
            for mode in times:
                env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
                           HF_DATASETS_CACHE=str(d / f"hf-{mode}-{i}"))
                wall, metrics[mode] = run(mode, d / "imax", d / f"out-{mode}-{i}", env)
                times[mode].append(wall)
        assert metrics["shared"] == metrics["earlier"], "the two modes must score identically"
        report = {mode: {"median_s": round(statistics.median(t), 1), "runs_s": [round(x, 1) for x in t]}
                  for mode, t in times.items()}
        report["ratio"] = round(report["earlier"]["median_s"] / report["shared"]["median_s"], 2)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
