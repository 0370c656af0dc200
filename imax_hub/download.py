"""``imax download``: fetch from PhysioNet exactly the files a build needs, resumably, verified against SHA256SUMS.

Order: each project's ``SHA256SUMS.txt``, then its small files (the ``fetch`` patterns of
:mod:`imax_hub.sources.layout`: metadata, labels, reports zip, annotations), then the build's selection runs on
them and only the MIMIC-CXR-JPG images the chosen configs use are fetched. Files land in PhysioNet's own layout,
``<root>/<project>/<version>/<path>``, so ``imax check`` and ``imax build`` read the result as they read a
``wget -r`` tree.

Every file is written as ``<name>.partial`` (resumed with an HTTP Range request after a cut), checked against the
project's SHA256SUMS and only then renamed to its final name: a final name never holds a corrupt file. A ledger,
``<project>/<version>/.imax-verified``, remembers the size, mtime and hash of what was verified, so a rerun skips
finished files without reading them again. Credentials go to the server as HTTP basic auth over HTTPS and are
never written or logged.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote, urlsplit

import tenacity

from imax_hub.build import needed_images
from imax_hub.errors import ImaxError
from imax_hub.files import sha256_file
from imax_hub.sources import layout
from imax_hub.sources.layout import LEDGER, read_sums  # noqa: F401  (read_sums: also this module's API)

DEFAULT_BASE_URL = "https://physionet.org/files/"
PHASES = ("metadata", "annotations", "images")
PASSWORD_ENV = "PHYSIONET_PASSWORD"
RETRY_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str = field(repr=False)


class Denied(Exception):
    """The server refused a project (403: no data use agreement / access for this user)."""

    def __init__(self, project: layout.Project, message: str):
        super().__init__(message)
        self.project = project


class BadCredentials(Exception):
    """401: wrong user or password, or none given for a credentialed project."""


class FileFailed(Exception):
    """One file could not be fetched or verified; the others go on."""


@dataclass
class Job:
    project: layout.Project
    rel: str  # path inside <project>/<version>/
    sha256: str


@dataclass
class Summary:
    fetched: int = 0
    fetched_bytes: int = 0
    skipped: int = 0
    skipped_bytes: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    denied: dict[str, str] = field(default_factory=dict)  # project title -> reason
    planned: list[tuple[str, int | None, bool]] = field(default_factory=list)  # dry run: (path, size, present)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.denied


def credentials(user: str | None, base_url: str, ask: Callable[[str], str] | None = None) -> Credentials | None:
    """--user with the password from PHYSIONET_PASSWORD or a no-echo prompt; else the netrc entry for the host."""
    host = urlsplit(base_url).hostname or ""
    if user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            if ask is None:
                import getpass

                ask = getpass.getpass
            password = ask(f"PhysioNet password for {user}: ")
        return Credentials(user, password)
    try:
        import netrc

        entry = netrc.netrc().authenticators(host)
    except (FileNotFoundError, OSError):
        entry = None
    except netrc.NetrcParseError as exc:
        raise ImaxError(f"~/.netrc cannot be read ({exc.msg}, line {exc.lineno}); fix it or pass --user") from None
    return Credentials(entry[0], entry[2] or "") if entry else None


def check_base_url(url: str) -> str:
    """HTTPS, or plain HTTP to this machine only (the tests' server): credentials never cross a network in clear."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url.rstrip("/") + "/"
    if parts.scheme == "http" and parts.hostname:
        try:
            loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url.rstrip("/") + "/"
    raise ImaxError(f"--base-url must be https:// (or http:// to 127.0.0.1 for testing), not {url!r}")


class Ledger:
    """What was verified under one project folder: a rerun skips those files without hashing them again."""

    def __init__(self, folder: Path):
        self.path = folder / LEDGER
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[str, int, int]] = {}
        if self.path.is_file():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                parts = line.split(" ", 3)
                if len(parts) == 4 and parts[1].isdigit() and parts[2].isdigit():
                    self.entries[parts[3]] = (parts[0], int(parts[1]), int(parts[2]))

    def verified(self, rel: str, sha: str, path: Path) -> bool:
        entry = self.entries.get(rel)
        if entry is None or entry[0] != sha:
            return False
        st = path.stat()
        return (st.st_size, st.st_mtime_ns) == entry[1:]

    def add(self, rel: str, sha: str, path: Path) -> None:
        st = path.stat()
        with self.lock:
            self.entries[rel] = (sha, st.st_size, st.st_mtime_ns)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{sha} {st.st_size} {st.st_mtime_ns} {rel}\n")


