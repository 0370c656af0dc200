"""The ``imax`` command line (``python -m imax_hub`` is the same)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text
from rich.table import Table

from imax_hub import __version__
from imax_hub.errors import ImaxError
from imax_hub.files import is_local_path, write_atomic
from imax_hub.backends import BACKENDS
from imax_hub.lighteval_offline import install as install_lighteval_guards
from imax_hub.sources.readlog import DEFAULT_MAX_BAD_ROWS
from imax_hub.tasks.answer_formats import FORMATS
from imax_hub.upload_guard import refuse_gallery

_ANSWER_FORMAT_HELP = ("How to read answers: paper (the templates' formats, the paper's numbers) or a model family's "
                       "own format (for zero-shot Hub models).")
_MAX_BAD_ROWS_HELP = ("Share of a source file's rows that may be set aside as unusable (0.01 = 1%) before the "
                      "file is an error.")

# Choices as Literal types: `--help` lists them ([imax|dmax|all]) and a wrong value is refused before any work
BuildConfig = Literal["imax", "dmax", "all"]
SplitBy = Literal["patient", "image"]
Require = Literal["available", "all"]
Backend = Literal[BACKENDS]
AnswerFormat = Literal[FORMATS]
AnswerFormatOrAuto = Literal[(*FORMATS, "auto")]
TrainedOn = Literal["imax", "dmax", "pseudo-imax"]

# Click's own help layout: flags show as flags, choices as [a|b|c] (typer's rich panels show <bool> for every flag)
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Rebuild IMAX and DMAX from your PhysioNet downloads, score any vision-language model with "
                       "the paper's 16 metrics, and publish aggregate results.")
console = Console(stderr=True, soft_wrap=True)  # messages stay one line when piped (grep-able)
out = Console(soft_wrap=True)


class _Rate(ProgressColumn):
    """Items per second (prompts, images, files), once rich has measured a speed."""

    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f}/s" if task.speed else "")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(), _Rate(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


class _Ticker:
    """Adapts (phase, done, total) callbacks to one rich task per phase."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total or None, transfer="")
        self.progress.update(self.tasks[phase], completed=done, total=total or None)


def _answer_format(name: str, processor_args: str | None = None, model=None):
    """An AnswerFormat from the command line; ``auto`` (with a loaded model) says what it picked."""
    from imax_hub.evaluation import answer_format_for

    fmt, message = answer_format_for(name, model=model, processor_args=processor_args)
    if message:
        console.print(message, style="yellow" if message.startswith("warning") else None, highlight=False, markup=False)
    return fmt


