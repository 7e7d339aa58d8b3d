"""Chapter 2's figures: what they draw, their fonts, and legends kept off the data."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

from vlmcal_utils.views import chapter2_plots as zp


def _probs(n=200, k=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = 3 * rng.standard_normal((n, k))
    labels = np.where(rng.random(n) < 0.7, logits.argmax(1), rng.integers(0, k, n))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True), labels


def _min_font(fig):
    fig.canvas.draw()
    sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text()]
    return min(sizes)


def test_top_k_bars_wraps_panels_and_colours_the_true_class():
    probs, labels = _probs()
    names = list("abcde")
    fig = zp.top_k_bars(probs, labels, names, rows=[0, 1, 2, 3], k=3, ncols=3)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 4 and len(fig.axes) == 6  # 2 rows of 3, two cells hidden
    assert fig.axes[0].get_subplotspec().get_gridspec().ncols == 3
    for ax, i in zip(visible, [0, 1, 2, 3], strict=True):
        assert len(ax.patches) == 3
        top = np.argsort(-probs[i])[:3]
        ticks = {t.get_text(): y for t, y in zip(ax.get_yticklabels(), ax.get_yticks(), strict=True)}
        assert max(ticks, key=ticks.get) == names[top[0]]  # the most probable class on top
        green = [c == labels[i] for c in top]
        assert [tuple(p.get_facecolor()[:3]) == tuple(zp._CORRECT) for p in ax.patches] == green
        heights = sorted(p.get_width() for p in ax.patches)
        assert heights == pytest.approx(sorted(probs[i, top]))
    assert _min_font(fig) >= zp.MIN_FONT


def test_confidence_by_correctness_bars_sum_to_accuracy():
    probs, labels = _probs()
    ax = zp.confidence_by_correctness(probs, labels)
    acc = float((probs.argmax(1) == labels).mean())
    # stacked: the first len/2 patches are the correct group
    patches = ax.patches
    half = len(patches) // 2
    assert sum(p.get_height() for p in patches[:half]) == pytest.approx(acc)
    assert sum(p.get_height() for p in patches[half:]) == pytest.approx(1 - acc)
    legend = ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().y0 >= ax.get_window_extent().y1 - 1  # above the axes
    assert _min_font(ax.figure) >= zp.MIN_FONT


def test_scale_sweep_plot_and_marks():
    sweep = pd.DataFrame({"scale": [1, 10, 100], "accuracy": [0.8] * 3, "ECE": [0.5, 0.1, 0.2],
                          "mean confidence": [0.2, 0.7, 0.95]})
    ax = zp.scale_sweep_plot(sweep, marks={"model": 100.0, "lowest ECE": 10.0})
    assert ax.get_xscale() == "log" and len(ax.lines) == 5
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "model: s = 100.0" in labels and "lowest ECE: s = 10.0" in labels
    assert ax.get_legend().get_bbox_to_anchor().y1 <= ax.get_window_extent().y0 + 1  # below the axes
    assert _min_font(ax.figure) >= zp.MIN_FONT


def test_language_bars_and_heatmap():
    table = pd.DataFrame({"accuracy": [0.9, 0.3], "mean confidence": [0.8, 0.4], "ECE": [0.07, 0.1],
                          "ECE 95% CI": [(0.06, 0.08), (0.09, 0.12)]},
                         index=pd.Index(["english", "x"], name="language"))
    ax = zp.language_bars(table, chance=0.1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["english", "x"]
    assert len(ax.patches) == 6
    assert _min_font(ax.figure) >= zp.MIN_FONT
    ax2 = zp.similarity_heatmap(np.eye(3), list("abc"), list("xyz"), title="t")
    assert [t.get_text() for t in ax2.get_yticklabels()] == list("abc")
    assert _min_font(ax2.figure) >= zp.MIN_FONT
    with pytest.raises(ValueError, match="labels"):
        zp.similarity_heatmap(np.eye(3), list("ab"), list("xyz"))
