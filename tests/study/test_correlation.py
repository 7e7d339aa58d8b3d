"""Tests for vlmcal_utils.study.correlation: calibrated confidence against accuracy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import study


def test_correlation_identity_and_offset():
    x = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    r = study.confidence_accuracy_correlation(confidence=x, accuracy=x)
    assert r["r2"] == pytest.approx(1) and r["spearman"] == pytest.approx(1)
    assert r["mae"] == 0
    off = study.confidence_accuracy_correlation(pd.DataFrame({"mean_confidence": x + 0.05, "accuracy": x}))
    assert off["r2_linear"] == pytest.approx(1) and off["r2"] < 0.9  # perfectly ranked, not calibrated
    assert off["mae"] == pytest.approx(0.05)


@pytest.mark.filterwarnings("error")  # decided here, not left to scipy's ConstantInputWarning
def test_constant_points_give_nan_correlations():
    r = study.confidence_accuracy_correlation(confidence=[0.7, 0.7, 0.7], accuracy=[0.6, 0.7, 0.8])
    assert math.isnan(r["pearson"]) and math.isnan(r["spearman"]) and math.isnan(r["r2_linear"])
    assert r["n"] == 3


def test_correlation_validation():
    with pytest.raises(ValueError, match="at least 3"):
        study.confidence_accuracy_correlation(confidence=[0.1, 0.2], accuracy=[0.1, 0.2])
    with pytest.raises(ValueError, match="pair up"):
        study.confidence_accuracy_correlation(confidence=[0.1, 0.2, 0.3], accuracy=[0.1, 0.2])
    with pytest.raises(ValueError, match="column"):
        study.confidence_accuracy_correlation(pd.DataFrame({"x": [1, 2, 3]}))
    with pytest.raises(ValueError, match="not both"):
        study.confidence_accuracy_correlation(pd.DataFrame({"mean_confidence": [1], "accuracy": [1]}), confidence=[1])
    with pytest.raises(ValueError, match="NaN"):
        study.confidence_accuracy_correlation(confidence=[0.1, np.nan, 0.3], accuracy=[0.1, 0.2, 0.3])
