"""Synthetic free-text radiology reports in MIMIC-CXR's exact text layout.

Layout: a right-aligned ``FINAL REPORT`` first line; every other line starts with one space; blank
lines are a single space; lines wrap at 79 characters; upper-case headers end with a colon; PHI is
``___``; addenda sit on top, separated by a full line of underscores. The mix of forms (findings and
impression, impression only, findings only, no usable header so that the official parser falls back
to ``last_paragraph``, misspelled and combined headers) exercises every branch of the parser.
"""

from __future__ import annotations

import textwrap

import numpy as np

SIDE = {("left",): "left", ("right",): "right", ("left", "right"): "bilateral"}
PHRASE = {
    "pleural_effusion": ("{side} pleural effusion", "pleural effusion"),
    "atelectasis": ("{side} {zone} lobe atelectasis", "atelectasis"),
    "lung_opacity": ("opacity in the {side} {zone} lung", "focal opacity"),
    "pneumonia": ("{side} {zone} lobe pneumonia", "pneumonia"),
    "consolidation": ("consolidation in the {side} {zone} lung", "consolidation"),
    "pneumothorax": ("{side} apical pneumothorax", "pneumothorax"),
    "fracture": ("an acute fracture of a {side} rib", "acute fracture"),
    "infiltration": ("interstitial infiltrate in the {side} lung", "infiltrate"),
    "nodule": ("a nodule in the {side} {zone} lung", "pulmonary nodule"),
}
EDEMA = {0: None, 1: "mild pulmonary vascular congestion", 2: "moderate interstitial pulmonary edema",
         3: "severe alveolar pulmonary edema"}


def _wrap(text: str) -> list[str]:
    return [" " + line for line in textwrap.wrap(text, width=78)] or [" "]


def _sentences(study, enlarged_heart: bool) -> tuple[list[str], list[str]]:
    """(findings sentences, impression sentences) describing a study's ground truth."""
    f = study.findings
    pos, unc, neg = [], [], []
    for name, (with_place, bare) in PHRASE.items():
        info = f[name]
        zone = {"upper": "upper", "mid": "middle", "lower": "lower"}[info["zone"]]
        text = with_place.format(side=SIDE[tuple(sorted(info["sides"]))], zone=zone)
        if info["state"] == "present":
            pos.append(text)
        elif info["state"] == "uncertain":
            unc.append(text)
        elif info["state"] == "negative":
            neg.append(bare)
    findings = []
    findings.append("The heart is enlarged." if enlarged_heart else "Heart size is normal.")
    findings.append("The mediastinal and hilar contours are unremarkable.")
    if study.edema_grade:
        findings.append(f"There is {EDEMA[study.edema_grade]}.")
    for p in pos:
        findings.append(f"There is {p}.")
    for u in unc:
        findings.append(f"Possible {u}, cannot be excluded.")
    if neg:
        findings.append("No " + (", ".join(neg[:-1]) + " or " + neg[-1] if len(neg) > 1 else neg[0]) + " is seen.")
    if f["support_devices"]["state"] == "present":
        findings.append("Endotracheal tube terminates 4 cm above the carina.")
    impression = []
    if pos or study.edema_grade >= 2 or enlarged_heart:
        if enlarged_heart:
            impression.append("Cardiomegaly.")
        if study.edema_grade >= 2:
            impression.append(EDEMA[study.edema_grade].capitalize() + ".")
        impression += [p[0].upper() + p[1:] + "." for p in pos]
    else:
        impression.append("No acute cardiopulmonary process.")
    impression += [f"{u[0].upper() + u[1:]} cannot be excluded." for u in unc]
    return findings, impression


def write_report(study, enlarged_heart: bool, rng: np.random.Generator) -> tuple[str, str]:
    """The report text of a study and the form used (for tests)."""
    findings, impression = _sentences(study, enlarged_heart)
    form = str(rng.choice(
        ["both", "impression_only", "findings_only", "no_header", "combined", "misspelled", "addendum"],
        p=[0.62, 0.14, 0.08, 0.08, 0.03, 0.02, 0.03],
    ))
    lines = [" " * 33 + "FINAL REPORT"]
    if form == "addendum":
        lines = [" " * 32 + "FINAL ADDENDUM", " ADDENDUM:", *_wrap("Findings were discussed with Dr. ___ by telephone at ___."),
                 " ", " " + "_" * 78, " ", *lines]
    lines += [f" EXAMINATION:  {study.kind}", " ",
              *_wrap(f"INDICATION:  ___ year old {'woman' if rng.random() < 0.5 else 'man'} with shortness of breath."
                     " Evaluate for acute process.")]
    lines += [" ", " TECHNIQUE:  Chest radiographs.", " "]
    if form == "no_header":
        # no FINDINGS/IMPRESSION header: the text follows COMPARISON after a blank line, so the
        # official parser takes it as ``last_paragraph``
        lines += [" COMPARISON:  ___.", " ", *_wrap(" ".join(findings + impression)), ""]
        return "\n".join(lines), form
    lines += [" COMPARISON:  Chest radiograph from ___.", " "]
    if form in ("both", "findings_only", "misspelled", "addendum"):
        if rng.random() < 0.5:
            lines += [" FINDINGS:", " ", *_wrap(" ".join(findings)), " "]
        else:
            lines += _wrap("FINDINGS:  " + " ".join(findings)) + [" "]
    if form in ("both", "impression_only", "addendum"):
        lines += [" IMPRESSION:", " ", *_wrap(" ".join(impression))]
    elif form == "misspelled":
        lines += [" IMPRESSON:", " ", *_wrap(" ".join(impression))]
    elif form == "combined":
        lines += [" FINDINGS AND IMPRESSION:", " ", *_wrap(" ".join(findings + impression))]
    lines.append("")
    return "\n".join(lines), form
