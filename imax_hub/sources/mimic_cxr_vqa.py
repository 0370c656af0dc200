"""MIMIC-Ext-MIMIC-CXR-VQA 1.0.0: ``dataset/{train,valid,test}.json``, each one JSON list of QA entries.

``read_vqa`` returns one row per QA entry, files in train/valid/test order:
    split str (``train`` | ``valid`` | ``test``); idx int64; subject_id int64; study_id int64 (the files
    write both as strings); dicom_id str (``image_id``); image_path str (made relative to the
    MIMIC-CXR-JPG root, i.e. with ``files/`` prefixed); question str; semantic_type str (``verify`` |
    ``choose`` | ``query``); content_type str (``anatomy`` | ``attribute`` | ``presence`` |
    ``abnormality`` | ``plane`` | ``gender`` | ``size``); template str; template_program str;
    template_arguments str (the JSON object, compact); answer list<str> (sorted lower-case strings;
    ``[]`` for an empty result).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa

from imax_hub.errors import SourceError
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


def _fail(path: Path, text: str, offset: int, entry: int, field: str, message: str) -> SourceError:
    return SourceError(path, f"entry {entry}: {message}", line=text.count("\n", 0, offset) + 1, column=field)


def _check(path: Path, text: str, offset: int, k: int, e, split: str) -> None:
    if not isinstance(e, dict):
        raise _fail(path, text, offset, k, "", "expected a JSON object")
    for f in FIELDS:
        if f not in e:
            raise _fail(path, text, offset, k, f, f"missing field {f!r}")
    def need(cond, f, what):
        if not cond:
            raise _fail(path, text, offset, k, f, f"expected {what}, found {e[f]!r}")
    need(e["split"] == split, "split", f"{split!r} (the file's split)")
    need(isinstance(e["idx"], int) and not isinstance(e["idx"], bool), "idx", "an integer")
    for f in ("subject_id", "study_id"):
        need(isinstance(e[f], str) and e[f].isdigit() and len(e[f]) == 8, f, "an 8-digit id written as a string")
    need(isinstance(e["image_id"], str) and bool(_DICOM.match(e["image_id"])), "image_id", "a dicom_id")
    need(isinstance(e["image_path"], str) and bool(_PATH.match(e["image_path"])), "image_path",
         "a path like p10/p10000032/s50414267/<dicom_id>.jpg")
    for f in ("question", "template", "template_program"):
        need(isinstance(e[f], str), f, "a string")
    need(e["semantic_type"] in SEMANTIC_TYPES, "semantic_type", " | ".join(SEMANTIC_TYPES))
    need(e["content_type"] in CONTENT_TYPES, "content_type", " | ".join(CONTENT_TYPES))
    args = e["template_arguments"]
    need(isinstance(args, dict) and set(args) == set(ARGUMENT_KEYS) and all(isinstance(v, dict) for v in args.values()),
         "template_arguments", f"an object with exactly the keys {', '.join(ARGUMENT_KEYS)}, each an object")
    need(isinstance(e["answer"], list) and all(isinstance(a, str) for a in e["answer"]), "answer", "a list of strings")


def read_split_file(path: Path, split: str) -> pa.Table:
    """One of ``train.json`` / ``valid.json`` / ``test.json``."""
    if not path.exists():
        raise SourceError(path, "file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(path, f"not UTF-8 text ({exc})") from None
    cols: dict[str, list] = {f: [] for f in FIELDS}
    for k, (offset, e) in enumerate(_iter_array(path, text)):
        _check(path, text, offset, k, e, split)
        for f in FIELDS:
            cols[f].append(e[f])
    image_path = [p if p.startswith("files/") else "files/" + p for p in cols["image_path"]]
    return pa.table({
        "split": pa.array(cols["split"], pa.string()),
        "idx": pa.array(cols["idx"], pa.int64()),
        "subject_id": pa.array([int(v) for v in cols["subject_id"]], pa.int64()),
        "study_id": pa.array([int(v) for v in cols["study_id"]], pa.int64()),
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
    base = require(MIMIC_CXR_VQA, root)
    return pa.concat_tables([read_split_file(base / f"{s}.json", s) for s in SPLITS])
