"""``imax card``: a model card from an imax results file, rendered from the ``model_cards/`` templates.

Aggregate numbers only (values, bootstrap intervals, Δ against a named baseline run, signatures,
the build fingerprint); the front matter is huggingface_hub's ``ModelCardData`` with the legacy
``model-index`` results, so the Hub's metadata validation applies.
"""

from __future__ import annotations

import math
import shlex
from importlib import resources
from pathlib import Path

from imax_hub import __version__
from imax_hub.adapters import run_name
from imax_hub.backends import BASELINES
from imax_hub.build.folder import CITATION
from imax_hub.errors import ImaxError
from imax_hub.files import is_local_path, safe_name
from imax_hub.metrics import METRICS_BY_KEY
from imax_hub.metrics.runs import check_comparable, compare, display_name

TRAINED_ON = {"imax": ("imax.md.jinja", "IMAX"), "dmax": ("dmax.md.jinja", "DMAX"),
              "pseudo-imax": ("pseudo_imax.md.jinja", "pseudo-IMAX")}
TASK_TYPE = "image-text-to-text"


def _environment():
    import jinja2

    folder = resources.files("imax_hub.model_cards")
    return jinja2.Environment(loader=jinja2.FunctionLoader(lambda name: folder.joinpath(name).read_text()),
                              autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def is_baseline(doc: dict) -> bool:
    """A run of a baseline (oracle, prior): no weights, nothing trained."""
    return (doc.get("model") or {}).get("backend") == "baseline" or doc["name"] in BASELINES


def is_adapter(doc: dict) -> bool:
    """A run of a LoRA adapter on a base model (``imax eval --adapter``)."""
    return bool((doc.get("model") or {}).get("adapter"))


def config_of(doc: dict) -> str:
    """The build config a run scored (results files before ``dataset_config`` name it under ``dataset``)."""
    return doc.get("dataset_config") or (doc.get("dataset") or {}).get("config") or "imax"


def base_model_of(doc: dict, base_model: str | None) -> str | None:
    """The Hub id of the model this one was fine-tuned from: ``--base-model``, else the base an adapter run was
    scored on (when that is a Hub id; a local folder's path stays on this machine)."""
    if base_model:
        return base_model
    model = doc.get("model") or {}
    if model.get("adapter") and model.get("id") and not is_local_path(model["id"]):
        return model["id"]
    return None


def base_license(base_model: str | None) -> str | None:
    """The ``license`` of a base model's card: a local folder's README.md front matter, else the Hub's card when it
    can be fetched (offline or unknown: None, and the caller says so)."""
    if not base_model:
        return None
    from huggingface_hub import ModelCard

    try:
        local = Path(base_model).expanduser() / "README.md"
        card = ModelCard.load(local) if local.is_file() else ModelCard.load(base_model)
    except Exception:  # noqa: BLE001 - offline, gated, missing: the licence is then asked for with --license
        return None
    return getattr(card.data, "license", None)


def card_data(doc: dict, *, model_name: str, base_model: str | None, benchmark: str | None,
              model_index: bool = True, trained_on: str = "imax", license_id: str | None = None):
    """``ModelCardData`` for the card's front matter (``model-index``: one result per metric). An adapter's card
    is a peft card (``library_name: peft``, ``base_model``), as the Hub expects for LoRA weights (Hub docs, "Using
    PEFT at Hugging Face": https://huggingface.co/docs/hub/peft; peft's own ``save_pretrained`` card does the same)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = None
    if model_index:
        revision = (doc.get("dataset") or {}).get("revision")
        results = [EvalResult(task_type=TASK_TYPE, dataset_type=benchmark or "imax", dataset_name="IMAX test split",
                              dataset_config=METRICS_BY_KEY[k].task, dataset_split="test", dataset_revision=revision,
                              metric_type=k, metric_name=METRICS_BY_KEY[k].label, metric_value=round(m["value"], 4),
                              metric_config=m["signature"])
                   for k, m in doc["metrics"].items()]
    adapter = is_adapter(doc)
    tags = ["medical", "chest-x-ray", "mimic-cxr", "imax-hub"] + (["baseline"] if is_baseline(doc) else [trained_on])
    if adapter:
        tags.append("lora")
    return ModelCardData(model_name=model_name, base_model=base_model, datasets=[benchmark] if benchmark else None,
                         pipeline_tag=TASK_TYPE, library_name="peft" if adapter else "transformers", license=license_id,
                         tags=tags, eval_results=results)


def _finite(x: float) -> float:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        raise ImaxError("a metric value is missing (nan); the results file is incomplete")
    return x


def _build_options(command: str) -> str:
    """The options after ``--out NAME`` of a recorded build command (they decide the rows)."""
    tokens = shlex.split(command)
    if "--out" not in tokens:
        return ""
    return " ".join(shlex.quote(t) for t in tokens[tokens.index("--out") + 2:])


def _eval_line(doc: dict, model_ref: str) -> tuple[str, str]:
    """The ``imax eval`` command that reruns ``doc``'s model, and the results file it writes."""
    model = doc.get("model") or {}
    if is_baseline(doc):
        name, args = doc["name"], f"--model {doc['name']}"
    elif is_adapter(doc):
        base = display_name({"name": model.get("id") or "BASE_MODEL"})
        name, args = run_name(base, model_ref), f"--model {base} --adapter {model_ref}"
    else:
        name, args = model_ref, f"--model {model_ref}"
    backend = model.get("backend")
    if backend and backend not in ("transformers", "baseline"):
        args += f" --backend {backend}"
    if doc.get("answer_format", "paper") != "paper":
        args += f" --answer-format {doc['answer_format']}"
    if config_of(doc) != "imax":
        args += f" --config {config_of(doc)}"
    return f"imax eval {args} --dataset imax --output-dir results", f"results/imax_{safe_name(name)}.json"


def render_card(doc: dict, *, baseline: dict | None = None, trained_on: str = "imax", model_id: str | None = None,
                base_model: str | None = None, benchmark: str | None = None, model_index: bool = True,
                n_boot: int = 1000, license_id: str | None = None) -> tuple[str, list[str]]:
    """The card's Markdown (with YAML front matter) for results ``doc``, optionally against ``baseline``; and
    warnings for the user (a licence that could not be found)."""
    if trained_on not in TRAINED_ON:
        raise ImaxError(f"--trained-on must be one of {', '.join(TRAINED_ON)}, not {trained_on!r}")
    if not doc["metrics"]:
        raise ImaxError(f"{doc['name']!r} has no metric values")
    docs = [baseline, doc] if baseline is not None else [doc]
    if baseline is not None:
        check_comparable(docs, [baseline["name"], doc["name"]])
    result = compare(docs, n_boot=n_boot)
    run = result["runs"][-1]
    base = result["runs"][0] if baseline is not None else None
    rows = []
    for m in result["metrics"]:
        k = m["key"]
        row = {"key": k, "label": m["label"], "higher_is_better": m["higher_is_better"], "signature": m["signature"],
               "value": _finite(run["values"][k]), "ci": run["ci95"][k]}
        if base is not None:
            d = run["differences"][k]
            row.update({"baseline": base["values"][k], "diff": d["diff"], "diff_ci": d["ci95"], "gain": d["relative_gain"]})
        rows.append(row)
    warnings = []
    baseline_run = is_baseline(doc)
    model_name = model_id or display_name(doc)
    base_model = None if baseline_run else base_model_of(doc, base_model)
    if not baseline_run and license_id is None:
        license_id = base_license(base_model)
        if license_id is None:
            warnings.append("no licence in the card: pass --license (the base model's, or your own terms)"
                            + (f"; {base_model}'s card could not be read" if base_model else ""))
    data = card_data(doc, model_name=model_name, base_model=base_model, benchmark=benchmark, model_index=model_index,
                     trained_on=trained_on, license_id=license_id)
    build_options = _build_options(doc.get("build_command") or "")
    harness = doc.get("harness") or {}
    template, training_data_name = ("baseline.md.jinja", None) if baseline_run else TRAINED_ON[trained_on]
    eval_line, results_file = _eval_line(doc, model_id or model_name)
    baseline_eval = _eval_line(baseline, display_name(baseline)) if baseline is not None else None
    text = _environment().get_template(template).render(
        front_matter=data.to_yaml() + "\n", model_name=model_name, base_model=base_model,
        training_data_name=training_data_name, fingerprint=doc.get("dataset_fingerprint") or "unknown",
        n_items=doc["n_items"], test_set_hash=doc["test_set_hash"], imax_hub_version=doc.get("imax_hub_version", __version__),
        harness=f"{harness['name']} {harness.get('version', '')}".strip() if harness.get("name") else None,
        n_boot=n_boot, rows=rows,
        baseline=None if base is None else {"name": display_name(baseline), "delta": run["delta"], "delta_ci95": run["delta_ci95"],
                                            "improved": run["improved"], "counted": run["metrics_counted"]},
        parse_failures=", ".join(f"{t} {n:,}" for t, n in sorted(doc.get("parse_failures", {}).items()) if n),
        build_options=(" " + build_options) if build_options else "", eval_line=eval_line, results_file=results_file,
        baseline_eval=baseline_eval, template_shas=doc.get("template_shas") or [],
        answer_format=doc.get("answer_format", "paper"), adapter=is_adapter(doc),
        config=config_of(doc),
        baseline_name=doc["name"], citation=CITATION,
    )
    return text, warnings
