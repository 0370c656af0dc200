"""Prediction files in, results files out, and the comparison of runs (Δ, improved count, bootstrap).

A results file holds numbers only — metric values, signatures, per-item statistics indexed by the
position of the item in the sorted test ids, and a hash of those ids — never ids, prompts, answers or
predictions, so it can be shared without leaking credentialed text.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from imax_hub import __version__
from imax_hub.build.manifest import load_test_rows, public_command, read_manifest
from imax_hub.errors import ImaxError
from imax_hub.files import is_local_path
from imax_hub.metrics import RESULTS_FORMAT, RunScores, metric_specs, metrics_by_key, reduce_metric, score
from imax_hub.metrics.families import Resources, canonical_signature
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat


def read_predictions(path: Path) -> dict[str, str]:
    """``{"id": ..., "prediction": ...}`` per line (JSON Lines, UTF-8)."""
    out: dict[str, str] = {}
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImaxError(f"{path}: cannot read the predictions ({exc.strerror or exc})") from None
    for n, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImaxError(f"{path}, line {n}: not UTF-8 text (byte {exc.start + 1} of the line); JSON Lines "
                            "files are UTF-8: re-save it as UTF-8") from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImaxError(f"{path}, line {n}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or "prediction" not in obj:
            raise ImaxError(f'{path}, line {n}: expected {{"id": "<row id>", "prediction": "<model text>"}}')
        if obj["id"] in out:
            raise ImaxError(f"{path}, line {n}: a second prediction for id {obj['id']!r}")
        pred = obj["prediction"]
        out[obj["id"]] = pred if isinstance(pred, str) else ("" if pred is None else str(pred))
    return out


def to_results(scores: RunScores, *, name: str, dataset_fingerprint: str | None = None,
               build_command: str | None = None, dataset_config: str | None = None) -> dict:
    """A results document (numbers only; see the module docstring)."""
    return {
        "format": RESULTS_FORMAT,
        "name": name,
        "imax_hub_version": __version__,
        "scored_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "dataset_fingerprint": dataset_fingerprint,  # of the config scored (build.manifest.config_fingerprint)
        "dataset_config": dataset_config,
        "build_command": build_command,  # PhysioNet root masked
        "test_set_hash": scores.test_set_hash,
        "n_items": len(scores.item_ids),
        "items_per_task": scores.items_per_task,
        "parse_failures": scores.parse_failures,
        "answer_format": scores.answer_format.name,
        # an anonymous image index per item (sorted test ids): lets `imax compare` resample images, not items
        "item_images": list(scores.image_of_item),
        "metrics": {s.key: {"label": s.label, "value": scores.metrics[s.key].value,
                            "signature": scores.metrics[s.key].signature, "higher_is_better": s.higher_is_better}
                    for s in metric_specs() if s.key in scores.metrics},
        "item_stats": {k: {"items": m.items.tolist(), "stats": m.stats.tolist()} for k, m in scores.metrics.items()},
    }


def score_file(folder: Path, predictions: Path, *, config: str = "imax", name: str | None = None,
               answer_format: AnswerFormat = PAPER) -> dict:
    rows, fingerprint = load_test_rows(folder, config)
    return to_results(score(rows, read_predictions(predictions), answer_format=answer_format),
                      name=name or Path(predictions).stem,
                      dataset_fingerprint=fingerprint, build_command=public_command(read_manifest(folder)),
                      dataset_config=config)


def load_results(path: Path) -> dict:
    """A results file, checked field by field (they are edited by hand and passed around)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImaxError(f"{path}: cannot read a results file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT:
        raise ImaxError(f"{path}: not an imax results file (format {RESULTS_FORMAT}); make one with `imax score`")

    def bad(where: str, expected: str):
        return ImaxError(f"{path}: {where}: expected {expected}; was the file edited? score again with `imax score`")

    if not isinstance(doc.get("name"), str):
        raise bad("name", "a string")
    if not isinstance(doc.get("n_items"), int) or isinstance(doc.get("n_items"), bool):
        raise bad("n_items", "an integer")
    if not isinstance(doc.get("metrics"), dict) or not doc["metrics"]:
        raise bad("metrics", "an object of metrics")
    for key, m in doc["metrics"].items():
        if not isinstance(m, dict):
            raise bad(f"metrics.{key}", "an object")
        value = m.get("value")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(f"metrics.{key}.value", f"a number, found {value!r}")
        if not isinstance(m.get("signature"), str):
            raise bad(f"metrics.{key}.signature", "a string")
    for key, stats in (doc.get("item_stats") or {}).items():
        if not (isinstance(stats, dict) and isinstance(stats.get("items"), list) and isinstance(stats.get("stats"), list)
                and len(stats["items"]) == len(stats["stats"])):
            raise bad(f"item_stats.{key}", "lists items and stats of equal length")
    return doc


def display_name(doc: dict) -> str:
    """A run's public name: the model's Hub id or baseline name; a local model folder by its last component
    only (pages and cards travel; local paths stay here)."""
    return Path(doc["name"]).name if is_local_path(doc["name"]) else doc["name"]


# A baseline that shows as 0.00 (metrics are on a 0-100 scale, reported to two decimals, as in the paper's tables)
# gives no meaningful ratio: a BLEU-1 of 1e-30 against 1e-22 would otherwise add a gain of 10^10 % to Δ.
ZERO_BASELINE = 0.005


def relative_gain(key: str, baseline: float, model: float) -> float:
    """(M_m - M_b) / M_b, sign flipped for lower-is-better metrics, so improvement is positive; nan where M_b
    shows as 0.00 (below ``ZERO_BASELINE``): such a metric is left out of Δ and of the improved count."""
    if math.isnan(baseline) or math.isnan(model) or abs(baseline) < ZERO_BASELINE:
        return math.nan
    gain = (model - baseline) / baseline
    return gain if metrics_by_key()[key].higher_is_better else -gain


def delta(baseline: dict[str, float], model: dict[str, float]) -> tuple[float, int, int]:
    """Eq. (1): Δ in % over the metrics both runs have; and (improved count, metrics counted)."""
    gains = [relative_gain(k, baseline[k], model[k]) for k in baseline if k in model]
    gains = [g for g in gains if not math.isnan(g)]
    if not gains:
        return math.nan, 0, 0
    return 100 * float(np.mean(gains)), int(sum(g > 0 for g in gains)), len(gains)


def check_comparable(docs: list[dict], paths: list[str]) -> None:
    """Refuse runs scored on different test sets or with different metric signatures, saying what differs."""
    ref, ref_path = docs[0], paths[0]
    for doc, path in zip(docs[1:], paths[1:]):
        if doc["test_set_hash"] != ref["test_set_hash"] or doc["n_items"] != ref["n_items"]:
            raise ImaxError(f"{path} was scored on a different test set than {ref_path} "
                            f"({doc['n_items']:,} items, hash {doc['test_set_hash']} vs {ref['n_items']:,} items, "
                            f"hash {ref['test_set_hash']}); score both on the same build")
        fa, fb = ref.get("answer_format", "paper"), doc.get("answer_format", "paper")
        if fa != fb:
            raise ImaxError(f"{ref_path} read answers as {fa!r} and {path} as {fb!r} (--answer-format): their numbers "
                            "are not comparable; score both with the same format")
        for key in sorted(set(ref["metrics"]) | set(doc["metrics"])):
            a = ref["metrics"].get(key, {}).get("signature")
            b = doc["metrics"].get(key, {}).get("signature")
            if canonical_signature(a) != canonical_signature(b):
                raise ImaxError(f"metric {key} was computed differently: {ref_path} has {a!r}, {path} has {b!r}")


def _weights(rng: np.random.Generator, n: int, b: int, images: np.ndarray | None = None) -> np.ndarray:
    """``b`` resamples as item weights: items drawn with replacement, or (``images``: each item's image index)
    images drawn with replacement, every item weighing as often as its image was drawn."""
    if images is None:
        idx = rng.integers(0, n, size=(b, n))
        return np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)
    n_images = int(images.max()) + 1 if len(images) else 0
    idx = rng.integers(0, n_images, size=(b, n_images))
    drawn = np.stack([np.bincount(row, minlength=n_images) for row in idx]).astype(np.float64)
    return drawn[:, images]


