"""vlmcal_utils.data as a package: its public names, and that it imports only lower layers."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import vlmcal_utils.data as data

PACKAGE_DIR = Path(data.__file__).parent
UPPER_LAYERS = ("models", "zeroshot", "features", "plots", "results", "baselines", "study", "tpt")


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported module, imported at module level?) for every import statement of a file."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, id(node) in top))
    return found


def test_every_public_name_resolves():
    assert len(data.__all__) == len(set(data.__all__))
    for name in data.__all__:
        assert getattr(data, name) is not None, name
    # the paths helpers live in vlmcal_utils.paths only
    assert not hasattr(data, "shared_path") and not hasattr(data, "shared_dir")


def test_no_upward_and_no_hidden_imports():
    """data imports only lower layers (checks, paths, storage, demo), and only at module level."""
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        for module, at_top in _imports(path):
            assert at_top, f"{path.name}: import of {module} inside a function"
            if module.startswith("vlmcal_utils."):
                layer = module.split(".")[1]
                assert layer not in UPPER_LAYERS, f"{path.name} imports the upper layer {module}"


def test_importing_data_loads_no_upper_layer_or_book_tooling():
    code = (
        "import sys, vlmcal_utils.data\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jupytext', 'papermill')"
        f" or (m.startswith('vlmcal_utils.') and m.split('.')[1] in {UPPER_LAYERS!r}))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