class Fetcher:
    """HTTP side: one pooled client, resumable verified downloads, retries with backoff."""

    def __init__(self, root: Path, base_url: str = DEFAULT_BASE_URL, creds: Credentials | None = None, jobs: int = 8,
                 retries: int = 5, backoff: float = 1.0, timeout: float = 60.0,
                 on_bytes: Callable[[int], None] = lambda n: None, dry_run: bool = False):
        import httpx

        self.dry_run = dry_run
        self.httpx = httpx
        self.root, self.base, self.creds = Path(root), check_base_url(base_url), creds
        self.retries, self.backoff, self.on_bytes = retries, backoff, on_bytes
        self.client = httpx.Client(auth=(creds.user, creds.password) if creds else None, follow_redirects=True,
                                   timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
                                   limits=httpx.Limits(max_connections=jobs, max_keepalive_connections=jobs))
        self.ledgers: dict[str, Ledger] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()  # set on Ctrl-C: transfers end at their next block, partial files stay

    def close(self) -> None:
        self.client.close()

    def folder(self, project: layout.Project) -> Path:
        return self.root / project.slug / project.version

    def url(self, project: layout.Project, rel: str) -> str:
        return f"{self.base}{project.slug}/{project.version}/{quote(rel)}"

    def ledger(self, project: layout.Project) -> Ledger:
        with self.lock:
            if project.key not in self.ledgers:
                self.folder(project).mkdir(parents=True, exist_ok=True)
                self.ledgers[project.key] = Ledger(self.folder(project))
            return self.ledgers[project.key]

    def _refused(self, project: layout.Project, status: int) -> None:
        if status == 401:
            who = f"user {self.creds.user!r}" if self.creds else "no credentials (pass --user or use ~/.netrc)"
            raise BadCredentials(f"PhysioNet refused {who} for {project.title} (HTTP 401): check the user name "
                                 "and password")
        if status == 403:
            raise Denied(project, f"no access to {project.title} for this account (HTTP 403): {project.needs}; "
                         f"sign its data use agreement at {project.url}")

    def _get(self, project: layout.Project, rel: str, dest: Path) -> None:
        """Fetch into ``dest`` (``.partial`` appended), resuming what is there. Timeouts, cuts and 5xx/408/429 are
        retried with doubling waits; a name that does not resolve or a refused connection stops at once (retrying
        cannot help, and an offline run must not sit silent for minutes)."""
        httpx = self.httpx
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, (_Retry, httpx.TimeoutException))
                                              or (isinstance(e, httpx.TransportError) and not isinstance(e, httpx.ConnectError))),
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff, min=self.backoff, max=self.backoff * 2 ** 10),
            reraise=True,
        )
        try:
            retrying(self._get_once, project, rel, dest)
        except httpx.ConnectError as exc:
            raise Unreachable(f"cannot reach {self.base} ({exc}): check the network connection and --base-url "
                              "(name resolution or connection refused; not retried)") from None
        except (_Retry, httpx.TimeoutException, httpx.TransportError) as exc:
            raise FileFailed(f"gave up after {self.retries} retries ({type(exc).__name__}: {exc}); "
                             "rerun to resume the partial file") from None

    def _get_once(self, project: layout.Project, rel: str, dest: Path) -> None:
        offset = dest.stat().st_size if dest.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self.client.stream("GET", self.url(project, rel), headers=headers) as r:
            self._refused(project, r.status_code)
            if r.status_code == 404:
                raise FileFailed(f"not on the server (HTTP 404: {self.url(project, rel)})")
            if r.status_code == 416 and offset:  # the partial file is already whole: verify it
                return
            if r.status_code in RETRY_STATUS:
                raise _Retry(f"HTTP {r.status_code}")
            if r.status_code not in (200, 206):
                raise FileFailed(f"HTTP {r.status_code} from {self.url(project, rel)}")
            resume = r.status_code == 206 and r.headers.get("content-range", "").startswith(f"bytes {offset}-")
            with open(dest, "ab" if resume else "wb") as fh:
                for block in r.iter_bytes():  # as received: a cut keeps every byte that arrived
                    fh.write(block)
                    self.on_bytes(len(block))
                    if self.stop.is_set():
                        raise FileFailed("interrupted; rerun to resume the partial file")


    def fetch(self, job: Job) -> tuple[str, int]:
        """('fetched' | 'skipped', bytes) for one file; raises FileFailed, Denied or BadCredentials."""
        dest = self.folder(job.project) / job.rel
        ledger = self.ledger(job.project)
        if dest.is_file():
            if ledger.verified(job.rel, job.sha256, dest):
                return "skipped", dest.stat().st_size
            if sha256_file(dest) == job.sha256:  # here but not in the ledger (an earlier wget, a copy)
                ledger.add(job.rel, job.sha256, dest)
                return "skipped", dest.stat().st_size
            dest.unlink()  # a final name never holds a file that fails its checksum
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        for trial in (1, 2):  # a checksum mismatch is retried once from scratch
            self._get(job.project, job.rel, partial)
            got = sha256_file(partial)
            if got == job.sha256:
                partial.replace(dest)
                ledger.add(job.rel, job.sha256, dest)
                return "fetched", dest.stat().st_size
            partial.unlink()
        raise FileFailed(f"checksum mismatch after two downloads (SHA256SUMS.txt says {job.sha256[:12]}…, "
                         f"got {got[:12]}…); nothing kept under that name")

    def sums(self, project: layout.Project, refresh: bool = False) -> list[tuple[str, str]]:
        """The project's SHA256SUMS.txt entries, fetched once (kept in the tree, as PhysioNet serves it; a dry run
        reads them into a temporary folder and writes nothing into the tree)."""
        dest = self.folder(project) / "SHA256SUMS.txt"
        if self.dry_run and (refresh or not dest.is_file()):
            with tempfile.TemporaryDirectory() as tmp:
                partial = Path(tmp) / "SHA256SUMS.txt.partial"
                self._get(project, "SHA256SUMS.txt", partial)
                return read_sums(partial)
        if refresh or not dest.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            partial = dest.with_name(dest.name + ".partial")
            partial.unlink(missing_ok=True)
            self._get(project, "SHA256SUMS.txt", partial)
            partial.replace(dest)
        return read_sums(dest)

    def size(self, job: Job) -> int | None:
        try:
            r = self.client.head(self.url(job.project, job.rel))
        except (self.httpx.TimeoutException, self.httpx.TransportError):
            return None
        self._refused(job.project, r.status_code)
        return int(r.headers["content-length"]) if r.status_code == 200 and "content-length" in r.headers else None