def _print_version(value: bool) -> None:
    if value:
        out.print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Rebuild IMAX/DMAX from your PhysioNet downloads."""


@app.command()
def synth(
    root: Annotated[Path, typer.Argument(help="Folder to write the synthetic PhysioNet tree into.")],
    patients: Annotated[int, typer.Option(help="Number of patients (65379 = full MIMIC scale).", min=1)] = 200,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same tree.")] = 0,
    no_images: Annotated[bool, typer.Option("--no-images", help="Write metadata only (any scale).")] = False,
    image_size: Annotated[int, typer.Option(help="Long side of the phantom JPGs in pixels.", min=64, max=4096)] = 320,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
    variant: Annotated[Optional[list[str]], typer.Option(
        "--variant", help="Write a source in a real-world form (repeatable; `--variant list` lists them).")] = None,
) -> None:
    """Write a synthetic PhysioNet tree for all seven sources (deterministic by seed)."""
    from imax_hub.synth import synthesize
    from imax_hub.synth.variants import VARIANTS, apply_variants

    if variant and "list" in variant:
        for v in VARIANTS.values():
            out.print(f"{v.name}: {v.project.title}: {v.what} ({v.evidence})", highlight=False, markup=False)
        return
    unknown = [v for v in variant or [] if v not in VARIANTS]
    if unknown:
        raise ImaxError(f"unknown --variant {', '.join(unknown)}; `imax synth X --variant list` lists them")
    if root.exists() and any(root.iterdir()) and not force:
        raise ImaxError(f"{root} is not empty; choose a new folder or pass --force")
    with _progress() as progress:
        cohort = synthesize(root, patients=patients, seed=seed, images=not no_images, image_size=image_size,
                            progress=_Ticker(progress))
    apply_variants(root, variant or [])
    out.print(f"wrote a synthetic tree to {root}: {len(cohort.patients)} patients, {len(cohort.studies)} studies, "
              f"{len(cohort.images)} images{' (metadata only)' if no_images else ''}")


@app.command()
def check(
    root: Annotated[Path, typer.Argument(help="Folder holding your PhysioNet downloads (or a synthetic tree).")],
    verify_checksums: Annotated[bool, typer.Option("--verify-checksums", help="Verify files against SHA256SUMS.txt.")] = False,
    allow_missing_images: Annotated[bool, typer.Option("--allow-missing-images", help="Accept a tree with only some JPGs.")] = False,
    max_bad_rows: Annotated[float, typer.Option(help=_MAX_BAD_ROWS_HELP, min=0.0, max=0.999)] = DEFAULT_MAX_BAD_ROWS,
    verify_images: Annotated[bool, typer.Option("--verify-images", help="Decode every JPG (default: check that each "
                                                "is a whole JPEG by its start and end markers).")] = False,
) -> None:
    """Pre-flight: which sources are present and readable, in which form, and which tasks they enable."""
    from imax_hub.check import count_files, run_check
    from imax_hub.sources import layout
    from imax_hub.tasks import registry

    with _progress() as progress:
        report = run_check(root, verify=verify_checksums, allow_missing_images=allow_missing_images,
                           tick=_Ticker(progress), max_bad_rows=max_bad_rows, verify_images=verify_images)
    table = Table(title=f"PhysioNet sources under {root}")
    for col in ("source", "status", "version", "form", "files", "rows", "tasks"):
        table.add_column(col)
    problems, notes = [], []
    for s in report.sources:
        p = s.project
        files = rows = ""
        if s.folder is None:
            status = "[yellow]missing[/]"
            problems.append(f"{p.title}: not found; download it from {p.files_url} ({p.needs})")
        elif s.error:
            status = "[red]error[/]"
            problems.append(f"{p.title}: {s.error}")
        else:
            status = "[green]ok[/]"
            files = f"{s.rows.get('images on disk', 0):,} JPGs" if p is layout.MIMIC_CXR_JPG else str(count_files(s.folder))
            rows = "\n".join(f"{k}: {v:,}" for k, v in s.rows.items())
        notes += [f"{p.title}: {n}" for n in s.notes + s.file_notes()]
        tasks = "(images for all)" if p is layout.MIMIC_CXR_JPG else ", ".join(t.name for t in registry.for_project(p))
        version = "" if s.found is None else (s.found.version or p.version) + ("" if s.found.known else " (unknown)")
        table.add_row(p.title, status, version, s.forms, files, rows, tasks)
    out.print(table)
    for n in notes:
        out.print(f"note: {n}", highlight=False, markup=False, soft_wrap=True)
    for msg in problems:
        console.print(f"problem: {msg}", style="red", highlight=False, markup=False, soft_wrap=True)
    tasks = report.tasks
    out.print("tasks enabled: " + ", ".join(f"[green]{t}[/]" if on else f"[red]{t}[/] (off)" for t, on in tasks.items()))
    out.print(f"{sum(tasks.values())} of {len(tasks)} tasks enabled")
    for f in report.checksum_failures:
        console.print(f"[red]checksum mismatch:[/] {f}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def build(
    physionet_root: Annotated[Path, typer.Option("--physionet-root", help="Folder holding your PhysioNet downloads.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Dataset folder to write (a Hub dataset repo layout).")] = Path("imax"),
    config: Annotated[BuildConfig, typer.Option(help="Which datasets to write.")] = "all",
    seed: Annotated[int, typer.Option(help="Seed for tie-breaks, splits, DMAX sampling and paraphrases.")] = 0,
    split_by: Annotated[SplitBy, typer.Option(help="patient: no patient in both splits; image: the paper's split.")] = "patient",
    target_images: Annotated[int, typer.Option(help="IMAX images to select (the paper: 47,600).")] = 47_600,
    min_tasks: Annotated[int, typer.Option(help="Tasks an image needs to enter IMAX.")] = 3,
    rca_threshold: Annotated[float, typer.Option(help="CheXmask masks need Dice RCA (Mean) above this.")] = 0.7,
    structures_per_image: Annotated[int, typer.Option(help="REC/REG structures per image and task: 1 (paper) or 3.")] = 1,
    embed_images: Annotated[bool, typer.Option("--embed-images", help="Store resized JPEG bytes (a portable copy).")] = False,
    image_size: Annotated[int, typer.Option(help="Long side of embedded images in pixels.", min=32, max=4096)] = 512,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an earlier build in --out.")] = False,
    require: Annotated[Require, typer.Option(help="available: skip tasks whose source is missing; all: fail.")] = "available",
    allow_missing_images: Annotated[bool, typer.Option("--allow-missing-images", help="Build even if selected JPGs are absent.")] = False,
    evaluation_framework: Annotated[str, typer.Option(help="Harness id written into eval.yaml (must be registered "
                                                            "with the Hub for a leaderboard).")] = "imax-hub",
    max_bad_rows: Annotated[float, typer.Option(help=_MAX_BAD_ROWS_HELP, min=0.0, max=0.999)] = DEFAULT_MAX_BAD_ROWS,
    verify_images: Annotated[bool, typer.Option("--verify-images", help="Decode every selected JPG (default: check "
                                                "each by its JPEG start and end markers).")] = False,
) -> None:
    """Build IMAX and DMAX from a PhysioNet tree into a dataset folder that `load_dataset` reads."""
    from imax_hub.build import BuildOptions
    from imax_hub.build import build as run_build

    opts = BuildOptions(physionet_root=physionet_root, out=out_dir, config=config, seed=seed, split_by=split_by,
                        target_images=target_images, min_tasks=min_tasks, rca_threshold=rca_threshold,
                        structures_per_image=structures_per_image, embed_images=embed_images, image_size=image_size,
                        overwrite=overwrite, require=require, allow_missing_images=allow_missing_images,
                        evaluation_framework=evaluation_framework, max_bad_rows=max_bad_rows,
                        verify_images=verify_images)
    with _progress() as progress:
        result = run_build(opts, tick=_Ticker(progress))
    for key, notes in result.read_log.notes.items():
        for note in notes:
            console.print(f"note: {key}: {note}", style="yellow", highlight=False, markup=False)
    for path, f in result.read_log.files.items():
        if f.set_aside:
            reasons = "; ".join(f"{r}: {k:,}" for r, k in sorted((f.malformed + f.handled).items()))
            console.print(f"note: {path.name}: {f.set_aside:,} of {f.rows:,} rows set aside ({reasons}); "
                          f"`imax check {physionet_root}` lists them", style="yellow", highlight=False, markup=False)
    for line in result.heavy_filters:
        console.print(f"warning: {line}; see `skipped` in {out_dir}/build_manifest.json", style="yellow",
                      highlight=False, markup=False)
    for t in result.tasks_missing:
        console.print(f"skipped task {t}: its source is missing (see `imax check {physionet_root}`)", style="yellow")
    for line in result.selection_messages:
        console.print(f"note: {line}", style="yellow", highlight=False, markup=False)
    s = result.stats
    summary = [f"IMAX {s['imax']['images']:,} images / {s['imax']['entries']:,} entries "
               f"(train {s['imax_train']['entries']:,}, test {s['imax_test']['entries']:,})"]
    if "dmax_train" in s:
        summary.append(f"DMAX train {s['dmax_train']['images']:,} images / {s['dmax_train']['entries']:,} entries")
    out.print(f"wrote {out_dir} (fingerprint {result.manifest['fingerprint']}): " + "; ".join(summary), highlight=False)
    out.print(f"load it with load_dataset({out_dir.name!r}) from {out_dir.resolve().parent}; "
              f"`imax stats {out_dir}` compares it with the paper", highlight=False)


def _print_stats(stats: dict) -> None:
    from imax_hub.build.stats import table_rows

    table = Table(title="IMAX / DMAX statistics")
    for col in ("", "this build", "paper"):
        table.add_column(col, justify="left" if not col else "right")
    for row in table_rows(stats):
        table.add_row(*row)
    out.print(table)


@app.command()
def stats(folder: Annotated[Path, typer.Argument(help="A dataset folder written by `imax build`.")]) -> None:
    """Print a build's statistics beside the paper's figures."""
    import json

    path = folder / "stats" / "stats.json"
    if not path.is_file():
        raise ImaxError(f"{path} not found: is {folder} a folder written by `imax build`?")
    _print_stats(json.loads(path.read_text()))


@app.command()
def relocate(
    folder: Annotated[Path, typer.Argument(help="A dataset folder written by `imax build`.")],
    physionet_root: Annotated[Path, typer.Option("--physionet-root", help="Where the PhysioNet tree is now.")],
    allow_missing_images: Annotated[bool, typer.Option("--allow-missing-images", help="Accept JPGs absent there.")] = False,
) -> None:
    """Point the image paths of a build at a PhysioNet tree that has moved."""
    from imax_hub.build.relocate import relocate as run_relocate

    n = run_relocate(folder, physionet_root, allow_missing_images=allow_missing_images)
    out.print(f"rewrote {n:,} image paths in {folder} to point under {physionet_root}")


def _check_writable_file(path: Path, option: str) -> None:
    """Refuse, before any work, an output file that cannot be written."""
    if path.is_dir():
        raise ImaxError(f"{option} {path} is a folder; give a file name")
    if not path.parent.is_dir():
        raise ImaxError(f"{option} {path}: folder {path.parent} does not exist")


@app.command()
def score(
    predictions: Annotated[Path, typer.Argument(help='JSON Lines: {"id": row id, "prediction": model text} per test row.')],
    dataset: Annotated[Path, typer.Option("--dataset", help="The build folder the predictions are for.")],
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Results file (default: PREDICTIONS.scores.json).")] = None,
    config: Annotated[str, typer.Option(help="Config whose test split was predicted.")] = "imax",
    answer_format: Annotated[AnswerFormat, typer.Option("--answer-format", help=_ANSWER_FORMAT_HELP)] = "paper",
    processor_args: Annotated[Optional[str], typer.Option(
        "--processor-args", help="qwen2.5-vl: the processor's min_pixels=N,max_pixels=N (default: the released "
                                 "Instruct models' 3136 and 12845056).")] = None,
) -> None:
    """Score predictions with the paper's 16 metrics; writes a results file (numbers only, no text)."""
    import json

    from imax_hub.metrics.runs import score_file

    fmt = _answer_format(answer_format, processor_args)
    target = out_file or predictions.with_suffix(".scores.json")
    _check_writable_file(target, "--out")
    doc = score_file(dataset, predictions, config=config, answer_format=fmt)
    write_atomic(target, json.dumps(doc) + "\n")
    table = Table(title=f"{doc['name']}: {doc['n_items']:,} test items")
    for col in ("metric", "value", "signature"):
        table.add_column(col)
    for key, m in doc["metrics"].items():
        table.add_row(m["label"], f"{m['value']:.2f}", m["signature"])
    out.print(table)
    failures = ", ".join(f"{t} {n:,}/{doc['items_per_task'][t]:,}" for t, n in doc["parse_failures"].items() if n)
    out.print(f"unparsed outputs (scored as worst case): {failures or 'none'}")
    out.print(f"wrote {target}")


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Results files from `imax score` (or prediction files with --dataset); the first is the baseline.")],
    dataset: Annotated[Optional[Path], typer.Option("--dataset", help="Build folder, to score prediction files given here.")] = None,
    bootstrap: Annotated[int, typer.Option(help="Paired bootstrap resamples.", min=10)] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for comparison.json and radar.png.")] = Path("comparison"),
) -> None:
    """Compare runs with the paper's Table 1/Table 2 rows: differences with 95% intervals, Δ, improved count."""
    import json

    from imax_hub.metrics.runs import check_comparable, compare as run_compare, load_results, radar_chart, score_file

    if len(runs) < 2:
        raise ImaxError("compare needs at least two runs: a baseline and a model")
    if out_dir.exists() and not out_dir.is_dir():
        raise ImaxError(f"--out {out_dir} is a file; compare writes a folder (comparison.json, radar.png)")
    docs = []
    for path in runs:
        if path.suffix == ".jsonl":
            if dataset is None:
                raise ImaxError(f"{path} is a prediction file: pass --dataset BUILD_FOLDER to score it")
            docs.append(score_file(dataset, path))
        else:
            docs.append(load_results(path))
    check_comparable(docs, [str(p) for p in runs])
    result = run_compare(docs, n_boot=bootstrap, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "comparison.json").write_text(json.dumps(result, indent=2) + "\n")
    radar_chart(result, out_dir / "radar.png")

    table = Table(title=f"Table 2 style: metrics (x100) vs baseline {result['baseline']}")
    table.add_column("metric")
    for run in result["runs"]:
        table.add_column(run["name"], justify="right")
    for m in result["metrics"]:
        cells = []
        for run in result["runs"]:
            v = run["values"][m["key"]]
            if "differences" in run:
                d = run["differences"][m["key"]]
                cells.append(f"{v:.2f} ({d['diff']:+.2f} [{d['ci95'][0]:+.2f}, {d['ci95'][1]:+.2f}])")
            else:
                cells.append(f"{v:.2f}")
        table.add_row(m["label"] + (" ↓" if not m["higher_is_better"] else ""), *cells)
    out.print(table)
    t1 = Table(title="Table 1 style")
    for col in ("run", "improved / total", "Δ (95% CI)"):
        t1.add_column(col)
    for run in result["runs"][1:]:
        t1.add_row(run["name"], f"{run['improved']} / {run['metrics_counted']}",
                   f"{run['delta']:+.2f}% [{run['delta_ci95'][0]:+.2f}, {run['delta_ci95'][1]:+.2f}]")
    out.print(t1)
    out.print(f"wrote {out_dir / 'comparison.json'} and {out_dir / 'radar.png'}")


