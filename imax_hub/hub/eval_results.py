"""``.eval_results/imax.yaml`` for a model repo: the Hub-native leaderboard entries of one results file.

Aggregate numbers only: one entry per metric (task id = metric key, as in the benchmark's eval.yaml)
with the benchmark's revision, a quoted date, a source url and notes carrying the metric signature, the
build fingerprint and the test-set hash. Built with huggingface_hub's ``EvalResultEntry`` helpers and
sent as a pull request (the Hub shows an open PR's results with a "community" badge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from imax_hub import __version__
from imax_hub.errors import ImaxError
from imax_hub.hub import check_repo_id, check_url
from imax_hub.metrics import METRICS
from imax_hub.metrics.runs import display_name
from imax_hub.upload_guard import GALLERY_MARKER

EVAL_RESULTS_NAME = "imax.yaml"  # one file per benchmark variant (community-evals convention)


@dataclass
class Submission:
    """What would be sent: the model repo, and each file's path in it with its bytes."""

    model: str
    benchmark: str
    files: dict[str, bytes]
    entries: list = field(default_factory=list)  # huggingface_hub EvalResultEntry
    warnings: list[str] = field(default_factory=list)

    @property
    def commit_message(self) -> str:
        return f"Add {self.benchmark} results ({len(self.entries)} metrics, imax-hub {__version__})"

    @property
    def commit_description(self) -> str:
        return ("Aggregate scores only, computed locally with imax-hub on a credentialed rebuild of the benchmark; "
                "no prompts, answers, reports or per-sample details are included.")


def _results_model_id(doc: dict) -> str | None:
    from imax_hub.files import is_local_path

    model = doc.get("model") or {}
    mid = model.get("id")
    # a local folder or a base model + adapter (a fine-tune before upload) may be submitted under any repo id
    return None if not mid or model.get("adapter") or is_local_path(mid) or mid.count("/") != 1 else mid


def entry_notes(doc: dict, key: str, user_notes: str | None) -> str:
    """Signature, build fingerprint, test set and versions: how this value was computed."""
    parts = [doc["metrics"][key]["signature"],
             f"build {doc.get('dataset_fingerprint') or 'unknown'}",
             f"test set {doc['test_set_hash']} ({doc['n_items']:,} items)",
             f"answers read as {doc.get('answer_format', 'paper')}",
             f"imax-hub {doc.get('imax_hub_version', __version__)}"]
    harness = doc.get("harness") or {}
    if harness.get("name"):
        parts.append(f"{harness['name']} {harness.get('version', '')}".strip())
    revision = (doc.get("model") or {}).get("revision")
    if revision:
        parts.append(f"model revision {revision}")
    adapter = (doc.get("model") or {}).get("adapter")
    if adapter:
        parts.append(f"LoRA adapter sha256 {adapter['sha256']} on {display_name({'name': doc['model']['id']})}")
    if user_notes:
        parts.append(user_notes)
    return "; ".join(parts)


def build_submission(doc: dict, *, model: str, benchmark: str, revision: str | None = None,
                     source_url: str | None = None, notes: str | None = None, date: str | None = None,
                     card: bytes | None = None) -> Submission:
    """The ``.eval_results/imax.yaml`` entries (and optional model card) for one imax results document."""
    import yaml
    from huggingface_hub import EvalResultEntry, constants, eval_result_entries_to_yaml

    check_repo_id(model, "--model")
    check_repo_id(benchmark, "--benchmark")
    if card is not None and GALLERY_MARKER.encode() in card:
        raise ImaxError("--card is an `imax show` gallery: it holds credentialed X-rays and text and is never "
                        "uploaded; pass the card `imax card` wrote")
    check_url(source_url, "--source-url")
    if doc.get("max_samples"):
        raise ImaxError(f"{doc['name']!r} was evaluated with --max-samples {doc['max_samples']}: a partial run "
                        "cannot go on a leaderboard; evaluate the whole test split")
    if (doc.get("model") or {}).get("backend") == "baseline":
        raise ImaxError(f"{doc['name']!r} is a reference baseline (oracle/prior), not a model; it is not submitted")
    evaluated = _results_model_id(doc)
    if evaluated is not None and evaluated != model:
        raise ImaxError(f"these results are for {evaluated!r}, not --model {model!r}")
    if notes is not None and (len(notes) > 500 or "\n" in notes):
        raise ImaxError("--notes must be one line of at most 500 characters (it is public)")
    warnings = []
    if revision is None:  # the revision `imax eval --dataset-revision` scored, when it was a commit sha
        scored = (doc.get("dataset") or {}).get("revision")
        revision = scored if scored and re.fullmatch(r"[0-9a-f]{40}", scored) else None
    if revision is not None and not re.fullmatch(r"[0-9a-f]{40}", revision):
        raise ImaxError(f"--revision must be the benchmark dataset's 40-character commit sha, not {revision!r}")
    if revision is None:
        warnings.append("no --revision: the entries do not say which commit of the benchmark was scored")
    if date is None:
        date = doc.get("scored_at") or datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        datetime.fromisoformat(date)
    except ValueError:
        raise ImaxError(f"date {date!r} is not ISO-8601") from None
    keys = [m.key for m in METRICS if m.key in doc["metrics"]]
    if not keys:
        raise ImaxError(f"{doc['name']!r} has no metric values to submit")
    entries = [EvalResultEntry(dataset_id=benchmark, task_id=k, value=round(float(doc["metrics"][k]["value"]), 4),
                               dataset_revision=revision, date=date, source_url=source_url,
                               source_name="imax-hub" if source_url else None, notes=entry_notes(doc, k, notes))
               for k in keys]
    text = yaml.safe_dump(eval_result_entries_to_yaml(entries), sort_keys=False, allow_unicode=True, width=10_000)
    files = {f"{constants.EVAL_RESULTS_FOLDER}/{EVAL_RESULTS_NAME}": text.encode()}
    if card is not None:
        files["README.md"] = card
    return Submission(model=model, benchmark=benchmark, files=files, entries=entries, warnings=warnings)


def describe(sub: Submission, endpoint: str) -> str:
    """Exactly what :func:`send` would send, as text."""
    lines = [f"pull request on model repo {sub.model} at {endpoint} (repo_type=model, create_pr=True)",
             f"commit message: {sub.commit_message}", f"commit description: {sub.commit_description}"]
    for path, data in sub.files.items():
        lines += [f"--- {path} ({len(data):,} bytes)", data.decode().rstrip("\n")]
    return "\n".join(lines)


def send(sub: Submission, api) -> str:
    """Open one pull request adding the files to the model repo; return its URL."""
    from huggingface_hub import CommitOperationAdd

    info = api.create_commit(repo_id=sub.model, repo_type="model", create_pr=True,
                             operations=[CommitOperationAdd(path_in_repo=p, path_or_fileobj=data)
                                         for p, data in sub.files.items()],
                             commit_message=sub.commit_message, commit_description=sub.commit_description)
    return info.pr_url
