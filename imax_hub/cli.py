"""The ``imax`` command line (``python -m imax_hub`` is the same)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from imax_hub import __version__
from imax_hub.errors import ImaxError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Rebuild IMAX/DMAX from your PhysioNet downloads.")
console = Console(stderr=True)
out = Console()


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


class _Ticker:
    """Adapts (phase, done, total) callbacks to one rich task per phase."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, int] = {}

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=total or None)
        self.progress.update(self.tasks[phase], completed=done, total=total or None)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(__version__)
        raise typer.Exit()


@app.command()
def synth(
    root: Annotated[Path, typer.Argument(help="Folder to write the synthetic PhysioNet tree into.")],
    patients: Annotated[int, typer.Option(help="Number of patients (65379 = full MIMIC scale).", min=1)] = 200,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same tree.")] = 0,
    no_images: Annotated[bool, typer.Option("--no-images", help="Write metadata only (any scale).")] = False,
    image_size: Annotated[int, typer.Option(help="Long side of the phantom JPGs in pixels.", min=64, max=4096)] = 320,
    force: Annotated[bool, typer.Option("--force", help="Write into a non-empty folder.")] = False,
) -> None:
    """Write a synthetic PhysioNet tree for all seven sources (deterministic by seed)."""
    from imax_hub.synth import synthesize

    if root.exists() and any(root.iterdir()) and not force:
        raise ImaxError(f"{root} is not empty; choose a new folder or pass --force")
    with _progress() as progress:
        cohort = synthesize(root, patients=patients, seed=seed, images=not no_images, image_size=image_size,
                            progress=_Ticker(progress))
    out.print(f"wrote a synthetic tree to {root}: {len(cohort.patients)} patients, {len(cohort.studies)} studies, "
              f"{len(cohort.images)} images{' (metadata only)' if no_images else ''}")


@app.command()
def check(
    root: Annotated[Path, typer.Argument(help="Folder holding your PhysioNet downloads (or a synthetic tree).")],
    verify_checksums: Annotated[bool, typer.Option("--verify-checksums", help="Verify files against SHA256SUMS.txt.")] = False,
    allow_missing_images: Annotated[bool, typer.Option("--allow-missing-images", help="Accept a tree with only some JPGs.")] = False,
) -> None:
    """Pre-flight: which sources are present and readable, and which tasks they enable."""
    from imax_hub.check import run_check

    with _progress() as progress:
        report = run_check(root, verify=verify_checksums, allow_missing_images=allow_missing_images,
                           tick=_Ticker(progress))
    table = Table(title=f"PhysioNet sources under {root}")
    for col in ("source", "status", "version", "files", "rows", "tasks"):
        table.add_column(col)
    from imax_hub.check import _count_files

    for s in report.sources:
        p = s.project
        if s.folder is None:
            status = f"[yellow]missing[/] — get it from {p.files_url} ({p.needs})"
            files = rows = ""
        elif s.error:
            status = f"[red]error[/] — {s.error}"
            files, rows = str(_count_files(s.folder)), ""
        else:
            status = "[green]ok[/]" + ("".join(f"\n{n}" for n in s.notes))
            files = str(_count_files(s.folder)) if p.key != "mimic_cxr_jpg" else f"{s.rows.get('images on disk', 0)} JPGs"
            rows = "\n".join(f"{k}: {v:,}" for k, v in s.rows.items())
        table.add_row(p.title, status, p.version, files, rows, ", ".join(p.tasks) if p.key != "mimic_cxr_jpg" else "(images for all)")
    out.print(table)
    tasks = report.tasks
    out.print("tasks enabled: " + ", ".join(f"[green]{t}[/]" if on else f"[red]{t}[/] (off)" for t, on in tasks.items()))
    out.print(f"{sum(tasks.values())} of {len(tasks)} tasks enabled")
    for f in report.checksum_failures:
        console.print(f"[red]checksum mismatch:[/] {f}")
    if not report.ok:
        raise typer.Exit(1)


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: user errors print one clear message and exit 1 (``--debug`` shows the traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="imax", standalone_mode=False)
    except ImaxError as exc:
        if debug:
            raise
        console.print("error: " + str(exc), style="red", highlight=False, markup=False)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        console.print("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
