"""One reader per PhysioNet source; each returns an Arrow table with a documented schema.

Joining keys are the same everywhere: ``dicom_id`` (string), ``study_id`` and ``subject_id`` (int64).
"""

from imax_hub.sources.cardiomegaly import read_cardiomegaly
from imax_hub.sources.chexmask import iter_chexmask, read_chexmask
from imax_hub.sources.cxr_lt import read_cxr_lt
from imax_hub.sources.mimic_cxr_jpg import read_labels, read_metadata, read_split, read_test_set_labels
from imax_hub.sources.mimic_cxr_vqa import read_vqa
from imax_hub.sources.pe_severity import read_pe_severity
from imax_hub.sources.reports import read_reports

__all__ = [
    "read_cardiomegaly", "read_chexmask", "iter_chexmask", "read_cxr_lt", "read_labels", "read_metadata",
    "read_split", "read_test_set_labels", "read_vqa", "read_pe_severity", "read_reports",
]
