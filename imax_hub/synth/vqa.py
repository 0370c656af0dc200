"""Synthetic MIMIC-Ext-MIMIC-CXR-VQA entries whose answers follow from what the phantom shows.

Entries carry every field of the release in its key order, ids as strings, ``image_path`` relative to
``files/``, ``template_arguments`` with exactly the five keys, and answers as sorted lower-case lists.
"""

from __future__ import annotations

import numpy as np

ATTRIBUTE = {"pleural_effusion": "pleural effusion", "atelectasis": "atelectasis", "lung_opacity": "lung opacity",
             "pneumothorax": "pneumothorax", "consolidation": "consolidation", "nodule": "lung nodule"}
ZONE_NAME = {"upper": "upper lung zone", "mid": "mid lung zone", "lower": "lower lung zone"}


def _present(study, name: str, obj: str) -> bool:
    info = study.findings[name]
    if info["state"] != "present":
        return False
    side = obj.split()[0]
    if side not in info["sides"]:
        return False
    if obj.endswith("lung zone"):
        return obj == f"{side} {ZONE_NAME[info['zone']]}" or (name == "pleural_effusion" and "lower" in obj)
    return True


def _args(obj=(), attribute=(), category=(), viewpos=(), gender=()) -> dict:
    def d(vals):
        return {str(i): v for i, v in enumerate(vals)}
    return {"object": d(obj), "attribute": d(attribute), "category": d(category), "viewpos": d(viewpos), "gender": d(gender)}


def questions_for(image, study, patient, rng: np.random.Generator) -> list[dict]:
    """Two or three QA entries about one frontal image (fields without split/idx/ids)."""
    side = ("left", "right")[rng.integers(2)]
    obj = f"{side} lung" if rng.random() < 0.5 else f"{side} {ZONE_NAME[('upper', 'mid', 'lower')[rng.integers(3)]]}"
    names = list(ATTRIBUTE)
    a1, a2 = (names[i] for i in rng.choice(len(names), size=2, replace=False))
    view = image.view.lower()
    enlarged = patient.enlarged_heart
    pool = []
    pool.append(dict(
        question=f"Is there {ATTRIBUTE[a1]} in the {obj}?", semantic_type="verify", content_type="presence",
        template="Is there ${attribute} in the ${object}?", template_program="program_1",
        template_arguments=_args(obj=[obj], attribute=[ATTRIBUTE[a1]]),
        answer=["yes" if _present(study, a1, obj) else "no"]))
    pool.append(dict(
        question=f"Are there signs of both {ATTRIBUTE[a1]} and {ATTRIBUTE[a2]} in the {obj}?",
        semantic_type="verify", content_type="attribute",
        template="Are there signs of both ${attribute_1} and ${attribute_2} in the ${object}?",
        template_program="program_5", template_arguments=_args(obj=[obj], attribute=[ATTRIBUTE[a1], ATTRIBUTE[a2]]),
        answer=["yes" if _present(study, a1, obj) and _present(study, a2, obj) else "no"]))
    pool.append(dict(
        question=f"List all abnormalities in the {obj}.", semantic_type="query", content_type="abnormality",
        template="List all abnormalities in the ${object}.", template_program="program_12",
        template_arguments=_args(obj=[obj]),
        answer=sorted(ATTRIBUTE[n] for n in names if _present(study, n, obj))))
    pool.append(dict(
        question=f"Which anatomical locations are related to {ATTRIBUTE[a1]}?", semantic_type="query",
        content_type="anatomy", template="Which anatomical locations are related to ${attribute}?",
        template_program="program_20", template_arguments=_args(attribute=[ATTRIBUTE[a1]]),
        answer=sorted(f"{s} lung" for s in ("left", "right") if _present(study, a1, f"{s} lung"))))
    pool.append(dict(
        question=f"Which lung shows {ATTRIBUTE[a1]}, the left lung or the right lung?", semantic_type="choose",
        content_type="anatomy", template="Which lung shows ${attribute}, the ${object_1} or the ${object_2}?",
        template_program="program_25", template_arguments=_args(obj=["left lung", "right lung"], attribute=[ATTRIBUTE[a1]]),
        answer=sorted(f"{s} lung" for s in ("left", "right") if _present(study, a1, f"{s} lung"))))
    pool.append(dict(
        question=f"Which is seen in the {obj}, {ATTRIBUTE[a1]} or {ATTRIBUTE[a2]}?", semantic_type="choose",
        content_type="attribute", template="Which is seen in the ${object}, ${attribute_1} or ${attribute_2}?",
        template_program="program_27", template_arguments=_args(obj=[obj], attribute=[ATTRIBUTE[a1], ATTRIBUTE[a2]]),
        answer=sorted(ATTRIBUTE[n] for n in (a1, a2) if _present(study, n, obj))))
    asked = ("AP", "PA")[rng.integers(2)]
    pool.append(dict(
        question=f"Is this image taken in {asked} view?", semantic_type="verify", content_type="plane",
        template="Is this image taken in ${viewpos} view?", template_program="program_40",
        template_arguments=_args(viewpos=[asked]), answer=["yes" if asked.lower() == view else "no"]))
    pool.append(dict(
        question="Which view is this image taken in, AP or PA?", semantic_type="choose", content_type="plane",
        template="Which view is this image taken in, AP or PA?", template_program="program_41",
        template_arguments=_args(viewpos=["AP", "PA"]), answer=[view]))
    pool.append(dict(
        question="Is the width of the cardiac silhouette wider than 1/2 of the thorax width?",
        semantic_type="verify", content_type="size",
        template="Is the width of the cardiac silhouette wider than 1/2 of the thorax width?",
        template_program="program_46", template_arguments=_args(), answer=["yes" if enlarged else "no"]))
    pool.append(dict(
        question="What is the gender of this patient?", semantic_type="query", content_type="gender",
        template="What is the gender of this patient?", template_program="program_48",
        template_arguments=_args(), answer=["female" if patient.gender == "F" else "male"]))
    k = 2 + int(rng.random() < 0.64)
    return [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]
