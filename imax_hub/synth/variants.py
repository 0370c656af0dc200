"""Real-world forms of the PhysioNet files, written into a synthetic tree (``imax synth --variant NAME``).

The pristine synthetic tree follows the release notes to the letter; real downloads do not always. Each
variant here rewrites the files of one source the way they exist, or plausibly exist, on researchers'
disks, with the evidence beside it, so the readers are tested against the forms they will meet. Every
variant carries the same data as the pristine tree, except where its name says a row is damaged; the
project's ``SHA256SUMS.txt`` is rewritten to match, so ``imax check --verify-checksums`` still passes.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imax_hub.geometry import decode_rle, encode_rle
from imax_hub.sources import layout


@dataclass(frozen=True)
class Variant:
    name: str
    project: layout.Project
    what: str  # what is different, in a few words
    evidence: str  # where this form comes from
    apply: Callable[[Path], None]  # rewrites the project folder (<root>/<slug>/<version>) in place


def _read_csv(path: Path) -> tuple[list[list[str]], bool]:
    data = path.read_bytes()
    gz = data[:2] == b"\x1f\x8b"
    text = (gzip.decompress(data) if gz else data).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline=""))), gz


def _write_csv(path: Path, rows: list[list[str]], *, gz: bool, newline: str = "\n", bom: bool = False) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    data = (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8")
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def _existing(path: Path) -> Path:
    """``path``, or its gzipped / gunzipped form when an earlier variant renamed it."""
    for candidate in (path, path.with_name(path.name + ".gz"), path.with_suffix("") if path.suffix == ".gz" else path):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(path)


def _edit_csv(path: Path, edit: Callable[[list[list[str]]], list[list[str]]], *, gz: bool | None = None,
              **kwargs) -> None:
    path = _existing(path)
    rows, was_gz = _read_csv(path)
    out = path
    if gz is not None and gz != was_gz:
        out = path.with_name(path.name + ".gz") if gz else path.with_suffix("")
    _write_csv(out, edit(rows), gz=was_gz if gz is None else gz, **kwargs)
    if out != path:
        path.unlink()


def _column(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def resum(base: Path) -> None:
    """Rewrite ``SHA256SUMS.txt`` of a project folder for the files now in it."""
    lines = []
    for path in sorted(p for p in base.rglob("*") if p.is_file() and p.name != "SHA256SUMS.txt"):
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()} {path.relative_to(base).as_posix()}\n")
    (base / "SHA256SUMS.txt").write_text("".join(lines))


# -- MIMIC-CXR-JPG ---------------------------------------------------------------------------------

def _metadata_extra_column(base: Path) -> None:
    def edit(rows):
        at = _column(rows, "StudyTime") + 1
        return [r[:at] + (["AcquisitionDeviceProcessingDescription"] if i == 0 else ["CHEST"]) + r[at:]
                for i, r in enumerate(rows)]
    _edit_csv(base / "mimic-cxr-2.0.0-metadata.csv.gz", edit)


def _metadata_float_integers(base: Path) -> None:
    def edit(rows):
        for name in ("Rows", "Columns", "StudyDate"):
            k = _column(rows, name)
            for r in rows[1:]:
                r[k] = f"{r[k]}.0"
        return rows
    _edit_csv(base / "mimic-cxr-2.0.0-metadata.csv.gz", edit)


def _metadata_one_bad_row(base: Path) -> None:
    def edit(rows):
        rows[len(rows) // 2][_column(rows, "Rows")] = "n/a"
        return rows
    _edit_csv(base / "mimic-cxr-2.0.0-metadata.csv.gz", edit)


def _jpg_gunzipped(base: Path) -> None:
    for path in sorted(base.glob("*.csv.gz")):
        path.with_suffix("").write_bytes(gzip.decompress(path.read_bytes()))
        path.unlink()


def _no_test_set_labels(base: Path) -> None:
    (base / "mimic-cxr-2.1.0-test-set-labeled.csv").unlink()


# -- MIMIC-CXR reports -------------------------------------------------------------------------------

def _rewrite_reports(base: Path, change: Callable[[str, str], bytes], *, in_folder: bool = True) -> None:
    zpath = base / "mimic-cxr-reports.zip"
    with zipfile.ZipFile(zpath) as zf:
        members = [(info, zf.read(info).decode("utf-8")) for info in zf.infolist()]
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, text in members:
            data = change(info.filename, text)
            zf.writestr(info, data)
            rel = info.filename.split("mimic-cxr-reports/", 1)[-1]
            if in_folder and (base / rel).is_file():
                (base / rel).write_bytes(data)


def _reports_crlf(base: Path) -> None:
    # zip tools on Windows (and git's autocrlf) turn LF into CRLF; only the zip changes here
    _rewrite_reports(base, lambda name, text: text.replace("\n", "\r\n").encode(), in_folder=False)


def _reports_folder_crlf(base: Path) -> None:
    (base / "mimic-cxr-reports.zip").unlink()
    for path in sorted((base / "files").rglob("*.txt")):
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))


def _reports_latin1(base: Path) -> None:
    state = {"done": False}

    def change(name: str, text: str) -> bytes:
        if not state["done"] and "___" in text:
            state["done"] = True
            return text.replace("___", "___ (temp 38\u00b0C, caf\u00e9)", 1).encode("latin-1")
        return text.encode("utf-8")
    _rewrite_reports(base, change)


# -- CXR-Cardiomegaly, PE-Severity, CXR-LT ----------------------------------------------------------------

def _with_index(rows: list[list[str]], rename: dict[str, str] | None = None) -> list[list[str]]:
    header = [(rename or {}).get(c, c) for c in rows[0]]
    return [[""] + header] + [[str(i)] + r for i, r in enumerate(rows[1:])]


def _cardiomegaly_index_column(base: Path) -> None:
    for name in ("CTRs.csv", "CPARs.csv"):
        _edit_csv(base / name, lambda rows: _with_index(rows, {"dicom_file": "dicom_id"}))


def _pe_index_column(base: Path) -> None:
    for path in sorted(base.glob("*_edema_severity.csv")):
        _edit_csv(path, _with_index)


def _cxr_lt_float_labels(base: Path) -> None:
    def edit(rows):
        first = _column(rows, "fpath") + 1
        return rows[:1] + [r[:first] + [f"{v}.0" for v in r[first:]] for r in rows[1:]]
    for path in sorted((base / layout.CXR_LT.data_subdir).glob("*_task1.csv")) + [
            base / layout.CXR_LT.data_subdir / "train_labeled.csv"]:
        _edit_csv(path, edit)


def _cxr_lt_excel(base: Path) -> None:
    for path in sorted((base / layout.CXR_LT.data_subdir).glob("*.csv")):
        _edit_csv(path, lambda rows: rows, newline="\r\n", bom=True)


# -- CheXmask ------------------------------------------------------------------------------------------

CHEXMASK_FILE = "OriginalResolution/MIMIC-CXR-JPG.csv"


def _chexmask_max_before_mean(base: Path) -> None:
    def edit(rows):
        a, b = _column(rows, "Dice RCA (Mean)"), _column(rows, "Dice RCA (Max)")
        for r in rows:
            r[a], r[b] = r[b], r[a]
        return rows
    _edit_csv(base / CHEXMASK_FILE, edit)


def _chexmask_gzipped(base: Path) -> None:
    _edit_csv(base / CHEXMASK_FILE, lambda rows: rows, gz=True)


def _chexmask_float_sizes(base: Path) -> None:
    def edit(rows):
        for name in ("Height", "Width"):
            k = _column(rows, name)
            for r in rows[1:]:
                r[k] = f"{r[k]}.0"
        return rows
    _edit_csv(base / CHEXMASK_FILE, edit)


def _chexmask_one_size_mismatch(base: Path) -> None:
    def edit(rows):
        k = _column(rows, "Height")
        rows[2][k] = str(int(rows[2][k]) + 1)
        return rows
    _edit_csv(base / CHEXMASK_FILE, edit)


def swap_canvas(rle: str, height: int, width: int) -> str:
    """The RLE CheXmask's ``back_mimic.py`` writes when it swaps height and width: the same pixels, at their
    (row, column) in the image, on a canvas of ``width`` rows and ``height`` columns (what does not fit is
    clipped, as ``cv2.drawContours`` clips)."""
    mask = decode_rle(rle, height, width) > 0
    canvas = np.zeros((width, height), dtype=bool)
    r, c = min(height, width), min(width, height)
    canvas[:r, :c] = mask[:r, :c]
    return encode_rle(canvas)


def _chexmask_swapped_sizes(base: Path) -> None:
    def edit(rows):
        h, w = _column(rows, "Height"), _column(rows, "Width")
        masks = [_column(rows, name) for name in ("Left Lung", "Right Lung", "Heart")]
        for r in rows[1::2]:  # every other row, so a tree has both forms
            height, width = int(r[h]), int(r[w])
            for k in masks:
                r[k] = swap_canvas(r[k], height, width)
            r[h], r[w] = str(width), str(height)
        return rows
    _edit_csv(base / CHEXMASK_FILE, edit)


def _chexmask_unknown_version(base: Path) -> None:
    target = base.parent / "1.1.0"
    shutil.move(str(base), str(target))


# -- MIMIC-Ext-MIMIC-CXR-VQA ------------------------------------------------------------------------------

def _vqa_integer_ids(base: Path) -> None:
    for path in sorted((base / layout.MIMIC_CXR_VQA.data_subdir).glob("*.json")):
        entries = json.loads(path.read_text())
        for e in entries:
            for key in ("subject_id", "study_id", "idx"):
                e[key] = int(e[key])
        path.write_text(json.dumps(entries, indent=4))


_P = layout
VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("metadata-extra-column", _P.MIMIC_CXR_JPG, "an AcquisitionDeviceProcessingDescription column after StudyTime",
            "MIT-LCP/mimic-cxr dcm/create-mimic-cxr-jpg-metadata.ipynb exports this column", _metadata_extra_column),
    Variant("metadata-float-integers", _P.MIMIC_CXR_JPG, "Rows, Columns and StudyDate written as 3056.0",
            "pandas writes an integer column that held a missing value as floats", _metadata_float_integers),
    Variant("metadata-one-bad-row", _P.MIMIC_CXR_JPG, "one row's Rows is 'n/a'",
            "a damaged row must be set aside, not switch the source off", _metadata_one_bad_row),
    Variant("jpg-gunzipped", _P.MIMIC_CXR_JPG, "the four CSVs gunzipped to .csv",
            "users gunzip the downloads; public loaders read either name", _jpg_gunzipped),
    Variant("no-test-set-labels", _P.MIMIC_CXR_JPG, "mimic-cxr-2.1.0-test-set-labeled.csv absent",
            "MIMIC-CXR-JPG 2.0.0 has no such file, and no task uses it", _no_test_set_labels),
    Variant("reports-crlf", _P.MIMIC_CXR_REPORTS, "zip members with CRLF line ends",
            "zip tools on Windows and git's autocrlf rewrite line ends", _reports_crlf),
    Variant("reports-folder-crlf", _P.MIMIC_CXR_REPORTS, "no zip; the extracted files with CRLF line ends",
            "an archive extracted on Windows", _reports_folder_crlf),
    Variant("reports-latin1", _P.MIMIC_CXR_REPORTS, "one report with Latin-1 bytes (degree sign, e-acute)",
            "free text from clinical systems is not always UTF-8", _reports_latin1),
    Variant("cardiomegaly-index-column", _P.CXR_CARDIOMEGALY, "',dicom_id,CTR': a pandas index column, id named dicom_id",
            "benduvi20/CardiomegalyBiomarkers Biomarker Extraction/CTR_full_MIMIC.py: DataFrame(columns=['dicom_id', "
            "'CTR']).to_csv(path) with the default index", _cardiomegaly_index_column),
    Variant("pe-index-column", _P.PE_SEVERITY, "a leading unnamed pandas index column",
            "pandas' to_csv default, as a re-export of the CSVs writes them", _pe_index_column),
    Variant("cxr-lt-float-labels", _P.CXR_LT, "task-1 labels written as 1.0 / 0.0",
            "pandas writes label columns with a missing value as floats", _cxr_lt_float_labels),
    Variant("cxr-lt-excel", _P.CXR_LT, "UTF-8 BOM and CRLF line ends (Excel's 'CSV UTF-8')",
            "CSVs opened and saved again in a spreadsheet", _cxr_lt_excel),
    Variant("chexmask-max-before-mean", _P.CHEXMASK, "Dice RCA (Max) before Dice RCA (Mean)",
            "CheXmask DATA_DICTIONARY.md lists Max first", _chexmask_max_before_mean),
    Variant("chexmask-gzipped", _P.CHEXMASK, "OriginalResolution/MIMIC-CXR-JPG.csv.gz",
            "earlier CheXmask versions and notebooks use .csv.gz", _chexmask_gzipped),
    Variant("chexmask-float-sizes", _P.CHEXMASK, "Height and Width written as 3056.0",
            "pandas float columns in the authors' export", _chexmask_float_sizes),
    Variant("chexmask-one-size-mismatch", _P.CHEXMASK, "one row's Height disagrees with the JPG metadata",
            "a damaged row must be set aside, not switch REC and REG off", _chexmask_one_size_mismatch),
    Variant("chexmask-swapped-sizes", _P.CHEXMASK, "every other row written on a Columns x Rows canvas",
            "ngaggion/CheXmask-Database DataPostprocessing/ReversePreprocessing/back_mimic.py swaps height and "
            "width (see imax_hub/sources/chexmask.py)", _chexmask_swapped_sizes),
    Variant("chexmask-unknown-version", _P.CHEXMASK, "the project under a version folder 1.1.0",
            "PhysioNet publishes new versions in new folders", _chexmask_unknown_version),
    Variant("vqa-integer-ids", _P.MIMIC_CXR_VQA, "subject_id, study_id and idx as JSON integers",
            "baeseongsu/mimic-cxr-vqa writes them with default=str; a json re-dump writes integers", _vqa_integer_ids),
)}


def apply_variants(root: str | Path, names: list[str] | tuple[str, ...]) -> None:
    """Rewrite a synthetic tree into the named real-world forms (see :data:`VARIANTS`)."""
    root = Path(root)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    for name in names:
        v = VARIANTS[name]
        base = root / v.project.slug / v.project.version
        if not base.is_dir():
            raise ValueError(f"variant {name}: {base} not found (apply a version-moving variant last)")
        v.apply(base)
        if base.is_dir():  # a variant that moves the whole folder keeps its SHA256SUMS.txt valid
            resum(base)
