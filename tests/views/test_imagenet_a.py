"""vlmcal_utils.views.imagenet_a: C-TPT's zero-shot ViT-B/16 ImageNet-A cell from the real top-5 outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vlmcal_utils.data import load_top5
from vlmcal_utils.data.published import Resolved
from vlmcal_utils.papers.ctpt import paper_results
from vlmcal_utils.results.schema import SchemaError
from vlmcal_utils.views import imagenet_a
from vlmcal_utils.views.chapter_results import chapter4_results


@pytest.fixture(scope="module")
def cell():
    import os

    folder = os.environ.get("VLMCAL_SHARED")
    path = Path(folder or "/nonexistent") / "data" / "vlm-outputs" / f"{imagenet_a.IMAGENET_A_TOP5}.npz"
    if not path.is_file():
        pytest.skip("needs the real data folder: set VLMCAL_SHARED (CI sets it to ../shared)")
    top5 = load_top5(path)
    return top5, imagenet_a.ctpt_zeroshot_cell(top5, n_boot=300, seed=0)


def test_the_cell_is_the_papers_cell_recomputed(cell):
    top5, c = cell
    (paper, *_) = paper_results("ViT-B-16", "imagenet-a", "hard")
    assert (c["table"], c["row"], c["column"], c["method"]) == (paper.table, paper.row, paper.column, "zeroshot")
    assert c["paper_accuracy"] == pytest.approx(paper.accuracy / 100) and c["paper_ece_20"] == pytest.approx(
        paper.ece / 100)  # the paper's percent, stored as fractions
    assert c["n"] == top5.n and c["accuracy"] == pytest.approx(top5.correct.mean())
    assert c["accuracy_lo"] <= c["accuracy"] <= c["accuracy_hi"] and c["ece_lo"] <= c["ece_20"] <= c["ece_hi"]
    assert c["ece_20"] == pytest.approx(top5.meta["verified"]["ece20"], abs=5e-5)  # measured when the file was made
    for key in ("accuracy", "ece_20", "ece_15", "top5_accuracy", "paper_accuracy", "paper_ece_20"):
        assert 0 <= c[key] <= 1, key  # fractions
    # each verdict follows from the numbers: the paper's value in our interval (give or take its rounding)
    inside = c["accuracy_lo"] - 5e-4 <= c["paper_accuracy"] <= c["accuracy_hi"] + 5e-4
    assert (c["verdict_accuracy"] == "reproduced") == inside
    inside = c["ece_lo"] - 5e-5 <= c["paper_ece_20"] <= c["ece_hi"] + 5e-5
    assert (c["verdict_ece"] == "reproduced") == inside
    assert "temperature scaling" in c["not_computed"]


def test_the_cell_goes_into_chapter4s_results_and_its_page(cell):
    _, c = cell
    r = chapter4_results(model="vlmcal-demo", pretrained=None, demo=True, prompt_correlation={}, table=[],
                         temperatures={}, published_cells=[c])
    assert r["published_cells"] == [c]
    with pytest.raises(SchemaError, match="missing 'verdict_ece'"):
        chapter4_results(model="m", pretrained=None, demo=True, prompt_correlation={}, table=[], temperatures={},
                         published_cells=[{k: v for k, v in c.items() if k != "verdict_ece"}])
    table = imagenet_a.cell_table(c)
    assert list(table.index) == ["accuracy", "ECE (20 bins)"]
    assert table.loc["accuracy", "published outputs"] == f"{100 * c['accuracy']:.2f}"
    box = repr(imagenet_a.cell_box(c))
    assert c["verdict_ece"] in box and "prompt punctuation" in box and "class names" in box


@pytest.mark.parametrize(("paper", "low", "high", "decimals", "verdict"), [
    (0.478, 0.4784, 0.49, 1, "reproduced"),  # 47.8 printed: anything up to 47.85 would round to it
    (0.478, 0.4786, 0.49, 1, "higher"),
    (0.0861, 0.065, 0.0854, 2, "lower"),
    (0.0861, 0.065, 0.08606, 2, "reproduced"),
])
def test_verdict_rule(paper, low, high, decimals, verdict):
    got = imagenet_a._verdict(paper, (low + high) / 2, low, high, decimals)
    assert got.startswith(verdict)


def test_without_the_file_the_section_says_why(tmp_path, monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path))
    top5, found = imagenet_a.load_imagenet_a(download=False)
    assert top5 is None and found.path is None
    box = repr(imagenet_a.unavailable_box("C-TPT Table 2", found))
    assert "not available here" in box and "downloads are off" in box and "data/vlm-outputs" in box
    fake = Resolved(imagenet_a.IMAGENET_A_TOP5, None, "unreachable", "x unavailable, because the download failed")
    assert "download failed" in repr(imagenet_a.unavailable_box("s", fake))


def test_reliability_figure_and_shift_scores(cell):
    top5, _ = cell
    row = imagenet_a.shift_scores(top5, n_bins=15, n_boot=50)
    assert np.isnan(row["nll"]) and np.isnan(row["brier"]) and row["ece_15"] == pytest.approx(
        top5.scores(bins=15, estimators=False).ece[15])
    fig = imagenet_a.reliability_figure(top5)
    assert fig.axes and "ImageNet-A" in fig.axes[0].get_title()
