"""Multi-label entries from CXR-LT 2024: the paper's ten findings, in its order, as ten 0/1 digits."""

from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from imax_hub.sources import read_cxr_lt
from imax_hub.sources.layout import CXR_LT
from imax_hub.tasks import CandidateList, TaskContext

# The paper's order (Figure 1 and Supplementary A), not CXR-LT's alphabetical column order.
PAPER_LABELS = ("Lung Opacity", "Pleural Effusion", "Atelectasis", "Pneumonia", "Edema", "Consolidation",
                "Pneumothorax", "Fracture", "Infiltration", "Nodule")


def candidates(ctx: TaskContext):
    """One entry per frontal image labelled in CXR-LT's task-1 files."""
    table = read_cxr_lt(ctx.root)
    table = table.filter(pc.is_in(table.column("dicom_id"), value_set=ctx.frontal_ids)).sort_by("dicom_id")
    vectors = np.stack([table.column(name).to_numpy(zero_copy_only=False) for name in PAPER_LABELS], axis=1)
    out = CandidateList(CXR_LT.tag(ctx.root))
    labels = list(PAPER_LABELS)
    for dicom_id, vector in zip(table.column("dicom_id").to_pylist(), vectors.tolist()):
        out.add(dicom_id, "multilabel", "findings10", "findings10", {"labels": labels},
                {"labels": labels, "vector": [int(v) for v in vector]})
    return out.table()
