"""The synthetic tree: exact layout, determinism, and agreement between images, masks, labels and text."""

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from PIL import Image

from imax_hub.check import verify_checksums
from imax_hub.geometry import decode_rle
from imax_hub.sources import read_cardiomegaly, read_chexmask, read_labels, read_metadata, read_reports, read_vqa
from imax_hub.sources.mimic_cxr_jpg import METADATA_COLUMNS
from imax_hub.synth import synthesize
from imax_hub.synth.anatomy import ctr_cpar
from imax_hub.synth.cohort import FULL_IMAGES, FULL_PATIENTS, FULL_STUDIES, make_cohort

JPG = "mimic-cxr-jpg/2.1.0"


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_by_seed(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    synthesize(a, patients=6, seed=11, image_size=96)
    synthesize(b, patients=6, seed=11, image_size=96)
    synthesize(c, patients=6, seed=12, image_size=96)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_full_scale_counts_are_mimic_counts():
    cohort = make_cohort(FULL_PATIENTS, 0, image_size=None)
    assert (len(cohort.patients), len(cohort.studies), len(cohort.images)) == (FULL_PATIENTS, FULL_STUDIES, FULL_IMAGES)


def test_exact_files_and_headers(tiny_tree):
    base = tiny_tree / JPG
    for name in ("mimic-cxr-2.0.0-metadata.csv.gz", "mimic-cxr-2.0.0-split.csv.gz", "mimic-cxr-2.0.0-chexpert.csv.gz",
                 "mimic-cxr-2.0.0-negbio.csv.gz", "mimic-cxr-2.1.0-test-set-labeled.csv", "IMAGE_FILENAMES",
                 "LICENSE.txt", "SHA256SUMS.txt"):
        assert (base / name).is_file(), name
    text = gzip.decompress((base / "mimic-cxr-2.0.0-metadata.csv.gz").read_bytes()).decode()
    lines = text.splitlines()
    assert lines[0] == ",".join(METADATA_COLUMNS)
    # StudyTime without leading zero: some times before 10:00 have only five digits before the point
    times = [ln.split(",")[8] for ln in lines[1:]]
    assert any(len(t.split(".")[0]) < 6 for t in times)
    assert ",," in text  # empty cells
    meta = read_metadata(tiny_tree)
    assert (base / "IMAGE_FILENAMES").read_text().splitlines() == meta.column("image_path").to_pylist()
    for project in ("mimic-cxr-jpg/2.1.0", "mimic-cxr/2.1.0", "cxr-cardiomegaly/1.0.0", "chexmask-cxr-segmentation-data/1.0.0"):
        ok, failures, absent = verify_checksums(tiny_tree / project)
        assert ok > 0 and not failures and not absent
    assert (tiny_tree / "mimic-ext-mimic-cxr-vqa/1.0.0/MIMIC-Ext-MIMIC-CXR-VQA/dataset/train.json").is_file()
    assert (tiny_tree / "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv").read_text().count("[[") > 0


def test_jpegs_match_metadata(tiny_tree):
    meta = read_metadata(tiny_tree)
    for row in meta.slice(0, 20).to_pylist():
        im = Image.open(tiny_tree / JPG / row["image_path"])
        assert im.mode == "L" and im.size == (row["columns"], row["rows"])


def test_drawn_anatomy_is_the_masks(tiny_tree):
    """Heart pixels are bright and lung pixels dark exactly where CheXmask says."""
    meta = read_metadata(tiny_tree)
    path_of = dict(zip(meta.column("dicom_id").to_pylist(), meta.column("image_path").to_pylist()))
    import csv
    with open(tiny_tree / "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:10]:
        h, w = int(row["Height"]), int(row["Width"])
        img = np.asarray(Image.open(tiny_tree / JPG / path_of[row["dicom_id"]]), dtype=float)
        heart = decode_rle(row["Heart"], h, w) > 0
        lungs = (decode_rle(row["Left Lung"], h, w) > 0) | (decode_rle(row["Right Lung"], h, w) > 0)
        assert img[heart].mean() > img[lungs & ~heart].mean() + 40


def test_ctr_cpar_computed_from_the_masks(tiny_tree):
    import csv
    card = {r["dicom_id"]: r for r in read_cardiomegaly(tiny_tree).to_pylist()}
    with open(tiny_tree / "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dicom_id"] in card and card[r["dicom_id"]]["ctr"] is not None]
    assert rows
    for row in rows:
        h, w = int(row["Height"]), int(row["Width"])
        masks = {k: decode_rle(row[c], h, w) > 0 for k, c in (("heart", "Heart"), ("left_lung", "Left Lung"), ("right_lung", "Right Lung"))}
        ctr, cpar = ctr_cpar(masks)
        assert abs(card[row["dicom_id"]]["ctr"] - ctr) < 1e-12


def test_labels_reports_and_vqa_agree_with_heart_size(tiny_tree):
    meta = read_metadata(tiny_tree)
    card = read_cardiomegaly(tiny_tree).to_pylist()
    study_of = dict(zip(meta.column("dicom_id").to_pylist(), meta.column("study_id").to_pylist()))
    chex = {r["study_id"]: r for r in read_labels(tiny_tree).to_pylist()}
    reports = {r["study_id"]: r for r in read_reports(tiny_tree).to_pylist()}
    checked = 0
    for r in card:
        if r["ctr"] is None:
            continue
        study = study_of[r["dicom_id"]]
        big = r["ctr"] > 0.5
        if study in chex:
            assert chex[study]["Cardiomegaly"] == (1 if big else 0)
        text = reports[study]["conclusion"] or ""
        full = " ".join(v or "" for k, v in reports[study].items() if isinstance(v, str))
        assert ("heart is enlarged" in full or "Cardiomegaly" in full) == big, text
        checked += 1
    assert checked > 3
    vqa = read_vqa(tiny_tree)
    size = vqa.filter(pc.equal(vqa.column("content_type"), "size")).to_pylist()
    ctr_of = {r["dicom_id"]: r["ctr"] for r in card if r["ctr"] is not None}
    for q in size:
        if q["dicom_id"] in ctr_of:
            assert q["answer"] == (["yes"] if ctr_of[q["dicom_id"]] > 0.5 else ["no"])


def test_no_images_tree_has_realistic_rle(tmp_path):
    root = tmp_path / "t"
    synthesize(root, patients=5, seed=1, images=False)
    assert not list((root / JPG).rglob("*.jpg"))
    t = read_chexmask(root, image_sizes=read_metadata(root))
    # about one run per mask row at original resolution
    import csv
    with open(root / "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv") as fh:
        row = next(csv.DictReader(fh))
    runs = len(row["Left Lung"].split()) // 2
    box = t.column("left_lung_box")[0].as_py()
    assert runs == box[3] - box[1] + 1
    assert int(row["Height"]) >= 2000
