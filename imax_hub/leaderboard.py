"""``imax leaderboard``: a static, sortable HTML table of many runs and a chart, from imax results files.

Aggregate numbers only. Runs must share the test set and the metric signatures (``check_comparable``).
The default order is the mean direction-aware rank over the metrics; any column sorts best-first.
"""

from __future__ import annotations

import base64
import io
import math
from importlib import resources
from pathlib import Path

import numpy as np

from imax_hub.errors import ImaxError
from imax_hub.metrics.runs import check_comparable, compare, display_name

# distinct, saturated swatch colours (matplotlib's tab10); a run keeps its colour in the table and the chart
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _ranks(values: list[float], higher_is_better: bool) -> np.ndarray:
    """1 = best, ties share their mean rank, missing values rank last."""
    v = np.array([(-x if higher_is_better else x) if not math.isnan(x) else math.inf for x in values])
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(1, len(v) + 1)
    for x in np.unique(v):
        ranks[v == x] = ranks[v == x].mean()
    return ranks


def board(docs: list[dict], paths: list[str], *, baseline: dict | None = None, n_boot: int = 1000) -> dict:
    """The leaderboard's contents: metrics, and per run its values, intervals, Δ, mean rank and colour."""
    if not docs:
        raise ImaxError("no results files given")
    all_docs = ([baseline] if baseline is not None else []) + docs
    check_comparable(all_docs, (["--baseline"] if baseline is not None else []) + list(paths))
    names = [display_name(d) for d in docs]
    if len(set(names)) < len(names):  # two runs of one model: tell them apart by file
        names = [f"{n} ({Path(p).stem})" for n, p in zip(names, paths)]
    result = compare(all_docs, n_boot=n_boot)
    runs_out = result["runs"][1:] if baseline is not None else result["runs"]
    metrics = result["metrics"]
    if not metrics:
        raise ImaxError("the runs have no metric in common")
    rank_table = np.stack([_ranks([r["values"][m["key"]] for r in runs_out], m["higher_is_better"]) for m in metrics])
    runs = []
    for i, (name, r) in enumerate(zip(names, runs_out)):
        runs.append({"name": name, "color": PALETTE[i % len(PALETTE)], "values": r["values"], "ci": r["ci95"],
                     "mean_rank": float(rank_table[:, i].mean()),
                     "best": {m["key"]: bool(rank_table[j, i] == rank_table[j].min()) for j, m in enumerate(metrics)},
                     "delta": r.get("delta", 0.0 if baseline is not None else math.nan),
                     "delta_ci": r.get("delta_ci95", [0.0, 0.0])})
    runs.sort(key=lambda r: r["mean_rank"])
    return {"metrics": metrics, "runs": runs, "baseline": display_name(baseline) if baseline is not None else None,
            "test_set_hash": docs[0]["test_set_hash"], "n_items": docs[0]["n_items"],
            "fingerprint": docs[0].get("dataset_fingerprint")}


def _luminance(rgb) -> float:
    """WCAG 2 relative luminance of an sRGB colour given as floats in [0, 1].

    The definitions of "relative luminance" and "contrast ratio" in WCAG 2.2 (https://www.w3.org/TR/WCAG22/,
    Definitions), with the sRGB threshold 0.04045 that its note adopts."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3]]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background) -> str:
    """Black or white, whichever contrasts more with a heat-map cell (dark red and dark green take white)."""
    return "black" if contrast(background, (0, 0, 0)) >= contrast(background, (1, 1, 1)) else "white"


def chart_png(b: dict) -> bytes:
    """Runs x metrics, each cell coloured from the column's worst (0) to its best (1) run and labelled with its value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics, runs = b["metrics"], b["runs"]
    score = np.zeros((len(runs), len(metrics)))
    for j, m in enumerate(metrics):
        col = np.array([r["values"][m["key"]] for r in runs], dtype=float)
        lo, hi = np.nanmin(col), np.nanmax(col)
        scaled = np.full_like(col, 0.5) if hi == lo else (col - lo) / (hi - lo)
        score[:, j] = scaled if m["higher_is_better"] else 1 - scaled
    fig, ax = plt.subplots(figsize=(max(8, 0.75 * len(metrics) + 3), 0.5 * len(runs) + 2.2))
    cmap = plt.get_cmap("RdYlGn")
    ax.imshow(score, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i, r in enumerate(runs):
        for j, m in enumerate(metrics):
            ax.text(j, i, f"{r['values'][m['key']]:.1f}", ha="center", va="center", fontsize=7,
                    color=text_color(cmap(score[i, j])))
    ax.set_xticks(range(len(metrics)))
    ax.set_xticklabels([m["label"] + (" ↓" if not m["higher_is_better"] else "") for m in metrics],
                       rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(runs)))
    ax.set_yticklabels([r["name"] for r in runs], fontsize=8)
    for tick, r in zip(ax.get_yticklabels(), runs):
        tick.set_color(r["color"])
    ax.set_title("per metric: worst run (red) to best run (green); ↓ = lower is better", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def render_html(b: dict, chart: bytes, title: str = "IMAX leaderboard") -> str:
    """The standalone page: inline style, script and chart; no external resource is fetched when it opens."""
    import jinja2

    text = resources.files("imax_hub").joinpath("views/leaderboard.html.jinja").read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text).render(title=title, chart_b64=base64.b64encode(chart).decode(), **b)
