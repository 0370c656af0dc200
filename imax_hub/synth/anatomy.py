"""Phantom chest anatomy: landmark polygons for the lungs and heart, their masks, RLEs, CTR and CPAR.

One :class:`Anatomy` is the single truth for an image: CheXmask rows are its RLEs and landmarks, the
JPEG draws exactly its masks, and CXR-Cardiomegaly's CTR/CPAR are computed from the same masks
(CTR = heart box width / width of the box around both lungs; CPAR = heart area / lung area).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imax_hub.geometry import encode_rle, mask_box, polygon_mask

# CheXmask landmark counts and order: right lung 0-43, left lung 44-93, heart 94-119.
N_RIGHT, N_LEFT, N_HEART = 44, 50, 26
PREPROCESSED_SIZE = 1024


@dataclass
class Anatomy:
    height: int
    width: int
    right_lung: np.ndarray  # (44, 2) int x, y; the patient's right lung lies on the image left
    left_lung: np.ndarray  # (50, 2)
    heart: np.ndarray  # (26, 2)
    masks: dict[str, np.ndarray]  # "right_lung", "left_lung", "heart" -> bool (H, W)
    ctr: float
    cpar: float

    @property
    def landmarks(self) -> np.ndarray:
        return np.concatenate([self.right_lung, self.left_lung, self.heart])

    def rles(self) -> dict[str, str]:
        return {k: encode_rle(m) for k, m in self.masks.items()}

    def boxes(self) -> dict[str, tuple[int, int, int, int]]:
        return {k: mask_box(m) for k, m in self.masks.items()}


def _lung_outline(n: int, cx: float, top: float, bottom: float, half_w: float, medial_sign: float) -> np.ndarray:
    """A lung-like closed outline: rounded apex, convex lateral wall, domed base, straighter medial edge."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    cy = (top + bottom) / 2
    half_h = (bottom - top) / 2
    x = np.cos(t)
    y = np.sin(t)
    # superellipse-ish: square off the base and lateral wall, keep the apex round
    px = np.sign(x) * np.abs(x) ** 0.7
    py = np.sign(y) * np.abs(y) ** np.where(y > 0, 0.6, 1.0)
    # medial side (towards the heart) is pulled in at the bottom, like the cardiac notch
    medial = (np.sign(px) == medial_sign) & (py > 0)
    px = np.where(medial, px * (1 - 0.35 * py), px)
    return np.stack([cx + half_w * px, cy + half_h * py], axis=1)


def make_anatomy(rng: np.random.Generator, height: int, width: int, *, enlarged_heart: bool) -> Anatomy:
    """Draw random but plausible lungs and heart in an image of the given size."""
    for _ in range(50):
        top = height * rng.uniform(0.10, 0.17)
        bottom = height * rng.uniform(0.70, 0.80)
        centre = width * rng.uniform(0.48, 0.52)
        gap = width * rng.uniform(0.045, 0.075)  # half the mediastinum width
        lung_w = width * rng.uniform(0.15, 0.19)  # half width of one lung
        right = _lung_outline(N_RIGHT, centre - gap - lung_w, top, bottom, lung_w, medial_sign=+1)
        left = _lung_outline(N_LEFT, centre + gap + lung_w, top + height * rng.uniform(-0.01, 0.01),
                             bottom + height * rng.uniform(0.0, 0.03), lung_w, medial_sign=-1)
        thorax = (left[:, 0].max() - right[:, 0].min())
        target_ctr = rng.uniform(0.53, 0.64) if enlarged_heart else rng.uniform(0.37, 0.47)
        heart_hw = target_ctr * thorax / 2
        heart_hh = height * rng.uniform(0.11, 0.15) * (1.1 if enlarged_heart else 1.0)
        hcx = centre + width * rng.uniform(0.02, 0.05)  # the heart sits left of the midline (image right)
        hcy = bottom - heart_hh * rng.uniform(0.9, 1.1)
        t = np.linspace(0, 2 * np.pi, N_HEART, endpoint=False)
        heart = np.stack([hcx + heart_hw * np.cos(t), hcy + heart_hh * np.sin(t)], axis=1)
        polys = [np.rint(p).astype(np.int64) for p in (right, left, heart)]
        for p in polys:
            np.clip(p[:, 0], 0, width - 1, out=p[:, 0])
            np.clip(p[:, 1], 0, height - 1, out=p[:, 1])
        masks = {name: polygon_mask(p, height, width) for name, p in zip(("right_lung", "left_lung", "heart"), polys)}
        ctr, cpar = ctr_cpar(masks)
        if (ctr > 0.5) == enlarged_heart and abs(ctr - 0.5) > 0.015:
            return Anatomy(height, width, *polys, masks=masks, ctr=ctr, cpar=cpar)
    raise RuntimeError("could not draw an anatomy with the requested heart size")  # pragma: no cover


def ctr_cpar(masks: dict[str, np.ndarray]) -> tuple[float, float]:
    """CTR (box widths) and CPAR (areas) from heart and lung masks."""
    lungs = masks["right_lung"] | masks["left_lung"]
    hx1, _, hx2, _ = mask_box(masks["heart"])
    lx1, _, lx2, _ = mask_box(lungs)
    ctr = (hx2 - hx1 + 1) / (lx2 - lx1 + 1)
    cpar = float(masks["heart"].sum()) / float(lungs.sum())
    return float(ctr), cpar


def to_preprocessed(points: np.ndarray, height: int, width: int, size: int = PREPROCESSED_SIZE) -> np.ndarray:
    """Map original-resolution points to CheXmask's Preprocessed grid (centred zero-pad to a square, resize)."""
    side = max(height, width)
    pad_x = (side - width) / 2
    pad_y = (side - height) / 2
    scale = size / side
    out = np.empty_like(points, dtype=np.float64)
    out[:, 0] = (points[:, 0] + pad_x) * scale
    out[:, 1] = (points[:, 1] + pad_y) * scale
    return np.clip(np.rint(out), 0, size - 1).astype(np.int64)
