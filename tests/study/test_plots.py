"""Tests for vlmcal_utils.study.plots: the four figures draw the table's numbers on the given Axes.

Each test reads the drawn artists back (bar heights, error-bar ends, line and scatter data) and
compares them with the input table, so a figure of the wrong column, rows or scale fails.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection
from matplotlib.container import BarContainer, ErrorbarContainer

from vlmcal_utils import study

from .synthetic import make_tasks


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("plots") / "p.jsonl"
    return study.run_grid(make_tasks(), path, n_calib_grid=[10, 50], n_repeats=2, n_boot=20, progress=False)


@pytest.fixture()
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def _full(table: pd.DataFrame, method: str, split: str = "test") -> pd.DataFrame:
    rows = table[(table["cell"] == "all") & (table["method"] == method) & (table["split"] == split)]
    return rows.set_index("model")


def test_before_after_bars_are_the_tables_ece_in_percent(table, ax):
    assert study.plot_ece_before_after(table, ax=ax, reference=(0.05, "ref")) is ax
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["model_a", "model_b"]  # VLMs first, then baselines
    none_bars, ts_bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    for bars, method in ((none_bars, "none"), (ts_bars, "ts")):
        rows = _full(table, method).loc[labels]
        heights = [p.get_height() for p in bars.patches]
        np.testing.assert_allclose(heights, rows["ece_15"] * 100)
        # the error bars span the bootstrap interval (clipped at the estimate)
        (segments,) = [c for c in bars.errorbar.lines[2] if isinstance(c, LineCollection)]
        ends = np.array([[seg[0][1], seg[1][1]] for seg in segments.get_segments()])
        np.testing.assert_allclose(ends[:, 0], np.minimum(rows["ece_lo"], rows["ece_15"]) * 100)
        np.testing.assert_allclose(ends[:, 1], np.maximum(rows["ece_hi"], rows["ece_15"]) * 100)
    colours = [p.get_facecolor()[:3] for p in ts_bars.patches]
    assert colours[0] != colours[1]  # coloured by family
    ref = [line for line in ax.lines if line.get_label() == "ref"]
    assert len(ref) == 1 and set(ref[0].get_ydata()) == {5.0}
    with pytest.raises(ValueError, match="no rows"):
        study.plot_ece_before_after(table, ax=ax, split="nope")


def test_shift_lines_are_the_tables_ece_per_split(table, ax):
    study.plot_ece_across_shifts(table, ax=ax, splits=["test", "shifted"])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["test", "shifted"]
    drawn = {c.get_label(): c.lines[0] for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert len(drawn) == 4  # two models x (before, after)
    for model in ("model_a", "model_b"):
        for method, when in (("none", "before"), ("ts", "after")):
            line = drawn[f"{model} ({when} TS)"]
            expected = [_full(table, method, split).loc[model, "ece_15"] * 100 for split in ("test", "shifted")]
            np.testing.assert_allclose(np.asarray(line.get_ydata(), dtype=float), expected)
            np.testing.assert_array_equal(line.get_xdata(), [0, 1])
            assert line.get_linestyle() == ("--" if method == "none" else "-")


def test_confidence_accuracy_points_are_the_rows(ax):
    pts = pd.DataFrame({"mean_confidence": [0.6, 0.7, 0.8, 0.9], "accuracy": [0.62, 0.69, 0.81, 0.88]})
    assert study.plot_confidence_vs_accuracy(pts, ax=ax) is ax
    (scatter,) = ax.collections
    np.testing.assert_allclose(scatter.get_offsets(), pts[["mean_confidence", "accuracy"]].to_numpy() * 100)
    stats = study.confidence_accuracy_correlation(pts)
    assert ax.get_legend().get_texts()[0].get_text().startswith(f"R² = {stats['r2']:.3f}")
    identity = next(line for line in ax.lines if line.get_label() == "confidence = accuracy")
    np.testing.assert_allclose(identity.get_xdata(), identity.get_ydata())


@pytest.mark.parametrize("band", ["std", "percentile"])
def test_n_calib_curve_draws_the_summary_of_the_draws(syn, ax, band):
    zc, yc, zt, yt = syn
    curve = study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 100, "all"], n_repeats=3)
    assert study.plot_n_calib_curve(curve, ax=ax, band=band) is ax
    s = study.summarise_n_calib_curve(curve)
    mid, lo, hi = ((s["ece_mean"], s["ece_mean"] - s["ece_std"], s["ece_mean"] + s["ece_std"]) if band == "std"
                   else (s["ece_median"], s["ece_q_lo"], s["ece_q_hi"]))
    line = ax.lines[0]
    np.testing.assert_array_equal(line.get_xdata(), s["n_calib"])
    np.testing.assert_allclose(line.get_ydata(), mid * 100)
    # the band: the filled polygon runs along lo (clipped at 0) and back along hi
    (poly,) = ax.collections
    ys = poly.get_paths()[0].vertices[:, 1]
    assert np.isclose(ys.min(), (lo.clip(lower=0) * 100).min()) and np.isclose(ys.max(), (hi * 100).max())
    before = ax.lines[1]
    assert set(before.get_ydata()) == {curve["ece_before"].iloc[0] * 100}
    with pytest.raises(ValueError, match="band"):
        study.plot_n_calib_curve(curve, ax=ax, band="iqr")


def test_a_table_of_two_runs_is_refused_with_a_clear_message(table, ax):
    # two seeds' rows in one table used to fail inside pandas ("cannot reindex on an axis with
    # duplicate labels"); now the message says what is wrong
    two_runs = pd.concat([table, table.assign(seed=table["seed"] + 1)])
    with pytest.raises(ValueError, match="several runs or seeds"):
        study.plot_ece_before_after(two_runs, ax=ax)
    with pytest.raises(ValueError, match="several runs or seeds"):
        study.plot_ece_across_shifts(two_runs, ax=ax)
