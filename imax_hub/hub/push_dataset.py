"""``imax push-dataset``: an annotations-only copy of a build in a private, gated Hub dataset repo.

What leaves the machine is decided here and checked again before anything is sent:
- no image bytes and no local paths: the ``image`` column is dropped (``image_path`` stays, relative to
  the MIMIC-CXR-JPG root, so each user attaches their own images);
- no free-text report targets unless the caller passes :data:`REPORT_TEXT_FLAG`: report rows keep ids
  and section names, their ``answer`` becomes null, their ``target`` loses ``text`` and ``messages``
  loses the assistant turn;
- the repo must be private (a public repo is refused before any upload; a new one is created private)
  and gating is set to manual approval with the PhysioNet-credential questions of the card;
- datasets' ``push_to_hub`` is never used: it embeds every local JPEG by default.
A dry run (the default) stages the copy and prints the plan without any Hub call.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from imax_hub import __version__
from imax_hub.build.folder import (
    CITATION, DEFAULT_EVALUATION_FRAMEWORK, PRETTY_NAME, card_yaml, dataset_template, eval_yaml,
)
from imax_hub.build.manifest import EVAL_PREFIX, config_layout, public_command, read_manifest
from imax_hub.errors import ImaxError
from imax_hub.hub import check_repo_id
from imax_hub.tasks import registry
from imax_hub.upload_guard import GALLERY_MARKER, refuse_gallery

REPORT_TEXT_FLAG = "--include-report-text-i-have-physionet-permission"
# tasks whose answers are credentialed free text (the reports): their text stays out of the copy unless allowed
FREE_TEXT_TASKS = [t.name for t in registry.tasks() if t.free_text]
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


@dataclass
class PushPlan:
    folder: Path
    repo_id: str
    staging: Path
    report_text: bool
    fingerprint: str
    files: list[tuple[str, int]] = field(default_factory=list)  # (path in repo, bytes)
    rows: int = 0
    report_rows: int = 0

    @property
    def removed(self) -> str:
        what = ["the `image` column (image bytes and local paths)", "the build's eval-* configs (they need images)"]
        if not self.report_text:
            what.append(f"the report text of {self.report_rows:,} report-generation rows (answer, target.text, "
                        "assistant turn)")
        return "; ".join(what)


def strip_table(table: pa.Table, report_text: bool) -> tuple[pa.Table, int]:
    """Drop the image column and (unless ``report_text``) the report rows' text; return it and the report rows."""
    table = table.drop_columns(["image"])
    is_report = pc.is_in(table.column("task"), pa.array(FREE_TEXT_TASKS))
    n_report = int(pc.sum(is_report).as_py() or 0)
    if report_text or n_report == 0:
        return table, n_report
    mask = is_report.combine_chunks() if isinstance(is_report, pa.ChunkedArray) else is_report
    answer = pc.if_else(mask, pa.scalar(None, pa.string()), table.column("answer").combine_chunks())
    messages = table.column("messages").combine_chunks()
    # rows are [user, assistant]: keep the user turn (image part + prompt, which holds no report text)
    messages = pc.if_else(mask, pc.list_slice(messages, 0, 1), messages)
    targets = table.column("target").to_pylist()
    for i in pc.indices_nonzero(mask).to_pylist():
        targets[i] = json.dumps({k: v for k, v in json.loads(targets[i]).items() if k != "text"}, separators=(",", ":"))
    for name, col in (("answer", answer), ("messages", messages), ("target", pa.array(targets, pa.string()))):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(name), col)
    return table, n_report


def _binary_fields(dtype: pa.DataType, name: str) -> list[str]:
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype) or pa.types.is_fixed_size_binary(dtype):
        return [name]
    if pa.types.is_struct(dtype):
        return [x for f in dtype for x in _binary_fields(f.type, f"{name}.{f.name}")]
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return _binary_fields(dtype.value_type, f"{name}[]")
    return []


def verify_staged(staging: Path, report_text: bool) -> None:
    """Refuse to send a staged copy that holds an image column, any binary data, or (unless allowed) report text."""
    for path in sorted(staging.rglob("*.parquet")):
        table = pq.read_table(path)
        where = path.relative_to(staging)
        if "image" in table.column_names:
            raise ImaxError(f"{where}: an `image` column is about to be uploaded; refusing")
        binary = [x for f in table.schema for x in _binary_fields(f.type, f.name)]
        if binary:
            raise ImaxError(f"{where}: binary column(s) {', '.join(binary)} could hold image bytes; refusing")
        if report_text:
            continue
        for n, row in enumerate(table.select(["task", "answer", "target", "messages"]).to_pylist()):
            if row["task"] not in FREE_TEXT_TASKS:
                continue
            if row["answer"] is not None or "text" in json.loads(row["target"]) or \
                    any(m["role"] != "user" for m in row["messages"]):
                raise ImaxError(f"{where}, row {n}: report text is about to be uploaded without {REPORT_TEXT_FLAG}; "
                                "refusing")
    for path in sorted(p for p in staging.rglob("*") if p.is_file() and p.suffix != ".parquet"):
        head = path.read_bytes()
        if any(magic in head for magic in IMAGE_MAGIC):
            raise ImaxError(f"{path.relative_to(staging)}: holds image bytes; refusing")
        if GALLERY_MARKER.encode() in head:
            raise ImaxError(f"{path.relative_to(staging)}: an `imax show` gallery (credentialed); refusing")


