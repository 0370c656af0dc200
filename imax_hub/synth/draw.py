"""Render phantom chest radiographs (8-bit grayscale, histogram-equalised, JPEG quality 95).

Lungs are dark (air), the heart and mediastinum bright, and every finding of the study is drawn where
the labels, report and VQA answers say it is, so that a small model can learn the tasks.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from imax_hub.synth.anatomy import Anatomy

ZONES = {"upper": (0.0, 0.38), "mid": (0.38, 0.68), "lower": (0.68, 1.0)}


def _zone_mask(mask: np.ndarray, zone: str) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    top, bottom = rows[0], rows[-1]
    lo, hi = ZONES[zone]
    y = np.arange(mask.shape[0])[:, None]
    band = (y >= top + lo * (bottom - top)) & (y <= top + hi * (bottom - top))
    return mask & band


def _blob(shape, cx, cy, rx, ry) -> np.ndarray:
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0


def render_frontal(anatomy: Anatomy, findings: dict, rng: np.random.Generator) -> Image.Image:
    """A frontal (AP/PA) phantom whose lungs and heart are exactly ``anatomy``'s masks."""
    h, w = anatomy.height, anatomy.width
    img = np.full((h, w), 8.0)
    body = _blob((h, w), w / 2, h * 0.55, w * 0.47, h * 0.6)
    img[body] = 125.0
    lungs = {"right": anatomy.masks["right_lung"], "left": anatomy.masks["left_lung"]}
    for m in lungs.values():
        img[m] = 45.0
    # ribs: faint bright arcs across the lung fields
    y, x = np.ogrid[:h, :w]
    for k in range(9):
        arc = np.abs(y - (h * (0.14 + 0.075 * k) + 0.00012 * (x - w / 2) ** 2 / max(w / 400, 1))) < max(1.0, h / 160)
        img[arc & (lungs["right"] | lungs["left"])] += 18
    spine = (np.abs(x - w / 2) < w * 0.035) & body
    img[spine & ~(lungs["right"] | lungs["left"])] = 165.0
    img[anatomy.masks["heart"]] = 185.0

    strength = {"present": 1.0, "uncertain": 0.5}
    for name, info in findings.items():
        if not isinstance(info, dict) or info.get("state") not in strength:
            continue
        s = strength[info["state"]]
        for side in info.get("sides", ()):
            lung = lungs[side]
            zone = _zone_mask(lung, info.get("zone", "lower"))
            rows, cols = np.nonzero(zone) if zone.any() else np.nonzero(lung)
            cy, cx = rows.mean(), cols.mean()
            if name == "pleural_effusion":
                img[_zone_mask(lung, "lower")] = 45 + 100 * s
            elif name == "pneumothorax":
                apex = _zone_mask(lung, "upper")
                ax = cols.min() if side == "right" else cols.max()
                edge = apex & (np.abs(x - ax) < w * 0.06)
                img[edge] = 12
            elif name in ("consolidation", "pneumonia", "lung_opacity"):
                img[_blob((h, w), cx, cy, w * 0.06, h * 0.05) & lung] += 85 * s
            elif name == "atelectasis":
                band = np.abs(y - cy) < h * 0.012
                img[band & lung] += 80 * s
            elif name == "nodule":
                img[_blob((h, w), cx, cy, w * 0.015, w * 0.015)] += 110 * s
            elif name == "infiltration":
                streaks = (np.sin((x + 0.5 * y) / max(w / 90, 1.0)) > 0.7) & zone
                img[streaks] += 55 * s
            elif name == "fracture":
                rib = np.abs(y - cy) < max(1.0, h / 120)
                gap = np.abs(x - cx) < w * 0.01
                img[rib & lung & ~gap] = 200
    grade = findings.get("edema_grade", 0)
    if grade:
        both = lungs["right"] | lungs["left"]
        hx1, hy1, hx2, hy2 = (int(v) for v in _box(anatomy.masks["heart"]))
        haze = np.exp(-(((x - (hx1 + hx2) / 2) / (w * 0.25)) ** 2 + ((y - hy1) / (h * 0.25)) ** 2))
        img[both] += (25 * grade * haze)[both]
    if findings.get("support_devices", {}).get("state") == "present":
        tube = np.abs(x - (w / 2 + (y - h * 0.1) * 0.05)) < max(1.0, w / 300)
        img[tube & (y < h * 0.55)] = 235

    img += rng.normal(0, 3, size=img.shape)
    out = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), mode="L")
    out = out.filter(ImageFilter.GaussianBlur(radius=max(0.6, w / 400)))
    return ImageOps.equalize(out)


def render_lateral(height: int, width: int, findings: dict, rng: np.random.Generator) -> Image.Image:
    """A lateral phantom (no masks are published for laterals)."""
    img = Image.new("L", (width, height), 8)
    d = ImageDraw.Draw(img)
    d.ellipse([width * 0.15, height * 0.05, width * 0.85, height * 1.1], fill=125)
    d.ellipse([width * 0.25, height * 0.12, width * 0.75, height * 0.78], fill=50)
    d.ellipse([width * 0.25, height * 0.45, width * 0.55, height * 0.8], fill=170)
    if findings.get("pleural_effusion", {}).get("state") == "present":
        d.rectangle([width * 0.55, height * 0.68, width * 0.78, height * 0.8], fill=150)
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 6, size=(height, width))
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), mode="L")
    return ImageOps.equalize(out.filter(ImageFilter.GaussianBlur(radius=max(0.6, width / 400))))


def _box(mask: np.ndarray):
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return cols[0], rows[0], cols[-1], rows[-1]