def print_summary(summary: dict) -> None:
    """The 16-metric table of an ``imax eval`` summary, with standard errors and parse failures."""
    tasks = summary["harness"]["tasks"]
    se = {k[: -len("_stderr")]: v for t in tasks.values() for k, v in t.items() if k.endswith("_stderr")}
    table = Table(title=f"{summary['model']['id']} ({summary['model']['backend']}): {summary['n_items']:,} test items")
    for col in ("metric", "value", "± se", "signature"):
        table.add_column(col, justify="right" if col in ("value", "± se") else "left")
    for key, m in summary["metrics"].items():
        s = se.get(key)
        table.add_row(m["label"] + (" ↓" if not m["higher_is_better"] else ""), f"{m['value']:.2f}",
                      "" if s is None or s != s else f"{s:.2f}", m["signature"])
    out.print(table)
    failures = ", ".join(f"{t} {n:,}/{summary['items_per_task'][t]:,}" for t, n in summary["parse_failures"].items() if n)
    out.print(f"unparsed outputs (scored as worst case): {failures or 'none'}")


@app.command(name="eval")
def eval_(
    model: Annotated[str, typer.Option("--model", help="Hub id or local folder of an image-text-to-text model, "
                                                      "or a baseline: oracle (gold answers), prior (train-split prior).")],
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Build folder or Hub repo id (default ./imax).")] = None,
    adapter: Annotated[Optional[str], typer.Option("--adapter", help="A peft LoRA adapter on top of --model "
                                                                    "(`imax train` output; transformers backend).")] = None,
    config: Annotated[str, typer.Option(help="Config whose test split is scored (imax, dmax… share one).")] = "imax",
    tasks: Annotated[Optional[str], typer.Option("--tasks", help="Comma-separated task names (default: all ten).")] = None,
    max_samples: Annotated[Optional[int], typer.Option("--max-samples", min=1,
                                                       help="At most N docs per task (lighteval's seeded shuffle).")] = None,
    backend: Annotated[Backend, typer.Option(help="transformers: ours, batched; stock: lighteval's VLM class, fixed; vllm.")] = "transformers",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    output_dir: Annotated[Path, typer.Option("--output-dir", help="Where results, predictions and the summary go.")] = Path("results"),
    dataset_revision: Annotated[Optional[str], typer.Option("--dataset-revision", help="Hub dataset revision.")] = None,
    model_args: Annotated[Optional[str], typer.Option("--model-args", help="Backend options key=value,… "
                                                      "(dtype, device, device_map, revision, tensor_parallel_size…).")] = None,
    cache_dir: Annotated[Optional[str], typer.Option("--cache-dir", help="lighteval prediction cache (resume point).")] = None,
    save_details: Annotated[bool, typer.Option("--save-details", help="Also write lighteval's per-sample details "
                                                                       "(local only; contain prompts and gold answers, never images).")] = False,
    answer_format: Annotated[AnswerFormatOrAuto, typer.Option("--answer-format", help=_ANSWER_FORMAT_HELP + " auto: from the "
                                               "model's config (model_type).")] = "paper",
    processor_args: Annotated[Optional[str], typer.Option(
        "--processor-args", help="qwen2.5-vl: min_pixels=N,max_pixels=N (default: the loaded processor's).")] = None,
) -> None:
    """Score a model on the IMAX test split through lighteval: results JSON + imax summary (16 metrics)."""
    from imax_hub.evaluation import EvalOptions, run_eval

    summary = run_eval(EvalOptions(model=model, adapter=adapter, dataset=dataset, config=config,
                                   tasks=[t.strip() for t in tasks.split(",")] if tasks else None,
                                   max_samples=max_samples, backend=backend, batch_size=batch_size,
                                   output_dir=output_dir, dataset_revision=dataset_revision, model_args=model_args,
                                   cache_dir=cache_dir, save_details=save_details, answer_format=answer_format,
                                   processor_args=processor_args))
    if summary:
        print_summary(summary)
        out.print(f"wrote {summary['_paths']['summary']} (numbers only) and {summary['_paths']['predictions']} (local)")


