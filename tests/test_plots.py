"""Smoke tests for vlmcal_utils.plots (Agg backend): bars per bin, ECE in the title, counts strip."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vlmcal_utils import metrics as M  # noqa: E402
from vlmcal_utils import plots as P  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


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
