"""Model text -> structured answer, per task (the inverse of the answer templates).

Every parser returns ``None`` when the text does not hold an answer of the expected shape; none raises.
"""

from __future__ import annotations

import re

from imax_hub.sources.pe_severity import GRADES
from imax_hub.tasks.normalize import normalize_answer

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_BOX = re.compile(r"<\s*(\d{1,4})\s*>\s*,?\s*<\s*(\d{1,4})\s*>\s*,?\s*<\s*(\d{1,4})\s*>\s*,?\s*<\s*(\d{1,4})\s*>")


def parse_number(text: str) -> float | None:
    """The first number in the text (CTR, CPAR)."""
    m = _NUMBER.search(text[:10_000])
    return float(m.group()) if m else None


def parse_box(text: str) -> list[int] | None:
    """The first ``<x1><y1><x2><y2>`` box (spaces, commas and ``{...}`` braces tolerated)."""
    m = _BOX.search(text[:10_000].replace("{", " ").replace("}", " "))
    return [int(v) for v in m.groups()] if m else None


def parse_label_vector(text: str, n: int = 10) -> list[int] | None:
    """Exactly ``n`` comma-separated 0/1 digits."""
    parts = [p.strip() for p in text[:10_000].strip().split(",")]
    if len(parts) != n or any(p not in ("0", "1") for p in parts):
        return None
    return [int(p) for p in parts]


def parse_name(text: str, names: tuple[str, ...] | list[str]) -> int | None:
    """The index of the name the text is, after VQA normalisation (case, punctuation, articles)."""
    norm = normalize_answer(text[:10_000])
    for i, name in enumerate(names):
        if norm == normalize_answer(name):  # "none" normalises to "0" like any number word
            return i
    return None


def parse_grade(text: str) -> int | None:
    """The edema grade whose name the text is (see :func:`parse_name`)."""
    return parse_name(text, GRADES)


def parse_answer_list(text: str) -> list[str]:
    """Answers joined with ", ", back to the sorted list."""
    return sorted(p.strip() for p in text.split(", ") if p.strip())
