"""``imax show``: the paper's Figure 1 for your own build, as one static HTML page.

Per image: a thumbnail with the heart and lung boxes of its REC/REG rows drawn on it, then every entry it has
(CTR/CPAR, report, edema grade, labels, boxes, VQA pairs) as prompt and gold answer. With a predictions file
(``imax score``'s JSON Lines), each entry also shows the model's answer and a mark where the task's own metric
says right or wrong (accuracy, R@0.5, an exact label set); for graded answers (CTR/CPAR error, report ROUGE-1,
VQA BLEU-1) the per-item value instead. The model's boxes are drawn in a second colour.

The page inlines the thumbnails, so it is as credentialed as the build: a banner says so, and every upload path
of imax-hub refuses it (``upload_guard.GALLERY_MARKER``).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from imax_hub.build.manifest import load_rows, read_manifest
from imax_hub.errors import ImaxError
from imax_hub.metrics import score
from imax_hub.metrics.runs import read_predictions
from imax_hub.tasks import registry
from imax_hub.tasks.answer_formats import PAPER, AnswerFormat
from imax_hub.tasks.grounding import grid_to_edges
from imax_hub.upload_guard import GALLERY_MARKER

COLUMNS = ["id", "dicom_id", "image", "task", "subtask", "prompt", "answer", "target"]
THUMBNAIL = 360  # long side, pixels
GOLD = {"heart": "#e11d48", "left lung": "#16a34a", "right lung": "#2563eb"}  # one colour per structure
MODEL = "#f59e0b"  # the model's boxes, whatever the structure
# the statistic that says right or wrong for an item, in order of preference; the others are shown as values
VERDICT_STATISTICS = ("acc", "acc-contains", "r50", "micro-f1", "mae", "rouge1", "bleu1-sentence")


@dataclass
class Entry:
    task: str
    subtask: str
    prompt: str
    answer: str
    prediction: str | None = None
    mark: str | None = None  # "right", "wrong" or None (a graded answer)
    detail: str = ""


@dataclass
class Card:
    dicom_id: str
    thumbnail: str  # data: URI
    size: tuple[int, int]
    entries: list[Entry] = field(default_factory=list)


def _verdict_metric(task, subtask: str):
    candidates = [m for m in task.metrics if m.subtask in (None, subtask)]
    for statistic in VERDICT_STATISTICS:
        for m in candidates:
            if m.statistic == statistic:
                return m
    return None


def _verdicts(rows: list[dict], predictions: dict[str, str], fmt: AnswerFormat) -> dict[str, tuple[str | None, str]]:
    """row id -> (mark, detail) from the per-item statistics of the task's own metric (metrics.score)."""
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        m = _verdict_metric(registry.get(r["task"]), r["subtask"])
        if m is not None:
            by_key.setdefault(m.key, []).append(r)
    out = {}
    for key, chosen in by_key.items():
        result = score(chosen, {r["id"]: predictions[r["id"]] for r in chosen}, metrics={key}, meteor=False,
                       answer_format=fmt).metrics.get(key)
        if result is None:
            continue
        statistic = registry.get(chosen[0]["task"]).metric(key).statistic
        for item, stats in zip(result.items, result.stats):
            rid = chosen[int(item)]["id"]
            if statistic in ("acc", "acc-contains"):
                out[rid] = ("right" if stats[0] else "wrong", "")
            elif statistic == "r50":
                out[rid] = ("right" if stats[1] else "wrong", f"IoU {stats[0]:.2f}")
            elif statistic == "micro-f1":
                wrong = int(stats[1::3].sum() + stats[2::3].sum())
                out[rid] = ("right", "") if wrong == 0 else ("wrong", f"{wrong} label(s) wrong")
            elif statistic == "mae":
                out[rid] = (None, f"error {stats[0]:.3f}")
            else:
                out[rid] = (None, f"{registry.get(chosen[0]['task']).metric(key).label.split()[-1]} {stats[0]:.2f}")
    return out


def _thumbnail(image: dict, gold: list[tuple[str, list[int]]], model: list[list[float]]) -> tuple[str, tuple[int, int]]:
    """The X-ray, resized, with gold boxes (inclusive pixel boxes, by structure) and model boxes (pixel edges)."""
    from PIL import Image, ImageDraw

    try:
        img = Image.open(io.BytesIO(image["bytes"]) if image.get("bytes") else image["path"]).convert("RGB")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ImaxError(f"cannot open the image {image.get('path')!r} ({exc}); if the images moved, run "
                        "`imax relocate`") from None
    size = img.size
    scale = THUMBNAIL / max(size)
    img = img.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))))
    draw = ImageDraw.Draw(img)
    for structure, box in gold:
        x1, y1, x2, y2 = box
        draw.rectangle([x1 * scale, y1 * scale, (x2 + 1) * scale, (y2 + 1) * scale], outline=GOLD[structure], width=3)
    for x1, y1, x2, y2 in model:
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=MODEL, width=3)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode(), size


def gallery(folder: Path, *, config: str = "imax", split: str = "test", images: int = 12,
            predictions: Path | None = None, answer_format: AnswerFormat = PAPER) -> dict:
    """What the page shows (see the module docstring): the ``images`` images of the split with the most tasks
    (ties by dicom_id), with predictions when given (then only images that have them)."""
    if images < 1:
        raise ImaxError("--images must be at least 1")
    rows = load_rows(folder, config, split, COLUMNS)
    preds = read_predictions(predictions) if predictions is not None else None
    if preds is not None:
        rows = [r for r in rows if r["id"] in preds]
        if not rows:
            raise ImaxError(f"{predictions}: no prediction is for a row of {config}/{split} of {folder}")
    by_image: dict[str, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["dicom_id"], []).append(r)
    order = sorted(by_image, key=lambda d: (-len({r["task"] for r in by_image[d]}), d))[:images]
    chosen = [r for d in order for r in by_image[d]]
    verdicts = _verdicts(chosen, preds, answer_format) if preds is not None else {}
    task_order = {name: i for i, name in enumerate(registry.names())}
    cards = []
    for d in order:
        entries, gold, model = [], [], []
        size = None
        for r in sorted(by_image[d], key=lambda r: (task_order.get(r["task"], 99), r["subtask"], r["id"])):
            target = json.loads(r["target"])
            if "box" in target and "structure" in target:
                gold.append((target["structure"], target["box"]))
                size = tuple(target["image_size"])
            entry = Entry(r["task"], r["subtask"], r["prompt"], r["answer"])
            if preds is not None:
                entry.prediction = preds[r["id"]]
                entry.mark, entry.detail = verdicts.get(r["id"], (None, ""))
                parsed = registry.get(r["task"]).parse(entry.prediction, target, answer_format)
                if parsed and "box_grid" in parsed and "image_size" in target:
                    model.append(grid_to_edges(parsed["box_grid"], *target["image_size"]))
            entries.append(entry)
        thumb, real_size = _thumbnail(by_image[d][0]["image"], gold, model)
        cards.append(Card(d, thumb, size or real_size, entries))
    manifest = read_manifest(folder)
    return {"cards": cards, "config": config, "split": split, "fingerprint": manifest["fingerprint"],
            "shown": len(order), "images_in_split": len(by_image), "predictions": predictions.name if predictions else None,
            "answer_format": answer_format.name, "gold_colors": GOLD, "model_color": MODEL}


def render_gallery(page: dict) -> str:
    import jinja2

    text = resources.files("imax_hub").joinpath("views/gallery.html.jinja").read_text()
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text).render(marker=GALLERY_MARKER, **page)
