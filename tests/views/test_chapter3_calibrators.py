"""Tests for vlmcal_utils.views.chapter3_calibrators: which calibrator when labels are few."""

from __future__ import annotations

import pytest

from tests.study.synthetic import make_tasks
from vlmcal_utils.study.calibrator_curves import CURVE_METHODS
from vlmcal_utils.views import chapter3_calibrators as calibrator_report


def test_calibrator_study_table_and_answer():
    tasks = make_tasks()
    rows = calibrator_report.calibrator_study(tasks, [10, 50, 400], repeats=3)
    assert set(rows["model"]) == {"model_a"}  # baselines are left out
    summary = calibrator_report.calibrator_table(rows)
    assert set(summary["method"]) == set(CURVE_METHODS)
    assert ((summary["low"] <= summary["mean"] + 1e-12) & (summary["mean"] <= summary["high"] + 1e-12)).all()
    at = calibrator_report.ts_at_n(rows, 50)
    assert at.loc[0, "ts_wins"] == (at.loc[0, "winner"] == "ts")
    assert 0 <= at.loc[0, "ts_better_share_isotonic"] <= 1
    assert "At n = 50" in calibrator_report.ts_answer_box(at).title
    shown = calibrator_report.ece_table_display(summary, [10, 400])
    assert list(shown.columns) == [10, 400] and shown.index[0] == ("model_a", "none")
    fig = calibrator_report.calibrator_figure(summary)
    assert len(fig.axes) == 1 and fig.legends
    with pytest.raises(ValueError, match="n = 7"):
        calibrator_report.ts_at_n(rows, 7)
