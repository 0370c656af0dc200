"""Damaged source files, one case each: what is done to a copy of the tiny synthetic tree, and what the
message of `imax check ROOT --max-bad-rows 0` must say (the damaged file's name always; where it applies the
line, column and value). Used by tests/test_bad_input.py.

The damages are the ones real copies suffer: a value of the wrong type or range, an empty required cell, a
column renamed or doubled, a row cut short, a row repeated with other values, a file cut off, emptied or
replaced by other bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

JPG = "mimic-cxr-jpg/2.1.0"
META = f"{JPG}/mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT = f"{JPG}/mimic-cxr-2.0.0-split.csv.gz"
CHEXPERT = f"{JPG}/mimic-cxr-2.0.0-chexpert.csv.gz"
NEGBIO = f"{JPG}/mimic-cxr-2.0.0-negbio.csv.gz"
TEST_LABELS = f"{JPG}/mimic-cxr-2.1.0-test-set-labeled.csv"
CTR = "cxr-cardiomegaly/1.0.0/CTRs.csv"
CPAR = "cxr-cardiomegaly/1.0.0/CPARs.csv"
PE = "mimic-cxr-pe-severity/1.0.1"
CONSENSUS, EXPERT, REGEX = (f"{PE}/{n}_edema_severity.csv" for n in ("consensus_image", "expert_report", "regex_report"))
LT = "cxr-lt-iccv-workshop-cvamd/2.0.0/cxr-lt-2024"
LT_TRAIN, LT_DEV, LT_TEST = (f"{LT}/{n}.csv" for n in ("train_labeled", "development_labeled_task1", "test_labeled_task1"))
CHEXMASK = "chexmask-cxr-segmentation-data/1.0.0/OriginalResolution/MIMIC-CXR-JPG.csv"
VQA = "mimic-ext-mimic-cxr-vqa/1.0.0/MIMIC-Ext-MIMIC-CXR-VQA/dataset"
VQA_TRAIN, VQA_VALID = f"{VQA}/train.json", f"{VQA}/valid.json"
REPORTS_ZIP = "mimic-cxr/2.1.0/mimic-cxr-reports.zip"


@dataclass(frozen=True)
class Case:
    name: str
    file: str  # relative to the tree; its name must appear in the message (unless damage returns the file)
    damage: Callable[[Path], Path | None]
    expect: tuple[str, ...]  # further fragments of the message
    exit: int = 1  # 0: a file no task uses is damaged: a note, the check still passes

    def __str__(self) -> str:
        return self.name


# -- CSV editing (plain or gzipped, records that may span lines) ---------------------------------------------

def _read(path: Path) -> list[list[str]]:
    data = path.read_bytes()
    text = (gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data).decode()
    csv.field_size_limit(1 << 30)
    return list(csv.reader(io.StringIO(text, newline="")))


def _write(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    data = buf.getvalue().encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def edit(rel: str, fn: Callable[[list[list[str]]], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        rows = _read(root / rel)
        fn(rows)
        _write(root / rel, rows)
    return damage


def cell(rel: str, column: str, value: str, row: int = 2) -> Callable[[Path], None]:
    """Data row ``row`` (0-based; line row + 2 in a one-line-per-record file) gets ``value`` in ``column``."""
    def fn(rows):
        rows[row + 1][rows[0].index(column)] = value
    return edit(rel, fn)


def rename_column(rel: str, column: str, new: str) -> Callable[[Path], None]:
    def fn(rows):
        rows[0][rows[0].index(column)] = new
    return edit(rel, fn)


def short_row(rel: str, row: int = 3) -> Callable[[Path], None]:
    def fn(rows):
        rows[row + 1] = rows[row + 1][:-1]
    return edit(rel, fn)


def _other(value: str) -> str:
    """Another value of the same kind, valid where the original was (so only the repeat is wrong)."""
    swaps = {"0": "1", "1": "0", "0.0": "1.0", "1.0": "0.0", "-1.0": "0.0", "": "1.0", "train": "test", "test": "train",
             "validate": "train"}
    if value in swaps:
        return swaps[value]
    if value.isdigit():
        return "1" if value != "1" else "0"
    try:
        return "0.5" if float(value) != 0.5 else "0.25"
    except ValueError:
        return value[::-1]


def conflicting_repeat(rel: str, column: str, row: int = 1) -> Callable[[Path], None]:
    """A copy of data row ``row`` appended with ``column`` changed: the same key, other values."""
    def fn(rows):
        copy = list(rows[row + 1])
        i = rows[0].index(column)
        copy[i] = _other(copy[i])
        rows.append(copy)
    return edit(rel, fn)


def copied_row(src: str, dst: str, change: str | None = None) -> Callable[[Path], None]:
    """The first data row of ``src`` appended to ``dst`` (``change``: with that column's value altered)."""
    def damage(root: Path) -> None:
        head, first = _read(root / src)[:2]
        rows = _read(root / dst)
        row = dict(zip(head, first))
        if change is not None:
            row[change] = "1" if row[change] == "0" else "0"
        rows.append([row[c] for c in rows[0]])
        _write(root / dst, rows)
    return damage


def truncate(rel: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        path = root / rel
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return damage


def empty(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).write_bytes(b"")


def garbage(rel: str) -> Callable[[Path], None]:
    """Other bytes under the name (a failed download that saved an error page, a binary mix-up)."""
    return lambda root: (root / rel).write_bytes(bytes(range(256)) * 8)


# -- JSON (MIMIC-Ext-MIMIC-CXR-VQA) -------------------------------------------------------------------------------

def entry(rel: str, fn: Callable[[list], None]) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        entries = json.loads((root / rel).read_text())
        fn(entries)
        (root / rel).write_text(json.dumps(entries, indent=4))
    return damage


def field_value(rel: str, name: str, value, k: int = 1) -> Callable[[Path], None]:
    def fn(entries):
        entries[k][name] = value
    return entry(rel, fn)


def _drop(name: str, k: int = 1):
    def fn(entries):
        del entries[k][name]
    return fn


def _repeat_idx(entries):
    copy = dict(entries[2])
    copy["idx"] = entries[1]["idx"]
    entries.append(copy)


def _as_folder(rel: str) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        (root / rel).unlink()
        (root / rel).mkdir()
    return damage


# -- the report zip --------------------------------------------------------------------------------------------

def _bad_crc(root: Path) -> None:
    """One member's stored CRC-32 no longer matches its bytes (the central directory's copy is what Python checks)."""
    path = root / REPORTS_ZIP
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[3]
    # walk the central directory to the member's record and flip its CRC field (offset 16)
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len, extra_len, comment_len = struct.unpack("<HHH", data[pos + 28:pos + 34])
        name = bytes(data[pos + 46:pos + 46 + name_len]).decode()
        if name == info.filename:
            data[pos + 16] ^= 0xFF
            break
        pos = data.find(b"PK\x01\x02", pos + 46 + name_len + extra_len + comment_len)
    path.write_bytes(bytes(data))


def _unsupported_method(root: Path) -> None:
    """One member re-packed with a compression method Python's zipfile cannot read (97: WavPack)."""
    path = root / REPORTS_ZIP
    with zipfile.ZipFile(path) as zf:
        items = [(i, zf.read(i)) for i in zf.infolist()]
    with zipfile.ZipFile(path, "w") as zf:
        for info, payload in items:
            zf.writestr(info, payload, compress_type=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    target = items[2][0].filename.encode()
    for header, method_at in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = data.find(header)
        while pos != -1:
            name_at = pos + (30 if header == b"PK\x03\x04" else 46)
            name_len = struct.unpack("<H", data[pos + (26 if header == b"PK\x03\x04" else 28):][:2])[0]
            if bytes(data[name_at:name_at + name_len]) == target:
                data[pos + method_at:pos + method_at + 2] = struct.pack("<H", 97)
            pos = data.find(header, pos + 4)
    path.write_bytes(bytes(data))


def _report_link_broken(root: Path) -> Path:
    """The folder form with one report that cannot be read (a dangling link left by a partial copy)."""
    (root / REPORTS_ZIP).unlink()
    txt = sorted((root / "mimic-cxr/2.1.0/files").rglob("*.txt"))[4]
    txt.unlink()
    os.symlink(root / "nowhere.txt", txt)
    return txt


def _first_jpg(root: Path) -> Path:
    return sorted((root / JPG / "files").rglob("*.jpg"))[0]


def _jpg(fn: Callable[[bytes], bytes]) -> Callable[[Path], Path]:
    def damage(root: Path) -> Path:
        path = _first_jpg(root)
        path.write_bytes(fn(path.read_bytes()))
        return path
    return damage


def _rle_append(text: str, fn) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        rows = _read(root / CHEXMASK)
        h = rows[0]
        r = rows[2]
        r[h.index("Heart")] = r[h.index("Heart")] + fn(int(r[h.index("Height")]) * int(r[h.index("Width")]))
        _write(root / CHEXMASK, rows)
    return damage


def _lt_label(value: str) -> Callable[[Path], None]:
    return cell(LT_TRAIN, "Edema", value)


CASES: list[Case] = [
    # MIMIC-CXR-JPG metadata
    Case("metadata Rows not a number", META, cell(META, "Rows", "tall"), ("line 4", "'Rows'", "'tall'")),
    Case("metadata Rows overflows int32", META, cell(META, "Rows", "99999999999"), ("line 4", "'Rows'", "99999999999")),
    Case("metadata Columns negative", META, cell(META, "Columns", "-5"), ("line 4", "'Columns'", "-5")),
    Case("metadata Columns a fraction", META, cell(META, "Columns", "12.5"), ("line 4", "'Columns'", "12.5")),
    Case("metadata subject_id text", META, cell(META, "subject_id", "abc"), ("line 4", "'subject_id'", "abc")),
    Case("metadata study_id empty", META, cell(META, "study_id", ""), ("line 4", "'study_id'")),
    Case("metadata dicom_id malformed", META, cell(META, "dicom_id", "not-a-dicom"), ("line 4", "'dicom_id'", "not-a-dicom")),
    Case("metadata StudyDate month 13", META, cell(META, "StudyDate", "21861345"), ("line 4", "'StudyDate'", "21861345")),
    Case("metadata StudyTime hour 25", META, cell(META, "StudyTime", "250000.0"), ("line 4", "'StudyTime'", "250000")),
    Case("metadata column missing", META, rename_column(META, "Rows", "Height"), ("line 1", "missing column(s) 'Rows'")),
    Case("metadata column doubled", META, rename_column(META, "Columns", "Rows"), ("line 1", "Rows")),
    Case("metadata row cut short", META, short_row(META), ("line 5", "fields")),
    Case("metadata repeated dicom_id", META, conflicting_repeat(META, "Rows"), ("'dicom_id'", "line 3", "different values")),
    Case("metadata gzip cut off", META, truncate(META), ("truncated or corrupt",)),
    Case("metadata empty file", META, empty(META), ("empty",)),
    Case("metadata other bytes", META, garbage(META), ()),
    # official split
    Case("split value unknown", SPLIT, cell(SPLIT, "split", "training"), ("line 4", "'split'", "training"), exit=0),
    Case("split dicom_id malformed", SPLIT, cell(SPLIT, "dicom_id", "x"), ("line 4", "'dicom_id'"), exit=0),
    Case("split study_id text", SPLIT, cell(SPLIT, "study_id", "s5"), ("line 4", "'study_id'", "s5"), exit=0),
    Case("split column missing", SPLIT, rename_column(SPLIT, "split", "fold"), ("missing column(s) 'split'",), exit=0),
    Case("split repeated dicom_id", SPLIT, conflicting_repeat(SPLIT, "split"), ("'dicom_id'", "line 3", "different values"), exit=0),
    Case("split gzip cut off", SPLIT, truncate(SPLIT), ("truncated or corrupt",), exit=0),
    # CheXpert / NegBio labels
    Case("chexpert label 2", CHEXPERT, cell(CHEXPERT, "Edema", "2.0"), ("line 4", "'Edema'", "2.0"), exit=0),
    Case("chexpert label a word", CHEXPERT, cell(CHEXPERT, "Edema", "yes"), ("line 4", "'Edema'", "yes"), exit=0),
    Case("chexpert study_id empty", CHEXPERT, cell(CHEXPERT, "study_id", ""), ("line 4", "'study_id'"), exit=0),
    Case("chexpert column missing", CHEXPERT, rename_column(CHEXPERT, "Edema", "Oedema"), ("missing column(s) 'Edema'",), exit=0),
    Case("chexpert repeated study", CHEXPERT, conflicting_repeat(CHEXPERT, "Edema"), ("'study_id'", "different values"), exit=0),
    Case("negbio label 0.5", NEGBIO, cell(NEGBIO, "Cardiomegaly", "0.5"), ("line 4", "'Cardiomegaly'", "0.5"), exit=0),
    Case("negbio subject_id text", NEGBIO, cell(NEGBIO, "subject_id", "x"), ("line 4", "'subject_id'"), exit=0),
    Case("negbio repeated study", NEGBIO, conflicting_repeat(NEGBIO, "Pneumonia"), ("'study_id'", "different values"), exit=0),
    Case("negbio row cut short", NEGBIO, short_row(NEGBIO), ("line 5", "fields"), exit=0),
    # radiologist test-set labels
    Case("test labels study_id text", TEST_LABELS, cell(TEST_LABELS, "study_id", "x"), ("line 4", "'study_id'"), exit=0),
    Case("test labels label 3", TEST_LABELS, cell(TEST_LABELS, "Fracture", "3"), ("line 4", "'Fracture'"), exit=0),
    Case("test labels study_id missing", TEST_LABELS, rename_column(TEST_LABELS, "study_id", "study"),
         ("missing column(s) 'study_id'",), exit=0),
    Case("test labels repeated study", TEST_LABELS, conflicting_repeat(TEST_LABELS, "Fracture"), ("'study_id'", "different values"), exit=0),
    # CXR-Cardiomegaly
    Case("CTR not a number", CTR, cell(CTR, "CTR", "abc"), ("line 4", "'CTR'", "abc")),
    Case("CTR a malformed exponent", CTR, cell(CTR, "CTR", "2.5e"), ("line 4", "'CTR'", "2.5e")),
    Case("CTR id empty", CTR, cell(CTR, "dicom_file", ""), ("line 4", "'dicom_file'")),
    Case("CTR repeated image", CTR, conflicting_repeat(CTR, "CTR"), ("'dicom_file'", "different values")),
    Case("CTR value column missing", CTR, rename_column(CTR, "CTR", "ratio"), ("missing column(s) 'CTR'",)),
    Case("CPAR not a number", CPAR, cell(CPAR, "CPAR", "n/a"), ("line 4", "'CPAR'", "n/a")),
    Case("CPAR id malformed", CPAR, cell(CPAR, "dicom_file", "zzz"), ("line 4", "'dicom_file'", "zzz")),
    Case("CPAR repeated image", CPAR, conflicting_repeat(CPAR, "CPAR"), ("'dicom_file'", "different values")),
    Case("CPAR row cut short", CPAR, short_row(CPAR), ("line 5", "fields")),
    # MIMIC-CXR-PE-Severity
    Case("consensus grade 1000", CONSENSUS, cell(CONSENSUS, "edema_severity", "1000"), ("line 4", "'edema_severity'", "1000")),
    Case("consensus grade a word", CONSENSUS, cell(CONSENSUS, "edema_severity", "mild"), ("line 4", "'edema_severity'", "mild")),
    Case("consensus dicom_id malformed", CONSENSUS, cell(CONSENSUS, "dicom_id", "x.jpg"), ("line 4", "'dicom_id'")),
    Case("consensus repeated image", CONSENSUS, conflicting_repeat(CONSENSUS, "edema_severity"), ("'dicom_id'", "different values")),
    Case("consensus column missing", CONSENSUS, rename_column(CONSENSUS, "edema_severity", "grade"),
         ("missing column(s) 'edema_severity'",)),
    Case("expert grade -1", EXPERT, cell(EXPERT, "edema_severity", "-1"), ("line 4", "'edema_severity'", "-1")),
    Case("expert study_id text", EXPERT, cell(EXPERT, "study_id", "x"), ("line 4", "'study_id'")),
    Case("expert repeated study", EXPERT, conflicting_repeat(EXPERT, "edema_severity"), ("'study_id'", "different values")),
    Case("regex grade 4", REGEX, cell(REGEX, "edema_severity", "4"), ("line 4", "'edema_severity'", "4")),
    Case("regex subject_id empty", REGEX, cell(REGEX, "subject_id", ""), ("line 4", "'subject_id'")),
    Case("regex repeated study", REGEX, conflicting_repeat(REGEX, "edema_severity"), ("'study_id'", "different values")),
    # CXR-LT 2024
    Case("CXR-LT label 300", LT_TRAIN, _lt_label("300"), ("line 4", "'Edema'", "300")),
    Case("CXR-LT label a word", LT_TRAIN, _lt_label("yes"), ("line 4", "'Edema'", "yes")),
    Case("CXR-LT label 2", LT_TRAIN, _lt_label("2"), ("line 4", "'Edema'", "2")),
    Case("CXR-LT fpath elsewhere", LT_TRAIN, cell(LT_TRAIN, "fpath", "images/x.jpg"), ("line 4", "'fpath'", "images/x.jpg")),
    Case("CXR-LT study_id letters", LT_TRAIN, cell(LT_TRAIN, "study_id", "x50414267"), ("line 4", "'study_id'")),
    Case("CXR-LT dicom_id empty", LT_TRAIN, cell(LT_TRAIN, "dicom_id", ""), ("line 4", "'dicom_id'")),
    Case("CXR-LT label column missing", LT_TRAIN, rename_column(LT_TRAIN, "Edema", "edema"), ("missing column(s) 'Edema'",)),
    Case("CXR-LT repeated image", LT_TRAIN, conflicting_repeat(LT_TRAIN, "Edema"), ("'dicom_id'", "different values")),
    Case("CXR-LT row cut short", LT_TRAIN, short_row(LT_TRAIN), ("line 5", "fields")),
    Case("CXR-LT development label 2", LT_DEV, cell(LT_DEV, "Mass", "2"), ("line 4", "'Mass'")),
    Case("CXR-LT image in train and development", LT_DEV, copied_row(LT_TRAIN, LT_DEV, change="Edema"),
         ("'dicom_id'", "train_labeled.csv")),
    Case("CXR-LT image in train and test", LT_TEST, copied_row(LT_TRAIN, LT_TEST), ("'dicom_id'", "train_labeled.csv")),
    Case("CXR-LT test subject_id text", LT_TEST, cell(LT_TEST, "subject_id", "abc"), ("line 4", "'subject_id'", "abc")),
    Case("CXR-LT file empty", LT_TEST, empty(LT_TEST), ("empty",)),
    # CheXmask (records span several lines: the message gives the record)
    Case("Dice RCA nan", CHEXMASK, cell(CHEXMASK, "Dice RCA (Mean)", "nan"), ("record 3", "'Dice RCA (Mean)'", "nan")),
    Case("Dice RCA above 1", CHEXMASK, cell(CHEXMASK, "Dice RCA (Mean)", "1.5"), ("record 3", "'Dice RCA (Mean)'", "1.5")),
    Case("Dice RCA a word", CHEXMASK, cell(CHEXMASK, "Dice RCA (Mean)", "high"), ("record 3", "'Dice RCA (Mean)'", "high")),
    Case("Dice RCA empty", CHEXMASK, cell(CHEXMASK, "Dice RCA (Mean)", ""), ("record 3", "'Dice RCA (Mean)'")),
    Case("mask Height 0", CHEXMASK, cell(CHEXMASK, "Height", "0"), ("record 3", "'Height'")),
    Case("mask Width text", CHEXMASK, cell(CHEXMASK, "Width", "wide"), ("record 3", "'Width'", "wide")),
    Case("RLE odd count", CHEXMASK, cell(CHEXMASK, "Heart", "1 2 3"), ("record 3", "'Heart'")),
    Case("RLE start near int64 max", CHEXMASK, _rle_append("Heart", lambda n: " 9223372036854775807 5"),
         ("record 2", "'Heart'")),
    Case("RLE length near int64 max", CHEXMASK, _rle_append("Heart", lambda n: f" {n - 3} 9223372036854775800"),
         ("record 2", "'Heart'")),
    Case("RLE leaves the image", CHEXMASK, _rle_append("Heart", lambda n: f" {n - 2} 10"), ("record 2", "'Heart'", "leaves")),
    Case("RLE not numbers", CHEXMASK, cell(CHEXMASK, "Left Lung", "12 x 40 3"), ("record 3", "'Left Lung'")),
    Case("CheXmask repeated image", CHEXMASK, conflicting_repeat(CHEXMASK, "Dice RCA (Mean)"), ("'dicom_id'", "different values")),
    Case("CheXmask mask column missing", CHEXMASK, rename_column(CHEXMASK, "Heart", "heart"), ("missing column(s) 'Heart'",)),
    Case("CheXmask size disagrees with the JPG", CHEXMASK, cell(CHEXMASK, "Height", "4000"), ("record 3", "Height")),
    Case("CheXmask cut off", CHEXMASK, truncate(CHEXMASK), ()),
    # MIMIC-Ext-MIMIC-CXR-VQA
    Case("VQA idx beyond int64", VQA_TRAIN, field_value(VQA_TRAIN, "idx", 2**70), ("'idx'", "entry 1")),
    Case("VQA idx negative", VQA_TRAIN, field_value(VQA_TRAIN, "idx", -1), ("'idx'", "entry 1")),
    Case("VQA subject_id short", VQA_TRAIN, field_value(VQA_TRAIN, "subject_id", "123"), ("'subject_id'", "entry 1")),
    Case("VQA image_id malformed", VQA_TRAIN, field_value(VQA_TRAIN, "image_id", "x"), ("'image_id'", "entry 1")),
    Case("VQA image_path elsewhere", VQA_TRAIN, field_value(VQA_TRAIN, "image_path", "/data/x.png"), ("'image_path'", "entry 1")),
    Case("VQA semantic_type unknown", VQA_TRAIN, field_value(VQA_TRAIN, "semantic_type", "weird"), ("'semantic_type'", "weird")),
    Case("VQA content_type unknown", VQA_TRAIN, field_value(VQA_TRAIN, "content_type", "misc"), ("'content_type'", "misc")),
    Case("VQA question a number", VQA_TRAIN, field_value(VQA_TRAIN, "question", 5), ("'question'", "entry 1")),
    Case("VQA answer a string", VQA_TRAIN, field_value(VQA_TRAIN, "answer", "yes"), ("'answer'", "entry 1")),
    Case("VQA template_arguments keys", VQA_TRAIN, field_value(VQA_TRAIN, "template_arguments", {"object": {}}),
         ("'template_arguments'",)),
    Case("VQA split of another file", VQA_TRAIN, field_value(VQA_TRAIN, "split", "test"), ("'split'", "entry 1")),
    Case("VQA field missing", VQA_TRAIN, entry(VQA_TRAIN, _drop("question")), ("'question'", "entry 1")),
    Case("VQA repeated idx", VQA_TRAIN, entry(VQA_TRAIN, _repeat_idx), ("'idx'", "different entry")),
    Case("VQA entry not an object", VQA_VALID, entry(VQA_VALID, lambda es: es.insert(1, [1, 2])), ("entry 1",)),
    Case("VQA file cut off", VQA_VALID, truncate(VQA_VALID), ("invalid JSON",)),
    Case("VQA file a folder", VQA_VALID, _as_folder(VQA_VALID), ("folder",)),
    Case("VQA file not UTF-8", VQA_VALID, lambda root: (root / VQA_VALID).write_bytes(b"[\xff\xfe]"), ("UTF-8",)),
    Case("VQA file an object", VQA_VALID, lambda root: (root / VQA_VALID).write_text('{"data": []}'), ("JSON",)),
    # MIMIC-CXR reports
    Case("report zip bad CRC", REPORTS_ZIP, _bad_crc, ("CRC",)),
    Case("report zip unsupported method", REPORTS_ZIP, _unsupported_method, ("compression",)),
    Case("report zip cut off", REPORTS_ZIP, truncate(REPORTS_ZIP), ("zip",)),
    Case("report zip other bytes", REPORTS_ZIP, garbage(REPORTS_ZIP), ("zip",)),
    Case("report file unreadable", "mimic-cxr/2.1.0/files", _report_link_broken, ("cannot be read",)),
    # JPGs (checked by their JPEG markers, no decoding)
    Case("JPG 0 bytes", JPG, _jpg(lambda b: b""), ("0 bytes",)),
    Case("JPG cut off", JPG, _jpg(lambda b: b[: len(b) // 2]), ("truncated",)),
    Case("JPG another format", JPG, _jpg(lambda b: b"\x89PNG\r\n\x1a\n" + b[8:]), ("not a JPEG",)),
]
