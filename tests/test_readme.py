"""README.md's architecture tree and layering rule stay true to the package and its import contract."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PACKAGE = REPO / "vlmcal_utils"


def _tree() -> str:
    start = README.index("vlmcal_utils/                the library")
    return README[start:README.index("vlmcal_book/", start)]


def test_every_module_and_subpackage_is_in_the_architecture_tree():
    tree = _tree()
    names = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    names += [f"{p.name}/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    for sub in ("study", "tpt", "data", "sweep"):
        names += [p.name for p in (PACKAGE / sub).glob("*.py") if not p.name.startswith("__")]
    missing = sorted(n for n in names if not re.search(rf"(?<![\w/]){re.escape(n)}", tree))
    assert not missing, f"README.md's architecture tree does not list {missing}"


def test_the_layering_rule_names_the_contracts_layers_in_order():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    layers = next(c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers")["layers"]
    rule = README[README.index("**Layering rule.**"):README.index("`vlmcal_utils` never imports")]
    written = [" | ".join(part.split(" | ")) for part in re.findall(r"`([^`]+)`", rule)]
    assert written == layers, "README.md's layering rule differs from [tool.importlinter] in pyproject.toml"