def resampling_unit(docs: list[dict]) -> tuple[np.ndarray | None, str]:
    """The image index to resample by, when every run has the same one; else items (older results files)."""
    images = [d.get("item_images") for d in docs]
    if all(images) and all(i == images[0] for i in images) and len(images[0]) == docs[0]["n_items"]:
        return np.asarray(images[0], dtype=np.int64), "image"
    return None, "item"


def bootstrap_standard_errors(scores: RunScores, keys, *, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """Standard deviation of each metric over ``n_boot`` resamples of the items (one METEOR JVM for all)."""
    keys = [k for k in keys if k in scores.metrics]
    n = len(scores.item_ids)
    if n < 2 or not keys:
        return dict.fromkeys(keys, math.nan)
    rng = np.random.default_rng(seed)
    values: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    images = np.asarray(scores.image_of_item, dtype=np.int64) if scores.image_of_item else None
    res = Resources()
    for start in range(0, n_boot, 100):  # 100 resamples at a time bounds memory on large test sets
        w = _weights(rng, n, min(100, n_boot - start), images)
        for k in keys:
            m = scores.metrics[k]
            values[k].append(reduce_metric(k, m.stats, w[:, m.items], res))
    out = {}
    for k, parts in values.items():
        v = np.concatenate(parts)
        out[k] = float(np.nanstd(v, ddof=1)) if np.isfinite(v).sum() > 1 else math.nan
    return out


def _paired_resamples(docs: list[dict], keys: list[str], *, n_boot: int, seed: int, chunk: int = 100) -> list[dict]:
    """Each run's value of each metric on the same ``n_boot`` resamples of the items (a paired bootstrap)."""
    n = docs[0]["n_items"]
    stats = [{k: (np.array(d["item_stats"][k]["items"], dtype=np.int64),
                  np.array(d["item_stats"][k]["stats"], dtype=np.float64)) for k in keys} for d in docs]
    rng = np.random.default_rng(seed)
    images, _ = resampling_unit(docs)
    boot = [{k: [] for k in keys} for _ in docs]
    res, done = Resources(), 0
    while done < n_boot:
        b = min(chunk, n_boot - done)
        w = _weights(rng, n, b, images)
        for r, run_stats in enumerate(stats):
            for k in keys:
                items, s = run_stats[k]
                boot[r][k].append(reduce_metric(k, s, w[:, items], res))
        done += b
    return [{k: np.concatenate(v) for k, v in run.items()} for run in boot]


def _percentiles(values: np.ndarray) -> list[float]:
    if not np.isfinite(values).any():
        return [math.nan, math.nan]
    lo, hi = np.nanpercentile(values, [2.5, 97.5])
    return [float(lo), float(hi)]


def compare(docs: list[dict], *, n_boot: int = 1000, seed: int = 0, chunk: int = 100) -> dict:
    """Each later run against the first (the baseline): values, differences with paired bootstrap 95%
    intervals, Δ with its interval, and the improved count."""
    base = docs[0]
    specs = metrics_by_key()
    keys = [m.key for m in metric_specs() if all(m.key in d["metrics"] for d in docs)]
    boot = _paired_resamples(docs, keys, n_boot=n_boot, seed=seed, chunk=chunk)
    _, unit = resampling_unit(docs)
    bootstrap = {"resamples": n_boot, "seed": seed, "interval": "percentile 95%", "unit": unit,
                 "signature": f"paired-bootstrap|unit:{unit}|n:{n_boot}|seed:{seed}|percentile-95"}
    if unit == "item":
        bootstrap["note"] = ("resampled per item: a results file lacks the image index (written by an older "
                             "imax-hub) or the runs' indices differ, so intervals ignore that items cluster by image")
    out = {"baseline": base["name"], "bootstrap": bootstrap,
           "metrics": [{"key": k, "label": specs[k].label, "higher_is_better": specs[k].higher_is_better,
                        "signature": base["metrics"][k]["signature"]} for k in keys],
           "runs": []}
    base_values = {k: base["metrics"][k]["value"] for k in keys}
    for r, doc in enumerate(docs):
        values = {k: doc["metrics"][k]["value"] for k in keys}
        entry = {"name": doc["name"], "values": values, "ci95": {k: _percentiles(boot[r][k]) for k in keys},
                 "parse_failures": doc["parse_failures"]}
        if r > 0:
            diffs = {}
            for k in keys:
                diffs[k] = {"diff": values[k] - base_values[k], "ci95": _percentiles(boot[r][k] - boot[0][k]),
                            "relative_gain": relative_gain(k, base_values[k], values[k])}
            dl, improved, counted = delta(base_values, values)
            boot_delta = np.array([delta({k: boot[0][k][i] for k in keys}, {k: boot[r][k][i] for k in keys})[0]
                                   for i in range(n_boot)])
            entry.update({"differences": diffs, "delta": dl, "delta_ci95": _percentiles(boot_delta),
                          "improved": improved, "metrics_counted": counted})
        out["runs"].append(entry)
    return out


RADAR_CLAMP = 3.0  # the radial axis stops at 3x the baseline: one huge ratio must not flatten the others


def radar_data(result: dict) -> dict:
    """What the radar draws, per run and metric: the ratio to the baseline (direction-aware: baseline / value for
    errors, so outward is better), clamped to ``RADAR_CLAMP``; the absolute value beside it. A metric whose baseline
    shows as 0.00 has no ratio (the Δ rule, :func:`relative_gain`): it is drawn as absent for every run."""
    metrics = result["metrics"]
    base = result["runs"][0]["values"]
    absent = [m["key"] for m in metrics
              if math.isnan(base[m["key"]]) or abs(base[m["key"]]) < ZERO_BASELINE]
    runs = []
    for run in result["runs"]:
        radii, clamped = [], []
        for m in metrics:
            b, v = base[m["key"]], run["values"][m["key"]]
            if m["key"] in absent or math.isnan(v):
                radii.append(math.nan)
                clamped.append(False)
                continue
            ratio = v / b if m["higher_is_better"] else (b / v if v > 0 else math.inf)
            radii.append(min(max(ratio, 0.0), RADAR_CLAMP))
            clamped.append(ratio > RADAR_CLAMP)
        runs.append({"name": run["name"], "radii": radii, "clamped": clamped,
                     "values": [run["values"][m["key"]] for m in metrics]})
    return {"labels": [m["label"] + (" (n/a)" if m["key"] in absent else "") for m in metrics],
            "absent": absent, "runs": runs, "clamp": RADAR_CLAMP, "baseline": result["baseline"]}


def radar_chart(result: dict, path: Path) -> None:
    """Figure-3-style radar: each run's ratio to the baseline per metric (1 = the baseline, outward = better,
    clamped), with the absolute values written at the points, as the paper's Figure 3 annotates them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = radar_data(result)
    n = len(data["labels"])
    angles = np.linspace(0, 2 * np.pi, n, endpoint=False)
    fig = plt.figure(figsize=(8, 8))
    ax = fig.add_subplot(111, polar=True)
    ax.set_theta_offset(np.pi / 2)  # the first metric at the top, then clockwise
    ax.set_theta_direction(-1)
    ax.set_rlabel_position(180 / n)  # the ring labels between the first two axes, clear of the metric names
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, run in enumerate(data["runs"]):
        color = colors[k % len(colors)]
        radii = np.array(run["radii"], dtype=float)
        closed_a, closed_r = np.append(angles, angles[0]), np.append(radii, radii[0])
        ax.plot(closed_a, closed_r, color=color, linewidth=1.5, label=run["name"])  # NaN (absent) breaks the line
        ax.fill(angles[~np.isnan(radii)], radii[~np.isnan(radii)], color=color, alpha=0.08)
        for a, r, v, c in zip(angles, radii, run["values"], run["clamped"]):
            if np.isnan(r):
                continue
            # baseline values sit inside the unit ring, the others just outside their point
            offset = -0.18 if k == 0 else 0.12
            ax.annotate(f"{v:.2f}" + ("▲" if c else ""), (a, r), xytext=(a, max(r + offset, 0.05)),
                        textcoords="data", fontsize=7, color=color, ha="center", va="center")
    ax.set_ylim(0, data["clamp"] * 1.08)
    ax.set_yticks([0.5, 1.0, 2.0, data["clamp"]])
    ax.set_yticklabels(["0.5×", "1×", "2×", f"≥{data['clamp']:g}×"], fontsize=7)
    ax.set_xticks(angles)
    ax.set_xticklabels(data["labels"], fontsize=8)
    ax.set_title(f"ratio to {data['baseline']} (1× = baseline, outward = better); values written are absolute",
                 fontsize=9)
    notes = [f"▲: ratio above {data['clamp']:g}×, drawn at the edge"]
    if data["absent"]:
        notes.append("n/a: the baseline shows 0.00, so there is no ratio (left out of Δ too)")
    handles, labels = ax.get_legend_handles_labels()
    handles += [plt.Line2D([], [], linestyle="none")] * len(notes)
    ax.legend(handles, labels + notes, loc="upper left", bbox_to_anchor=(-0.12, -0.04), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
