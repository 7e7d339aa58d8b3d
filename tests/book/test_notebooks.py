"""Checks on the notebooks' own results (results/book/<stem>/results.json) and on their structure.

The results files are written by the runner step of `make test`: every notebook once with the
book's parameters (SET=book: the run the built book shows, see vlmcal_book/stage.py), plus the
real-architecture plumbing runs (chapter 2 with SET=ci, chapters 3-4 with SET=ci-plumbing). Run
alone, the results tests skip when a file is absent; with VLMCAL_REQUIRE_RESULTS=1 (as `make test`
sets) a missing file is a failure instead, so CI cannot pass without running them.
The results are read by the keys of each chapter's schema (vlmcal_utils.results), which
load_results checks, never by the labels of the tables the chapters display.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
import yaml

from vlmcal_book import nbsync, reproduce
from vlmcal_utils.results import SCHEMAS, load_results
from vlmcal_utils.tpt import FAMILY_METHODS

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO_ROOT / "notebooks").glob("*.md"))


BOOK_SET = "book"


def ci_results(stem: str, set_name: str = BOOK_SET) -> dict:
    path = REPO_ROOT / "results" / set_name / stem / "results.json"
    if not path.is_file():
        message = f"no {path.relative_to(REPO_ROOT)}: run `make test` (or the runner with --set {set_name}) first"
        if os.environ.get("VLMCAL_REQUIRE_RESULTS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return load_results(path)


def _has_real_data() -> bool:
    """The real-data folder is there: every chapter's default run must then show real numbers."""
    folder = os.environ.get("VLMCAL_SHARED")
    return bool(folder) and (Path(folder) / "data" / "logits").is_dir()


def read_jsonl(path: Path) -> list[dict]:
    assert path.is_file(), f"{path.relative_to(REPO_ROOT)} is missing"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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
    assert {"skip-execution", "remove-cell"} <= set(colab.metadata.get("tags", [])), \
        "the first code cell must be the Colab cell (not run by the book, not shown on its pages)"
    assert 'if "google.colab" in sys.modules' in colab.source
    assert colab.source == nbsync.install_cell_source(repo_url), \
        f"the Colab cell must be generated from {repo_url} (_config.yml): run `make sync`"
    params = reproduce.notebook_parameters(nb)
    assert {"seed", "results_dir"} <= set(params)
    assert params["results_dir"] == f"results/default/{notebook.stem}"
    assert "save_results(" in code[-1].source, "the last code cell must write results.json"
    builder = f"chapter{int(notebook.stem[:2])}_results("
    assert builder in code[-1].source, f"the last code cell must build the results with {builder}...)"
    assert notebook.stem in SCHEMAS, f"no results schema for {notebook.stem} in vlmcal_utils.results"


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
    if _has_real_data():
        assert r["source"] == "markus93_densenet40_cifar10.npz", "with VLMCAL_SHARED set chapter 1 shows real logits"
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


# ---------------------------------------------------------------- chapter 2
@pytest.mark.parametrize("set_name", [BOOK_SET, "ci"])
def test_02_zero_shot_clip_results(set_name):
    saved = ci_results("02_zero_shot_clip", set_name)
    r = saved["results"]
    assert _all_finite(r) == []
    for key in ("single_template", "ensemble_80"):
        block = r[key]
        assert 0.0 <= block["accuracy"] <= 1.0 and 0.0 <= block["ece"] <= 1.0
        lo, hi = block["ece_ci"]
        assert lo <= block["ece"] <= hi
    # the model's own learned scale, never a fixed 100
    assert r["logit_scale"] > 0 and r["logit_scale"] != 100
    if set_name == "ci":
        assert saved["params"].get("pretrained") == "random", "params/ci.yaml: the real-architecture plumbing run"
    if saved["params"].get("pretrained") == "random":
        # ci: plumbing only, on at most 128 shared CIFAR-10 images
        assert r["is_random_weights"] is True and r["is_demo"] is False
        assert r["n_images"] <= 128 and r["n_classes"] == 10
    published = r.get("published_clip_cifar10")
    if _has_real_data():
        assert published, "with VLMCAL_SHARED set the default run must show the published CLIP logits"
    if published:
        # real CLIP ViT-B/32 logits: underconfident at scale 100 (T < 1), ECE 6.7 % on test[5000:]
        assert published["temperature"] == pytest.approx(0.685, abs=0.01)
        assert published["ece_test_at_100"] == pytest.approx(0.067, abs=0.002)
        assert published["ece_test_at_best"] < published["ece_test_at_100"]


# ---------------------------------------------------------------- chapter 3
def _check_study_grids(folder: Path) -> list[dict]:
    """Every results-table row of a chapter 3 run: columns, finite numbers, what TS guarantees."""
    from vlmcal_utils.study import RESULT_COLUMNS

    grids = sorted(folder.glob("grid_*.jsonl"))
    assert grids, "no grid_*.jsonl results tables"
    all_rows = []
    for grid in grids:
        rows = read_jsonl(grid)
        assert rows, f"{grid.name} is empty"
        for row in rows:
            missing = set(RESULT_COLUMNS) - set(row)
            assert not missing, f"{grid.name}: row without columns {sorted(missing)}"
            for column in ("acc", "ece", "nll", "T", "conf"):
                assert row[column] is not None and math.isfinite(row[column]), f"{grid.name}: {column} {row}"
            # TS minimises the NLL of the calibration draw it was fitted on
            assert row["nll_cal_after"] <= row["nll_cal_before"] + 1e-9, row
        # TS never changes a decision: same accuracy before and after on every split
        by_key: dict = {}
        for row in rows:
            if row["cell"] == "all":
                by_key.setdefault((row["model"], row["dataset"], row["split"], row["seed"]), {})[row["method"]] = row
        assert by_key, f"{grid.name}: no full-calibration ('all') cells"
        for key, methods in by_key.items():
            assert set(methods) == {"none", "ts"}, key
            assert methods["ts"]["acc"] == pytest.approx(methods["none"]["acc"], abs=1e-12), key
        all_rows += rows
    return all_rows


