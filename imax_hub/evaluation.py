"""``imax eval``: lighteval's Pipeline around our VLM backends, then an imax summary.

Writes, under the output folder: lighteval's results JSON (``results/<model>/results_<date>.json``),
``predictions_<model>.jsonl`` (model text per test id — local, like lighteval's details, never uploaded)
and ``imax_<model>.json``, an imax results document (numbers only; ``imax compare`` reads it) with the
model id and revision, the backend, the dataset fingerprint and config, the template shas and the
16 metrics with signatures and parse failures. Nothing is pushed anywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from imax_hub.lighteval_offline import install as _install_lighteval_guards

_install_lighteval_guards()  # this module is also an API entry point: lighteval is imported by its functions

from imax_hub.backends import BASELINES, model_revision  # noqa: E402
from imax_hub.build import manifest as build_manifest  # noqa: E402
from imax_hub.build.manifest import EVAL_PREFIX  # noqa: E402
from imax_hub.errors import ImaxError  # noqa: E402
from imax_hub.files import is_local_path, safe_name, write_atomic  # noqa: E402
from imax_hub.tasks import registry  # noqa: E402
from imax_hub.tasks.answer_formats import FORMATS, AnswerFormat, auto_format, parse_processor_args  # noqa: E402


@dataclass
class EvalOptions:
    model: str  # Hub id, local folder, or a baseline name (oracle, prior)
    adapter: str | None = None  # peft LoRA adapter on top of `model` (transformers backend)
    dataset: str | None = None  # build folder or Hub repo id (default ./imax)
    config: str = "imax"
    tasks: list[str] | None = None
    max_samples: int | None = None
    backend: str = "transformers"
    batch_size: int = 8
    output_dir: Path = Path("results")
    dataset_revision: str | None = None
    model_args: str | None = None  # extra backend options, key=value,...
    cache_dir: str | None = None
    save_details: bool = False
    answer_format: str = "paper"  # paper, a family, or auto (from the model's config)
    processor_args: str | None = None  # qwen2.5-vl resize bounds, min_pixels=N,max_pixels=N


def answer_format_for(name: str, *, model=None, model_id: str | None = None,
                      processor_args: str | None = None) -> tuple[AnswerFormat, str | None]:
    """(format, message) for ``--answer-format NAME``. ``auto`` reads the model's ``config.model_type`` (from the
    loaded ``model`` or ``model_id``'s config); qwen2.5-vl takes the resize bounds from ``processor_args``, else from
    the loaded processor, else the released models' defaults."""
    message = None
    if name == "auto":
        model_type = _model_type(model, model_id)
        name, message = auto_format(model_type)
        message = f"warning: {message}" if message else f"--answer-format auto: model_type {model_type} -> {name}"
    if name not in FORMATS:
        raise ImaxError(f"--answer-format must be one of {', '.join(FORMATS)} or auto, not {name!r}")
    try:
        pixels = parse_processor_args(processor_args)
    except ValueError as exc:
        raise ImaxError(str(exc)) from None
    if name == "qwen2.5-vl" and not pixels and model is not None:
        pixels = _processor_pixels(model)
    return AnswerFormat(name, **pixels), message


def _model_type(model, model_id: str | None) -> str | None:
    config = getattr(getattr(model, "model", None), "config", None)
    if config is None and model_id and model_id not in BASELINES:
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(model_id)
        except (OSError, ValueError):
            return None
    return getattr(config, "model_type", None)


def _processor_pixels(model) -> dict[str, int]:
    """min/max pixels of a loaded Qwen2-VL-style image processor (``size`` in newer transformers)."""
    image_processor = getattr(getattr(model, "processor", None), "image_processor", None)
    if image_processor is None:
        return {}
    size = getattr(image_processor, "size", None) or {}
    lo = getattr(image_processor, "min_pixels", None) or size.get("shortest_edge")
    hi = getattr(image_processor, "max_pixels", None) or size.get("longest_edge")
    return {k: int(v) for k, v in (("min_pixels", lo), ("max_pixels", hi)) if isinstance(v, (int, float)) and v}


