"""``imax card``: a model card from an imax results file, rendered from the ``model_cards/`` templates.

Aggregate numbers only (values, bootstrap intervals, Δ against a named baseline run, signatures,
the build fingerprint); the front matter is huggingface_hub's ``ModelCardData`` with the legacy
``model-index`` results, so the Hub's metadata validation applies.
"""

from __future__ import annotations

import math
import shlex
from importlib import resources

from imax_hub import __version__
from imax_hub.build.folder import CITATION
from imax_hub.errors import ImaxError
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


def card_data(doc: dict, *, model_name: str, base_model: str | None, benchmark: str | None,
              model_index: bool = True, trained_on: str = "imax"):
    """``ModelCardData`` for the card's front matter (``model-index``: one result per metric)."""
    from huggingface_hub import EvalResult, ModelCardData

    results = None
    if model_index:
        revision = (doc.get("dataset") or {}).get("revision")
        results = [EvalResult(task_type=TASK_TYPE, dataset_type=benchmark or "imax", dataset_name="IMAX test split",
                              dataset_config=METRICS_BY_KEY[k].task, dataset_split="test", dataset_revision=revision,
                              metric_type=k, metric_name=METRICS_BY_KEY[k].label, metric_value=round(m["value"], 4),
                              metric_config=m["signature"])
                   for k, m in doc["metrics"].items()]
    return ModelCardData(model_name=model_name, base_model=base_model, datasets=[benchmark] if benchmark else None,
                         pipeline_tag=TASK_TYPE, library_name="transformers",
                         tags=["medical", "chest-x-ray", "mimic-cxr", "imax-hub", trained_on], eval_results=results)


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


def render_card(doc: dict, *, baseline: dict | None = None, trained_on: str = "imax", model_id: str | None = None,
                base_model: str | None = None, benchmark: str | None = None, model_index: bool = True,
                n_boot: int = 1000) -> str:
    """The card's Markdown (with YAML front matter) for results ``doc``, optionally against ``baseline``."""
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
    model_name = model_id or display_name(doc)
    data = card_data(doc, model_name=model_name, base_model=base_model, benchmark=benchmark, model_index=model_index,
                     trained_on=trained_on)
    build_options = _build_options(doc.get("build_command") or "")
    harness = doc.get("harness") or {}
    template, training_data_name = TRAINED_ON[trained_on]
    return _environment().get_template(template).render(
        front_matter=data.to_yaml() + "\n", model_name=model_name, base_model=base_model,
        training_data_name=training_data_name, fingerprint=doc.get("dataset_fingerprint") or "unknown",
        n_items=doc["n_items"], test_set_hash=doc["test_set_hash"], imax_hub_version=doc.get("imax_hub_version", __version__),
        harness=f"{harness['name']} {harness.get('version', '')}".strip() if harness.get("name") else None,
        n_boot=n_boot, rows=rows,
        baseline=None if base is None else {"name": display_name(baseline), "delta": run["delta"], "delta_ci95": run["delta_ci95"],
                                            "improved": run["improved"], "counted": run["metrics_counted"]},
        parse_failures=", ".join(f"{t} {n:,}" for t, n in sorted(doc.get("parse_failures", {}).items()) if n),
        build_options=(" " + build_options) if build_options else "", model_ref=model_id or model_name,
        backend=(doc.get("model") or {}).get("backend"), template_shas=doc.get("template_shas") or [],
        answer_format=doc.get("answer_format", "paper"),
        citation=CITATION,
    )
