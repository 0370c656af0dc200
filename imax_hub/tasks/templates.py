"""The seven task templates (``imax_hub/templates/<task>.jinja``): loading, hashing and rendering.

Each template file is one task's whole format: ``version``, ``n_variants`` paraphrases of the prompt
(macro ``prompt(variant, t)``) and the answer format (macro ``answer(t)``), where ``t`` is the entry's
inputs and structured target. A row records ``template_id`` (``task/v<version>/<variant>``) and the
sha256 of the file, so any rendered text can be traced to the exact template bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True)
class TaskTemplate:
    """One task's compiled template."""

    task: str
    version: str
    n_variants: int
    sha256: str
    module: object

    def template_id(self, variant: int) -> str:
        return f"{self.task}/v{self.version}/{variant}"

    def prompt(self, variant: int, context: dict) -> str:
        return str(self.module.prompt(variant, context)).strip()

    def answer(self, context: dict) -> str:
        return str(self.module.answer(context)).strip()


def _environment(folder: Path) -> jinja2.Environment:
    # StrictUndefined: a template naming a field the entry lacks must fail, not render an empty string.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=False,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)


@lru_cache(maxsize=None)
def load_template(task: str, folder: Path = TEMPLATE_DIR) -> TaskTemplate:
    """The template of ``task`` from ``folder`` (the package's own templates by default)."""
    path = folder / f"{task}.jinja"
    try:
        source = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no template for task {task!r}: {path} is missing") from None
    module = _environment(folder).get_template(path.name).module
    for name in ("version", "n_variants", "prompt", "answer"):
        if not hasattr(module, name):
            raise ValueError(f"{path}: template must define {name!r}")
    return TaskTemplate(task=task, version=str(module.version), n_variants=int(module.n_variants),
                        sha256=hashlib.sha256(source).hexdigest(), module=module)


def pick_variant(row_id: str, n_variants: int, seed: int) -> int:
    """Deterministic paraphrase choice for a row: stable across runs, machines and Python versions."""
    if n_variants <= 1:
        return 0
    digest = hashlib.blake2b(f"{seed}\0{row_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % n_variants
