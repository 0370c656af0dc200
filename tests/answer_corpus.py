"""Answers written the way each model family writes them, from the families' own documentation and model
cards (not from our templates), each with the structured answer it must read back as.

Boxes: every family answers for the same gold box, the heart of a 2544 x 3056 (width x height) radiograph
whose edges on our 0-1000 grid are (300, 400, 700, 800); each family's numbers below were worked out by hand
from its convention (see imax_hub/tasks/answer_formats.py), e.g. Qwen2.5-VL's resize of 2544 x 3056 with
max_pixels 12845056 keeps 2548 x 3052 (multiples of 28), so x1 = 0.3 x 2548 = 764.4 -> 764.
"""

IMAGE = (2544, 3056)
GOLD_BOX = [300, 400, 700, 800]

BOXES = {
    "qwen2-vl": [  # <|box_start|>(x1,y1),(x2,y2)<|box_end|>, 0-1000
        "<|object_ref_start|>the heart<|object_ref_end|><|box_start|>(300,400),(700,800)<|box_end|>",
        "<|box_start|>(300,400),(700,800)<|box_end|>",
        "The heart is located at <|box_start|>(300,400),(700,800)<|box_end|>.",
        "<|object_ref_start|>heart<|object_ref_end|><|box_start|>(300, 400), (700, 800)<|box_end|><|im_end|>",
        "(300,400),(700,800)",
        "heart (300,400),(700,800)",
        "The bounding box of the heart is (300,400),(700,800).",
        "<|object_ref_start|>cardiac silhouette<|object_ref_end|><|box_start|>(300,400),(700,800)<|box_end|>",
        "Sure. <|box_start|>(300,400),(700,800)<|box_end|>",
        "<|box_start|>(300,400),(700,800)<|box_end|> <|box_start|>(300,400),(700,800)<|box_end|>",
    ],
    "qwen2.5-vl": [  # JSON bbox_2d, absolute pixels of the resized image (2548 x 3052)
        '```json\n[\n\t{"bbox_2d": [764, 1221, 1784, 2442], "label": "heart"}\n]\n```',
        '[{"bbox_2d": [764, 1221, 1784, 2442], "label": "heart"}]',
        '{"bbox_2d": [764, 1221, 1784, 2442], "label": "the heart"}',
        'The heart is here: {"bbox_2d": [764, 1221, 1784, 2442]}',
        '```json\n[{"bbox_2d": [764,1221,1784,2442], "label": "heart"}]\n```',
        '[\n  {\n    "bbox_2d": [764, 1221, 1784, 2442],\n    "label": "heart"\n  }\n]',
        '```json\n{"bbox_2d": [764.0, 1221.0, 1784.0, 2442.0], "label": "heart"}\n```',
        '{"label": "heart", "bbox_2d": [764, 1221, 1784, 2442]}',
        'Detected: [{"bbox_2d": [764, 1221, 1784, 2442], "label": "cardiac silhouette"}]',
        '[{"bbox_2d": [764, 1221, 1784, 2442], "label": "heart"}, {"bbox_2d": [764, 1221, 1784, 2442], "label": "heart"}]',
    ],
    "qwen3-vl": [  # JSON bbox_2d, 0-1000
        '```json\n[\n\t{"bbox_2d": [300, 400, 700, 800], "label": "heart"}\n]\n```',
        '[{"bbox_2d": [300, 400, 700, 800], "label": "heart"}]',
        '{"bbox_2d": [300, 400, 700, 800], "label": "heart"}',
        'Here is the heart: {"bbox_2d": [300, 400, 700, 800]}.',
        '```json\n[{"bbox_2d":[300,400,700,800],"label":"heart"}]\n```',
        '[\n  {"bbox_2d": [300, 400, 700, 800], "label": "the heart"}\n]',
        '{"label": "heart", "bbox_2d": [300, 400, 700, 800]}',
        '```json\n{"bbox_2d": [300.0, 400.0, 700.0, 800.0]}\n```',
        'The requested region: [{"bbox_2d": [300, 400, 700, 800], "label": "cardiac silhouette"}]',
        '<think>\nThe heart is central.\n</think>\n[{"bbox_2d": [300, 400, 700, 800], "label": "heart"}]',
    ],
    "internvl": [  # <ref>…</ref><box>[[x1, y1, x2, y2]]</box>, 0-1000
        "<ref>the heart</ref><box>[[300, 400, 700, 800]]</box>",
        "<box>[[300, 400, 700, 800]]</box>",
        "The heart is at <box>[[300, 400, 700, 800]]</box>.",
        "<ref>heart</ref><box>[[300,400,700,800]]</box>",
        "[[300, 400, 700, 800]]",
        "heart[[300, 400, 700, 800]]",
        "<ref>cardiac silhouette</ref><box>[[300, 400, 700, 800]]</box>",
        "The bounding box coordinate is [[300, 400, 700, 800]].",
        "Sure, <ref>heart</ref><box>[[300, 400, 700, 800]]</box>",
        "<ref>heart</ref><box>[[ 300 , 400 , 700 , 800 ]]</box>",
    ],
    "paligemma": [  # <locY1><locX1><locY2><locX2>, 1024 bins: y 400 -> 410, x 300 -> 307, y 800 -> 819, x 700 -> 717
        "<loc0410><loc0307><loc0819><loc0717> heart",
        "<loc0410><loc0307><loc0819><loc0717>",
        "<loc0410><loc0307><loc0819><loc0717> the heart",
        "<loc0410><loc0307><loc0819><loc0717> heart ; ",
        "<loc0410> <loc0307> <loc0819> <loc0717> heart",
        "detect heart\n<loc0410><loc0307><loc0819><loc0717> heart",
        "<loc0410><loc0307><loc0819><loc0717> cardiac silhouette",
        "<loc0410><loc0307><loc0819><loc0717> heart ; <loc0410><loc0307><loc0819><loc0717> heart",
        " <loc0410><loc0307><loc0819><loc0717>heart",
        "<loc0410><loc0307><loc0819><loc0717> heart<eos>",
    ],
    "florence2": [  # <loc_x1><loc_y1><loc_x2><loc_y2>, 1000 bins read at their centre (bin + 0.5)
        "heart<loc_300><loc_400><loc_700><loc_800>",
        "<loc_300><loc_400><loc_700><loc_800>",
        "</s><s>heart<loc_300><loc_400><loc_700><loc_800></s>",
        "the heart<loc_300><loc_400><loc_700><loc_800>",
        "heart <loc_300><loc_400><loc_700><loc_800>",
        "cardiac silhouette<loc_300><loc_400><loc_700><loc_800>",
        "<s>heart<loc_300><loc_400><loc_700><loc_800></s>",
        "heart<loc_300> <loc_400> <loc_700> <loc_800>",
        "heart<loc_300><loc_400><loc_700><loc_800>heart<loc_300><loc_400><loc_700><loc_800>",
        "HEART<loc_300><loc_400><loc_700><loc_800>",
    ],
    "llava": [  # [x1, y1, x2, y2] floats in [0, 1]
        "[0.30, 0.40, 0.70, 0.80]",
        "[0.3, 0.4, 0.7, 0.8]",
        "The heart is located at [0.300, 0.400, 0.700, 0.800].",
        "[0.30,0.40,0.70,0.80]",
        "Bounding box: [0.30, 0.40, 0.70, 0.80]",
        "heart: [0.30, 0.40, 0.70, 0.80]",
        "The bounding box coordinate of the heart is [0.30, 0.40, 0.70, 0.80].",
        "[ 0.30 , 0.40 , 0.70 , 0.80 ]",
        "Sure! [0.30, 0.40, 0.70, 0.80]",
        "[0.30, 0.40, 0.70, 0.80]</s>",
    ],
    "minigpt-v2": [  # {<x1><y1><x2><y2>}, 0-100
        "{<30><40><70><80>}",
        "<p>heart</p> {<30><40><70><80>}",
        "The heart is at {<30><40><70><80>}.",
        "{<30><40><70><80>}</s>",
        "[refer] heart {<30><40><70><80>}",
        "<p>the heart</p>{<30><40><70><80>}",
        "{ <30><40><70><80> }",
        "heart {<30><40><70><80>}",
        "<p>cardiac silhouette</p> {<30><40><70><80>}",
        "{<30> <40> <70> <80>}",
    ],
}

