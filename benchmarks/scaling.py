"""`imax eval` on one process against `accelerate launch --multi_gpu --num_processes 2` on this machine's CPUs.

    python benchmarks/scaling.py [--samples 40] [--repeats 3]

A synthetic build and the tests' tiny LLaVA-style VLM (tests/tiny_vlm.py); every run starts with an empty
prediction cache. Wall time includes start-up (model load, dataset load): medians of the repeats.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from tiny_vlm import make_tiny_vlm

    from imax_hub.build import BuildOptions, build
    from imax_hub.synth import synthesize

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        synthesize(d / "phys", patients=200, seed=5, image_size=128)
        build(BuildOptions(physionet_root=d / "phys", out=d / "imax", target_images=150))
        make_tiny_vlm(d / "vlm")
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(d / "hf"))
        common = ["eval", "--model", str(d / "vlm"), "--dataset", str(d / "imax"), "--tasks",
                  "imax_rec,imax_reg,imax_calc_ctr,imax_cls_multilabel", "--max-samples", str(args.samples),
                  "--batch-size", "4"]
        accelerate = Path(sys.executable).with_name("accelerate")
        commands = {
            "1 process": [sys.executable, "-m", "imax_hub"],
            "2 processes": [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                            "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "imax_hub"],
        }
        times: dict[str, list[float]] = {k: [] for k in commands}
        for r in range(args.repeats):
            for name, prefix in commands.items():
                out = d / f"{name.replace(' ', '_')}-{r}"
                t0 = time.perf_counter()
                subprocess.run([*prefix, *common, "--output-dir", str(out), "--cache-dir", str(out / "cache")],
                               env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - t0)
        prompts = 4 * args.samples
        report = {"prompts": prompts, "cpus": os.cpu_count(),
                  "median_s": {k: round(statistics.median(v), 1) for k, v in times.items()},
                  "speedup": round(statistics.median(times["1 process"]) / statistics.median(times["2 processes"]), 2)}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
