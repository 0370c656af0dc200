"""pyproject lists the packages by hand (dataset_scripts/ ships as imax_hub.dataset_scripts): keep the list whole."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the list is the same on 3.10

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "imax_hub").rglob("__init__.py")}
    assert found | {"imax_hub.dataset_scripts", "imax_hub.model_cards"} == listed
    assert config["package-dir"] == {"imax_hub.dataset_scripts": "dataset_scripts", "imax_hub.model_cards": "model_cards"}
    assert (ROOT / "dataset_scripts" / "README.md.jinja").is_file() and (ROOT / "dataset_scripts" / "eval.yaml.jinja").is_file()
    assert (ROOT / "model_cards" / "__init__.py").is_file()
    for kind in ("imax", "dmax", "pseudo_imax"):
        assert (ROOT / "model_cards" / f"{kind}.md.jinja").is_file()