class Unreachable(ImaxError):
    """The server cannot be reached at all (a name that does not resolve, a refused connection)."""


class _Retry(Exception):
    pass


@dataclass
class DownloadOptions:
    root: Path
    base_url: str = DEFAULT_BASE_URL
    user: str | None = None
    only: tuple[str, ...] = PHASES
    config: str = "all"
    target_images: int = 47_600
    min_tasks: int = 3
    split_by: str = "patient"
    seed: int = 0
    jobs: int = 8
    dry_run: bool = False
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 60.0


def small_jobs(fetcher: Fetcher, projects: list[layout.Project], summary: Summary) -> list[Job]:
    """The fetch-pattern files of each project (its SHA256SUMS first); refused projects go to ``summary.denied``."""
    jobs = []
    for project in projects:
        try:
            sums = fetcher.sums(project)
        except Denied as exc:
            summary.denied[project.title] = str(exc)
            continue
        except FileFailed as exc:
            summary.failed[f"{project.slug}/{project.version}/SHA256SUMS.txt"] = str(exc)
            continue
        wanted = [(h, rel) for h, rel in sums if any(fnmatch.fnmatch(rel, p) for p in project.fetch)]
        if not wanted:
            summary.failed[f"{project.slug}/{project.version}"] = \
                f"SHA256SUMS.txt lists none of {', '.join(project.fetch)}"
        jobs += [Job(project, rel, h) for h, rel in wanted]
    return jobs


def image_jobs(fetcher: Fetcher, opts: DownloadOptions, summary: Summary,
               tick: Callable[[str, int, int], None] = lambda *a: None) -> list[Job]:
    """The MIMIC-CXR-JPG images the build selection (on the metadata and annotations present) uses."""
    project = layout.MIMIC_CXR_JPG
    try:
        wanted = needed_images(opts.root, tick, config=opts.config, target_images=opts.target_images,
                               min_tasks=opts.min_tasks, split_by=opts.split_by, seed=opts.seed)
    except ImaxError as exc:
        raise ImaxError(f"cannot select the images yet: {exc}\n  fetch the metadata and annotations first "
                        "(imax download without --only, or --only metadata,annotations)") from None
    sums = {rel: h for h, rel in fetcher.sums(project)}
    jobs = []
    for rel in wanted:
        if rel in sums:
            jobs.append(Job(project, rel, sums[rel]))
        else:
            summary.failed[f"{project.slug}/{project.version}/{rel}"] = "not listed in SHA256SUMS.txt"
    summary.notes.append(f"{len(wanted):,} images selected for config {opts.config} (target {opts.target_images:,} "
                         f"IMAX images, min {opts.min_tasks} tasks, seed {opts.seed})")
    return jobs


