"""Tests for vlmcal_utils.study.plots: the four figures draw on the given Axes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from vlmcal_utils import study

from .synthetic import make_tasks


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("plots") / "p.jsonl"
    return study.run_grid(make_tasks(), path, n_calib_grid=[10, 50], n_repeats=2, n_boot=20, progress=False)


def test_plots_draw_on_given_axes(table, syn):
    fig, axes = plt.subplots(1, 4, figsize=(16, 3))
    assert study.plot_ece_before_after(table, ax=axes[0], reference=(0.05, "ref")) is axes[0]
    assert len(axes[0].patches) >= 4
    assert study.plot_ece_across_shifts(table, ax=axes[1]) is axes[1]
    pts = pd.DataFrame({"mean_confidence": [0.6, 0.7, 0.8, 0.9], "accuracy": [0.62, 0.69, 0.81, 0.88]})
    assert study.plot_confidence_vs_accuracy(pts, ax=axes[2]) is axes[2]
    assert "R²" in axes[2].get_legend().get_texts()[0].get_text()
    zc, yc, zt, yt = syn
    curve = study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 100, "all"], n_repeats=3)
    assert study.plot_n_calib_curve(curve, ax=axes[3], band="percentile") is axes[3]
    with pytest.raises(ValueError, match="band"):
        study.plot_n_calib_curve(curve, ax=axes[3], band="iqr")
    with pytest.raises(ValueError, match="no rows"):
        study.plot_ece_before_after(table, ax=axes[0], split="nope")
    plt.close(fig)


def test_a_table_of_two_runs_is_refused_with_a_clear_message(table):
    # two seeds' rows in one table used to fail inside pandas ("cannot reindex on an axis with
    # duplicate labels"); now the message says what is wrong
    two_runs = pd.concat([table, table.assign(seed=table["seed"] + 1)])
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="several runs or seeds"):
        study.plot_ece_before_after(two_runs, ax=ax)
    with pytest.raises(ValueError, match="several runs or seeds"):
        study.plot_ece_across_shifts(two_runs, ax=ax)
    plt.close(fig)
