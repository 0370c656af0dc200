"""``imax check``: a pre-flight report per source (found, version, files, rows, tasks it enables)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from imax_hub.errors import ImaxError, SourceError
from imax_hub.sources import layout
from imax_hub.sources.layout import LEDGER, read_sums
from imax_hub.sources._csv import find_file
from imax_hub.sources.cardiomegaly import read_cardiomegaly
from imax_hub.sources.chexmask import ChexmaskStats, iter_chexmask
from imax_hub.sources.cxr_lt import read_cxr_lt
from imax_hub.sources.mimic_cxr_jpg import (
    CHEXPERT_FILE, METADATA_FILE, NEGBIO_FILE, SPLIT_FILE, TEST_LABELS_FILE, jpeg_problem, read_labels, read_metadata,
    read_split, read_test_set_labels,
)
from imax_hub.sources.mimic_cxr_vqa import read_vqa
from imax_hub.sources.pe_severity import read_pe_severity
from imax_hub.sources.readlog import DEFAULT_MAX_BAD_ROWS, FileLog, recording
from imax_hub.sources.reports import read_reports
from imax_hub.tasks import registry


@dataclass
class SourceStatus:
    project: layout.Project
    found: layout.Found | None
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    files: list[FileLog] = field(default_factory=list)  # what reading each of its files saw

    @property
    def folder(self) -> Path | None:
        return self.found.folder if self.found else None

    @property
    def ok(self) -> bool:
        return self.folder is not None and self.error is None

    @property
    def forms(self) -> str:
        """How the files came: e.g. ``csv.gz`` or ``zip``, several joined with ``+``."""
        return "+".join(sorted({f.form for f in self.files if f.form}))

    def file_notes(self) -> list[str]:
        """Extra columns ignored, index columns dropped, rows set aside (by reason, with their first lines)."""
        out = []
        for f in self.files:
            name = f.path.name
            if f.extra_columns:
                out.append(f"{name}: extra column(s) ignored: {', '.join(f.extra_columns)}")
            if f.index_column:
                out.append(f"{name}: a leading unnamed index column was dropped")
            if f.set_aside:
                reasons = "; ".join(f"{reason}: {k:,}" for reason, k in sorted((f.malformed + f.handled).items()))
                lines = ", ".join(str(e.line) for e in f.lines() if e.line)
                out.append(f"{name}: {f.set_aside:,} of {f.rows:,} rows set aside ({reasons})"
                           + (f"; first at line {lines}" if lines else ""))
            out += [f"{name}: {n}" for n in f.notes]
        return out


@dataclass
class CheckReport:
    root: Path
    sources: list[SourceStatus]
    checksum_failures: list[str] = field(default_factory=list)

    @property
    def tasks(self) -> dict[str, bool]:
        ok = {s.project.key for s in self.sources if s.ok}
        images = layout.MIMIC_CXR_JPG.key in ok
        return {t.name: images and t.project.key in ok for t in registry.tasks()}

    @property
    def ok(self) -> bool:
        # a missing source only turns tasks off; a source that is present but unreadable is an error
        return not any(s.error for s in self.sources) and not self.checksum_failures


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _jpg(root: Path, status: SourceStatus, tick, allow_missing_images: bool = False, verify_images: bool = False):
    meta = read_metadata(root)
    status.rows["images (metadata)"] = meta.num_rows
    # files no task reads: their rows are shown when they are readable, never fatal
    optional = (("split", SPLIT_FILE, read_split), ("chexpert", CHEXPERT_FILE, lambda r: read_labels(r, "chexpert")),
                ("negbio", NEGBIO_FILE, lambda r: read_labels(r, "negbio")),
                ("test-set labels", TEST_LABELS_FILE, read_test_set_labels))
    for name, filename, reader in optional:
        try:
            status.rows[name] = reader(root).num_rows
        except ImaxError as exc:
            absent = "file not found" in str(exc)
            status.notes.append(f"{filename} {'absent' if absent else 'unreadable'} (no task uses it)"
                                + ("" if absent else f": {exc}"))
    base = status.folder
    paths = meta.column("image_path").to_pylist()
    missing, damaged = [], []
    for i, rel in enumerate(paths):
        why = jpeg_problem(base / rel, decode=verify_images)
        if why == "missing":
            missing.append(rel)
        elif why is not None:
            damaged.append(f"{base / rel}: {why}")
        if i % 5000 == 0:
            tick("images on disk", i, len(paths))
    tick("images on disk", len(paths), len(paths))
    if damaged:
        raise SourceError(base, f"{len(damaged):,} of {len(paths):,} JPGs are not whole JPEGs; first: {damaged[0]}",
                          hint="download them again (imax download resumes and verifies checksums)")
    status.rows["images on disk"] = len(paths) - len(missing)
    if missing:
        first = paths.index(missing[0])
        message = (f"{len(missing)} of {len(paths)} images listed in the metadata are not on disk; "
                   f"first: {base / missing[0]}")
        if (base / LEDGER).is_file():  # `imax download` fetched only the images a build selects: expected
            status.notes.append(f"{len(paths) - len(missing):,} of {len(paths):,} images on disk: a selective "
                                "`imax download` (imax build checks the images it selects)")
            return meta
        if not allow_missing_images:
            raise SourceError(find_file(base, METADATA_FILE), message, line=first + 2,
                              hint="download the missing JPGs, or pass --allow-missing-images for a partial tree")
        status.notes.append(message)
    return meta


def _reports(root: Path, status: SourceStatus, tick) -> None:
    t = read_reports(root)
    status.rows["reports"] = t.num_rows
    status.notes.append(f"{t.column('findings').null_count} without FINDINGS, {t.column('impression').null_count} without IMPRESSION")


def _chexmask(root: Path, status: SourceStatus, tick, meta=None) -> None:
    stats = ChexmaskStats()
    for _ in iter_chexmask(root, image_sizes=meta, stats=stats):
        tick("chexmask", stats.rows, 0)
    status.rows["masks"] = stats.rows
    status.notes.append(f"{stats.below_threshold} with Dice RCA (Mean) <= 0.7 (flagged)")
    if stats.swapped:
        status.notes.append(f"{stats.swapped:,} rows have Height/Width = the JPG's Columns/Rows (swapped): read in "
                            "their written frame (see docs on CheXmask)")
    if stats.unknown_images:
        status.notes.append(f"{stats.unknown_images} rows name images absent from the metadata (ignored)")


READERS: dict[str, Callable] = {
    "mimic_cxr_reports": _reports,
    "cxr_cardiomegaly": lambda root, s, tick: s.rows.__setitem__("images with CTR/CPAR", read_cardiomegaly(root).num_rows),
    "pe_severity": lambda root, s, tick: s.rows.__setitem__("labels", read_pe_severity(root).num_rows),
    "cxr_lt": lambda root, s, tick: s.rows.__setitem__("labelled images", read_cxr_lt(root).num_rows),
    "chexmask": _chexmask,
    "mimic_cxr_vqa": lambda root, s, tick: s.rows.__setitem__("QA entries", read_vqa(root).num_rows),
}


def verify_checksums(folder: Path, tick=None) -> tuple[int, list[str], int]:
    """(verified, failures, absent) for the files listed in ``folder/SHA256SUMS.txt``."""
    sums = folder / "SHA256SUMS.txt"
    if not sums.exists():
        raise SourceError(sums, "file not found; it is needed to verify checksums")
    entries = read_sums(sums)
    present = [(h, rel) for h, rel in entries if (folder / rel).is_file()]
    total = sum((folder / rel).stat().st_size for _, rel in present)
    done = 0
    failures = []
    for h, rel in present:
        digest = hashlib.sha256()
        with open(folder / rel, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
                done += len(chunk)
                if tick:
                    tick("checksums", done, total)
        if digest.hexdigest() != h:
            failures.append(str(folder / rel))
    return len(present) - len(failures), failures, len(entries) - len(present)


def run_check(root: str | Path, *, verify: bool = False, allow_missing_images: bool = False, tick=None,
              max_bad_rows: float = DEFAULT_MAX_BAD_ROWS, verify_images: bool = False) -> CheckReport:
    """Inspect every source under ``root``; errors are recorded per source, never raised."""
    root = Path(root)
    if not root.is_dir():
        raise ImaxError(f"{root}: not a folder; pass the folder that holds your PhysioNet downloads")
    tick = tick or (lambda *a: None)
    report = CheckReport(root, [])
    meta = None
    with recording(max_bad_rows) as log:
        for project in layout.PROJECTS:
            status = SourceStatus(project, project.find(root))
            report.sources.append(status)
            if status.found is None:
                continue
            note = project.version_note(status.found)
            if note:
                status.notes.append(note)
            try:
                if project is layout.MIMIC_CXR_JPG:
                    meta = _jpg(root, status, tick, allow_missing_images, verify_images)
                elif project is layout.CHEXMASK:
                    _chexmask(root, status, tick, meta)
                else:
                    READERS[project.key](root, status, tick)
            except ImaxError as exc:
                status.error = str(exc)
            except Exception as exc:  # noqa: BLE001 - a reader's unforeseen failure is this source's problem, reported
                status.error = (f"{project.title}: cannot be read ({type(exc).__name__}: {exc}); please report this "
                                "with `imax --debug check` output")
            status.files = [f for path, f in log.files.items() if path.is_relative_to(status.folder)]
            if verify:
                try:
                    ok, failures, absent = verify_checksums(_project_root(project, status.folder), tick)
                    status.notes.append(f"checksums: {ok} verified, {len(failures)} wrong, {absent} listed but not downloaded")
                    report.checksum_failures += failures
                except ImaxError as exc:
                    status.error = status.error or str(exc)
    return report


def _project_root(project: layout.Project, folder: Path) -> Path:
    """The ``<project>/<version>`` folder (where SHA256SUMS.txt lies) of a located data folder."""
    for _ in range(project.data_subdir.count("/") + 1 if project.data_subdir else 0):
        folder = folder.parent
    return folder
