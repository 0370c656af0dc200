"""Writing the output folder as a Hub dataset repo: Parquet shards, README card with YAML configs, eval.yaml.

The layout and everything that reads the folder back are in :mod:`imax_hub.build.manifest`.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from imax_hub.build.manifest import config_layout, public_command
from imax_hub.build.rows import ROW_SCHEMA
from imax_hub.errors import ImaxError
from imax_hub.files import sha256_file
from imax_hub.tasks import registry

# Our harness id for the Hub's eval.yaml; it must be registered with the Hub (huggingface.js
# EVALUATION_FRAMEWORKS) before a leaderboard appears, so it is a build option.
DEFAULT_EVALUATION_FRAMEWORK = "imax-hub"
MAX_SHARD_BYTES = 500 * 2**20  # datasets' push_to_hub default
PRETTY_NAME = "IMAX and DMAX (local rebuild)"
LICENSE_LINK = "https://physionet.org/content/mimic-cxr-jpg/view-license/2.1.0/"
CITATION = """@article{zhu2025imax,
  title   = {Enhancing Multi-task Learning Capability of Medical Generalist Foundation Model via Image-centric Multi-annotation Data},
  author  = {Xun Zhu and Fanbin Mo and Zheng Zhang and Jiaxi Wang and Yiming Shi and Ming Wu and Chuang Zhang and Miao Li and Ji Wu},
  journal = {arXiv preprint arXiv:2504.09967},
  year    = {2025}
}"""


# The access form of a gated Hub copy: the Hub cannot check PhysioNet credentials, so requests are approved
# by hand (gated="manual") against these answers.
GATING = {
    "extra_gated_heading": "Credentialed PhysioNet data",
    "extra_gated_prompt": ("This dataset is derived from credentialed PhysioNet projects (MIMIC-CXR-JPG, MIMIC-CXR, "
                           "MIMIC-CXR-PE-Severity, CXR-LT 2024, MIMIC-Ext-MIMIC-CXR-VQA). Request access only if you "
                           "are a credentialed PhysioNet user who has signed their data use agreements; the maintainers "
                           "check your PhysioNet username before approving."),
    "extra_gated_fields": {
        "PhysioNet username": "text",
        "Affiliation": "text",
        "I am a credentialed PhysioNet user and have completed the required CITI training": "checkbox",
        "I have signed the data use agreements of MIMIC-CXR-JPG, MIMIC-CXR, MIMIC-CXR-PE-Severity, CXR-LT 2024 "
        "and MIMIC-Ext-MIMIC-CXR-VQA": "checkbox",
        "I will not share this data, or anything derived from it that contains patient information, with anyone "
        "who has not signed those agreements": "checkbox",
    },
    "extra_gated_button_content": "Request access (credentialed PhysioNet users only)",
}


def features(decode_image: bool = True, image: bool = True, pseudo: bool = False):
    """The ``datasets`` features of a row: ``image`` is an Image feature, or with ``decode_image=False`` its
    plain ``{bytes, path}`` struct (the ``eval-*`` configs: a harness that builds every prompt up front
    must not decode every X-ray into memory; the model opens images batch by batch); ``image=False``:
    no image column (the annotations-only Hub copy); ``pseudo=True``: the pseudo-IMAX rows' extra columns
    (origin, pseudo_model, pseudo_revision)."""
    import datasets

    feats = datasets.Features.from_arrow_schema(ROW_SCHEMA)
    if pseudo:
        for name in ("origin", "pseudo_model", "pseudo_revision"):
            feats[name] = datasets.Value("string")
    if not image:
        del feats["image"]
    elif decode_image:
        feats["image"] = datasets.Image()
    return feats


def write_split(table: pa.Table, folder: Path, data_dir: str, split: str, embedded: bool,
                pseudo: bool = False) -> list[dict]:
    """Write one split as ``data/<data_dir>/<split>-NNNNN-of-NNNNN.parquet``; return the shard records."""
    if table.num_rows == 0:
        return []
    counts = pc.value_counts(table.column("id"))
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    if len(repeated):
        # every reader dedups its source, so this is a bug in the build, never a user's input: refuse to write
        raise ImaxError(f"internal error: row id {repeated[0]['values']} occurs {repeated[0]['counts']} times in "
                        f"{data_dir}/{split}; nothing was written. Please report this.")
    info = {"info": {"features": features(pseudo=pseudo).to_dict()}}
    schema = table.schema.with_metadata({"huggingface": json.dumps(info)})
    table = table.replace_schema_metadata(schema.metadata)
    n_shards = max(1, math.ceil(table.nbytes / MAX_SHARD_BYTES))
    per_shard = math.ceil(table.num_rows / n_shards)
    records = []
    (folder / "data" / data_dir).mkdir(parents=True, exist_ok=True)
    for i in range(n_shards):
        part = table.slice(i * per_shard, per_shard)
        rel = f"data/{data_dir}/{split}-{i:05d}-of-{n_shards:05d}.parquet"
        # small row groups for embedded images keep random access and the Hub viewer responsive
        pq.write_table(part, folder / rel, compression="zstd", row_group_size=100 if embedded else 10_000)
        records.append({"path": rel, "config_dir": data_dir, "split": split, "rows": part.num_rows,
                        "arrow_bytes": part.nbytes, "bytes": (folder / rel).stat().st_size,
                        "sha256": sha256_file(folder / rel)})
    return records


def card_yaml(configs: list[dict], fingerprint: str, image: bool = True) -> str:
    """YAML front matter: licence, gating, configs and dataset_info with real sizes (``image=False``: the
    annotations-only copy, whose rows have no image column)."""
    import datasets
    import yaml

    infos = []
    for c in configs:
        info = datasets.DatasetInfo(
            features=features(c.get("decode_image", True), image=image, pseudo=c.get("pseudo", False)),
            # the fingerprint in the info makes a rebuilt folder a different dataset to the datasets cache
            description=f"imax-hub build {fingerprint}",
            splits=datasets.SplitDict({s: datasets.SplitInfo(name=s, num_bytes=v["arrow_bytes"], num_examples=v["rows"])
                                       for s, v in c["splits"].items()}),
            dataset_size=sum(v["arrow_bytes"] for v in c["splits"].values()),
        )
        d = {"config_name": c["name"], **info._to_yaml_dict(), "description": info.description}
        infos.append(d)
    total = max((sum(v["rows"] for v in c["splits"].values()) for c in configs), default=0)
    size = ("n<1K" if total < 1_000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000
            else "100K<n<1M" if total < 1_000_000 else "1M<n<10M")
    front = {
        "pretty_name": PRETTY_NAME,
        "license": "other",
        "license_name": "physionet-credentialed-health-data-1.5.0",
        "license_link": LICENSE_LINK,
        "task_categories": ["image-text-to-text", "visual-question-answering"],
        "language": ["en"],
        "tags": ["medical", "chest-xray", "mimic-cxr", "multi-task", "imax"],
        "size_categories": [size],
        **GATING,
        "configs": [
            {"config_name": c["name"], **({"default": True} if c["default"] else {}),
             "data_files": [{"split": s, "path": v["paths"]} for s, v in c["splits"].items()]}
            for c in configs
        ],
        "dataset_info": infos,
    }
    return yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=10_000)


def dataset_template(name: str):
    import jinja2

    text = resources.files("imax_hub.dataset_scripts").joinpath(name).read_text()
    return jinja2.Environment(autoescape=False, undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True).from_string(text)


def write_card(folder: Path, manifest: dict, stats: dict) -> None:
    """README.md (card) and eval.yaml, from the manifest and the stats alone (``relocate`` re-renders them)."""
    from imax_hub.build.stats import markdown_table

    configs = config_layout(manifest["shards"])
    config_rows = [{"name": c["name"], "what": c["what"], "default": c["default"],
                    "splits": ", ".join(f"{s}: {v['rows']:,}" for s, v in c["splits"].items())} for c in configs]
    text = dataset_template("README.md.jinja").render(
        yaml=card_yaml(configs, manifest["fingerprint"]), pretty_name=PRETTY_NAME, built=manifest["configs_built"],
        version=manifest["imax_hub_version"], fingerprint=manifest["fingerprint"],
        command=public_command(manifest),
        folder_name=folder.name if not folder.name.startswith(".") else manifest["out_name"],
        config_rows=config_rows, stats_table=markdown_table(stats),
        example_task=next((c["name"] for c in configs if c["name"] in registry.names()), registry.names()[0]),
        skipped=sorted(manifest["skipped"].items()), missing_tasks=manifest["tasks_missing"], citation=CITATION,
        pseudo=manifest.get("pseudo_imax"),
    )
    (folder / "README.md").write_text(text)
    framework = manifest["options"].get("evaluation_framework", DEFAULT_EVALUATION_FRAMEWORK)
    (folder / "eval.yaml").write_text(eval_yaml(configs, framework))


def eval_yaml(configs: list[dict], framework: str) -> str:
    """The Hub's ``eval.yaml``: one leaderboard task per metric (task id = metric key) whose task has a test split.

    The Hub spec has no metric-direction field, so the description says which tasks are lower-is-better.
    """
    with_test = {c["name"] for c in configs if "test" in c["splits"]}
    tasks = [{"id": m.key, "label": m.label, "config": t.name, "higher_is_better": m.higher_is_better}
             for t in registry.tasks() if t.name in with_test for m in t.metrics]
    lower = [t["id"] for t in tasks if not t["higher_is_better"]]
    description = (
        "The 16 test metrics of the IMAX paper (Table 2), one leaderboard task per metric, each x100 on the shared "
        "IMAX/DMAX test split of its task config, computed by imax-hub (metric signatures in each result's notes). "
        + (f"Lower is better for {', '.join(lower)} (errors); higher is better for every other task."
           if lower else "Higher is better for every task."))
    return dataset_template("eval.yaml.jinja").render(pretty_name=PRETTY_NAME, description=description,
                                               framework=framework, tasks=tasks)
