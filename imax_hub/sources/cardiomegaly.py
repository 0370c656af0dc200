"""CXR-Cardiomegaly 1.0.0: CTR and CPAR per PA image (``CTRs.csv``, ``CPARs.csv``).

``read_cardiomegaly`` returns one row per image present in either file:
    dicom_id str; ctr float64 (null when not available); ctr_status str; cpar float64; cpar_status str.
Status is ``ok``, ``heart_not_found`` (code 2), ``lungs_not_found`` (code 3), ``neither_found`` (code 4),
``implausible`` (any other value >= 1 or <= 0, which the authors' pipeline also treats as invalid) or
``missing`` (the image is absent from that file).

Layout evidence: PhysioNet's cxr-cardiomegaly 1.0.0 page (``CTRs.csv``, ``CPARs.csv``) and the authors'
benduvi20/CardiomegalyBiomarkers ``Biomarker Extraction/CTR_full_MIMIC.py`` / ``CPAR_full_MIMIC.py`` (the
value column, the error codes 2/3/4 written into it, and the pandas index column their ``to_csv`` adds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from imax_hub.sources import _csv, readlog
from imax_hub.sources.layout import CXR_CARDIOMEGALY, require

ERROR_CODES = {2.0: "heart_not_found", 3.0: "lungs_not_found", 4.0: "neither_found"}


def _read_one(path: Path, value_name: str, log: readlog.ReadLog) -> pa.Table:
    # The published files were parsed as ``dicom_file,CTR`` by a third-party download log; the authors'
    # CTR_full_MIMIC.py writes ``DataFrame(columns=['dicom_id', 'CTR']).to_csv(path)``, i.e. ``,dicom_id,CTR`` with a
    # pandas index column (dropped by the CSV layer). Either id name is read.
    id_column = "dicom_id" if "dicom_id" in _csv.read_header(path) else "dicom_file"
    t = _csv.read_strings(path, required=[id_column, value_name], log=log)
    rows = _csv.Rows(path, t, log=log)
    rows.required([id_column, value_name])
    # the id should be the bare dicom_id; strip any folder and extension defensively (inference)
    ids = pc.replace_substring_regex(t.column(id_column), r"^.*/", "")
    ids = pc.replace_substring_regex(ids, r"\.(jpg|dcm|png)$", "")
    t = t.set_column(t.column_names.index(id_column), id_column, ids)
    rows.table = t
    rows.dicom_ids(id_column)
    values = rows.float(value_name).to_numpy(zero_copy_only=False)
    status = np.full(len(values), "ok", dtype=object)
    for code, name in ERROR_CODES.items():
        status[values == code] = name
    implausible = (status == "ok") & ((values >= 1.0) | (values <= 0.0) | np.isnan(values))
    status[implausible] = "implausible"
    clean = np.where(status == "ok", values, np.nan)
    rows.unique(id_column)
    key = value_name.lower()
    return rows.finish({
        "dicom_id": ids,
        key: pa.array(clean, pa.float64(), from_pandas=True),
        f"{key}_status": pa.array(status.tolist(), pa.string()),
    })


def read_cardiomegaly(root: str | Path) -> pa.Table:
    """CTR and CPAR joined by dicom_id (see the module docstring)."""
    log = readlog.current()
    base = require(CXR_CARDIOMEGALY, root)
    paths = {name: _csv.find_file(base, f"{name}s.csv") for name in ("CTR", "CPAR")}
    ctr = _read_one(paths["CTR"], "CTR", log)
    cpar = _read_one(paths["CPAR"], "CPAR", log)
    joined = ctr.join(cpar, "dicom_id", join_type="full outer").sort_by("dicom_id")
    for key in ("ctr", "cpar"):
        joined = joined.set_column(
            joined.schema.get_field_index(f"{key}_status"), f"{key}_status",
            pc.fill_null(joined.column(f"{key}_status"), "missing"),
        )
    return joined.select(["dicom_id", "ctr", "ctr_status", "cpar", "cpar_status"])