@contextlib.contextmanager
def _hub_errors(what: str):
    """Turn the Hub's HTTP errors (auth, missing repo, refusal) into one clear line."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield
    except HfHubHTTPError as exc:
        raise ImaxError(f"{what}: the Hub refused: {str(exc).splitlines()[0]}") from None


_ENDPOINT = typer.Option("--endpoint", help="Hub endpoint (default: HF_ENDPOINT or https://huggingface.co).")
_TOKEN = typer.Option("--token", help="Hub token with write access (default: HF_TOKEN or `hf auth login`).")


@app.command()
def submit(
    results: Annotated[Path, typer.Argument(help="An imax results file (imax_<model>.json from `imax eval`, or `imax score`).")],
    model: Annotated[str, typer.Option("--model", help="Model repo ORG/MODEL that gets the results.")],
    benchmark: Annotated[str, typer.Option("--benchmark", help="Benchmark dataset repo ORG/DATASET (holds eval.yaml).")],
    revision: Annotated[Optional[str], typer.Option("--revision", help="Commit sha of the benchmark dataset scored.")] = None,
    source_url: Annotated[Optional[str], typer.Option("--source-url", help="Public page with the run's logs or paper.")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", help="One public line about the setup (added to each entry).")] = None,
    card: Annotated[Optional[Path], typer.Option("--card", help="Also propose this model card (from `imax card`) as README.md.")] = None,
    create_pr: Annotated[bool, typer.Option("--create-pr", help="Open the pull request (default: dry run, print it).")] = False,
    endpoint: Annotated[Optional[str], _ENDPOINT] = None,
    token: Annotated[Optional[str], _TOKEN] = None,
) -> None:
    """Leaderboard entries (.eval_results/imax.yaml: aggregate numbers only) for a model repo, as a pull request."""
    from huggingface_hub import constants

    from imax_hub.hub import hub_api
    from imax_hub.hub.eval_results import build_submission, describe, send
    from imax_hub.metrics.runs import load_results

    refuse_gallery(results, "submit:")
    doc = load_results(results)
    if card is not None and not card.is_file():
        raise ImaxError(f"--card {card} not found (make it with `imax card`)")
    sub = build_submission(doc, model=model, benchmark=benchmark, revision=revision, source_url=source_url,
                           notes=notes, card=card.read_bytes() if card is not None else None)
    for w in sub.warnings:
        console.print(f"warning: {w}", style="yellow", highlight=False)
    target = endpoint or constants.ENDPOINT
    if not create_pr:
        out.print(describe(sub, target), highlight=False, markup=False, soft_wrap=True)
        out.print("dry run: nothing was sent (pass --create-pr to open the pull request)", highlight=False)
        return
    with _hub_errors(f"pull request on {model}"):
        url = send(sub, hub_api(endpoint, token))
    out.print(f"opened {url}", highlight=False)


@app.command()
def card(
    results: Annotated[Path, typer.Argument(help="The model's imax results file.")],
    out_file: Annotated[Path, typer.Option("--out", help="Markdown file to write (the model repo's README.md).")] = Path("README.md"),
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Results of the run to compare against (Δ).")] = None,
    trained_on: Annotated[TrainedOn, typer.Option("--trained-on", help="The training set (picks the card template).")] = "imax",
    model_id: Annotated[Optional[str], typer.Option("--model-id", help="Hub id of the model (default: from the results).")] = None,
    base_model: Annotated[Optional[str], typer.Option("--base-model", help="Hub id of the model it was fine-tuned from.")] = None,
    benchmark: Annotated[Optional[str], typer.Option("--benchmark", help="Hub id of the benchmark dataset repo.")] = None,
    model_index: Annotated[bool, typer.Option("--model-index/--no-model-index", help="Legacy model-index results in the front matter.")] = True,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.", min=10)] = 1000,
    license_id: Annotated[Optional[str], typer.Option("--license", help="The card's licence (a Hub licence id such as "
                                                      "apache-2.0; default: the base model's).")] = None,
) -> None:
    """A model card: results with 95% intervals (and Δ against --baseline), training data, limits, how to reproduce."""
    from imax_hub.cards import render_card
    from imax_hub.hub import check_repo_id
    from imax_hub.metrics.runs import load_results

    for value, what in ((model_id, "--model-id"), (base_model, "--base-model"), (benchmark, "--benchmark")):
        if value is not None:
            check_repo_id(value, what)
    text, warnings = render_card(load_results(results), baseline=load_results(baseline) if baseline is not None else None,
                                 trained_on=trained_on, model_id=model_id, base_model=base_model, benchmark=benchmark,
                                 model_index=model_index, n_boot=bootstrap, license_id=license_id)
    for w in warnings:
        console.print(f"warning: {w}", style="yellow", highlight=False, markup=False)
    write_atomic(out_file, text)
    out.print(f"wrote {out_file}", highlight=False)


@app.command()
def leaderboard(
    runs: Annotated[list[Path], typer.Argument(help="imax results files, one per run.")],
    html: Annotated[Path, typer.Option("--html", help="Standalone HTML page to write.")],
    png: Annotated[Optional[Path], typer.Option("--png", help="Also write the chart as a PNG.")] = None,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="Results of a run to compute Δ against.")] = None,
    title: Annotated[str, typer.Option(help="Page title.")] = "IMAX leaderboard",
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.", min=10)] = 1000,
) -> None:
    """A sortable leaderboard page (direction-aware, signatures on hover) and a chart of many runs."""
    from imax_hub.leaderboard import board, chart_png, render_html
    from imax_hub.metrics.runs import load_results

    b = board([load_results(p) for p in runs], [str(p) for p in runs],
              baseline=load_results(baseline) if baseline is not None else None, n_boot=bootstrap)
    chart = chart_png(b)
    write_atomic(html, render_html(b, chart, title=title))
    if png is not None:
        write_atomic(png, chart)
    for i, r in enumerate(b["runs"], start=1):
        out.print(f"{i}. {r['name']}  mean rank {r['mean_rank']:.2f}"
                  + (f"  Δ {r['delta']:+.2f}%" if b["baseline"] else ""), highlight=False)
    out.print(f"wrote {html}" + (f" and {png}" if png is not None else ""), highlight=False)


@app.command()
def show(
    folder: Annotated[Path, typer.Argument(help="A dataset folder written by `imax build`.")],
    out_file: Annotated[Path, typer.Option("--out", help="The HTML page to write (local only: it holds credentialed "
                                                         "X-rays and text).")] = Path("gallery.html"),
    config: Annotated[str, typer.Option(help="The config to show (imax, dmax, pseudo_imax, a task…).")] = "imax",
    split: Annotated[Literal["train", "test"], typer.Option(help="The split to show.")] = "test",
    images: Annotated[int, typer.Option("--images", min=1, help="Images to show, those with the most tasks first.")] = 12,
    predictions: Annotated[Optional[Path], typer.Option("--predictions", help="A predictions file (`imax score`'s "
                                                        "JSON Lines): the model's answers, marks and boxes.")] = None,
    answer_format: Annotated[AnswerFormat, typer.Option("--answer-format", help=_ANSWER_FORMAT_HELP)] = "paper",
    processor_args: Annotated[Optional[str], typer.Option("--processor-args", help="As `imax score`.")] = None,
) -> None:
    """The paper's Figure 1 for your build: per image, the X-ray with its heart and lung boxes and every entry
    it has (with --predictions, the model's answers beside them). One static page, for your eyes only."""
    from imax_hub.gallery import gallery, render_gallery

    _check_writable_file(out_file, "--out")
    page = gallery(folder, config=config, split=split, images=images, predictions=predictions,
                   answer_format=_answer_format(answer_format, processor_args))
    write_atomic(out_file, render_gallery(page))
    out.print(f"wrote {out_file}: {page['shown']} of {page['images_in_split']:,} images of {config}/{split}; "
              "local only (it holds credentialed data)", highlight=False)


@app.command(name="push-dataset")
def push_dataset(
    folder: Annotated[Path, typer.Argument(help="A dataset folder written by `imax build`.")],
    repo_id: Annotated[str, typer.Argument(help="Private dataset repo ORG/NAME (created private if missing).")],
    push: Annotated[bool, typer.Option("--push", help="Upload (default: dry run, print the plan).")] = False,
    staging: Annotated[Optional[Path], typer.Option("--staging", help="Keep the staged copy here for review.")] = None,
    create_pr: Annotated[bool, typer.Option("--create-pr", help="Upload as a pull request instead of a commit.")] = False,
    report_text: Annotated[bool, typer.Option("--include-report-text-i-have-physionet-permission",
                                              help="Upload MIMIC-CXR report text too. The PhysioNet DUA forbids sharing "
                                                   "it; only with written permission.")] = False,
    endpoint: Annotated[Optional[str], _ENDPOINT] = None,
    token: Annotated[Optional[str], _TOKEN] = None,
) -> None:
    """Upload an annotations-only copy (no images; no report text by default) to a private, gated dataset repo."""
    from huggingface_hub import constants

    from imax_hub.hub import hub_api
    from imax_hub.hub.push_dataset import describe, push_dataset as run_push

    if report_text:
        console.print("WARNING: report text will be uploaded. MIMIC-CXR's data use agreement forbids sharing it "
                      "unless PhysioNet permits it.", style="bold red", highlight=False)
    with _hub_errors(f"dataset repo {repo_id}"):
        plan, url = run_push(folder, repo_id, api=hub_api(endpoint, token) if push else None, dry_run=not push,
                             report_text=report_text, staging=staging, create_pr=create_pr)
    out.print(describe(plan, endpoint or constants.ENDPOINT), highlight=False, markup=False, soft_wrap=True)
    if staging is not None:
        out.print(f"staged copy kept in {staging}", highlight=False)
    out.print(f"pushed: {url}" if url else "dry run: nothing was sent (pass --push to upload)", highlight=False)


@app.command()
def fim(
    model: Annotated[str, typer.Option("--model", help="Hub id or local folder of an image-text-to-text model (a checkpoint).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for fim.json.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="A build folder.")] = Path("imax"),
    config: Annotated[str, typer.Option(help="Config whose train rows are sampled (imax, dmax, …).")] = "imax",
    adapter: Annotated[Optional[str], typer.Option("--adapter", help="A peft LoRA adapter on top of --model.")] = None,
    samples: Annotated[int, typer.Option(help="Train rows drawn at random (the paper: 1,600).", min=2)] = 1600,
    n: Annotated[int, typer.Option("--n", help="Samples per FIM (the paper: 32); one SE/ρ per group.", min=2)] = 32,
    params: Annotated[str, typer.Option(help="one-per-layer (the paper's rule), all-lora, all, or layers:REGEX.")] = "one-per-layer",
    seed: Annotated[int, typer.Option(help="Seed for the rows drawn and the scalar picked per layer.")] = 0,
    label: Annotated[Optional[str], typer.Option(help="Name of this checkpoint in plots (default: its folder name).")] = None,
    dtype: Annotated[Literal["float32", "bfloat16", "float16", "float64"], typer.Option(
        help="Precision of the gradients (float64 for exact small checks).")] = "float32",
) -> None:
    """Fisher-information spectra: SE and ρ (the paper's Eq. 2-4) of the empirical FIM per group of N training samples."""
    from imax_hub.fim import FimOptions, run_fim

    if dtype not in ("float32", "bfloat16", "float16", "float64"):
        raise ImaxError(f"--dtype must be float32, bfloat16, float16 or float64, not {dtype!r}")
    doc = run_fim(FimOptions(model=model, dataset=dataset, out=out_dir, config=config, adapter=adapter, samples=samples,
                             n=n, params=params, seed=seed, label=label, dtype=dtype))
    s = doc["summary"]
    out.print(f"{doc['label']} ({config}): {doc['groups']} groups of {n}, {doc['params']['count']} parameters "
              f"({params}): SE {s['se_mean']:.4f} ± {s['se_std']:.4f}, ρ {s['rho_mean']:.2f}% ± {s['rho_std']:.2f}",
              highlight=False)
    out.print(f"wrote {out_dir / 'fim.json'}", highlight=False)


@app.command(name="fim-plot")
def fim_plot(
    runs: Annotated[list[Path], typer.Argument(help="`imax fim` output folders (checkpoints in order; any configs).")],
    out_file: Annotated[Path, typer.Option("--out", help="PNG to write.")] = Path("fim.png"),
) -> None:
    """Figure-5-style violin + box plots of SE and ρ across checkpoints, one colour per config."""
    from imax_hub.fim import load_fim, plot

    docs = [load_fim(p) for p in runs]
    if len({d["n"] for d in docs}) > 1:
        raise ImaxError("the runs use different --n; their spectra are not comparable")
    plot(docs, out_file)
    out.print(f"wrote {out_file}", highlight=False)


@app.command(name="pseudo-label")
def pseudo_label(
    model: Annotated[str, typer.Option("--model", help="The stage-1 model (trained on dmax): Hub id or local folder.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for generations.jsonl (the resume point) and counts.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="The build folder; gets the pseudo_imax configs.")] = Path("imax"),
    adapter: Annotated[Optional[str], typer.Option("--adapter", help="The stage-1 LoRA adapter on top of --model "
                                                                    "(`imax train` output; transformers backend).")] = None,
    config: Annotated[str, typer.Option(help="Config whose train images are pseudo-labelled.")] = "dmax",
    backend: Annotated[Backend, typer.Option(help="As imax eval.")] = "transformers",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 8,
    model_args: Annotated[Optional[str], typer.Option("--model-args", help="Backend options key=value,…")] = None,
    max_images: Annotated[Optional[int], typer.Option("--max-images", min=1, help="Only the first N images "
                                                      "(a trial run; the configs then hold pseudo rows for those only).")] = None,
    answer_format: Annotated[AnswerFormatOrAuto, typer.Option("--answer-format", help=_ANSWER_FORMAT_HELP + " auto: from the "
                                               "model's config.")] = "paper",
    processor_args: Annotated[Optional[str], typer.Option("--processor-args", help="qwen2.5-vl: min_pixels=N,"
                                                          "max_pixels=N (default: the loaded processor's).")] = None,
) -> None:
    """Stage 2 of the three-stage strategy: pseudo-label the tasks DMAX images lack; write pseudo_imax configs."""
    from imax_hub.adapters import adapter_fingerprint, run_name
    from imax_hub.backends import BASELINES, disable_prediction_cache, model_revision
    from imax_hub.build.manifest import PSEUDO_CONFIG, STAGE3_CONFIG
    from imax_hub.evaluation import EvalOptions, make_model
    from imax_hub.pseudo import pseudo_label as run_pseudo

    if model in BASELINES:
        raise ImaxError(f"{model!r} is an evaluation baseline (it answers test items); pseudo-labels need a model")
    backend_model = make_model(EvalOptions(model=model, adapter=adapter, dataset=str(dataset), backend=backend,
                                           batch_size=batch_size, model_args=model_args))
    disable_prediction_cache(backend_model)  # generations.jsonl is the resume point
    backend_model.own_progress = False  # the pseudo-label bar below counts the prompts
    fmt = _answer_format(answer_format, processor_args, model=backend_model)
    with _progress() as progress:
        # a local folder is recorded by its name: rows may be shared (push-dataset), local paths stay here
        model_id = run_name(Path(model).name if is_local_path(model) else model, adapter)
        result = run_pseudo(dataset, out_dir, backend_model, model_id=model_id, revision=model_revision(backend_model),
                            config=config, max_images=max_images, tick=_Ticker(progress), answer_format=fmt,
                            identity={"adapter_sha256": adapter_fingerprint(adapter)} if adapter else None)
    if hasattr(backend_model, "_is_main") and not backend_model._is_main():
        return  # under `accelerate launch` the main process reports
    kept, dropped = sum(result.kept.values()), sum(result.dropped.values())
    out.print(f"{result.images:,} images, {result.asked:,} pseudo-labels asked: kept {kept:,}, dropped {dropped:,}",
              highlight=False)
    for reason, count in sorted(result.dropped.items()):
        out.print(f"  dropped {count:,}: {reason}", highlight=False)
    out.print(f"wrote configs {PSEUDO_CONFIG} and {STAGE3_CONFIG} into {dataset}; generations in {out_dir}",
              highlight=False)


@app.command()
def train(
    model: Annotated[str, typer.Option("--model", help="Hub id or local folder of an image-text-to-text model (the base).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the adapter, imax_train.json and checkpoints/.")],
    dataset: Annotated[Path, typer.Option("--dataset", help="A build folder.")] = Path("imax"),
    config: Annotated[str, typer.Option(help="Config whose train split is used: dmax, imax, pseudo_imax, "
                                             "pseudo_imax-stage3…")] = "dmax",
    adapter: Annotated[Optional[str], typer.Option("--adapter", help="Continue training this adapter (stage 2 → 3); "
                                                                    "the LoRA options then come from it.")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the rows.")] = 1.0,
    max_steps: Annotated[int, typer.Option("--max-steps", help="Stop after N optimizer steps (overrides --epochs).")] = -1,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate (AdamW, linear decay).")] = 2e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 4,
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="Gradient accumulation steps.")] = 1,
    lora_r: Annotated[int, typer.Option("--lora-r", min=1)] = 16,
    lora_alpha: Annotated[int, typer.Option("--lora-alpha", min=1)] = 32,
    lora_dropout: Annotated[float, typer.Option("--lora-dropout", min=0.0, max=1.0)] = 0.05,
    lora_targets: Annotated[str, typer.Option("--lora-targets", help="language (linear layers outside the vision "
                                                                     "tower and projector), all-linear, or a regex of "
                                                                     "module names.")] = "language",
    max_samples: Annotated[Optional[int], typer.Option("--max-samples", min=1, help="Train on a seeded sample of N rows.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for LoRA init, data order and --max-samples.")] = 0,
    save_steps: Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps (resume point).")] = 500,
    workers: Annotated[int, typer.Option(min=0, help="Data-loader worker processes (image decoding).")] = 0,
    dtype: Annotated[Literal["auto", "bfloat16", "float16", "float32"], typer.Option(
        help="auto: bfloat16 on CUDA, float32 on CPU.")] = "auto",
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its last checkpoint.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a finished adapter in --out.")] = False,
    merge: Annotated[bool, typer.Option("--merge", help="Also write OUT/merged, base + adapter as one model.")] = False,
) -> None:
    """LoRA fine-tuning with TRL's SFT trainer on a build's rows (loss on the answers); needs TRL, the train extra."""
    from imax_hub.train import TrainOptions, run_train

    recipe = run_train(TrainOptions(model=model, dataset=dataset, out=out_dir, config=config, adapter=adapter,
                                    epochs=epochs, max_steps=max_steps, learning_rate=lr, batch_size=batch_size,
                                    grad_accum=grad_accum, lora_r=lora_r, lora_alpha=lora_alpha,
                                    lora_dropout=lora_dropout, lora_targets=lora_targets, max_samples=max_samples,
                                    seed=seed, save_steps=save_steps, workers=workers, dtype=dtype, resume=resume,
                                    overwrite=overwrite, merge=merge),
                       log=lambda msg: out.print(msg, highlight=False))
    t = recipe["training"]
    out.print(f"trained {recipe['lora']['tensors']} LoRA tensors for {t['steps']} steps on {recipe['dataset']['rows']:,} "
              f"{config} rows: train loss {t['train_loss']:.4f} ({t['wall_s']:.0f} s)", highlight=False)
    out.print(f"wrote the adapter and {out_dir / 'imax_train.json'}" + (f"; merged model in {out_dir / 'merged'}" if merge else "")
              + f". Next: imax eval --model {model} --adapter {out_dir}", highlight=False)


@app.command()
def download(
    physionet_root: Annotated[Path, typer.Option("--physionet-root", help="Where the PhysioNet tree goes "
                                                                          "(<project>/<version>/… as PhysioNet serves it).")],
    user: Annotated[Optional[str], typer.Option("--user", help="PhysioNet user; the password comes from "
                                                               "PHYSIONET_PASSWORD or a prompt (default: ~/.netrc).")] = None,
    only: Annotated[str, typer.Option("--only", help="metadata, annotations, images (comma-separated; default all, "
                                                     "in that order).")] = "metadata,annotations,images",
    config: Annotated[BuildConfig, typer.Option(help="Images for these datasets (as `imax build --config`).")] = "all",
    target_images: Annotated[int, typer.Option("--target-images", help="As `imax build`.")] = 47_600,
    min_tasks: Annotated[int, typer.Option("--min-tasks", help="As `imax build`.")] = 3,
    split_by: Annotated[SplitBy, typer.Option("--split-by", help="As `imax build`.")] = "patient",
    seed: Annotated[int, typer.Option(help="As `imax build`.")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", min=1, max=64, help="Parallel connections.")] = 8,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files, their total size and what is "
                                                            "already here; fetch only the SHA256SUMS.txt lists.")] = False,
    base_url: Annotated[str, typer.Option("--base-url", help="PhysioNet's files URL (a mirror or a test server).")]
    = "https://physionet.org/files/",
    retries: Annotated[int, typer.Option(min=0, help="Retries per file on timeouts, cuts and 5xx (backoff doubles).")] = 5,
) -> None:
    """Fetch from PhysioNet exactly the files `imax build` needs: resumable, parallel, verified against SHA256SUMS."""
    from rich.progress import TimeRemainingColumn

    from imax_hub.download import DownloadOptions, credentials, download as run_download

    parts = tuple(p.strip() for p in only.split(",") if p.strip())
    opts = DownloadOptions(root=physionet_root, base_url=base_url, user=user, only=parts, config=config,
                           target_images=target_images, min_tasks=min_tasks, split_by=split_by, seed=seed, jobs=jobs,
                           dry_run=dry_run, retries=retries)
    creds = credentials(user, base_url)
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        TextColumn("{task.fields[transfer]}"), console=console, transient=True,
                        disable=not console.is_terminal)
    with progress:
        meter = _TransferMeter(progress)
        summary = run_download(opts, creds, tick=meter.tick, on_bytes=meter.on_bytes)
    if dry_run:
        todo = [(p, s) for p, s, present in summary.planned if not present]
        for path, size, present in summary.planned:
            out.print(f"{'present ' if present else 'to fetch'}  {_size(size):>10}  {path}", highlight=False)
        known = sum(s or 0 for _, s in todo)
        unknown = sum(s is None for _, s in todo)
        out.print(f"{len(summary.planned):,} files: {len(summary.planned) - len(todo):,} present and verified, "
                  f"{len(todo):,} to fetch, {_size(known)}" + (f" (+{unknown:,} of unknown size)" if unknown else ""),
                  highlight=False)
    else:
        out.print(f"fetched {summary.fetched:,} files ({_size(summary.fetched_bytes)}); skipped {summary.skipped:,} "
                  f"already present and verified ({_size(summary.skipped_bytes)}); failed {len(summary.failed):,}",
                  highlight=False)
    for note in summary.notes:
        out.print(note, highlight=False)
    for title, why in summary.denied.items():
        console.print(f"refused: {title}: {why}", style="yellow", highlight=False, markup=False)
    for i, (path, why) in enumerate(sorted(summary.failed.items())):
        if i == 20:
            console.print(f"… and {len(summary.failed) - 20:,} more", style="red")
            break
        console.print(f"failed: {path}: {why}", style="red", highlight=False, markup=False)
    if not summary.ok:
        raise ImaxError("some files were not fetched (above); what finished is kept and verified: run the same "
                        "command again to resume")
    if not dry_run:
        out.print(f"next: imax build --physionet-root {physionet_root} --config {config} --target-images "
                  f"{target_images} (the same selection options)", highlight=False)


class _TransferMeter(_Ticker):
    """Files done and ETA per phase (as ``_Ticker``), with the bytes received and the rate beside them."""

    def __init__(self, progress: Progress):
        import threading
        import time

        super().__init__(progress)
        self.time, self.lock = time.monotonic, threading.Lock()
        self.current: int | None = None
        self.received, self.start = 0, time.monotonic()

    def tick(self, phase: str, done: int, total: int) -> None:
        self(phase, done, total)
        self.current = self.tasks[phase]

    def on_bytes(self, n: int) -> None:
        with self.lock:
            self.received += n
            rate = self.received / max(self.time() - self.start, 1e-3)
        if self.current is not None:
            self.progress.update(self.current, transfer=f"{_size(self.received)} at {_size(int(rate))}/s")


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


@app.command(name="lmms-tasks")
def lmms_tasks(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the task YAMLs and utils.py (lmms-eval's --include_path).")],
    dataset: Annotated[str, typer.Option("--dataset", help="Build folder or Hub repo id the tasks read.")] = "imax",
) -> None:
    """Write the IMAX tasks for lmms-eval (group `imax`, one YAML per task) reading DATASET."""
    from imax_hub.lmms_tasks import write_tasks

    written = write_tasks(out_dir, str(Path(dataset).resolve()) if Path(dataset).is_dir() else dataset)
    out.print(f"wrote {len(written)} files to {out_dir}: lmms-eval --include_path {out_dir} --tasks imax ...",
              highlight=False)


@app.command(name="setup-lighteval")
def setup_lighteval() -> None:
    """Make the `lighteval` command itself work offline in this environment (one .pth startup hook)."""
    from imax_hub.lighteval_offline import write_pth

    out.print(f"wrote {write_pth()}")


def _stop_clearly_when_a_peer_fails() -> None:
    """Under `accelerate launch`, the launcher ends every process with SIGTERM once one has failed: say so."""
    rank = os.environ.get("RANK", "?")

    def stop(signum, frame):
        console.print(f"error: process {rank} stopped because another process of this `accelerate launch` run failed "
                      "(see its message above); finished chunks are kept: run the same command again to resume",
                      style="red", highlight=False, markup=False, soft_wrap=True)
        os._exit(1)

    signal.signal(signal.SIGTERM, stop)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: user errors print one clear message and exit 1 (``--debug`` shows the traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # our bars say what is happening; the libraries' own (datasets' "Creating parquet" per split, the Hub's
    # downloads, transformers' weight loading) would repeat beneath them
    for name in ("HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_NO_ADVISORY_WARNINGS"):
        os.environ.setdefault(name, "1")
    install_lighteval_guards()  # before any command imports lighteval: offline-safe, never uploads imax details
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _stop_clearly_when_a_peer_fails()
    try:
        app(args=args, prog_name="imax")
    except ImaxError as exc:
        if "--debug" in args:
            traceback.print_exc()
        console.print("error: " + str(exc), style="red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