def test_03_empirical_study_results():
    saved = ci_results("03_empirical_study")
    r = saved["results"]
    assert r["claims"], "the closing claims table is empty"
    assert all(row["verdict"] and row["measured_on"] for row in r["claims"])
    _check_study_grids(REPO_ROOT / "results" / BOOK_SET / "03_empirical_study")
    published = r.get("published") or {}
    if _has_real_data():
        # the book's default run shows the real study (it used to skip it: logits_dir=None)
        assert published.get("vlm_ece_before"), "with VLMCAL_SHARED set the default run must study the published logits"
    if published.get("vlm_ece_before"):
        # real CLIP ViT-B/32 CIFAR-10 logits, test[5000:], 15 bins (measured: 6.70 % -> 1.14 %)
        assert published["vlm_ece_before"]["CLIP ViT-B/32"] == pytest.approx(0.0670, abs=0.001)
        assert published["vlm_ece_after"]["CLIP ViT-B/32"] == pytest.approx(0.0114, abs=0.001)


def test_03_empirical_study_real_architecture_plumbing():
    saved = ci_results("03_empirical_study", "ci-plumbing")
    rows = _check_study_grids(REPO_ROOT / "results" / "ci-plumbing" / "03_empirical_study")
    assert saved["params"]["models"] == [["ViT-B-32", "random"]]
    # a random-weight VLM on shared CIFAR-10 and a random-weight timm baseline on shared ImageNet
    # photos, every row labelled as plumbing, at most 128 images per split
    assert {r["family"] for r in rows} == {"vlm", "baseline"}
    assert {r["dataset"] for r in rows if r["family"] == "baseline"} == {"imagenet-shared"}
    assert all("plumbing only" in r["source"] and r["n"] <= 128 for r in rows)


# ---------------------------------------------------------------- chapter 4
def _check_ctpt(saved: dict, folder: Path) -> dict:
    r = saved["results"]
    assert _all_finite(r["table"]) == []
    by = {(row["dataset"], row["init"], row["method"]): row for row in r["table"]}
    assert {d for d, _, _ in by} == set(saved["params"]["datasets"])
    assert {i for _, i, _ in by} == set(saved["params"]["inits"])
    n = saved["params"]["n_samples"]
    for d, i in {(d, i) for d, i, _ in by}:
        methods = {m for dd, ii, m in by if (dd, ii) == (d, i)}
        assert {"zeroshot", "tpt", "ctpt", "ts_official", "ts_fitted"} <= methods
        for fixed_or_fitted in ("ts_official", "ts_fitted"):
            # temperature scaling after TPT keeps TPT's decisions
            assert by[d, i, fixed_or_fitted]["acc"] == pytest.approx(by[d, i, "tpt"]["acc"])
        for row in (by[d, i, m] for m in methods):
            assert 0 <= row["acc"] <= 100 and 0 <= row["ece15"] <= 100 and 0 <= row["ece20"] <= 100
    runs = sorted((folder / "runs").glob("*__test__*.jsonl"))
    assert runs, "no per-sample run files"
    for run in runs:
        indices = [row["index"] for row in read_jsonl(run)]
        # every test image once: nothing lost, nothing counted twice
        assert len(indices) == len(set(indices)) == n, run.name
    return by


def test_04_ctpt_demo_results():
    saved = ci_results("04_ctpt")
    by = _check_ctpt(saved, REPO_ROOT / "results" / BOOK_SET / "04_ctpt")
    assert saved["results"]["demo"] is True
    for d, i in {(d, i) for d, i, _ in by}:
        # C-TPT maximises text-feature dispersion on top of TPT's entropy
        assert by[d, i, "ctpt"]["atfd"] > by[d, i, "tpt"]["atfd"], (d, i)


def test_04_ctpt_real_architecture_plumbing():
    saved = ci_results("04_ctpt", "ci-plumbing")
    _check_ctpt(saved, REPO_ROOT / "results" / "ci-plumbing" / "04_ctpt")
    assert saved["params"]["pretrained"] == "random" and saved["params"]["n_samples"] <= 16


def test_05_after_ctpt_demo_results():
    saved = ci_results("05_after_ctpt")
    results = saved["results"]
    assert results["demo"] is True
    assert {row["method"] for row in results["table"]} == set(FAMILY_METHODS)
    # the recomputed averages are computed from the cells, not copied: their differences add up
    for row in results["recomputed_averages"]:
        assert row["difference"] == pytest.approx(row["printed"] - row["recomputed"], abs=1e-6)
    assert not _all_finite({r["method"]: r["acc"] for r in results["table"]})