def check_dataset(dataset: str, config: str, tasks: list[str]) -> str | None:
    """Validate a local build (config present, eval configs present); return the config's fingerprint."""
    folder = Path(dataset)
    if not folder.is_dir():
        if dataset.startswith((".", "/", "~")) or os.sep in dataset.rstrip("/").split("/", 1)[-1]:
            raise ImaxError(f"dataset {dataset!r} not found: pass a folder written by `imax build` or a Hub repo id")
        return None  # a Hub repo id: datasets checks it when loading
    manifest = build_manifest.read_manifest(folder)
    configs = {c["name"]: c for c in build_manifest.config_layout(manifest["shards"])}
    if config not in configs:
        raise ImaxError(f"{folder} has no config {config!r} (configs: {', '.join(c for c in configs if not c.startswith(EVAL_PREFIX))})")
    card = (folder / "README.md").read_text() if (folder / "README.md").is_file() else ""
    harness = {h.name: t.name for t, h in registry.harness_tasks()}
    needed = sorted({harness[t] for t in tasks})
    for task in needed:
        name = f"{EVAL_PREFIX}{task}"
        if name not in configs:
            raise ImaxError(f"{folder} has no test split for task {task!r}; drop its tasks with --tasks")
        if f"config_name: {name}" not in card:
            raise ImaxError(f"{folder} was built by an older imax-hub without the {name!r} config; "
                            "rebuild it (imax build ... --overwrite) or run `imax relocate` to rewrite its card")
    return build_manifest.config_fingerprint(manifest, config)


def make_model(opts: EvalOptions):
    from imax_hub.backends import BACKENDS, BASELINES
    from imax_hub.backends.common import parse_model_args

    extra = parse_model_args(opts.model_args)
    common = {"cache_dir": opts.cache_dir} if opts.cache_dir else {}
    if opts.model in BASELINES:
        if opts.adapter is not None:
            raise ImaxError(f"--adapter goes on a model; {opts.model!r} is a baseline (it has no weights)")
        from imax_hub.backends.baselines import BaselineConfig, BaselineModel

        return BaselineModel(BaselineConfig(model_name=opts.model, dataset=opts.dataset, config=opts.config,
                                            revision=opts.dataset_revision))
    if opts.backend not in BACKENDS:
        raise ImaxError(f"unknown backend {opts.backend!r}: expected one of {', '.join(BACKENDS)}")
    check_model_source(opts.model)
    if opts.adapter is not None:
        from imax_hub.adapters import check_adapter

        check_adapter(opts.adapter)
        if opts.backend != "transformers":
            raise ImaxError(f"--adapter works with the transformers backend; for {opts.backend}, merge it first "
                            "(`imax train ... --merge` writes OUT/merged) and pass that folder as --model")
        extra["adapter"] = str(opts.adapter)
    if opts.backend == "transformers":
        from imax_hub.backends.transformers_vlm import ImaxVLMConfig, ImaxVLMModel

        with _loading(opts.model):
            return ImaxVLMModel(ImaxVLMConfig(model_name=opts.model, batch_size=opts.batch_size, **common, **extra))
    if opts.backend == "stock":
        from lighteval.models.transformers.vlm_transformers_model import VLMTransformersModelConfig

        from imax_hub.backends.stock_vlm import FixedVLMTransformersModel

        extra.setdefault("device", "cuda" if _cuda() else "cpu")
        with _loading(opts.model):
            return FixedVLMTransformersModel(VLMTransformersModelConfig(
                model_name=opts.model, batch_size=opts.batch_size, **common, **extra))
    from imax_hub.backends.vllm_vlm import ImaxVLLMConfig, ImaxVLLMModel, import_vllm

    import_vllm()  # a clear message before anything loads
    return ImaxVLLMModel(ImaxVLLMConfig(model_name=opts.model, **common, **extra))


def check_model_source(model: str) -> None:
    """A --model that names a local path must be a model folder: say so before anything loads."""
    if not is_local_path(model):
        return
    path = Path(model).expanduser()
    if not path.exists():
        raise ImaxError(f"--model {model}: no such folder; pass a local model folder (with config.json) "
                        "or a Hub id like ORG/NAME")
    if not (path / "config.json").is_file():
        raise ImaxError(f"--model {model}: not a model folder (no config.json in it)")