def run_jobs(fetcher: Fetcher, jobs: list[Job], summary: Summary, workers: int,
             tick: Callable[[str, int, int], None], phase: str) -> None:
    """Fetch ``jobs`` with a bounded pool; a 401 stops everything, a 403 drops the rest of that project."""
    denied: set[str] = set()
    done = 0
    tick(phase, 0, len(jobs))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetcher.fetch, j): j for j in jobs}
        try:
            for fut in as_completed(futures):
                job = futures[fut]
                where = f"{job.project.slug}/{job.project.version}/{job.rel}"
                try:
                    status, size = fut.result()
                    if status == "fetched":
                        summary.fetched += 1
                        summary.fetched_bytes += size
                    else:
                        summary.skipped += 1
                        summary.skipped_bytes += size
                except Denied as exc:
                    if job.project.key not in denied:
                        denied.add(job.project.key)
                        summary.denied[job.project.title] = str(exc)
                except FileFailed as exc:
                    summary.failed[where] = str(exc)
                done += 1
                tick(phase, done, len(jobs))
        except BadCredentials as exc:
            fetcher.stop.set()
            for f in futures:
                f.cancel()
            raise ImaxError(str(exc)) from None
        except BaseException:  # Ctrl-C: stop the transfers in flight (their partial files resume next time)
            fetcher.stop.set()
            for f in futures:
                f.cancel()
            raise


def plan(fetcher: Fetcher, jobs: list[Job], summary: Summary, workers: int) -> None:
    """Dry run: each file's size (HEAD) and whether it is already present and verified."""
    def one(job: Job):
        dest = fetcher.folder(job.project) / job.rel
        present = dest.is_file() and fetcher.ledger(job.project).verified(job.rel, job.sha256, dest)
        return (f"{job.project.slug}/{job.project.version}/{job.rel}",
                dest.stat().st_size if present else fetcher.size(job), present)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            summary.planned += list(pool.map(one, jobs))
        except Denied as exc:
            summary.denied[exc.project.title] = str(exc)
        except BadCredentials as exc:
            raise ImaxError(str(exc)) from None


def download(opts: DownloadOptions, creds: Credentials | None, tick: Callable[[str, int, int], None] = lambda *a: None,
             on_bytes: Callable[[int], None] = lambda n: None) -> Summary:
    """Fetch (or with ``dry_run`` list) what ``opts`` asks for; see the module docstring."""
    unknown = [p for p in opts.only if p not in PHASES]
    if unknown or not opts.only:
        raise ImaxError(f"--only takes {', '.join(PHASES)} (comma-separated), not {','.join(opts.only)!r}")
    if opts.jobs < 1:
        raise ImaxError("--jobs must be at least 1")
    if not opts.dry_run:  # a dry run writes nothing, not even the root folder
        opts.root.mkdir(parents=True, exist_ok=True)
    summary = Summary()
    fetcher = Fetcher(opts.root, opts.base_url, creds, jobs=opts.jobs, retries=opts.retries, backoff=opts.backoff,
                      timeout=opts.timeout, on_bytes=on_bytes, dry_run=opts.dry_run)
    try:
        projects = ([layout.MIMIC_CXR_JPG] if "metadata" in opts.only else []) + \
            ([p for p in layout.PROJECTS if p is not layout.MIMIC_CXR_JPG] if "annotations" in opts.only else [])
        try:
            small = small_jobs(fetcher, projects, summary)
        except BadCredentials as exc:
            raise ImaxError(str(exc)) from None
        if opts.dry_run:
            plan(fetcher, small, summary, opts.jobs)
        else:
            run_jobs(fetcher, small, summary, opts.jobs, tick, "metadata and annotations")
        if "images" in opts.only:
            if layout.MIMIC_CXR_JPG.title in summary.denied:
                raise ImaxError(summary.denied[layout.MIMIC_CXR_JPG.title])
            if summary.failed and not opts.dry_run:  # the selection needs those files: say so, not a later symptom
                first = next(iter(summary.failed.items()))
                raise ImaxError(f"{len(summary.failed)} metadata/annotation file(s) failed, so the images to fetch "
                                f"cannot be selected; first: {first[0]}: {first[1]}; run the same command again")
            try:
                images = image_jobs(fetcher, opts, summary, tick)
            except ImaxError:
                if not opts.dry_run:
                    raise
                summary.notes.append("images: listed once the metadata and annotations are here "
                                     "(run without --dry-run first, or with --only metadata,annotations)")
                images = []
            except (BadCredentials, Denied, FileFailed) as exc:
                raise ImaxError(f"{layout.MIMIC_CXR_JPG.title}: {exc}") from None
            if opts.dry_run:
                plan(fetcher, images, summary, opts.jobs)
            else:
                run_jobs(fetcher, images, summary, opts.jobs, tick, "images")
    finally:
        fetcher.close()
    return summary
