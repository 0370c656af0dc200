"""MIMIC-CXR free-text reports (``mimic-cxr-reports.zip`` or the ``files/pXX/pSUBJECT/sSTUDY.txt`` folder),
sectioned by the rules of the official MIT-LCP/mimic-cxr ``txt/section_parser.py``.

The rules, re-implemented here: a header is a newline, one space, a run of capitals, spaces and
``()/,-``, then a colon and whitespace; text before the first header is ``preamble`` (no header at all:
``full report``); a section runs to the next header, whose search starts after the end of the
header's own line; names are lower-cased and normalised (a lookup table of frequent names and
misspellings, then the substrings impression/findings/history/comparison/addendum, then view-like
phrases mean findings); empty impression/findings sections are dropped; with neither present, text
after the first paragraph break of the last section becomes ``last_paragraph``; the **last**
occurrence of each name is kept; the 54 studies the official script special-cases are honoured.

``read_reports`` returns one row per study:
    subject_id int64; study_id int64; findings str; impression str; last_paragraph str;
    comparison str (null where absent); conclusion str (first available of impression > findings >
    last_paragraph > comparison, or the official fixed slice for special-cased studies).
Section texts are stripped and, by default, runs of whitespace (the file's line wraps and
leading spaces) are collapsed into one space.

Layout evidence: PhysioNet's MIMIC-CXR 2.0.0/2.1.0 page (``mimic-cxr-reports.zip``, one ``files/pXX/pSUBJECT/
sSTUDY.txt`` per study) and MIT-LCP/mimic-cxr ``txt/create_section_files.py`` / ``txt/section_parser.py``.
Text is decoded as UTF-8 with a per-file fallback (Windows-1252, then Latin-1, counted in the read log), and
CRLF / lone CR line ends are normalised identically in the zip and folder forms.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from imax_hub.errors import SourceError
from imax_hub.sources import readlog
from imax_hub.sources.layout import MIMIC_CXR_REPORTS, require

_HEADER = re.compile(r"\n ([A-Z ()/,-]+):\s", re.DOTALL)
_MEMBER = re.compile(r"(?:^|/)files/p(\d{2})/p(\d{8})/s(\d{8})\.txt$")

_NAME_TABLE = {
    # frequent names
    "preamble": "preamble", "impression": "impression", "comparison": "comparison", "indication": "indication",
    "findings": "findings", "examination": "examination", "technique": "technique", "history": "history",
    "comparisons": "comparison", "clinical history": "history", "reason for examination": "indication",
    "notification": "notification", "reason for exam": "indication", "clinical information": "history",
    "exam": "examination", "clinical indication": "indication", "conclusion": "impression",
    "chest, two views": "findings", "recommendation(s)": "recommendations", "type of examination": "examination",
    "reference exam": "comparison", "patient history": "history", "addendum": "addendum",
    "comparison exam": "comparison", "date": "date", "comment": "comment", "findings and impression": "impression",
    "wet read": "wet read", "comparison film": "comparison", "recommendations": "recommendations",
    "findings/impression": "impression", "pfi": "history", "recommendation": "recommendations",
    "wetread": "wet read",
    # misspellings seen in the corpus
    "ndication": "impression", "impresson": "impression", "imprression": "impression",
    "imoression": "impression", "impressoin": "impression", "imprssion": "impression", "impresion": "impression",
    "imperssion": "impression", "mpression": "impression", "impession": "impression",
    "findings/ impression": "impression", "finding": "findings", "findins": "findings", "findindgs": "findings",
    "findgings": "findings", "findngs": "findings", "findnings": "findings", "finidngs": "findings",
    "idication": "indication", "reference findings": "findings", "comparision": "comparison",
    "comparsion": "comparison", "comparrison": "comparison", "comparisions": "comparison",
}
_MAIN_SECTIONS = ("impression", "findings", "history", "comparison", "addendum")
_VIEW_PHRASES = re.compile(
    "(chest|portable|pa and lateral|lateral and pa|ap and lateral|lateral and ap|frontal and|two views|"
    "frontal view|pa view|ap view|one view|lateral view|bone window|frontal upright|frontal semi-upright|"
    "ribs|pa and lat)"
)

# Studies the official script handles by hand: a section name to use instead ...
CUSTOM_SECTION_NAMES = {
    "s50913680": "recommendations", "s59363654": "examination", "s59279892": "technique",
    "s59768032": "recommendations", "s57936451": "indication", "s50058765": "indication",
    "s53356173": "examination", "s53202765": "technique", "s50808053": "technique", "s51966317": "indication",
    "s50743547": "examination", "s56451190": "note", "s59067458": "recommendations", "s59215320": "examination",
    "s55124749": "indication", "s54365831": "indication", "s59087630": "recommendations",
    "s58157373": "recommendations", "s56482935": "recommendations", "s58375018": "recommendations",
    "s54654948": "indication", "s55157853": "examination", "s51491012": "history",
}
# ... or a fixed character slice of the text ([0, 0] = no usable text).
CUSTOM_INDICES = {
    "s50525523": (201, 349), "s57564132": (233, 554), "s59982525": (313, 717), "s53488209": (149, 475),
    "s54875119": (234, 988), "s50196495": (59, 399), "s56579911": (59, 218), "s52648681": (292, 631),
    "s59889364": (172, 453), "s53514462": (73, 377), "s59505494": (59, 450), "s53182247": (59, 412),
    "s51410602": (47, 320), "s56412866": (522, 822), "s54986978": (59, 306), "s59003148": (262, 505),
    "s57150433": (61, 394), "s56760320": (219, 457), "s59562049": (158, 348), "s52674888": (145, 296),
    "s55258338": (192, 568), "s59330497": (140, 655), "s52119491": (179, 454),
    "s58235663": (0, 0), "s50798377": (0, 0), "s54168089": (0, 0), "s53071062": (0, 0),
    "s56724958": (0, 0), "s54231141": (0, 0), "s53607029": (0, 0), "s52035334": (0, 0),
}
KEPT = ("findings", "impression", "last_paragraph", "comparison")
CONCLUSION_ORDER = ("impression", "findings", "last_paragraph", "comparison")


def normalize_section_name(name: str) -> str:
    """The official normalisation of one raw header name."""
    name = name.lower().strip()
    if name in _NAME_TABLE:
        return _NAME_TABLE[name]
    for main in _MAIN_SECTIONS:
        if main in name:
            return main
    if _VIEW_PHRASES.search(name):
        return "findings"
    return name


def section_text(text: str) -> tuple[list[str], list[str]]:
    """Split a report into (section texts, normalised section names), as the official parser does."""
    sections: list[str] = []
    names: list[str] = []
    match = _HEADER.search(text, 0)
    if match is None:
        sections.append(text)
        names.append("full report")
    else:
        sections.append(text[: match.start(1)])
        names.append("preamble")
        while match:
            name = match.group(1)
            start = match.end()
            skip = text[start:].find("\n")
            match = _HEADER.search(text, start + (skip if skip != -1 else 0))
            sections.append(text[start : match.start() if match else len(text)])
            names.append(name)
    names = [normalize_section_name(n) for n in names]
    for i in reversed(range(len(names))):
        if names[i] in ("impression", "findings") and not sections[i].strip():
            del sections[i], names[i]
    if "impression" not in names and "findings" not in names and "\n \n" in sections[-1]:
        first, *rest = sections[-1].split("\n \n")
        sections[-1] = first
        sections.append("\n \n".join(rest))
        names.append("last_paragraph")
    return sections, names


def _clean(text: str, collapse: bool) -> str:
    return " ".join(text.split()) if collapse else text.strip()


def extract_sections(study: str, text: str, *, collapse_whitespace: bool = True) -> dict[str, str | None]:
    """Findings, impression, last_paragraph, comparison and conclusion of one report (``study`` = ``sNNNNNNNN``)."""
    out: dict[str, str | None] = {k: None for k in (*KEPT, "conclusion")}
    if study in CUSTOM_INDICES:
        a, b = CUSTOM_INDICES[study]
        out["conclusion"] = _clean(text[a:b], collapse_whitespace) or None
        return out
    sections, names = section_text(text)
    last = {name: sections[i] for i, name in enumerate(names)}  # later occurrences overwrite earlier ones
    for k in KEPT:
        if k in last:
            out[k] = _clean(last[k], collapse_whitespace)
    if study in CUSTOM_SECTION_NAMES and CUSTOM_SECTION_NAMES[study] in last:
        out["conclusion"] = _clean(last[CUSTOM_SECTION_NAMES[study]], collapse_whitespace)
    else:
        out["conclusion"] = next((out[k] for k in CONCLUSION_ORDER if out[k] is not None), None)
    return out


_FALLBACK_ENCODINGS = ("cp1252", "latin-1")  # latin-1 decodes any byte: the last resort never fails


def decode_report(data: bytes) -> tuple[str, str]:
    """(text, encoding) of one report file: UTF-8, else Windows-1252, else Latin-1; line ends normalised.

    CRLF and lone CR become LF exactly as Python's universal-newline reading does for the folder form, so
    the zip and the folder give the same text (the section parser's header rule needs ``\n ``).
    """
    encoding = "utf-8"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        for encoding in _FALLBACK_ENCODINGS:
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def iter_report_texts(root: str | Path, log: readlog.ReadLog | None = None) -> Iterator[tuple[int, int, str, str]]:
    """(subject_id, study_id, where, text) for every report, from the zip if present, else the folder."""
    log = log or readlog.current()
    base = require(MIMIC_CXR_REPORTS, root)
    zpath = base / "mimic-cxr-reports.zip"
    fallbacks: Counter = Counter()
    if zpath.exists():
        entry = log.file(zpath)
        entry.form = "zip"
        try:
            with zipfile.ZipFile(zpath) as zf:
                for info in zf.infolist():
                    m = _MEMBER.search(info.filename)
                    if not m or info.is_dir():
                        continue
                    try:
                        data = zf.read(info)
                    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError) as exc:
                        # a bad CRC, a damaged stream, or a compression method Python cannot read
                        raise SourceError(zpath, f"member {info.filename}: cannot be read ({exc}); the archive is "
                                          "damaged or was re-packed with an unsupported method: download it again",
                                          ) from None
                    text, encoding = decode_report(data)
                    if encoding != "utf-8":
                        fallbacks[encoding] += 1
                    entry.rows += 1
                    yield int(m.group(2)), int(m.group(3)), f"{zpath}:{info.filename}", text
        except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile) as exc:
            raise SourceError(zpath, f"cannot read the zip archive ({exc}); download it again") from None
    else:
        files = base / "files"
        entry = log.file(files)
        entry.form = "folder"
        for group in sorted(e.name for e in os.scandir(files) if e.is_dir() and re.fullmatch(r"p1\d", e.name)):
            for patient in sorted(e.name for e in os.scandir(files / group) if e.is_dir()):
                for item in sorted(os.scandir(files / group / patient), key=lambda e: e.name):
                    m = _MEMBER.search(f"files/{group}/{patient}/{item.name}")
                    if not m:
                        continue
                    path = Path(item.path)
                    try:
                        data = path.read_bytes()
                    except OSError as exc:
                        raise SourceError(path, f"cannot be read ({exc.strerror or exc}); check its permissions "
                                          "or download it again") from None
                    text, encoding = decode_report(data)
                    if encoding != "utf-8":
                        fallbacks[encoding] += 1
                    entry.rows += 1
                    yield int(m.group(2)), int(m.group(3)), str(path), text
    for encoding, k in sorted(fallbacks.items()):
        entry.notes.append(f"{k:,} report(s) are not UTF-8: decoded as {encoding}")


def read_reports(root: str | Path, *, collapse_whitespace: bool = True) -> pa.Table:
    """Sectioned reports, one row per study, sorted by (subject_id, study_id)."""
    rows = []
    for subject, study, _, text in iter_report_texts(root):
        sec = extract_sections(f"s{study}", text, collapse_whitespace=collapse_whitespace)
        rows.append((subject, study, sec))
    rows.sort(key=lambda r: (r[0], r[1]))
    cols = {"subject_id": pa.array([r[0] for r in rows], pa.int64()), "study_id": pa.array([r[1] for r in rows], pa.int64())}
    for k in (*KEPT, "conclusion"):
        cols[k] = pa.array([r[2][k] for r in rows], pa.string())
    return pa.table(cols)
