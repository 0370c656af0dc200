"""Where each source lives in a PhysioNet download tree: the one table of projects, versions and paths.

A *PhysioNet root* is the folder that holds the projects as PhysioNet serves them,
``<root>/<project>/<version>/...`` (what ``wget -r https://physionet.org/files/<project>/<version>/``
leaves under ``physionet.org/files/``). Both ``<root>`` and ``<root>/physionet.org/files`` are
searched, plus a few folder names seen in users' trees (an extracted zip, for instance).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from imax_hub.errors import ImaxError, SourceError

# `imax download` records the files it verified in this file of each project folder (size, mtime, sha256)
LEDGER = ".imax-verified"
_VERSION = re.compile(r"^\d+(\.\d+)*$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def marker_forms(marker: str) -> tuple[str, ...]:
    """A marker file as released, or gunzipped / gzipped (users do both to CSVs)."""
    if marker.endswith(".csv.gz"):
        return marker, marker[: -len(".gz")]
    if marker.endswith(".csv"):
        return marker, marker + ".gz"
    return (marker,)


@dataclass(frozen=True)
class Found:
    """Where a project's data files were found, and under which version folder."""

    folder: Path
    version: str | None  # None when found under an alias folder that names no version
    known: bool  # the version is one imax-hub was written against


@dataclass(frozen=True)
class Project:
    """One PhysioNet project that imax-hub reads."""

    key: str
    title: str
    slug: str
    version: str  # the release imax-hub downloads and was written against
    access: str  # "credentialed" or "open"
    markers: tuple[str, ...]  # any one of these, relative to the data folder, identifies the source
    input_files: tuple[str, ...]  # what its reader reads for a build (hashed into the build manifest)
    data_subdir: str = ""  # where the files sit inside <project>/<version>/
    aliases: tuple[str, ...] = field(default=())  # other folders (relative to the root) seen in users' trees
    needs: str = ""  # what a user must do on PhysioNet to get access
    # what `imax download` fetches: fnmatch patterns over the paths in the project's SHA256SUMS.txt
    # (MIMIC-CXR-JPG's images come on top of these, only those the selection uses)
    fetch: tuple[str, ...] = ("LICENSE.txt",)
    older_versions: tuple[str, ...] = ()  # earlier releases with the same files, also read

    @property
    def url(self) -> str:
        return f"https://physionet.org/content/{self.slug}/{self.version}/"

    @property
    def files_url(self) -> str:
        return f"https://physionet.org/files/{self.slug}/{self.version}/"

    @property
    def known_versions(self) -> tuple[str, ...]:
        return (self.version, *self.older_versions)

    def _data(self, project_folder: Path) -> Path:
        return project_folder / self.data_subdir if self.data_subdir else project_folder

    def candidates(self, root: Path) -> list[tuple[Path, str | None]]:
        """(folder, version) pairs, in order of preference, where this project's data files may lie: the known
        versions, then any other version folder (newest first), then folders seen in users' trees."""
        out: list[tuple[Path, str | None]] = []
        for base in (root, root / "physionet.org" / "files"):
            for version in self.known_versions:
                out.append((self._data(base / self.slug / version), version))
            project = base / self.slug
            if project.is_dir():
                others = [p.name for p in project.iterdir()
                          if p.is_dir() and _VERSION.match(p.name) and p.name not in self.known_versions]
                for version in sorted(others, key=_version_key, reverse=True):
                    out.append((self._data(project / version), version))
        for alias in self.aliases:
            out.append((root / alias, None))
        return out

    def find(self, root: str | Path) -> Found | None:
        """Where this project's files lie under ``root`` (and which version), or None when absent."""
        for folder, version in self.candidates(Path(root)):
            if any((folder / form).exists() for m in self.markers for form in marker_forms(m)):
                return Found(folder, version, version is None or version in self.known_versions)
        return None

    def locate(self, root: str | Path) -> Path | None:
        """The folder holding this project's files under ``root``, or None when absent."""
        found = self.find(root)
        return found.folder if found else None

    def found_version(self, root: str | Path) -> str:
        """The version folder the files were found in (the known release when found under an alias)."""
        found = self.find(root)
        return found.version if found is not None and found.version else self.version

    def tag(self, root: str | Path) -> str:
        """``slug/version`` of the release found under ``root``, recorded with every entry taken from it."""
        return f"{self.slug}/{self.found_version(root)}"

    def version_note(self, found: Found) -> str | None:
        if found.known:
            return None
        return (f"version {found.version} is not one imax-hub was written against "
                f"({', '.join(self.known_versions)}); read as found: check its files match")


