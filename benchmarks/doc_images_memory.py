"""Peak memory of lighteval Docs over 2,000 test rows whose X-rays are 2,500-px JPEGs: lazy Doc.images (ours)
against decoding every image when the Doc is built, each in a fresh process.

    python benchmarks/doc_images_memory.py [--rows 2000] [--size 2500] [--modes lazy,eager]

A synthetic build; the JPEG of every selected image is replaced by a 2,500 x 3,000 one (the build reads
images by path, so the rows are unchanged). Each mode builds the Docs with the tasks' prompt function, then
walks them batch by batch (8) as a backend does, opening each image once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def _walk(folder: str, rows: int, eager: bool) -> None:
    import pyarrow.parquet as pq

    from imax_hub.lighteval_tasks import prompt_function
    from imax_hub.tasks import registry

    names = {t.name: h.name for t, h in registry.harness_tasks() if h.subtask is None}
    docs = []
    for path in sorted(Path(folder).glob("data/*/test-*.parquet")):
        if "dmax-" in path.parent.name:
            continue
        for row in pq.read_table(path).to_pylist():
            if row["task"] in names and len(docs) < rows:
                doc = prompt_function(row, names[row["task"]])
                if eager:
                    doc.images = list(doc.images)  # what a Doc holding decoded images costs
                docs.append(doc)
    for start in range(0, len(docs), 8):
        for d in docs[start:start + 8]:
            for img in d.images:
                img.size  # noqa: B018  (as a processor reads it)
    print(json.dumps({"docs": len(docs), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--size", type=int, default=2500)
    ap.add_argument("--modes", default="lazy,eager")
    ap.add_argument("--walk", nargs=2)
    args = ap.parse_args()
    if args.walk:
        _walk(args.walk[0], args.rows, args.walk[1] == "eager")
        return
    import numpy as np
    from PIL import Image

    from imax_hub.build import BuildOptions, build
    from imax_hub.synth import synthesize

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        # about 0.8 harness test rows per IMAX image: enough images for ``--rows``
        target = max(1500, int(args.rows * 1.3))
        synthesize(d / "phys", patients=int(target * 1.1) + 100, seed=1, image_size=64)
        out = build(BuildOptions(physionet_root=d / "phys", out=d / "imax", target_images=target)).out
        big = d / "big.jpg"
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (int(args.size * 1.2), args.size), dtype=np.uint8)).save(big, quality=95)
        for jpg in (d / "phys").rglob("*.jpg"):  # hard links: one file on disk, whatever the image count
            jpg.unlink()
            os.link(big, jpg)
        report = {"rows": args.rows, "jpeg_px": [args.size, int(args.size * 1.2)], "jpeg_mb": round(big.stat().st_size / 2**20, 2)}
        for mode in args.modes.split(","):
            proc = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--walk", str(out), mode],
                                  capture_output=True, text=True)
            # the eager mode can outgrow the machine: the kernel's OOM killer ends it (SIGKILL), which is the finding
            report[mode] = (json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0
                            else {"killed_by_signal": -proc.returncode} if proc.returncode < 0 else {"exit": proc.returncode})
        if all("peak_rss_mb" in report.get(m, {}) for m in ("lazy", "eager")):
            report["ratio_eager_over_lazy"] = round(report["eager"]["peak_rss_mb"] / report["lazy"]["peak_rss_mb"], 1)
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
