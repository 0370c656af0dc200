"""The synthetic cohort: patients, studies, images and the ground truth every source is written from.

Counts scale with ``patients`` in MIMIC-CXR-JPG's proportions (65,379 patients, 227,827 studies,
377,110 images), so ``patients=65379`` gives exactly the full release's totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FULL_PATIENTS, FULL_STUDIES, FULL_IMAGES = 65_379, 227_827, 377_110

# Findings drawn in the phantoms, with their prevalence per study.
PREVALENCE = {
    "pleural_effusion": 0.22,
    "atelectasis": 0.18,
    "lung_opacity": 0.14,
    "pneumonia": 0.06,
    "consolidation": 0.04,
    "pneumothorax": 0.04,
    "fracture": 0.03,
    "infiltration": 0.03,
    "nodule": 0.04,
    "support_devices": 0.22,
}
ZONE_OF = {"pleural_effusion": "lower", "atelectasis": "lower", "pneumothorax": "upper", "fracture": "mid"}
FRONTAL_VIEWS = ("AP", "PA")
RARE_VIEWS = ("LAO", "RAO", "AP AXIAL", "AP LLD", "AP RLD", "PA LLD", "PA RLD", "XTABLE LATERAL", "SWIMMERS")
VIEW_CODE = {
    "PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral",
    "LAO": "left anterior oblique", "RAO": "right anterior oblique", "AP AXIAL": "antero-posterior",
    "AP LLD": "antero-posterior", "AP RLD": "antero-posterior", "PA LLD": "postero-anterior",
    "PA RLD": "postero-anterior", "XTABLE LATERAL": "lateral", "SWIMMERS": "lateral",
}
# (rows, columns) of full-resolution MIMIC-CXR-JPG images seen in the metadata.
FULL_SIZES = ((3056, 2544), (2544, 3056), (3050, 2539), (2539, 3050), (3056, 2544), (2022, 2022), (3520, 4280))
ASPECTS = tuple(r / c for r, c in FULL_SIZES[:4])


@dataclass
class Patient:
    subject_id: int
    gender: str  # "M" / "F"
    chf: bool  # in the CHF cohort of MIMIC-CXR-PE-Severity
    enlarged_heart: bool
    split: str  # MIMIC split: train / validate / test
    lt_split: str  # CXR-LT 2024 split: train / development / test
    vqa_split: str  # MIMIC-CXR-VQA split: train / valid / test


@dataclass
class Study:
    subject_id: int
    study_id: int
    kind: str  # procedure, e.g. "CHEST (PA AND LAT)"
    date: int  # YYYYMMDD in 21xx
    time: float  # HHMMSS.fff
    findings: dict
    edema_grade: int
    images: list = field(default_factory=list)


@dataclass
class ImageRec:
    dicom_id: str
    subject_id: int
    study_id: int
    view: str  # true view: AP, PA, LATERAL, LL or a rare one
    view_position: str  # as written in the metadata ("" for ~4% of images)
    rows: int
    columns: int
    anatomy: int = -1  # index into the anatomy pool for frontal images

    @property
    def frontal(self) -> bool:
        return self.view in FRONTAL_VIEWS

    @property
    def rel_path(self) -> str:
        s = str(self.subject_id)
        return f"files/p{s[:2]}/p{s}/s{self.study_id}/{self.dicom_id}.jpg"


@dataclass
class Cohort:
    patients: list[Patient]
    studies: list[Study]
    images: list[ImageRec]


def _unique_ids(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    ids = rng.choice(hi - lo, size=n, replace=False) + lo
    return np.sort(ids)


def _spread(rng: np.random.Generator, total_extra: int, n: int) -> np.ndarray:
    """Distribute ``total_extra`` items over ``n`` bins, skewed like real per-patient counts."""
    if total_extra <= 0:
        return np.zeros(n, dtype=np.int64)
    weights = rng.lognormal(0.0, 1.0, size=n)
    return rng.multinomial(total_extra, weights / weights.sum())


def _findings(rng: np.random.Generator, chf: bool) -> tuple[dict, int]:
    f: dict = {}
    for name, p in PREVALENCE.items():
        r = rng.random()
        if r < p:
            state = "present"
        elif r < p * 1.3 and name not in ("support_devices", "fracture"):
            state = "uncertain"
        elif rng.random() < 0.5:
            state = "negative"  # mentioned as absent in the report
        else:
            state = "absent"
        if name == "pleural_effusion" and rng.random() < 0.4:
            sides = ("left", "right")
        else:
            sides = (("left", "right")[rng.integers(2)],)
        zone = ZONE_OF.get(name) or ("upper", "mid", "lower")[rng.integers(3)]
        f[name] = {"state": state, "sides": sides, "zone": zone}
    # pneumonia is drawn as a consolidation, and both are lung opacities
    if f["pneumonia"]["state"] == "present":
        f["consolidation"] = dict(f["pneumonia"])
    if f["consolidation"]["state"] == "present" and f["lung_opacity"]["state"] != "present":
        f["lung_opacity"] = dict(f["consolidation"])
    if chf:
        grade = int(rng.choice(4, p=[0.42, 0.22, 0.26, 0.10]))
    else:
        grade = 2 if rng.random() < 0.05 else 0
    f["edema_grade"] = grade
    f["edema"] = {
        "state": "present" if grade >= 2 else ("uncertain" if grade == 1 else ("negative" if rng.random() < 0.4 else "absent")),
        "sides": ("left", "right"),
        "zone": "mid",
    }
    return f, grade


def make_cohort(patients: int, seed: int, *, image_size: int | None) -> Cohort:
    """Patients, studies and images, deterministic for (patients, seed, image_size)."""
    if patients < 1:
        raise ValueError("patients must be at least 1")
    rng = np.random.default_rng([seed, 1])
    n_studies = max(patients, round(patients * FULL_STUDIES / FULL_PATIENTS))
    n_images = max(n_studies, round(patients * FULL_IMAGES / FULL_PATIENTS))
    small = patients < 5000

    subject_ids = _unique_ids(rng, patients, 10_000_000, 20_000_000)
    study_ids = rng.permutation(_unique_ids(rng, n_studies, 50_000_000, 60_000_000))
    per_patient = 1 + _spread(rng, n_studies - patients, patients)

    chf_rate = 0.026 if not small else min(0.2, max(0.026, 25 / patients))
    split_p = [0.88, 0.04, 0.08] if small else [0.978, 0.008, 0.014]
    pats: list[Patient] = []
    for sid in subject_ids:
        pats.append(Patient(
            subject_id=int(sid),
            gender="F" if rng.random() < 0.52 else "M",
            chf=bool(rng.random() < chf_rate),
            enlarged_heart=bool(rng.random() < 0.22),
            split=str(rng.choice(["train", "validate", "test"], p=split_p)),
            lt_split=str(rng.choice(["train", "development", "test"], p=[0.686, 0.104, 0.21])),
            vqa_split=str(rng.choice(["train", "valid", "test"], p=[0.88, 0.06, 0.06] if small else [0.93, 0.06, 0.01])),
        ))

    # every split value appears, however small the tree (the spec's fixtures need all of them)
    for attr, values in (("split", ("train", "validate", "test")), ("lt_split", ("train", "development", "test")),
                         ("vqa_split", ("train", "valid", "test"))):
        for j, value in enumerate(values):
            if len(pats) >= len(values) and all(getattr(p, attr) != value for p in pats):
                setattr(pats[j * (len(pats) // len(values))], attr, value)

    kinds = [("CHEST (PA AND LAT)", ("PA", "LATERAL")), ("CHEST (PORTABLE AP)", ("AP",)),
             ("CHEST (PA AND LAT)", ("AP", "LATERAL")), ("CHEST (PA AND LAT)", ("PA",)), ("CHEST (LAT ONLY)", ("LATERAL",))]
    kind_p = [0.38, 0.52, 0.05, 0.03, 0.02]
    studies: list[Study] = []
    k = 0
    for p, n in zip(pats, per_patient):
        date0 = (2110 + int(rng.integers(0, 90))) * 10000 + int(rng.integers(1, 13)) * 100 + int(rng.integers(1, 28))
        for j in range(int(n)):
            kind, views = kinds[int(rng.choice(len(kinds), p=kind_p))]
            year, md = divmod(date0, 10000)
            month, day = divmod(md, 100)
            month = (month - 1 + j) % 12 + 1
            year += (date0 // 100 % 100 - 1 + j) // 12
            hh, mm, ss, ms = int(rng.integers(0, 24)), int(rng.integers(0, 60)), int(rng.integers(0, 60)), int(rng.integers(0, 1000))
            findings, grade = _findings(rng, p.chf)
            st = Study(p.subject_id, int(study_ids[k]), kind, year * 10000 + month * 100 + day,
                       hh * 10000 + mm * 100 + ss + ms / 1000, findings, grade)
            st.images = list(views)
            studies.append(st)
            k += 1

    extra = _spread(rng, n_images - sum(len(s.images) for s in studies), len(studies))
    images: list[ImageRec] = []
    for st, e in zip(studies, extra):
        views = list(st.images)
        for _ in range(int(e)):
            r = rng.random()
            views.append(RARE_VIEWS[int(rng.integers(len(RARE_VIEWS)))] if r < 0.02 else ("LL" if r < 0.5 else views[0]))
        st.images = []
        for v in views:
            dicom = "-".join(f"{x:08x}" for x in rng.integers(0, 2**32, size=5, dtype=np.uint64))
            if image_size is None:
                rows, cols = FULL_SIZES[int(rng.integers(len(FULL_SIZES)))]
            else:
                aspect = ASPECTS[int(rng.integers(len(ASPECTS)))] * rng.uniform(0.97, 1.03)
                if aspect >= 1:
                    rows, cols = image_size, int(round(image_size / aspect))
                else:
                    rows, cols = int(round(image_size * aspect)), image_size
            vp = "" if rng.random() < 0.04 else v
            rec = ImageRec(dicom, st.subject_id, st.study_id, v, vp, int(rows), int(cols))
            st.images.append(rec)
            images.append(rec)
    studies.sort(key=lambda s: (s.subject_id, s.study_id))
    images.sort(key=lambda im: (im.subject_id, im.study_id, im.dicom_id))
    return Cohort(pats, studies, images)
