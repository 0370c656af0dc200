"""Keep credentialed content from being uploaded: lighteval's per-sample details, `imax show` galleries.

lighteval's ``--push-to-hub`` and ``--push-to-tensorboard`` upload every sample's details (prompts, gold
answers, report text, model outputs) to a Hub dataset repo. For imax tasks those are credentialed text,
so once our task module is loaded the upload methods refuse whenever an imax task is among the details,
and ``lighteval … --push-to-hub`` with imax tasks stops at start-up instead of after the whole run.
Aggregate scores go to the Hub with ``imax submit``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imax_hub.errors import ImaxError

GUARDED_METHODS = ("push_to_hub", "push_details_to_hub", "push_to_tensorboard")
PUSH_FLAGS = ("--push-to-hub", "--push-to-tensorboard")
MESSAGE = ("lighteval would upload per-sample details of imax tasks (prompts, gold answers, report text): "
           "refused, because they are credentialed PhysioNet data. Run without {what}; publish aggregate "
           "scores with `imax submit`.")


def _has_imax_details(tracker) -> bool:
    details = getattr(getattr(tracker, "details_logger", None), "details", None) or {}
    return any(str(name).startswith("imax_") for name in details)


def guard_tracker(tracker_class) -> None:
    """Wrap lighteval's upload methods (once) so that they raise for trackers holding imax details."""
    if getattr(tracker_class, "_imax_guarded", False):
        return
    for name in GUARDED_METHODS:
        original = getattr(tracker_class, name)

        def guarded(self, *args, _original=original, _name=name, **kwargs):
            if _has_imax_details(self):
                raise ImaxError(MESSAGE.format(what=f"the upload ({_name})"))
            return _original(self, *args, **kwargs)

        setattr(tracker_class, name, guarded)
    tracker_class._imax_guarded = True


def refuse_detail_uploads() -> None:
    """Guard lighteval's ``EvaluationTracker`` (imports it)."""
    from lighteval.logging.evaluation_tracker import EvaluationTracker

    guard_tracker(EvaluationTracker)


def is_lighteval_command(argv: list[str]) -> bool:
    """``lighteval …`` or ``python -m lighteval …`` (argv[0] is "-m" while the module is being found)."""
    if not argv:
        return False
    first = argv[0].replace("\\", "/")
    return Path(first).name.startswith("lighteval") or first == "-m" or first.endswith("lighteval/__main__.py")


def refuse_push_flags(argv: list[str] | None = None) -> None:
    """Stop a ``lighteval`` command line that asks to push, before any model is loaded."""
    argv = sys.argv if argv is None else argv
    if is_lighteval_command(argv):
        flags = [a for a in argv[1:] if a.split("=", 1)[0] in PUSH_FLAGS]
        if flags:
            raise ImaxError(MESSAGE.format(what=" and ".join(flags)))


# Written into every `imax show` page; every upload path refuses a file that carries it.
GALLERY_MARKER = '<meta name="imax-hub-content" content="credentialed: local only">'


def refuse_gallery(path: str | Path, what: str) -> None:
    """Refuse ``path`` when it is an `imax show` gallery (X-rays, report text, labels: credentialed)."""
    path = Path(path)
    if path.is_file():
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if GALLERY_MARKER.encode() in head:
            raise ImaxError(f"{what} {path} is an `imax show` gallery: it holds credentialed X-rays and text and "
                            "is never uploaded; keep it on this machine")
