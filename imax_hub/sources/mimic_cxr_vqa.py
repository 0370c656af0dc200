"""MIMIC-Ext-MIMIC-CXR-VQA 1.0.0: ``dataset/{train,valid,test}.json``, each one JSON list of QA entries.

``read_vqa`` returns one row per QA entry, files in train/valid/test order:
    split str (``train`` | ``valid`` | ``test``); idx int64; subject_id int64; study_id int64 (the files
    write both as strings; integers from a re-dump are read the same); dicom_id str (``image_id``); image_path str (made relative to the
    MIMIC-CXR-JPG root, i.e. with ``files/`` prefixed); question str; semantic_type str (``verify`` |
    ``choose`` | ``query``); content_type str (``anatomy`` | ``attribute`` | ``presence`` |
    ``abnormality`` | ``plane`` | ``gender`` | ``size``); template str; template_program str;
    template_arguments str (the JSON object, compact); answer list<str> (sorted lower-case strings;
    ``[]`` for an empty result).

Layout evidence: PhysioNet's mimic-ext-mimic-cxr-vqa 1.0.0 page and the builder's code in baeseongsu/mimic-cxr-vqa
(``dataset_builder/generate_answer.py`` dumps the entries with ``indent=4`` and ``default=str``, which is
why ids are strings there; a re-dump of the parsed JSON writes them as integers). An entry that cannot be
used is set aside and counted (:mod:`imax_hub.sources.readlog`); a file that is not valid JSON is an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa

from imax_hub.errors import SourceError
from imax_hub.sources import readlog
from imax_hub.sources.layout import MIMIC_CXR_VQA, require

SPLITS = ("train", "valid", "test")
FIELDS = ("split", "idx", "subject_id", "study_id", "image_id", "image_path", "question", "semantic_type",
          "content_type", "template", "template_program", "template_arguments", "answer")
SEMANTIC_TYPES = ("verify", "choose", "query")
CONTENT_TYPES = ("anatomy", "attribute", "presence", "abnormality", "plane", "gender", "size")
ARGUMENT_KEYS = ("object", "attribute", "category", "viewpos", "gender")
_DICOM = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")
_PATH = re.compile(r"^(files/)?p1\d/p\d{8}/s\d{8}/[0-9a-f-]{44}\.jpg$")


def _iter_array(path: Path, text: str):
    """(offset, element) of each element of a top-level JSON array, keeping offsets for error lines."""
    dec = json.JSONDecoder()
    i = text.find("[")
    if i < 0 or text[:i].strip():
        raise SourceError(path, "expected a JSON list of QA entries", line=1)
    i += 1
    n = len(text)
    ws = " \t\r\n"
    while True:
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == "]":
            return
        try:
            obj, end = dec.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise SourceError(path, f"invalid JSON: {exc.msg}", line=exc.lineno, column=None) from None
        yield i, obj
        i = end
        while i < n and text[i] in ws:
            i += 1
        if i < n and text[i] == ",":
            i += 1
        elif i < n and text[i] == "]":
            return
        else:
            line = text.count("\n", 0, i) + 1
            raise SourceError(path, "invalid JSON: expected ',' or ']' after an entry (truncated file?)", line=line)


def _id(value) -> int | None:
    """An id written as a string (the builder's ``default=str``) or as a JSON integer (a re-dump)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _problem(e, split: str) -> tuple[str, str, str] | None:
    """(field, reason, message) of the first thing wrong with one entry, or None."""
    if not isinstance(e, dict):
        return "", "not an object", "expected a JSON object"
    for f in FIELDS:
        if f not in e:
            return f, f"{f}: missing", f"missing field {f!r}"

    def bad(f, what):
        return f, f"{f}: unexpected value", f"expected {what}, found {e[f]!r}"

    if e["split"] != split:
        return bad("split", f"{split!r} (the file's split)")
    idx = _id(e["idx"])
    if idx is None or not 0 <= idx < 1 << 63:
        return bad("idx", "a non-negative integer")
    for f in ("subject_id", "study_id"):
        v = _id(e[f])
        if v is None or not 10_000_000 <= v <= 99_999_999:
            return bad(f, "an 8-digit id (a string or an integer)")
    if not (isinstance(e["image_id"], str) and _DICOM.match(e["image_id"])):
        return bad("image_id", "a dicom_id")
    if not (isinstance(e["image_path"], str) and _PATH.match(e["image_path"])):
        return bad("image_path", "a path like p10/p10000032/s50414267/<dicom_id>.jpg")
    for f in ("question", "template", "template_program"):
        if not isinstance(e[f], str):
            return bad(f, "a string")
    if e["semantic_type"] not in SEMANTIC_TYPES:
        return bad("semantic_type", " | ".join(SEMANTIC_TYPES))
    if e["content_type"] not in CONTENT_TYPES:
        return bad("content_type", " | ".join(CONTENT_TYPES))
    args = e["template_arguments"]
    if not (isinstance(args, dict) and set(args) == set(ARGUMENT_KEYS) and all(isinstance(v, dict) for v in args.values())):
        return bad("template_arguments", f"an object with exactly the keys {', '.join(ARGUMENT_KEYS)}, each an object")
    if not (isinstance(e["answer"], list) and all(isinstance(a, str) for a in e["answer"])):
        return bad("answer", "a list of strings")
    return None


def read_split_file(path: Path, split: str, log: readlog.ReadLog | None = None) -> pa.Table:
    """One of ``train.json`` / ``valid.json`` / ``test.json``; entries that cannot be used are set aside."""
    log = log or readlog.current()
    if not path.exists():
        raise SourceError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text ({exc})") from None
    except IsADirectoryError:
        raise SourceError(path, "is a folder; expected a JSON file") from None
    entry_log = log.file(path)
    entry_log.form = "json"
    cols: dict[str, list] = {f: [] for f in FIELDS}
    examples = []
    seen: dict[int, tuple[int, int]] = {}  # idx -> (offset in the text, position in cols)
    for k, (offset, e) in enumerate(_iter_array(path, text)):
        entry_log.rows += 1
        problem = _problem(e, split)
        if problem is not None:
            field, reason, message = problem
            entry_log.malformed[reason] += 1
            if len(examples) < 5:
                examples.append(readlog.Example(k, field or None, f"entry {k}: {message}",
                                                text.count("\n", 0, offset) + 1))
            continue
        # idx numbers the entries of a split: the same entry twice is one entry (set aside, counted); two
        # different entries with one idx cannot be told apart
        idx = _id(e["idx"])
        if idx in seen:
            first_offset, kept = seen[idx]
            if all(cols[f][kept] == e[f] for f in FIELDS):
                entry_log.handled["idx: exact duplicate of an earlier entry"] += 1
                continue
            first_line = text.count("\n", 0, first_offset) + 1
            raise SourceError(path, f"idx {idx} appears on line {first_line} and again here with a different entry; "
                              "which one is right cannot be told: fix or re-download the file",
                              line=text.count("\n", 0, offset) + 1, column="idx")
        seen[idx] = (offset, len(cols["idx"]))
        for f in FIELDS:
            cols[f].append(e[f])
    entry_log.add_examples(examples)
    log.settle(path)
    image_path = [p if p.startswith("files/") else "files/" + p for p in cols["image_path"]]
    return pa.table({
        "split": pa.array(cols["split"], pa.string()),
        "idx": pa.array([_id(v) for v in cols["idx"]], pa.int64()),
        "subject_id": pa.array([_id(v) for v in cols["subject_id"]], pa.int64()),
        "study_id": pa.array([_id(v) for v in cols["study_id"]], pa.int64()),
        "dicom_id": pa.array(cols["image_id"], pa.string()),
        "image_path": pa.array(image_path, pa.string()),
        "question": pa.array(cols["question"], pa.string()),
        "semantic_type": pa.array(cols["semantic_type"], pa.string()),
        "content_type": pa.array(cols["content_type"], pa.string()),
        "template": pa.array(cols["template"], pa.string()),
        "template_program": pa.array(cols["template_program"], pa.string()),
        "template_arguments": pa.array([json.dumps(a, separators=(",", ":")) for a in cols["template_arguments"]], pa.string()),
        "answer": pa.array(cols["answer"], pa.list_(pa.string())),
    })


def read_vqa(root: str | Path) -> pa.Table:
    """All three splits stacked."""
    log = readlog.current()
    base = require(MIMIC_CXR_VQA, root)
    return pa.concat_tables([read_split_file(base / f"{s}.json", s, log) for s in SPLITS])
