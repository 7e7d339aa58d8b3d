"""Checks on the notebooks' own results (results/ci/<stem>/results.json) and on their structure.

The results files are written by the runner step of `make test` (SET=ci), which runs before this
file. Run alone, the results tests skip when a file is absent; with VLMCAL_REQUIRE_RESULTS=1 (as
`make test` sets) a missing file is a failure instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest
import yaml

from vlmcal_utils import reproduce
from vlmcal_utils.results import load_results

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.md"))


def ci_results(stem: str) -> dict:
    path = REPO_ROOT / "results" / "ci" / stem / "results.json"
    if not path.is_file():
        message = f"no {path.relative_to(REPO_ROOT)}: run `make test` (or the runner with --set ci) first"
        if os.environ.get("VLMCAL_REQUIRE_RESULTS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return load_results(path)


def _all_finite(value, where="results") -> list[str]:
    """Paths of every None/NaN/inf number inside a results dict (JSON turns NaN into null)."""
    bad = []
    if isinstance(value, dict):
        for k, v in value.items():
            bad += _all_finite(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            bad += _all_finite(v, f"{where}[{i}]")
    elif value is None or (isinstance(value, float) and not math.isfinite(value)):
        bad.append(where)
    return bad


# ---------------------------------------------------------------- structure (no results needed)
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_structure(notebook):
    """Label, Colab cell from the _config.yml repository, parameters incl. seed and results_dir."""
    nb = reproduce.read_notebook(notebook)
    text = notebook.read_text()
    assert re.search(r"^\([\w-]+\)=\s*$", text, re.M), f"{notebook.name}: no (label)= target"
    repo_url = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())["repository"]["url"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    colab = code[0]
    assert "skip-execution" in colab.metadata.get("tags", []), "the first code cell must be the Colab cell"
    assert 'if "google.colab" in sys.modules' in colab.source
    assert f"git+{repo_url}" in colab.source, f"Colab cell must install from {repo_url} (_config.yml)"
    params = reproduce.notebook_parameters(nb)
    assert {"seed", "results_dir"} <= set(params)
    assert params["results_dir"] == f"results/default/{notebook.stem}"
    assert "save_results(" in code[-1].source, "the last code cell must write results.json"


# ---------------------------------------------------------------- chapter 1
def test_01_calibration_basics_results():
    saved = ci_results("01_calibration_basics")
    r = saved["results"]
    keys = {
        "source", "is_real", "model", "n_test", "n_bins", "temperature",
        "accuracy_before", "accuracy_after", "ece_before", "ece_after", "ece_before_ci",
        "ece_after_ci", "mce_before", "mce_after", "nll_before", "nll_after",
        "brier_before", "brier_after", "toy_mean_confidence", "toy_accuracy",
    }
    assert keys <= set(r), f"missing keys {sorted(keys - set(r))}"
    assert _all_finite(r) == []
    # the seminar's five-cat example
    assert r["toy_accuracy"] == pytest.approx(0.8)
    assert r["toy_mean_confidence"]["model 1"] == pytest.approx(0.788)
    assert r["toy_mean_confidence"]["model 2"] == pytest.approx(0.968)
    # temperature scaling: same decisions, better calibration and NLL
    assert r["accuracy_after"] == r["accuracy_before"]
    assert r["ece_after"] < r["ece_before"]
    assert r["nll_after"] < r["nll_before"]
    lo, hi = r["ece_before_ci"]
    assert lo <= r["ece_before"] <= hi
    assert r["n_bins"] == 15
    if r["source"] == "markus93_densenet40_cifar10.npz":
        # measured on the published DenseNet-40 logits (test split, 10 000 images, 15 bins):
        # accuracy 0.9242, ECE 0.0550 -> 0.0095 with T = 2.883 (matches $VLMCAL_SHARED/README.md)
        assert r["n_test"] == 10000
        assert r["accuracy_before"] == pytest.approx(0.9242, abs=1e-4)
        assert r["ece_before"] == pytest.approx(0.0550, abs=0.001)
        assert r["ece_after"] == pytest.approx(0.0095, abs=0.001)
        assert r["temperature"] == pytest.approx(2.88, abs=0.02)
        assert r["is_real"] is True
    else:
        # synthetic fallback: logits are 2.5 x calibrated ones, so TS must find T near 2.5
        assert r["source"] == "synthetic" and r["is_real"] is False
        assert r["temperature"] == pytest.approx(2.5, abs=0.25)
