"""The package as a pip user gets it: a wheel built from the repository, installed non-editable.

The Colab twin of a chapter runs under papermill in a bare folder (no clone around it) against that
installed wheel, on the notebook's defaults (the demo world): what a Colab reader's runtime does
after the install cell, minus the download. The wheel is installed with ``pip install --no-deps
--target`` into a temporary folder put first on the kernel's ``PYTHONPATH`` (the dependencies come
from the running environment; a fresh venv would download torch).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: what a wheel is built from: the project file, the files it names, the package
BUILD_INPUTS = ("pyproject.toml", "README.md", "PYPI.md", "vlmcal_utils")
#: the twin that runs: chapter 2 (the demo CLIP model, its weights read from the installed package data)
TWIN = "02_zero_shot_clip.ipynb"


@pytest.fixture(scope="module")
def installed_wheel(repo_root, tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, the folder it is installed into); built from a copy so the clone gets no build/."""
    src, out, site = (tmp_path_factory.mktemp(n) for n in ("src", "dist", "site"))
    for name in BUILD_INPUTS:
        path = repo_root / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            shutil.copy(path, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    subprocess.run(pip + ["wheel", "-q", "--no-deps", "--no-build-isolation", str(src), "-w", str(out)],
                   check=True, timeout=600)
    (wheel,) = out.glob("vlmcal_utils-*.whl")
    subprocess.run(pip + ["install", "-q", "--no-deps", "--target", str(site), str(wheel)], check=True, timeout=600)
    return wheel, site


@pytest.mark.slow
def test_wheel_is_typed_and_describes_itself_to_pip_users(installed_wheel):
    wheel, site = installed_wheel
    names = zipfile.ZipFile(wheel).namelist()
    assert "vlmcal_utils/py.typed" in names  # PEP 561: type checkers read the annotations
    assert (site / "vlmcal_utils" / "py.typed").is_file()
    assert any(n.startswith("vlmcal_utils/demo/weights/") and n.endswith(".safetensors") for n in names)
    # Tu et al.'s Figure 1 as data: a pip user without the shared folder has the points too
    for name in ("points.csv", "openclip_matches.csv", "README.md"):
        assert f"vlmcal_utils/papers/data/tu2024_figure1/{name}" in names
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
    description = metadata.split("\n\n", 1)[1]
    assert "pip install" in description and "make " not in description  # nothing a pip user cannot run


def test_long_description_is_the_pip_facing_page(repo_root):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert project["readme"] == "PYPI.md" and (repo_root / "PYPI.md").is_file()


@pytest.mark.slow
def test_colab_twin_runs_from_a_bare_folder_on_the_installed_wheel(repo_root, installed_wheel, tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="the [book] extra (papermill, nbformat) is not installed")
    _, site = installed_wheel
    nb = nbformat.read(repo_root / "notebooks" / TWIN, as_version=4)
    # a last cell that says which vlmcal_utils the kernel imported
    nb.cells.append(nbformat.v4.new_code_cell("import vlmcal_utils\nprint('IMPORTED', vlmcal_utils.__file__)"))
    nbformat.write(nb, tmp_path / TWIN)
    env = {**os.environ, "PYTHONPATH": str(site)}  # not the clone: only the installed wheel
    proc = subprocess.run([sys.executable, "-m", "papermill", TWIN, "out.ipynb", "-k", "python3",
                           "--log-level", "WARNING", "--no-progress-bar"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ran = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in ran.cells[-1].outputs)
    assert f"IMPORTED {site / 'vlmcal_utils' / '__init__.py'}" in printed
    assert not (tmp_path / "vlmcal_utils").exists() and not (tmp_path / "notebooks").exists()


def test_long_description_installs_the_current_release(repo_root):
    import vlmcal_utils

    assert f"@v{vlmcal_utils.__version__}\"" in (repo_root / "PYPI.md").read_text()


@pytest.mark.slow
def test_mypy_reads_the_installed_wheels_annotations(installed_wheel, tmp_path):
    """PEP 561: mypy, run in a bare folder on the installed wheel, types calls from the package's annotations.

    Without ``py.typed`` mypy says the package is "missing library stubs or py.typed marker" and types
    every name of it as ``Any``, so the wrong assignment below would pass unnoticed.
    """
    pytest.importorskip("mypy", reason="mypy is in the [dev] extra")
    _, site = installed_wheel
    (tmp_path / "use.py").write_text("from vlmcal_utils.metrics import ece\n\nreveal_type(ece)\n"
                                     "label: str = ece([[0.9, 0.1]], [0])\n")
    # only the package's own annotations are under test: its dependencies are not analysed
    (tmp_path / "mypy.ini").write_text("[mypy]\nfollow_imports = silent\n\n"
                                       "[mypy-numpy.*,pandas.*,scipy.*,torch.*,matplotlib.*]\nfollow_imports = skip\n")
    proc = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", "use.py"], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert "py.typed marker" not in out, out
    assert re.search(r'Revealed type is "def \(probs: .*\) -> (builtins\.)?float"', out), out
    assert 'Incompatible types in assignment (expression has type "float", variable has type "str")' in out, out