def stage(folder: Path, repo_id: str, staging: Path, *, report_text: bool = False) -> PushPlan:
    """Write the annotations-only copy of build ``folder`` into the empty folder ``staging``."""
    check_repo_id(repo_id, "the dataset repo")
    manifest = read_manifest(folder)
    plan = PushPlan(folder=Path(folder), repo_id=repo_id, staging=staging, report_text=report_text,
                    fingerprint=manifest["fingerprint"])
    shards = []
    for shard in manifest["shards"]:
        src = Path(folder) / shard["path"]
        if not src.is_file():
            raise ImaxError(f"{src} is listed in build_manifest.json but missing; rebuild the folder")
        table, n_report = strip_table(pq.read_table(src), report_text)
        dst = staging / shard["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dst, compression="zstd", row_group_size=10_000)
        shards.append({**shard, "rows": table.num_rows, "arrow_bytes": table.nbytes})
        plan.rows += table.num_rows
        plan.report_rows += n_report
    configs = [c for c in config_layout(shards) if not c["name"].startswith(EVAL_PREFIX)]
    for c in configs:
        c["decode_image"] = False
    config_rows = [{"name": c["name"], "what": c["what"], "default": c["default"],
                    "splits": ", ".join(f"{s}: {v['rows']:,}" for s, v in c["splits"].items())} for c in configs]
    (staging / "README.md").write_text(dataset_template("README.hub.md.jinja").render(
        yaml=card_yaml(configs, manifest["fingerprint"], image=False), pretty_name=PRETTY_NAME, version=__version__,
        fingerprint=manifest["fingerprint"], report_text=report_text, command=public_command(manifest),
        repo_id=repo_id, config_rows=config_rows, removed=plan.removed, citation=CITATION))
    framework = manifest["options"].get("evaluation_framework", DEFAULT_EVALUATION_FRAMEWORK)
    (staging / "eval.yaml").write_text(eval_yaml(configs, framework))
    verify_staged(staging, report_text)
    plan.files = sorted((p.relative_to(staging).as_posix(), p.stat().st_size) for p in staging.rglob("*") if p.is_file())
    return plan


def describe(plan: PushPlan, endpoint: str) -> str:
    lines = [f"dataset repo {plan.repo_id} at {endpoint}: private (created private if missing; refused if public), "
             "gated=manual with the PhysioNet-credential questions of README.md",
             f"{plan.rows:,} rows; removed: {plan.removed}",
             f"files ({len(plan.files)}, {sum(n for _, n in plan.files):,} bytes):"]
    lines += [f"  {p} ({n:,} bytes)" for p, n in plan.files]
    if plan.report_text:
        lines.append(f"REPORT TEXT IS INCLUDED ({plan.report_rows:,} rows): {REPORT_TEXT_FLAG} was given")
    return "\n".join(lines)


def push(plan: PushPlan, api, *, create_pr: bool = False) -> str:
    """Make sure the repo is private and gated, then upload the copy :func:`stage` wrote and checked, in one
    commit; return its URL."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.repo_info(plan.repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        api.create_repo(plan.repo_id, repo_type="dataset", private=True)
        existing: list[str] = []
    else:
        if not info.private:
            raise ImaxError(f"{plan.repo_id} is a public dataset repo; imax push-dataset only uploads into private "
                            "repos (make it private on the Hub, or choose a new name)")
        existing = api.list_repo_files(plan.repo_id, repo_type="dataset")
    api.update_repo_settings(plan.repo_id, repo_type="dataset", gated="manual")
    new = {p for p, _ in plan.files}
    # shards of an earlier push that this build does not have would otherwise mix into its configs
    operations = [CommitOperationDelete(path_in_repo=p) for p in existing if p.startswith("data/") and p not in new]
    operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(plan.staging / p)) for p, _ in plan.files]
    info = api.create_commit(repo_id=plan.repo_id, repo_type="dataset", operations=operations, create_pr=create_pr,
                             commit_message=f"imax-hub {__version__}: annotations-only copy of build {plan.fingerprint}")
    return info.pr_url or info.commit_url


def push_dataset(folder: Path, repo_id: str, *, api=None, dry_run: bool = True, report_text: bool = False,
                 staging: Path | None = None, create_pr: bool = False) -> tuple[PushPlan, str | None]:
    """Stage (into ``staging``, kept, or a temporary folder) and, unless ``dry_run``, push; return the plan and URL."""
    refuse_gallery(folder, "push-dataset:")
    keep = staging is not None
    if keep and staging.exists() and any(staging.iterdir()):
        raise ImaxError(f"{staging} is not empty; choose a new --staging folder")
    if keep:
        staging.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".imax-push-", dir=staging.parent if keep else None))
    try:
        plan = stage(Path(folder), repo_id, work, report_text=report_text)
        url = None if dry_run else push(plan, api, create_pr=create_pr)
        if keep:
            if staging.exists():
                staging.rmdir()
            work.replace(staging)
            plan.staging = staging
        return plan, url
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
