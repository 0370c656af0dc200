"""Statistics of a build beside the paper's (Figure 2 and Section 3), as JSON, a table and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from imax_hub.tasks import registry


def paper() -> dict:
    """Section 3 and Figure 2 of the paper (entries per task from each task's spec, largest first)."""
    per_task = sorted(((t.name, t.paper_entries) for t in registry.tasks() if t.paper_entries), key=lambda x: -x[1])
    return {
        "imax": {"images": 47_600, "entries": 354_595, "tasks_per_image": 4.10, "entries_per_task": dict(per_task)},
        "imax_train": {"images": 38_077, "entries": 284_017, "entries_per_image": 7.46},
        "dmax_train": {"images": 136_218, "tasks_per_image": 1.25, "entries_per_image": 2.09},
    }


def describe(table: pa.Table) -> dict:
    """Images, entries, entries per task, and per-image task/entry counts of one set of rows."""
    dicom = table.column("dicom_id").to_numpy(zero_copy_only=False)
    tasks = table.column("task").to_numpy(zero_copy_only=False)
    if len(dicom) == 0:
        return {"images": 0, "entries": 0, "entries_per_task": {}, "tasks_per_image": 0.0,
                "entries_per_image": 0.0, "tasks_per_image_hist": {}, "entries_per_image_hist": {}}
    names = registry.names()
    images, inverse = np.unique(dicom, return_inverse=True)
    task_ids = np.array([names.index(t) for t in tasks])
    entries = np.bincount(inverse)
    n_tasks = np.bincount(np.unique(inverse * len(names) + task_ids) // len(names))
    per_task = {t: int((tasks == t).sum()) for t in names if (tasks == t).any()}

    def hist(values: np.ndarray) -> dict[str, int]:
        keys, counts = np.unique(values, return_counts=True)
        return {str(int(k)): int(c) for k, c in zip(keys, counts)}

    return {"images": int(len(images)), "entries": int(len(dicom)), "entries_per_task": per_task,
            "tasks_per_image": round(float(n_tasks.mean()), 4), "entries_per_image": round(float(entries.mean()), 4),
            "tasks_per_image_hist": hist(n_tasks), "entries_per_image_hist": hist(entries)}


def build_stats(splits: dict[str, pa.Table]) -> dict:
    """Stats of every output set: keys ``imax``, ``imax_train``, ``imax_test``, ``dmax_train`` (when built)."""
    out = {name: describe(t) for name, t in splits.items()}
    out["paper"] = paper()
    return out


def table_rows(stats: dict) -> list[tuple[str, str, str]]:
    """(quantity, this build, paper) rows shared by the CLI table and the dataset card."""
    rows = []
    paper = stats["paper"]

    def fmt(v) -> str:
        if v is None:
            return "–"
        return f"{v:,.2f}" if isinstance(v, float) else f"{v:,}"

    if "imax" in stats:
        s = stats["imax"]
        rows += [("IMAX images", fmt(s["images"]), fmt(paper["imax"]["images"])),
                 ("IMAX entries", fmt(s["entries"]), fmt(paper["imax"]["entries"]))]
        for t in registry.names():
            rows.append((f"  {t}", fmt(s["entries_per_task"].get(t, 0)), fmt(paper["imax"]["entries_per_task"].get(t))))
        rows.append(("IMAX tasks per image", fmt(s["tasks_per_image"]), fmt(paper["imax"]["tasks_per_image"])))
    if "imax_train" in stats:
        s = stats["imax_train"]
        rows += [("IMAX train images", fmt(s["images"]), fmt(paper["imax_train"]["images"])),
                 ("IMAX train entries", fmt(s["entries"]), fmt(paper["imax_train"]["entries"])),
                 ("IMAX train entries per image", fmt(s["entries_per_image"]), fmt(paper["imax_train"]["entries_per_image"]))]
    if "imax_test" in stats:
        s = stats["imax_test"]
        rows += [("test images (IMAX and DMAX)", fmt(s["images"]), fmt(paper["imax"]["images"] - paper["imax_train"]["images"])),
                 ("test entries", fmt(s["entries"]), fmt(paper["imax"]["entries"] - paper["imax_train"]["entries"]))]
    if "dmax_train" in stats:
        s = stats["dmax_train"]
        rows += [("DMAX train images", fmt(s["images"]), fmt(paper["dmax_train"]["images"])),
                 ("DMAX train entries", fmt(s["entries"]), fmt(paper["imax_train"]["entries"])),
                 ("DMAX tasks per image", fmt(s["tasks_per_image"]), fmt(paper["dmax_train"]["tasks_per_image"])),
                 ("DMAX entries per image", fmt(s["entries_per_image"]), fmt(paper["dmax_train"]["entries_per_image"]))]
    if "pseudo_imax_train" in stats:  # after `imax pseudo-label`; the paper gives no counts for it
        s = stats["pseudo_imax_train"]
        rows += [("pseudo-IMAX train images", fmt(s["images"]), fmt(None)),
                 ("pseudo-IMAX train entries (pseudo-labels)", f"{s['entries']:,} ({s['pseudo_entries']:,})", fmt(None)),
                 ("pseudo-IMAX tasks per image", fmt(s["tasks_per_image"]), fmt(None))]
    return rows


def markdown_table(stats: dict) -> str:
    lines = ["| | this build | paper |", "|---|---|---|"]
    lines += [f"| {q.strip() if not q.startswith('  ') else '&nbsp;&nbsp;' + q.strip()} | {a} | {b} |"
              for q, a, b in table_rows(stats)]
    return "\n".join(lines)


HISTOGRAMS = {"tasks_per_image_hist": "tasks per image", "entries_per_image_hist": "entries per image"}


def histogram_figure(stats: dict, key: str):
    """Figure 2's histogram of ``key`` for IMAX-train beside DMAX-train: both count the *train* split's images
    (the test split is shared), which the title and legend say."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label = HISTOGRAMS[key]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    width = 0.4
    for shift, name, color in ((-width / 2, "dmax_train", "#dd8452"), (width / 2, "imax_train", "#4c72b0")):
        if name not in stats or not stats[name][key]:
            continue
        hist = stats[name][key]
        total = sum(hist.values())
        xs = np.array([int(k) for k in hist])
        ax.bar(xs + shift, [100 * v / total for v in hist.values()], width=width, color=color,
               label=f"{name.split('_')[0].upper()} train: {total:,} images, mean {stats[name][key.replace('_hist', '')]:.2f}")
    ax.set_title(f"{label.capitalize()}, train split", fontsize=10)
    ax.set_xlabel(f"{label} (train split)")
    ax.set_ylabel("% of train images")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def write_stats(stats: dict, folder: Path) -> None:
    """``stats.json`` and the three Figure-2 plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    meta = {"Software": None}  # no version string in the PNG: byte-identical plots across machines

    if "imax" in stats:
        per_task = stats["imax"]["entries_per_task"]
        names = [t for t in registry.names() if t in per_task]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.barh(names[::-1], [per_task[t] for t in names][::-1], color="#4c72b0")
        ax.set_xlabel("entries")
        ax.set_title(f"IMAX composition: {stats['imax']['images']:,} images, {stats['imax']['entries']:,} entries")
        fig.tight_layout()
        fig.savefig(folder / "composition.png", dpi=100, metadata=meta)
        plt.close(fig)

    for key in HISTOGRAMS:
        fig = histogram_figure(stats, key)
        fig.savefig(folder / f"{key.replace('_hist', '')}.png", dpi=100, metadata=meta)
        plt.close(fig)