@contextlib.contextmanager
def _loading(model: str):
    """transformers reports a model it cannot fetch (offline, unknown id, gated) as OSError: one clear line."""
    try:
        yield
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImaxError(f"--model {model}: cannot load it ({first}); a Hub id must be downloaded first "
                        "(`hf download ORG/NAME`) when this machine is offline") from None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def collect_records(tracker) -> list[dict]:
    """(id, task, subtask, answer, target, template_sha, prediction) of every scored item, from lighteval's details."""
    from imax_hub.lighteval_tasks import answer_text, record_of

    records = []
    for details in tracker.details_logger.details.values():
        for d in details:
            records.append(record_of(d.doc, answer_text(d.model_response)))
    return sorted(records, key=lambda r: r["id"])


def run_eval(opts: EvalOptions) -> dict:
    """Evaluate; return the imax summary (also written; see the module docstring)."""
    from lighteval.logging.evaluation_tracker import EvaluationTracker
    from lighteval.pipeline import ParallelismManager, Pipeline, PipelineParameters

    from imax_hub.backends import BASELINES
    from imax_hub.lighteval_tasks import resolve_dataset, task_names, tasks_table
    from imax_hub.metrics import score
    from imax_hub.metrics.runs import to_results

    names = task_names()
    tasks = opts.tasks or names
    unknown = [t for t in tasks if t not in names]
    if unknown:
        raise ImaxError(f"unknown task(s) {', '.join(unknown)}; the tasks are {', '.join(names)}")
    dataset = resolve_dataset(opts.dataset)
    opts.dataset = dataset
    fingerprint = check_dataset(dataset, opts.config, tasks)
    model = make_model(opts)
    fmt, message = answer_format_for(opts.answer_format, model=model, model_id=opts.model,
                                     processor_args=opts.processor_args)
    if message:
        print(message, file=sys.stderr)
    # lighteval takes the task table as a module; this one is bound to the dataset and answer format chosen here
    table = types.ModuleType("imax_hub_bound_tasks")
    table.TASKS_TABLE = tasks_table(dataset, revision=opts.dataset_revision, answer_format=fmt)

    out = Path(opts.output_dir)
    tracker = EvaluationTracker(output_dir=str(out), save_details=opts.save_details, push_to_hub=False)
    params = PipelineParameters(launcher_type=ParallelismManager.CUSTOM, custom_tasks_directory=table,
                                max_samples=opts.max_samples)
    pipeline = Pipeline(tasks=",".join(f"{t}|0" for t in tasks), pipeline_parameters=params,
                        evaluation_tracker=tracker, model=model)
    pipeline.evaluate()
    state = getattr(model, "state", None)
    if state is not None and not state.is_main_process:
        return {}
    pipeline.save_and_push_results()
    lighteval_results = pipeline.get_results()["results"]

    records = collect_records(tracker)
    from imax_hub.adapters import adapter_fingerprint, run_name

    display = run_name(opts.model, opts.adapter)
    name = safe_name(display)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"predictions_{name}.jsonl",
                  "".join(json.dumps({"id": r["id"], "prediction": r["prediction"]}) + "\n" for r in records))
    scores = score(records, {r["id"]: r["prediction"] for r in records}, answer_format=fmt)
    command = None
    if fingerprint is not None:
        command = build_manifest.public_command(build_manifest.read_manifest(Path(dataset)))
    summary = to_results(scores, name=display, dataset_fingerprint=fingerprint, build_command=command,
                         dataset_config=opts.config)
    summary.update({
        "model": {"id": opts.model, "revision": model_revision(model),
                  "backend": "baseline" if opts.model in BASELINES else opts.backend,
                  "adapter": {"name": Path(opts.adapter).resolve().name, "sha256": adapter_fingerprint(opts.adapter)}
                  if opts.adapter else None},
        "dataset": {"id": dataset if fingerprint is None else Path(dataset).name, "config": opts.config,
                    "revision": opts.dataset_revision, "fingerprint": fingerprint},
        "template_shas": sorted({r["template_sha"] for r in records}),
        "max_samples": opts.max_samples,
        "harness": {"name": "lighteval", "version": _version("lighteval"),
                    "tasks": {t: {k: v for k, v in lighteval_results.get(f"{t}:0", {}).items()} for t in tasks}},
    })
    write_atomic(out / f"imax_{name}.json", json.dumps(summary, indent=1) + "\n")
    summary["_paths"] = {"summary": str(out / f"imax_{name}.json"), "predictions": str(out / f"predictions_{name}.jsonl")}
    return summary


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