# Free text, the same rules in every family mode: (answer, expected structure or None for no answer)
LABELS = ["Lung Opacity", "Pleural Effusion", "Atelectasis", "Pneumonia", "Edema", "Consolidation",
          "Pneumothorax", "Fracture", "Infiltration", "Nodule"]
MULTILABEL = [
    ("Pleural Effusion, Edema", [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
    ("Edema; Pleural Effusion", [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
    ("The findings are pleural effusion and atelectasis.", [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
    ("[0, 1, 0, 0, 1, 0, 0, 0, 0, 0]", [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
    ("0 1 0 0 1 0 0 0 0 0", [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
    ("0;1;0;0;1;0;0;0;0;0", [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]),
    ("None of the listed conditions are present.", [0] * 10),
    ("None", [0] * 10),
    ("Pneumothorax. No pleural effusion.", [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]),
    ("Present: Lung Opacity, Consolidation, Pneumonia", [1, 0, 0, 1, 0, 1, 0, 0, 0, 0]),
    ("Nodule and fracture", [0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
    ("Pleural effusion. There is no pleural effusion.", None),  # affirmed and negated
    ("I cannot tell.", None),
    ("[0, 1, 0]", None),  # three digits for ten labels
]
MULTICLASS = [  # grades: none, vascular congestion, interstitial edema, alveolar edema
    ("Interstitial edema", 2),
    ("The pulmonary edema severity is interstitial edema.", 2),
    ("Based on the image, this belongs to the category: alveolar edema.", 3),
    ("vascular congestion", 1),
    ("Severity: none", 0),
    ("None.", 0),
    ("Answer: Vascular Congestion", 1),
    ("The image shows alveolar edema", 3),
    ("This is consistent with interstitial edema.", 2),
    ("**Alveolar edema**", 3),
    ("interstitial edema or alveolar edema", None),  # two grades
    ("moderate", None),
]
REG = [
    ("left lung", "left lung"),
    ("The structure is the left lung.", "left lung"),
    ("The object in the box is the heart.", "heart"),
    ("Right lung", "right lung"),
    ("It shows the right lung.", "right lung"),
    ("heart", "heart"),
    ("This region corresponds to the patient's left lung", "left lung"),
    ("Answer: the heart.", "heart"),
    ("**Right lung**", "right lung"),
    ("The highlighted structure is the heart", "heart"),
    ("lung", None),  # which one?
    ("left lung and heart", None),
]
VERIFY = [
    ("Yes", "yes"),
    ("No.", "no"),
    ("Yes, there is a pleural effusion in the left lung.", "yes"),
    ("No, the right lung appears clear.", "no"),
    ("yes", "yes"),
    ("NO", "no"),
    ("Yes. The finding is present.", "yes"),
    ("No. There are no signs of it.", "no"),
    ("Yes, both are visible.", "yes"),
    ("No - not seen.", "no"),
    ("yes no", None),
    ("Maybe.", None),
    ("There is no effusion.", None),  # does not lead with yes or no
]
RATIO = [
    ("0.52", 0.52),
    ("0,52", 0.52),
    ("52%", 0.52),
    ("The cardiothoracic ratio is approximately 0.52.", 0.52),
    ("CTR = 0.5123", 0.5123),
    ("The CTR is 52 %.", 0.52),
    ("CPAR: 0,4431", 0.4431),
    ("About 0.48", 0.48),
    ("The ratio is 0.61, which suggests cardiomegaly.", 0.61),
    ("Approximately 47.5% of the thoracic width.", 0.475),
    ("unknown", None),
    ("1.7", None),  # a ratio cannot exceed 1
]
