"""How model families write answers, read back into the structured answers the metrics compare.

``paper`` (the default) reads only the formats the templates teach — the IMAX paper's setting, models
fine-tuned on these templates — and keeps the paper's numbers. A family mode reads what a model of that
family writes zero-shot: its own box convention, converted to our 0-1000 grid of the original image, and
tolerant free-text rules for the other tasks (label names in any order, a grade or structure named in a
sentence, a leading yes/no, decimal commas and percentages). The paper's own answer forms are read in
every mode too, so the oracle stays perfect. An ambiguous answer is a parse failure, never a guess.

Box conventions, each from its owner:

- ``qwen2-vl``: ``<|object_ref_start|>…<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``, coordinates
  0-1000 of the image (Qwen2-VL model card, "grounding"; QwenLM qwen-vl-finetune data-format notes).
- ``qwen2.5-vl``: JSON ``{"bbox_2d": [x1, y1, x2, y2], "label": …}``, absolute pixels of the image *as the processor
  resized it* (Qwen2.5-VL technical report, arXiv 2502.13923, §2.2.1 "absolute coordinates"; the resize is
  ``smart_resize`` of transformers' ``qwen2_vl/image_processing_qwen2_vl.py``: factor 28, ``min_pixels`` 3136 and
  ``max_pixels`` 12845056 in the released Instruct models' ``preprocessor_config.json``).
- ``qwen3-vl``: the same JSON, coordinates 0-1000 (QwenLM/Qwen3-VL cookbooks and qwen-vl-finetune notes:
  "relative coordinates (0-1000)").
- ``internvl``: ``<ref>…</ref><box>[[x1, y1, x2, y2]]</box>``, 0-1000 (InternVL chat data format docs,
  "grounding/detection data"; OpenGVLab/InternVL#285: ``int(x / width * 1000)``).
- ``paligemma``: four ``<locNNNN>`` tokens ``y_min x_min y_max x_max`` of 1024 bins (``<loc0000>``…``<loc1023>``
  in transformers' ``processing_paligemma.py``; big_vision's PaliGemma docs: value / 1024 x image size).
- ``florence2``: ``<loc_x1><loc_y1><loc_x2><loc_y2>`` of 1000 bins, a bin meaning its centre: ``(bin + 0.5) x
  size / 1000`` (transformers' ``Florence2PostProcessor.dequantize``).
- ``llava``: ``[x1, y1, x2, y2]`` floats in [0, 1] (LLaVA-1.5's REC instruction data; Shikra writes the same).
  Read relative to the original image, as LLaVA-1.5's RefCOCO data are (haotian-liu/LLaVA#623); its Visual
  Genome boxes were normalised on the padded square (#606), which this mode does not undo.
- ``minigpt-v2``: ``{<x1><y1><x2><y2>}`` integers 0-100 (MiniGPT-v2 paper §3; Vision-CAIR/MiniGPT-4 and
  MiniGPT-Med data code); its resolution is 10 of our grid units.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from imax_hub.tasks.answers import parse_box
from imax_hub.tasks.normalize import normalize_answer

FAMILIES = ("qwen2-vl", "qwen2.5-vl", "qwen3-vl", "internvl", "paligemma", "florence2", "llava", "minigpt-v2")
FORMATS = ("paper", *FAMILIES)
# the released Qwen2.5-VL Instruct models' preprocessor_config.json (min_pixels, max_pixels) and patch x merge size
QWEN25_DEFAULTS = {"min_pixels": 3136, "max_pixels": 12845056}
QWEN25_FACTOR = 28
# transformers model_type -> family, for `imax eval --answer-format auto`
MODEL_TYPES = {
    "qwen2_vl": "qwen2-vl", "qwen2_5_vl": "qwen2.5-vl", "qwen3_vl": "qwen3-vl", "qwen3_vl_moe": "qwen3-vl",
    "internvl": "internvl", "internvl_chat": "internvl", "paligemma": "paligemma", "florence2": "florence2",
    "llava": "llava", "llava_next": "llava", "llava_onevision": "llava", "minigpt_v2": "minigpt-v2",
}
_MAX_TEXT = 10_000  # answers are read from their first 10,000 characters (a runaway generation costs nothing more)


@dataclass(frozen=True)
class AnswerFormat:
    """The answer convention a prediction set is read with (recorded in every metric's signature)."""

    name: str = "paper"
    min_pixels: int | None = None  # qwen2.5-vl: the processor's resize bounds (default: the released models')
    max_pixels: int | None = None

    def __post_init__(self):
        if self.name not in FORMATS:
            raise ValueError(f"unknown answer format {self.name!r}; expected one of {', '.join(FORMATS)}")

    @property
    def paper(self) -> bool:
        return self.name == "paper"

    @property
    def pixels(self) -> tuple[int, int]:
        return (self.min_pixels or QWEN25_DEFAULTS["min_pixels"], self.max_pixels or QWEN25_DEFAULTS["max_pixels"])

    @property
    def signature(self) -> str:
        """What the metric signatures append (nothing in paper mode, whose signatures are unchanged)."""
        if self.paper:
            return ""
        if self.name == "qwen2.5-vl":
            lo, hi = self.pixels
            return f"answers:{self.name}(min_pixels={lo},max_pixels={hi})"
        return f"answers:{self.name}"


PAPER = AnswerFormat()


def parse_processor_args(text: str | None) -> dict[str, int]:
    """``min_pixels=…,max_pixels=…`` -> ints (``imax score --processor-args``)."""
    out: dict[str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in QWEN25_DEFAULTS or not value.strip().isdigit():
            raise ValueError(f"--processor-args takes min_pixels=N,max_pixels=N, not {part.strip()!r}")
        out[key] = int(value)
    return out


# -- boxes ---------------------------------------------------------------------------------------------------

_INT = r"\d{1,5}"
_FLOAT = r"[-+]?(?:\d+\.\d*|\.\d+|\d+)"
_QWEN2 = re.compile(rf"\(\s*({_INT})\s*,\s*({_INT})\s*\)\s*,?\s*\(\s*({_INT})\s*,\s*({_INT})\s*\)")
_BBOX_2D = re.compile(rf'"bbox_2d"\s*:\s*\[\s*({_FLOAT})\s*,\s*({_FLOAT})\s*,\s*({_FLOAT})\s*,\s*({_FLOAT})\s*\]')
_INTERNVL = re.compile(rf"\[\[\s*({_INT})\s*,\s*({_INT})\s*,\s*({_INT})\s*,\s*({_INT})\s*\]\]")
_PALIGEMMA = re.compile(r"<loc(\d{4})>\s*<loc(\d{4})>\s*<loc(\d{4})>\s*<loc(\d{4})>")
_FLORENCE = re.compile(r"<loc_(\d{1,4})>\s*<loc_(\d{1,4})>\s*<loc_(\d{1,4})>\s*<loc_(\d{1,4})>")
_LLAVA = re.compile(rf"\[\s*({_FLOAT})\s*,\s*({_FLOAT})\s*,\s*({_FLOAT})\s*,\s*({_FLOAT})\s*\]")
_MINIGPT = re.compile(rf"\{{\s*<\s*({_INT})\s*>\s*<\s*({_INT})\s*>\s*<\s*({_INT})\s*>\s*<\s*({_INT})\s*>\s*\}}")


def qwen25_resized(width: int, height: int, fmt: AnswerFormat) -> tuple[int, int]:
    """(width, height) of an image as Qwen2.5-VL's processor resizes it (transformers' own smart_resize; imported
    here because transformers costs seconds to import and only this family needs it)."""
    try:  # transformers 5: the PIL backend's module (the default one needs torchvision)
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize
    except ImportError:  # transformers 4: the slow (PIL/numpy) processor's module
        from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    lo, hi = fmt.pixels
    h, w = smart_resize(height, width, factor=QWEN25_FACTOR, min_pixels=lo, max_pixels=hi)
    return w, h


def _first(pattern: re.Pattern, text: str) -> list[float] | None:
    matches = pattern.findall(text)
    if not matches:
        return None
    first = [float(v) for v in matches[0]]
    # several different boxes: which one answers is a guess
    if any([float(v) for v in m] != first for m in matches[1:]):
        return None
    return first


def family_box(text: str, fmt: AnswerFormat, image_size: tuple[int, int]) -> list[float] | None:
    """A box written in ``fmt``'s family convention, as edges on our 0-1000 grid of the original image."""
    text = text[:_MAX_TEXT]
    w, h = image_size
    name = fmt.name
    if name == "qwen2-vl":
        box = _first(_QWEN2, text)
    elif name in ("qwen2.5-vl", "qwen3-vl"):
        box = _first(_BBOX_2D, text)
        if box is not None and name == "qwen2.5-vl":
            rw, rh = qwen25_resized(w, h, fmt)
            box = [box[0] / rw * 1000, box[1] / rh * 1000, box[2] / rw * 1000, box[3] / rh * 1000]
    elif name == "internvl":
        box = _first(_INTERNVL, text)
    elif name == "paligemma":
        yx = _first(_PALIGEMMA, text)
        box = None if yx is None else [yx[1] / 1024 * 1000, yx[0] / 1024 * 1000, yx[3] / 1024 * 1000, yx[2] / 1024 * 1000]
    elif name == "florence2":
        bins = _first(_FLORENCE, text)
        box = None if bins is None or max(bins) > 999 else [b + 0.5 for b in bins]
    elif name == "llava":
        box = _first(_LLAVA, text)
        box = None if box is None or max(box) > 1 else [v * 1000 for v in box]
    elif name == "minigpt-v2":
        box = _first(_MINIGPT, text)
        box = None if box is None or max(box) > 100 else [v * 10 for v in box]
    else:
        box = None
    return box


def read_box(text: str, fmt: AnswerFormat, image_size: tuple[int, int]) -> list[float] | None:
    """The answer's box on the 0-1000 grid: the family's convention, else the paper's ``<x1><y1><x2><y2>``.
    A box that is empty or leaves [0, 1000] is no box."""
    box = None if fmt.paper else family_box(text, fmt, image_size)
    if box is None:
        box = parse_box(text)
    if box is None or not (0 <= box[0] < box[2] <= 1000 and 0 <= box[1] < box[3] <= 1000):
        return None
    return box


def express_box(grid: list[float], fmt: AnswerFormat, image_size: tuple[int, int]) -> str:
    """A 0-1000 grid box written as a model of ``fmt``'s family writes it (for tests and documentation)."""
    w, h = image_size
    x1, y1, x2, y2 = grid
    name = fmt.name
    if name == "qwen2-vl":
        return f"<|object_ref_start|>it<|object_ref_end|><|box_start|>({round(x1)},{round(y1)}),({round(x2)},{round(y2)})<|box_end|>"
    if name in ("qwen2.5-vl", "qwen3-vl"):
        if name == "qwen2.5-vl":
            rw, rh = qwen25_resized(w, h, fmt)
            vals = [round(x1 * rw / 1000), round(y1 * rh / 1000), round(x2 * rw / 1000), round(y2 * rh / 1000)]
        else:
            vals = [round(v) for v in grid]
        return "```json\n" + json.dumps([{"bbox_2d": vals, "label": "it"}]) + "\n```"
    if name == "internvl":
        return f"<ref>it</ref><box>[[{round(x1)}, {round(y1)}, {round(x2)}, {round(y2)}]]</box>"
    if name == "paligemma":
        b = [min(1023, round(v * 1024 / 1000)) for v in (y1, x1, y2, x2)]
        return "".join(f"<loc{v:04d}>" for v in b) + " it"
    if name == "florence2":
        return "it" + "".join(f"<loc_{min(999, math.floor(v))}>" for v in grid)
    if name == "llava":
        return "[" + ", ".join(f"{v / 1000:.3f}" for v in grid) + "]"
    if name == "minigpt-v2":
        return "{" + "".join(f"<{round(v / 10)}>" for v in grid) + "}"
    return "".join(f"<{round(v)}>" for v in grid)


# -- free text -------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+")
_NEGATION = re.compile(r"\b(no|not|without|absent|absence|negative|free of|none|neither|nor)\b")
_CLAUSE = re.compile(r"[.;:\n]|,\s*(?:but|however|although)\b")


def _has_phrase(text: str, phrase: str) -> list[int]:
    """Start offsets of ``phrase`` as whole words in lower-cased ``text``."""
    return [m.start() for m in re.finditer(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text)]


def contained_names(text: str, names: list[str] | tuple[str, ...]) -> list[int]:
    """Indices of the names the text contains as whole words (longer names first: 'left lung' hides 'lung')."""
    low = text[:_MAX_TEXT].lower()
    found = []
    taken: list[tuple[int, int]] = []
    for i in sorted(range(len(names)), key=lambda k: -len(names[k])):
        name = names[i].lower()
        for start in _has_phrase(low, name):
            end = start + len(name)
            if not any(a < end and start < b for a, b in taken):
                taken.append((start, end))
                if i not in found:
                    found.append(i)
    return sorted(found)


def one_name(text: str, names: list[str] | tuple[str, ...]) -> int | None:
    """The one name the text contains; none or several is no answer."""
    found = contained_names(text, names)
    return found[0] if len(found) == 1 else None


def label_set(text: str, labels: list[str] | tuple[str, ...]) -> list[int] | None:
    """A 0/1 vector from a free-text answer: label names in any order and separator ("none of the listed" =
    all 0), or a vector of digits with brackets, spaces, commas or semicolons. A name both affirmed and
    negated, or no readable answer, is None."""
    text = text[:_MAX_TEXT]
    digits = re.fullmatch(r"\s*[\[(]?\s*([01](?:\s*[,; ]\s*[01])*)\s*[\])]?\s*\.?\s*", text)
    if digits:
        vec = [int(d) for d in re.findall(r"[01]", digits.group(1))]
        return vec if len(vec) == len(labels) else None
    low = text.lower()
    if re.search(r"\bnone of (the|these)\b|\bno (abnormalit|finding)|\bnone\b\.?\s*$|^\s*none\b", low) and \
            not contained_names(low, labels):
        return [0] * len(labels)
    vec = [0] * len(labels)
    seen: dict[int, set[bool]] = {}
    for clause in _CLAUSE.split(low):
        for i in contained_names(clause, labels):
            first = min(_has_phrase(clause, labels[i].lower()))
            negated = bool(_NEGATION.search(clause[:first]))
            seen.setdefault(i, set()).add(not negated)
    if not seen:
        return None
    for i, states in seen.items():
        if len(states) > 1:
            return None  # affirmed and negated: ambiguous
        vec[i] = int(states.pop())
    return vec


def yes_no(text: str) -> str | None:
    """'yes' or 'no' from an answer that leads with it; an answer holding both words is no answer."""
    words = _WORD.findall(text[:_MAX_TEXT].lower())
    if not words or words[0] not in ("yes", "no"):
        return None
    if "yes" in words and "no" in words:
        return None
    return words[0]


_NUMBER = re.compile(r"(?<![\d.,])([-+]?\d+(?:[.,]\d+)?)\s*(%?)")


def ratio(text: str) -> float | None:
    """The first number of the text, read with a decimal comma ("0,52") or as a percentage ("52%" -> 0.52)."""
    m = _NUMBER.search(text[:_MAX_TEXT])
    if m is None:
        return None
    value = float(m.group(1).replace(",", "."))
    return value / 100 if m.group(2) else value


def normalized(text: str) -> str:
    return normalize_answer(text[:_MAX_TEXT])


def auto_format(model_type: str | None) -> tuple[str, str | None]:
    """(format, warning) for a loaded model's ``config.model_type``."""
    if model_type in MODEL_TYPES:
        return MODEL_TYPES[model_type], None
    return "paper", (f"--answer-format auto: model_type {model_type!r} is not a known family "
                     f"({', '.join(sorted(set(MODEL_TYPES.values())))}); reading answers in the paper's format")


Reader = Callable[[str, dict, AnswerFormat], dict | None]
