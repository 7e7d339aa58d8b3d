"""Smoke tests for vlmcal_utils.plots (Agg backend): bars per bin, ECE in the title, counts strip."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from vlmcal_utils import metrics as M
from vlmcal_utils import plots as P


def data(n=500, k=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * 3
    return M.softmax(logits), rng.integers(0, k, size=n)


def bar_container(ax, label):
    (container,) = [c for c in ax.containers if c.get_label() == label]
    return container


@pytest.mark.parametrize("n_bins", [5, 15])
@pytest.mark.parametrize("binning", ["equal_width", "equal_mass"])
def test_reliability_diagram(n_bins, binning):
    probs, labels = data()
    ax = P.reliability_diagram(probs, labels, n_bins=n_bins, title="demo", binning=binning)
    assert isinstance(ax, matplotlib.axes.Axes)
    accuracy_bars = bar_container(ax, "Accuracy")
    assert len(accuracy_bars.patches) == n_bins
    assert len(bar_container(ax, "Gap").patches) == n_bins
    expected = M.ece(probs, labels, n_bins=n_bins, binning=binning)
    title = ax.get_title()
    assert title.startswith("demo") and f"{100 * expected:.2f}%" in title
    # Bar heights are the per-bin accuracies (0 for empty bins).
    table = M.reliability_bins(probs, labels, n_bins=n_bins, binning=binning)
    heights = [p.get_height() for p in accuracy_bars.patches]
    assert np.allclose(heights, table["accuracy"].fillna(0))
    # The counts strip shows every sample.
    counts = [p.get_height() for p in ax.counts_ax.patches]
    assert sum(counts) == len(labels)


def test_reliability_diagram_on_given_ax_without_counts():
    probs, labels = data()
    fig, axes = plt.subplots(1, 2)
    ax = P.reliability_diagram(probs, labels, ax=axes[1], show_counts=False)
    assert ax is axes[1] and not hasattr(ax, "counts_ax")
    assert ax.get_title().startswith("ECE = ")
    fig.canvas.draw()  # renders without error


def test_reliability_diagram_from_confidence_matches():
    probs, labels = data(seed=1)
    conf, correct = M.confidence_and_correct(probs, labels)
    a = P.reliability_diagram(probs, labels, n_bins=10)
    b = P.reliability_diagram_from_confidence(conf, correct.astype(bool), n_bins=10)
    assert a.get_title() == b.get_title()
    ha = [p.get_height() for p in bar_container(a, "Accuracy").patches]
    hb = [p.get_height() for p in bar_container(b, "Accuracy").patches]
    assert ha == hb


def test_confidence_histogram():
    probs, labels = data(seed=2)
    ax = P.confidence_histogram(probs, labels, n_bins=10, title="hist")
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 10 and sum(heights) == pytest.approx(1.0)
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines())
    conf, correct = M.confidence_and_correct(probs, labels)
    assert xs == pytest.approx(sorted([conf.mean(), correct.mean()]))
    ax2 = P.confidence_histogram(probs)  # without labels: only the mean-confidence line
    assert len(ax2.get_lines()) == 1


def test_plots_validate_inputs():
    probs, labels = data()
    with pytest.raises(ValueError, match="pass softmax"):
        P.reliability_diagram(probs * 2, labels)
    with pytest.raises(ValueError, match="unknown binning"):
        P.reliability_diagram(probs, labels, binning="nope")
    with pytest.raises(ValueError, match="n_bins"):
        P.confidence_histogram(probs, labels, n_bins=0)


def test_png_render(tmp_path):
    probs, labels = data(n=2000)
    ax = P.reliability_diagram(probs, labels)
    out = tmp_path / "rel.png"
    ax.figure.savefig(out, dpi=50)
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("method", ["wilson", "bootstrap"])
def test_reliability_band_diagram(method):
    probs, labels = data(n=2000, seed=3)
    ax = P.reliability_band_diagram(probs, labels, n_bins=10, title="band", method=method, n_boot=200)
    table = ax.band_table
    filled = table[table["count"] > 0]
    # one shaded box per non-empty bin, spanning the bin and its accuracy interval
    boxes = ax.collections
    assert len(boxes) == len(filled)
    for box, (_, row) in zip(boxes, filled.iterrows(), strict=True):
        x0, y0, x1, y1 = box.get_paths()[0].get_extents().extents
        assert (x0, x1) == pytest.approx((row["bin_lower"], row["bin_upper"]))
        assert (y0, y1) == pytest.approx((row["acc_lo"], row["acc_hi"]))
    # the dots are the bins' (confidence, accuracy), split into within / beyond noise
    dots = {line.get_label(): line for line in ax.get_lines()}
    inside, beyond = dots["bin accuracy"], dots["gap beyond noise"]
    assert len(inside.get_xdata()) + len(beyond.get_xdata()) == len(filled)
    assert len(beyond.get_xdata()) == ax.n_beyond_noise
    expected = M.ece(probs, labels, n_bins=10)
    assert ax.get_title().startswith("band") and f"{100 * expected:.2f}%" in ax.get_title()
    ax.figure.canvas.draw()


def test_reliability_band_diagram_marks_an_overconfident_model():
    # confidences near 0.95 but only half right: every filled bin is beyond noise
    rng = np.random.default_rng(5)
    conf = rng.uniform(0.9, 1.0, size=3000)
    correct = rng.random(3000) < 0.5
    ax = P.reliability_band_diagram_from_confidence(conf, correct, n_bins=10)
    assert ax.n_beyond_noise == int((ax.band_table["count"] > 0).sum()) >= 1
    # a calibrated model: few bins beyond noise
    ok = rng.random(3000) < conf
    ax2 = P.reliability_band_diagram_from_confidence(conf, ok, n_bins=10)
    assert ax2.n_beyond_noise <= 1


def test_subsample_ece_plot():
    from vlmcal_utils.ece_sampling import subsample_ece

    probs, labels = data(n=1500, seed=6)
    conf, correct = M.confidence_and_correct(probs, labels)
    draws = subsample_ece(conf, correct, sizes=(100, 500, 1500), n_repeats=5)
    ax = P.subsample_ece_plot(draws, title="sizes")
    lines = {line.get_label(): line for line in ax.get_lines()}
    full = lines["plug-in ECE, all 1500"]
    assert full.get_ydata()[0] == pytest.approx(M.ece(probs, labels))
    means = draws.groupby("n")["ece"].mean().to_numpy()
    (plugin,) = [c for c in ax.containers if c.get_label() == "plug-in ECE"]
    assert plugin.lines[0].get_ydata() == pytest.approx(means)
    assert ax.get_xscale() == "log" and ax.get_title() == "sizes"


def _confidences(side: str, n: int = 4000):
    """Top-label data of an under- or overconfident model (bars at the top left, or far below the diagonal)."""
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.1, 1.0, n)
    shift = 0.3 if side == "under" else -0.3
    return conf, rng.random(n) < np.clip(conf + shift, 0, 1)


@pytest.mark.parametrize("side", ["under", "over"])
def test_no_legend_covers_the_drawn_data(side):
    """Legends sat on reliability-diagram bars (upper left, where an underconfident model's bars reach)."""
    conf, correct = _confidences(side)
    probs = np.stack([conf, 1 - conf], axis=1)
    labels = np.where(correct, 0, 1)
    fig, axes = plt.subplots(1, 4, figsize=(18, 5))
    P.reliability_diagram_from_confidence(conf, correct, ax=axes[0])
    P.reliability_diagram_from_confidence(conf, correct, ax=axes[1], show_counts=False)
    P.reliability_band_diagram_from_confidence(conf, correct, ax=axes[2])
    P.confidence_histogram(probs, labels, ax=axes[3])
    fig.tight_layout()
    assert [P.legend_overlaps(ax) for ax in axes] == [[], [], [], []]


def test_legend_overlaps_finds_a_legend_on_the_bars():
    conf, correct = _confidences("under")
    ax = P.reliability_diagram_from_confidence(conf, correct)
    ax.get_legend().remove()
    ax.legend(loc="upper left")  # the old placement
    covered = P.legend_overlaps(ax)
    assert covered and any(c.startswith("rectangle at x") for c in covered)
    ax.get_legend().remove()
    assert P.legend_overlaps(ax) == []  # no legend, nothing covered


def test_gap_hatch_lines_stay_opaque_in_the_books_svg():
    """The book shows figures as SVG (vlmcal_utils.figures), where a hatched bar's face alpha also fades its
    hatch lines: the gap's hatch is a bar of its own, with no face, so its lines stay as opaque as in a PNG."""
    import re

    from vlmcal_utils.figures import figure_svg

    probs, labels = data(seed=3)
    svg = figure_svg(P.reliability_diagram(probs, labels).figure)
    hatched = re.findall(r'style="fill: url\(#h\w+\);([^"]*)"', svg)
    assert hatched and not any("fill-opacity" in style for style in hatched)
