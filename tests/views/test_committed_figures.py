"""Figures kept as records (vlmcal_utils.views.committed_figures): a record that went through JSON
draws the same picture as the live data, and an offline build draws it from the committed file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tests.study.synthetic import make_tasks
from vlmcal_utils import metrics, plots
from vlmcal_utils.views import chapter2, chapter3, committed
from vlmcal_utils.views import chapter2_plots as zp
from vlmcal_utils.views import committed_figures as cf
from vlmcal_utils.views.boxes import Box


def _json(record):
    """The record as a results file gives it back (strict JSON: no NaN)."""
    return json.loads(json.dumps(record, allow_nan=False))


def _probs(n=400, k=6, seed=0):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((n, k))
    labels = np.where(rng.random(n) < 0.7, logits.argmax(1), rng.integers(0, k, n))
    return metrics.softmax(logits), labels


def _bars(ax):
    return [(round(p.get_x(), 9), round(p.get_y(), 9), round(p.get_height(), 9)) for p in ax.patches]


def test_reliability_record_draws_the_live_diagram():
    probs, labels = _probs()
    conf, correct = metrics.confidence_and_correct(probs, labels)
    conf[:3] = 0.999  # some bins stay empty below (k = 6: no confidence under 1/6)
    record = _json(plots.reliability_record(conf, correct, n_bins=15))
    assert record["n"] == len(conf) and sum(record["count"]) == len(conf)
    assert record["ece"] == pytest.approx(metrics.ece_from_confidence(conf, correct, n_bins=15))
    assert None in record["accuracy"]  # an empty bin: no accuracy, and still valid JSON
    live = plots.reliability_diagram_from_confidence(conf, correct, n_bins=15)
    kept = plots.reliability_diagram_from_record(record)
    assert _bars(kept) == _bars(live) and _bars(kept.counts_ax) == _bars(live.counts_ax)
    assert kept.get_title() == live.get_title()


def test_correctness_histogram_record_draws_the_live_histogram():
    probs, labels = _probs()
    record = _json(zp.correctness_histogram(probs, labels))
    assert sum(record["correct"]) == pytest.approx(record["accuracy"])
    assert sum(record["wrong"]) == pytest.approx(1 - record["accuracy"])
    live = zp.confidence_by_correctness(probs, labels)
    kept = cf.clip_histogram_figure(record).axes[0]
    assert _bars(kept) == _bars(live)
    legend = [t.get_text() for t in live.get_legend().get_texts()]
    assert [t.get_text() for t in kept.get_legend().get_texts()] == legend


def test_clip_records_draw_three_figures_with_the_note():
    probs, labels = _probs()
    sweep = chapter2.scale_sweep(np.log(probs), labels, np.geomspace(0.5, 5, 7))
    records = _json(cf.clip_figure_records(probs, labels, sweep, {"own": 1.0}))
    assert set(records) == {"clip_histogram", "clip_reliability", "clip_scale_sweep"}
    fig = cf.clip_scale_sweep_figure(records["clip_scale_sweep"], note="Drawn from the committed run of 2026-01-01")
    ax = fig.axes[0]
    assert list(ax.lines[0].get_xdata()) == pytest.approx(sweep["scale"].tolist())
    assert "2026-01-01" in fig._supxlabel.get_text()
    for name, draw in (("clip_histogram", cf.clip_histogram_figure), ("clip_reliability", cf.clip_reliability_figure)):
        data, _ = draw(records[name])._repr_mimebundle_()  # shown as the book shows it (vlmcal_utils.figures)
        assert "<text" in data["image/svg+xml"]


def test_imagenet_diagram_records_pick_the_most_over_and_underconfident(tmp_path):
    rng = np.random.default_rng(1)
    n, arrays, rows = 300, {}, []
    for model, shift in (("torchvision__over", 0.2), ("pytorch-image-models__under", -0.2), ("torchvision__mid", 0.0)):
        conf = rng.uniform(0.3, 0.95, n)
        ok = rng.random(n) < np.clip(conf - shift, 0, 1)
        arrays |= {f"{model}__confidence": conf, f"{model}__y_true": np.zeros(n, int), f"{model}__y_pred": 1 - ok}
        rows.append({"model": model, "accuracy": ok.mean(), "mean_confidence": conf.mean()})
    np.savez(tmp_path / "top.npz", **arrays)
    records = _json(cf.imagenet_diagram_records(tmp_path / "top.npz", pd.DataFrame(rows), n_bins=10))
    assert [r["title"] for r in records] == ["over (torchvision)", "under (timm)"]
    conf, ok = arrays["torchvision__over__confidence"], arrays["torchvision__over__y_pred"] == 0
    assert records[0]["ece"] == pytest.approx(metrics.ece_from_confidence(conf, ok, n_bins=10))
    fig = cf.imagenet_diagrams_figure(records)
    assert len([ax for ax in fig.axes if ax.get_title()]) == 2


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    return chapter3.run_study(make_tasks(), tmp_path_factory.mktemp("r") / "g.jsonl", [10, 50, "all"], 3, n_boot=50)


def test_n_calib_record_draws_the_live_curves(study_run):
    table, _ = study_run
    live = chapter3.n_calib_figure(table, "t").axes[0]
    kept = cf.n_calib_curves_figure(_json(cf.n_calib_curves_record(table, "t"))).axes[0]
    assert [(list(a.get_xdata()), list(a.get_ydata())) for a in kept.lines] == \
        [(list(a.get_xdata()), list(a.get_ydata())) for a in live.lines]
    assert kept.get_title() == live.get_title() == "t"


def test_mismatch_points_draw_the_live_scatter(study_run):
    _, lm = study_run
    lm = pd.concat([lm, lm.assign(split=lm["split"] + " (copy)")])  # 4 points per method: enough to draw
    points = _json(chapter3.mismatch_points(lm))
    assert {p["method"] for p in points} == {"none", "ts_mismatched"}
    assert not any(key in p for p in points for key in ("confidence", "probs"))  # summaries, no per-image data
    live, kept = chapter3.mismatch_figure(lm), cf.mismatch_points_figure(points)
    for a, b in zip(live.axes, kept.axes, strict=True):
        assert np.allclose(a.collections[0].get_offsets(), b.collections[0].get_offsets())
    FigureCanvasAgg(kept)


def test_a_committed_file_without_the_record_shows_the_not_drawn_box(monkeypatch, tmp_path):
    """An older committed run (no ``figures`` key) leaves the box, saying the run kept no record."""
    run = committed.CommittedRun("02_zero_shot_clip", tmp_path / "results.json",
                                 {"results": {}, "created": "2026-01-02"})
    monkeypatch.setattr(committed, "find_committed", lambda stem, roots=None: run)
    shown = committed.fallback_figure("02_zero_shot_clip", "offline", "ch2_clip_histogram_figure", "the file")
    assert isinstance(shown, Box) and "2026-01-02 kept no record" in repr(shown)
    kept = {"results": {"figures": {"clip_histogram": _json(zp.correctness_histogram(*_probs()))}},
            "created": "2026-01-02"}
    monkeypatch.setattr(committed, "find_committed",
                        lambda stem, roots=None: committed.CommittedRun("02_zero_shot_clip", run.path, kept))
    fig = committed.fallback_figure("02_zero_shot_clip", "offline", "ch2_clip_histogram_figure", "the file")
    assert isinstance(fig, Figure) and "committed run of 2026-01-02" in fig._supxlabel.get_text()
