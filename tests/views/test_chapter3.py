"""Tests for vlmcal_utils.views.chapter3: chapter 3's tables, figures and boxes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from tests.study.synthetic import make_tasks
from vlmcal_utils import study
from vlmcal_utils.views import chapter3 as report


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return report.run_study(make_tasks(), tmp_path_factory.mktemp("r") / "g.jsonl", [10, 50, "all"], 3, n_boot=50)


def test_run_study_tables_and_figures(run):
    table, lm = run
    assert set(report.before_after_table(table)["method"]) == {"none", "ts"}
    assert list(report.shift_table(table)["kind"]) == ["shift"]
    assert set(lm["method"]) == {"none", "ts_mismatched", "ts_matched"}  # the VLM task only
    # one VLM, two class halves: 2 points per method, too few to correlate or plot
    assert report.correlation_table(lm) is None and report.mismatch_figure(lm) is None
    three = lm.assign(split=lm["split"] + " (copy)")
    import pandas as pd
    assert report.correlation_table(pd.concat([lm, three])) is not None
    assert set(report.n_calib_table(table)["model"]) == {"model_a"}
    for fig in (report.before_after_figure(table, "t", (0.05, "ref")), report.shift_figure(table, "t"),
                report.n_calib_figure(table, "t")):
        FigureCanvasAgg(fig)
        ax = fig.axes[0]
        legend = ax.get_legend()
        if legend is not None:  # legends sit outside the data area
            box = legend.get_window_extent(fig.canvas.get_renderer())
            assert not box.overlaps(ax.get_window_extent()) or box.x0 >= ax.get_window_extent().x1 - 1
        assert min(t.get_fontsize() for t in ax.get_xticklabels()) >= 9
        assert not plt.get_fignums()  # made without pyplot: a notebook shows it only when displayed
        data, _ = fig._repr_mimebundle_()  # ... and then as SVG with text as text, whatever the backend
        assert "<text" in data["image/svg+xml"]


def test_judge_uses_the_baselines_as_reference(run):
    table, lm = run
    summary, verdicts = report.judge(table, lm)
    assert summary["reference_ece"] == pytest.approx(summary["baseline_ece_before"]["model_b"])
    assert "1a" in [v["finding"] for v in verdicts]
    assert list(report.verdict_table(verdicts).columns)[:3] == ["finding", "claim", "verdict"]


def test_boxes_render_and_escape():
    box = report.unavailable_box("Finding 2", "file <x> missing")
    html = box._repr_html_()
    assert 'class="admonition warning"' in html and "Finding 2" in html and "&lt;x&gt;" in html
    assert "not available on this machine" in repr(box)
    row = {"claim": "1b. c", "verdict": "partly", "quantity": "q", "estimate": 0.1, "low": 0.05, "high": 0.2,
           "interval_note": "", "measured": "m", "rule": "r", "why": "w"}
    assert 'admonition warning' in report.verdict_box(row)._repr_html_()


def test_paper_setup_lists_what_paper_models_holds():
    t = report.paper_setup_table()
    pm = study.paper_models
    n = len(pm.PAPER_MODELS) + len(pm.UNIDENTIFIED_MARKERS) + len(pm.PAPER_BASELINES) + len(pm.UNLOADABLE_MODELS)
    assert len(t) == n and t["runs here as"].str.len().gt(0).all()
    assert np.any(t["runs here as"].str.startswith("not runnable here"))
    assert (t["known as"] == "inferred from Figure 1").sum() == len(pm.PAPER_MODELS)
    assert (t["known as"] == "not identified").sum() == len(pm.UNIDENTIFIED_MARKERS)


def test_end_to_end_tasks_notes(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    tasks, notes, random_weights = report.end_to_end_tasks([], [["resnet50", True]], ["cifar10"], None, 8, 8)
    assert tasks == [] and random_weights == []
    assert any("No ImageNet dataset" in n.title for n in notes)


def test_verdict_boxes_keep_the_order_and_note_untested_claims():
    rows = [{"finding": "2", "claim": "2. c", "verdict": "holds", "quantity": "q", "estimate": 1.0, "low": 0.5,
             "high": 1.0, "interval_note": "", "measured": "m", "rule": "r", "why": "w"}]
    boxes = report.verdict_boxes(rows, "1a", "2")
    assert [b.kind for b in boxes] == ["note", "tip"] and "no verdict" in boxes[0].title


def test_roster_counts_the_models_behind_the_points():
    """Issue 29: the count the page prints is the number of VLMs behind the verdicts, off-domain ones said so."""
    table = pd.DataFrame({"model": ["CLIP ViT-B/32", "BiomedCLIP", "DenseNet-40"], "family": ["vlm", "vlm", "baseline"],
                          "dataset": ["CIFAR-10"] * 3})
    lm = pd.DataFrame({"model": ["SigLIP ViT-B/16"], "dataset": ["DermaMNIST"]})
    assert report.vlm_roster(table, lm) == "3 VLMs: CLIP ViT-B/32, BiomedCLIP, SigLIP ViT-B/16"
    box = repr(report.roster_box(table, lm))
    assert box.startswith("The verdicts below are on 3 VLMs") and "BiomedCLIP is a biomedical VLM" in box
    assert "off-domain" not in repr(report.roster_box(table.iloc[[0]]))
