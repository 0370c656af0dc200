"""Make lighteval 0.13 importable with no network, without editing the installed package.

Building lighteval's task registry imports every built-in task file; ``tasks/tasks/tiny_benchmarks.py``
then calls ``requests.get(<raw.githubusercontent.com>/tinyBenchmarks.pkl)`` with no error handling, so
every run crashes offline (shared/notes/lighteval.md §6), and ``tasks/tasks/ifeval/instructions_utils.py``
calls ``nltk.download("punkt")``. The guard wraps the import of those modules: while one executes, a
failed (or, under ``HF_HUB_OFFLINE=1``, never attempted) download becomes a non-200 response, which
lighteval already treats as "no file", and ``nltk.download`` is a no-op offline (only those built-in
tasks need the files; ours need neither).

The same hook keeps lighteval from uploading imax details (:mod:`imax_hub.upload_guard`): when lighteval's
``EvaluationTracker`` module is imported its upload methods are wrapped, and when lighteval's command line
starts (``lighteval …`` or ``python -m lighteval …``) with a push flag and imax tasks, it stops there,
before any model is loaded.

``install()`` puts the guard on ``sys.meta_path``; our entry points call it before lighteval is imported.
For the ``lighteval`` executable itself nothing of ours runs before its registry, so ``write_pth()``
(run by ``make install`` and ``imax setup-lighteval``) adds a one-line ``.pth`` startup hook to the
environment's site-packages that calls ``install()``; the hook imports nothing heavy.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import warnings
from pathlib import Path

from imax_hub.errors import ImaxError
from imax_hub.upload_guard import guard_tracker, refuse_push_flags

GUARDED_MODULES = ("lighteval.tasks.tasks.tiny_benchmarks", "lighteval.tasks.tasks.ifeval.instructions_utils")
TRACKER_MODULE = "lighteval.logging.evaluation_tracker"
CLI_MODULE = "lighteval.__main__"
PTH_NAME = "imax_hub_lighteval_offline.pth"
# a .pth line that starts with "import" is executed at start-up; it must not fail if imax-hub is uninstalled
PTH_LINE = ("import importlib.util as _u; _u.find_spec('imax_hub') and "
            "__import__('imax_hub.lighteval_offline').lighteval_offline.install()\n")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


class _GuardedLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        import requests

        real_get = requests.get

        def get(url, *args, **kwargs):
            refused = requests.Response()
            refused.status_code, refused.url = 503, url
            if _offline():
                return refused
            try:
                kwargs.setdefault("timeout", 20)
                return real_get(url, *args, **kwargs)
            except requests.RequestException:
                return refused

        requests.get = get
        nltk = sys.modules.get("nltk")
        if nltk is None and _offline():
            import nltk
        real_download = getattr(nltk, "download", None)
        if nltk is not None and _offline():
            nltk.download = lambda *args, **kwargs: False
        elif nltk is not None and real_download is not None:  # online: fetch, but without its chatter
            nltk.download = lambda *args, **kwargs: real_download(*args, **{**kwargs, "quiet": True})
        try:
            self._loader.exec_module(module)
        finally:
            requests.get = real_get
            if nltk is not None and real_download is not None:
                nltk.download = real_download


class _TrackerLoader(importlib.abc.Loader):
    """Loads lighteval's tracker module, then wraps its upload methods."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        guard_tracker(module.EvaluationTracker)


def _refuse_pushing_imax_details() -> None:
    """lighteval's command line is starting: with imax tasks, a push flag stops it here."""
    if any("imax" in a for a in sys.argv[1:]):
        try:
            refuse_push_flags()
        except ImaxError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname == CLI_MODULE:
            _refuse_pushing_imax_details()
            return None
        if fullname not in GUARDED_MODULES and fullname != TRACKER_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = (_TrackerLoader if fullname == TRACKER_MODULE else _GuardedLoader)(spec.loader)
        return spec


def install() -> None:
    """Put the guards in front of the import system (idempotent)."""
    # lighteval's built-in mt_bench task calls a deprecated Hub API at import: not our users' concern
    warnings.filterwarnings("ignore", message=r"Deprecated argument\(s\) used in 'list_models'", category=FutureWarning)
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    tracker = sys.modules.get(TRACKER_MODULE)
    if tracker is not None:  # imported before the guard: wrap it now
        guard_tracker(tracker.EvaluationTracker)


def site_packages() -> Path:
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def write_pth(target: Path | None = None) -> Path:
    """Write the startup hook into ``target`` (default: this environment's site-packages)."""
    path = (target or site_packages()) / PTH_NAME
    if not path.is_file() or path.read_text() != PTH_LINE:
        path.write_text(PTH_LINE)
    return path
