"""Image-centric selection (IMAX), its train/test split, and the decentralised baseline (DMAX).

Everything here works on the candidate table (one row per possible entry, see :mod:`imax_hub.tasks`)
sorted by (dicom_id, task, key), and is deterministic given that table and the seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from imax_hub.tasks.registry import names as task_names


@dataclass
class Selection:
    """Row indices into the candidate table for each output split, plus what fell short."""

    imax_train: np.ndarray
    imax_test: np.ndarray
    dmax_train: np.ndarray
    test_patients: np.ndarray
    dmax_shortfall: dict[str, int] = field(default_factory=dict)  # task -> entries DMAX could not find
    eligible_images: int = 0


def _rank(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation's inverse: a seeded tie-break rank per position."""
    rank = np.empty(n, dtype=np.int64)
    rank[rng.permutation(n)] = np.arange(n)
    return rank


def select(candidates: pa.Table, subject_of: dict[str, int], *, target_images: int, min_tasks: int,
           split_by: str, seed: int, test_fraction: float = 0.2) -> Selection:
    """IMAX (image-centric) and DMAX (decentralised) row indices.

    ``subject_of`` maps dicom_id -> subject_id. IMAX: images with at least ``min_tasks`` tasks, ranked by
    task count (ties broken by a seeded permutation), up to ``target_images``, with all their entries;
    split 4:1 by patient (default) or by image. DMAX: per task, as many entries as IMAX-train has, from
    images outside IMAX and outside every test patient, each task drawing its images independently.
    """
    dicom = candidates.column("dicom_id").to_numpy(zero_copy_only=False)
    tasks = candidates.column("task").to_numpy(zero_copy_only=False)
    images, image_of_row = np.unique(dicom, return_inverse=True)
    names = task_names()
    task_index = {t: i for i, t in enumerate(names)}
    task_of_row = np.array([task_index[t] for t in tasks], dtype=np.int64) if len(tasks) else np.zeros(0, np.int64)
    has = np.zeros((len(images), len(names)), dtype=bool)
    has[image_of_row, task_of_row] = True
    n_tasks = has.sum(axis=1)

    rng = np.random.default_rng([seed, 1])
    tie = _rank(len(images), rng)
    eligible = np.flatnonzero(n_tasks >= min_tasks)
    order = eligible[np.lexsort((tie[eligible], -n_tasks[eligible]))]
    chosen = np.sort(order[:target_images])

    subjects = np.array([subject_of[d] for d in images], dtype=np.int64)
    test_images = _split(chosen, subjects, split_by, np.random.default_rng([seed, 2]), test_fraction)
    test_patients = np.unique(subjects[test_images])

    in_imax = np.zeros(len(images), dtype=bool)
    in_imax[chosen] = True
    in_test = np.zeros(len(images), dtype=bool)
    in_test[test_images] = True
    row_in_imax = in_imax[image_of_row]
    row_in_test = in_test[image_of_row]
    imax_train = np.flatnonzero(row_in_imax & ~row_in_test)
    imax_test = np.flatnonzero(row_in_test)

    pool = ~in_imax & ~np.isin(subjects, test_patients)
    dmax, shortfall = [], {}
    for t, name in enumerate(names):
        wanted = int((task_of_row[imax_train] == t).sum())
        if wanted == 0:
            continue
        rows = np.flatnonzero((task_of_row == t) & pool[image_of_row])
        # each task shuffles its own pool images, so tasks rarely land on the same image
        task_rng = np.random.default_rng([seed, 3, t])
        pool_images = np.unique(image_of_row[rows])
        position = _rank(len(pool_images), task_rng)
        image_rank = np.full(len(images), -1, dtype=np.int64)
        image_rank[pool_images] = position
        ordered = rows[np.lexsort((rows, image_rank[image_of_row[rows]]))]
        take = ordered[:wanted]
        if len(take) < wanted:
            shortfall[name] = wanted - len(take)
        dmax.append(take)
    dmax_train = np.sort(np.concatenate(dmax)) if dmax else np.zeros(0, dtype=np.int64)
    return Selection(imax_train=imax_train, imax_test=imax_test, dmax_train=dmax_train,
                     test_patients=test_patients, dmax_shortfall=shortfall, eligible_images=len(eligible))


def _split(chosen: np.ndarray, subjects: np.ndarray, split_by: str, rng: np.random.Generator,
           test_fraction: float) -> np.ndarray:
    """Image indices of the test split: a seeded 1-in-5 of the patients (or of the images)."""
    want = int(round(len(chosen) * test_fraction))
    if want == 0:
        return np.zeros(0, dtype=np.int64)
    if split_by == "image":
        return np.sort(chosen[rng.permutation(len(chosen))[:want]])
    if split_by != "patient":
        raise ValueError(f"split_by must be 'patient' or 'image', not {split_by!r}")
    patients, counts = np.unique(subjects[chosen], return_counts=True)
    order = rng.permutation(len(patients))
    cumulative = np.cumsum(counts[order])
    # the smallest prefix of shuffled patients reaching the wanted number of test images
    k = int(np.searchsorted(cumulative, want)) + 1
    test_patients = patients[order[:k]]
    return np.sort(chosen[np.isin(subjects[chosen], test_patients)])
