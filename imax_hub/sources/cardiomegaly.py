"""CXR-Cardiomegaly 1.0.0: CTR and CPAR per PA image (``CTRs.csv``, ``CPARs.csv``).

``read_cardiomegaly`` returns one row per image present in either file:
    dicom_id str; ctr float64 (null when not available); ctr_status str; cpar float64; cpar_status str.
Status is ``ok``, ``heart_not_found`` (code 2), ``lungs_not_found`` (code 3), ``neither_found`` (code 4),
``implausible`` (any other value >= 1 or <= 0, which the authors' pipeline also treats as invalid) or
``missing`` (the image is absent from that file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.sources import _csv
from imax_hub.sources.layout import CXR_CARDIOMEGALY, require

ERROR_CODES = {2.0: "heart_not_found", 3.0: "lungs_not_found", 4.0: "neither_found"}


def _read_one(path: Path, value_name: str) -> pa.Table:
    found = _csv.read_header(path)
    # The authors' script would have written a pandas index column first; the published files have none.
    # Accept both (inference, see the spec): an unnamed leading column is dropped.
    if found and found[0] in ("", "Unnamed: 0") and found[1:] == ["dicom_file", value_name]:
        t = _csv.read_strings(path, header=found).drop_columns([found[0]])
    else:
        t = _csv.read_strings(path, header=["dicom_file", value_name])
    _csv.require_non_null(path, t, ["dicom_file", value_name])
    # ``dicom_file`` should be the bare dicom_id; strip any folder and extension defensively (inference).
    ids = pc.replace_substring_regex(t.column("dicom_file"), r"^.*/", "")
    ids = pc.replace_substring_regex(ids, r"\.(jpg|dcm|png)$", "")
    t = t.set_column(0, "dicom_file", ids)
    _csv.check_dicom_ids(path, t, "dicom_file")
    values = _csv.cast_column(path, t, value_name, "float", pa.float64()).to_numpy(zero_copy_only=False)
    status = np.full(len(values), "ok", dtype=object)
    for code, name in ERROR_CODES.items():
        status[values == code] = name
    implausible = (status == "ok") & ((values >= 1.0) | (values <= 0.0) | np.isnan(values))
    status[implausible] = "implausible"
    clean = np.where(status == "ok", values, np.nan)
    key = value_name.lower()
    return pa.table({
        "dicom_id": ids,
        key: pa.array(clean, pa.float64(), from_pandas=True),
        f"{key}_status": pa.array(status.tolist(), pa.string()),
    })


def read_cardiomegaly(root: str | Path) -> pa.Table:
    """CTR and CPAR joined by dicom_id (see the module docstring)."""
    base = require(CXR_CARDIOMEGALY, root)
    ctr = _read_one(base / "CTRs.csv", "CTR")
    cpar = _read_one(base / "CPARs.csv", "CPAR")
    for t, name in ((ctr, "CTRs.csv"), (cpar, "CPARs.csv")):
        ids = t.column("dicom_id").to_numpy(zero_copy_only=False)
        _, first, counts = np.unique(ids, return_index=True, return_counts=True)
        if (counts > 1).any():
            j = int(np.sort(first[counts > 1])[0])
            raise _csv.fail_at(base / name, j, "dicom_file", f"dicom_id {ids[j]} appears more than once")
    joined = ctr.join(cpar, "dicom_id", join_type="full outer").sort_by("dicom_id")
    for key in ("ctr", "cpar"):
        joined = joined.set_column(
            joined.schema.get_field_index(f"{key}_status"), f"{key}_status",
            pc.fill_null(joined.column(f"{key}_status"), "missing"),
        )
    return joined.select(["dicom_id", "ctr", "ctr_status", "cpar", "cpar_status"])