MIMIC_CXR_JPG = Project(
    key="mimic_cxr_jpg",
    title="MIMIC-CXR-JPG",
    slug="mimic-cxr-jpg",
    version="2.1.0",
    access="credentialed",
    markers=("mimic-cxr-2.0.0-metadata.csv.gz",),
    input_files=("mimic-cxr-2.0.0-metadata.csv.gz",),
    older_versions=("2.0.0",),  # same CSV names; 2.1.0 added mimic-cxr-2.1.0-test-set-labeled.csv
    fetch=("LICENSE.txt", "IMAGE_FILENAMES", "mimic-cxr-2.0.0-*.csv.gz", "mimic-cxr-2.1.0-test-set-labeled.csv"),
    needs="credentialed PhysioNet account, CITI training, signed MIMIC-CXR-JPG data use agreement",
)
MIMIC_CXR_REPORTS = Project(
    key="mimic_cxr_reports",
    title="MIMIC-CXR reports",
    slug="mimic-cxr",
    version="2.1.0",
    access="credentialed",
    markers=("mimic-cxr-reports.zip", "files"),
    input_files=("mimic-cxr-reports.zip",),  # or the files/ folder, hashed as one
    older_versions=("2.0.0",),  # the reports zip is the same file in 2.0.0 and 2.1.0
    aliases=("mimic-cxr-reports",),
    fetch=("LICENSE.txt", "mimic-cxr-reports.zip"),  # not the 4.7 TB of DICOMs beside it
    needs="credentialed access to MIMIC-CXR (the DICOM project); only mimic-cxr-reports.zip is needed",
)
CXR_CARDIOMEGALY = Project(
    key="cxr_cardiomegaly",
    title="CXR-Cardiomegaly (CTR/CPAR biomarkers)",
    slug="cxr-cardiomegaly",
    version="1.0.0",
    access="open",
    markers=("CTRs.csv", "CPARs.csv"),
    input_files=("CTRs.csv", "CPARs.csv"),
    fetch=("LICENSE.txt", "CTRs.csv", "CPARs.csv"),
    needs="open access",
)
PE_SEVERITY = Project(
    key="pe_severity",
    title="MIMIC-CXR-PE-Severity (pulmonary edema grades)",
    slug="mimic-cxr-pe-severity",
    version="1.0.1",
    access="credentialed",
    markers=("regex_report_edema_severity.csv",),
    input_files=("regex_report_edema_severity.csv", "expert_report_edema_severity.csv",
                 "consensus_image_edema_severity.csv"),
    fetch=("LICENSE.txt", "*.csv"),
    needs="credentialed PhysioNet account and the project's data use agreement",
)
CXR_LT = Project(
    key="cxr_lt",
    title="CXR-LT 2024 (long-tailed multi-label)",
    slug="cxr-lt-iccv-workshop-cvamd",
    version="2.0.0",
    access="credentialed",
    markers=("train_labeled.csv",),
    input_files=("train_labeled.csv", "development_labeled_task1.csv", "test_labeled_task1.csv"),
    data_subdir="cxr-lt-2024",
    aliases=("cxr-lt-multi-label-long-tailed-classification-on-chest-x-rays-2.0.0/cxr-lt-2024", "cxr-lt-2024"),
    fetch=("LICENSE.txt", "cxr-lt-2024/*.csv"),  # not cxr-lt-2023/
    needs="credentialed PhysioNet account and the project's data use agreement",
)
CHEXMASK = Project(
    key="chexmask",
    title="CheXmask (heart and lung masks)",
    slug="chexmask-cxr-segmentation-data",
    version="1.0.0",
    access="open",
    markers=("OriginalResolution/MIMIC-CXR-JPG.csv",),
    input_files=("OriginalResolution/MIMIC-CXR-JPG.csv",),
    fetch=("LICENSE.txt", "OriginalResolution/MIMIC-CXR-JPG.csv"),  # not the other datasets' masks
    needs="open access (only OriginalResolution/MIMIC-CXR-JPG.csv is needed)",
)
MIMIC_CXR_VQA = Project(
    key="mimic_cxr_vqa",
    title="MIMIC-Ext-MIMIC-CXR-VQA",
    slug="mimic-ext-mimic-cxr-vqa",
    version="1.0.0",
    access="credentialed",
    markers=("train.json",),
    input_files=("train.json", "valid.json", "test.json"),
    data_subdir="MIMIC-Ext-MIMIC-CXR-VQA/dataset",
    aliases=(
        "physionet.org/files/mimic-ext-mimic-cxr-vqa/1.0.0/dataset",
        "mimic-ext-mimic-cxr-vqa/1.0.0/dataset",
        "MIMIC-Ext-MIMIC-CXR-VQA/dataset",
    ),
    fetch=("LICENSE.txt", "MIMIC-Ext-MIMIC-CXR-VQA/dataset/*.json"),
    needs="credentialed PhysioNet account and the project's data use agreement",
)

PROJECTS: tuple[Project, ...] = (
    MIMIC_CXR_JPG,
    MIMIC_CXR_REPORTS,
    CXR_CARDIOMEGALY,
    PE_SEVERITY,
    CXR_LT,
    CHEXMASK,
    MIMIC_CXR_VQA,
)
PROJECTS_BY_KEY = {p.key: p for p in PROJECTS}


def require(project: Project, root: str | Path) -> Path:
    """Like :meth:`Project.locate` but raises a clear error naming what to download."""
    folder = project.locate(root)
    if folder is None:
        tried = "\n".join(f"    {p}" for p, _ in project.candidates(Path(root)))
        raise ImaxError(
            f"{project.title} not found under {root}: none of {', '.join(project.markers)} in\n{tried}\n"
            f"  download it from {project.files_url} ({project.needs})"
        )
    return folder


def read_sums(path: Path) -> list[tuple[str, str]]:
    """(sha256, path) entries of a project's SHA256SUMS.txt, with a clear error naming the line."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise SourceError(path, f"expected '<sha256> <path>', found {line[:80]!r}", line=n)
        rel = parts[1].lstrip("*").strip()
        if rel.startswith(("/", "\\")) or ".." in Path(rel).parts:  # a list may never write outside its project
            raise SourceError(path, f"path {rel!r} leaves the project folder", line=n)
        out.append((parts[0].lower(), rel))
    return out
