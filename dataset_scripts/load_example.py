#!/usr/bin/env python
"""Load a built folder with ``datasets.load_dataset`` and print one training row (the image as its size).

    python dataset_scripts/load_example.py imax [--config dmax] [--index 0]

Run it from the folder's parent: ``load_dataset("imax")`` resolves a relative folder name against the CWD.
"""

import argparse
import json

from datasets import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--config", default=None)
    ap.add_argument("--index", type=int, default=0)
    args = ap.parse_args()
    ds = load_dataset(args.folder, args.config, split="train")
    row = ds[args.index]
    image = row.pop("image")
    row["messages"] = "[user: image + prompt, assistant: answer]"
    print(f"load_dataset({args.folder!r}{', ' + repr(args.config) if args.config else ''}, split='train'): "
          f"{len(ds):,} rows; row {args.index}:")
    print(json.dumps(row, indent=2, ensure_ascii=False))
    print(f"image: {image.mode} {image.size[0]}x{image.size[1]} (decoded from {ds[args.index]['image_path']})")


if __name__ == "__main__":
    main()
