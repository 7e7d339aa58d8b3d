"""vlmcal_utils.ece_sampling: subsample ECE draws (bias of the plug-in ECE) and per-bin accuracy intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import ece_sampling as S
from vlmcal_utils import metrics as M


def calibrated(n=5000, seed=0):
    """Confidences in [0.5, 1] and outcomes drawn with exactly that probability: true ECE 0."""
    rng = np.random.default_rng(seed)
    conf = rng.uniform(0.5, 1.0, size=n)
    return conf, (rng.random(n) < conf).astype(float)


def test_subsample_ece_rows_and_full_value():
    conf, correct = calibrated()
    draws = S.subsample_ece(conf, correct, sizes=(100, 1000, 5000, 99999), n_repeats=7, seed=1)
    assert list(draws.columns) == ["n", "repeat", "ece", "debiased_ece", "full_ece"]
    counts = draws.groupby("n").size().to_dict()
    assert counts == {100: 7, 1000: 7, 5000: 2}  # the full set (and the capped size) once each
    full = M.ece_from_confidence(conf, correct)
    assert np.allclose(draws["full_ece"], full)
    assert np.allclose(draws.loc[draws["n"] == 5000, "ece"], full)
    # seeded: the same draws again
    pd.testing.assert_frame_equal(draws, S.subsample_ece(conf, correct, sizes=(100, 1000, 5000, 99999),
                                                         n_repeats=7, seed=1))


def test_plugin_ece_is_biased_upwards_at_small_n_and_debiasing_helps():
    conf, correct = calibrated(n=20000, seed=2)
    draws = S.subsample_ece(conf, correct, sizes=(100, 2000), n_repeats=60, seed=3)
    mean = draws.groupby("n")[["ece", "debiased_ece"]].mean()
    # a calibrated model: the plug-in ECE of 100 samples is far above 0 and above that of 2000
    assert mean.loc[100, "ece"] > 0.08 > mean.loc[2000, "ece"]
    # the debiased estimate is closer to the truth (0) at both sizes; at n = 100 (about 7 samples
    # per bin) it removes about 40 % of the bias (measured: 0.086 -> 0.050)
    assert (mean["debiased_ece"].abs() < mean["ece"]).all()
    assert abs(mean.loc[100, "debiased_ece"]) < 0.7 * mean.loc[100, "ece"]


def test_subsample_ece_validates():
    conf, correct = calibrated(n=50)
    with pytest.raises(ValueError, match="at least one"):
        S.subsample_ece(conf, correct, sizes=())
    with pytest.raises(ValueError, match="subsample size"):
        S.subsample_ece(conf, correct, sizes=(1,))
    with pytest.raises(ValueError, match="n_repeats"):
        S.subsample_ece(conf, correct, n_repeats=0)


@pytest.mark.parametrize("method", S.BAND_METHODS)
def test_bin_accuracy_band_contains_the_accuracy(method):
    conf, correct = calibrated(n=3000, seed=4)
    table = S.bin_accuracy_band(conf, correct, n_bins=10, method=method, n_boot=400)
    filled = table[table["count"] > 0]
    assert (filled["acc_lo"] <= filled["accuracy"] + 1e-12).all()
    assert (filled["accuracy"] <= filled["acc_hi"] + 1e-12).all()
    assert table.loc[table["count"] == 0, "acc_lo"].isna().all()
    # a calibrated model: most bins' intervals (95 %, pointwise) hold the diagonal
    holds = (filled["acc_lo"] <= filled["confidence"]) & (filled["confidence"] <= filled["acc_hi"])
    assert holds.mean() >= 0.7
    # 50 % intervals are no wider than 95 % ones
    narrow = S.bin_accuracy_band(conf, correct, n_bins=10, method=method, alpha=0.5, n_boot=400)
    nf = narrow[narrow["count"] > 0]
    assert ((nf["acc_hi"] - nf["acc_lo"]) <= (filled["acc_hi"] - filled["acc_lo"]) + 1e-12).all()


def test_wilson_interval_small_bin():
    conf = np.r_[np.full(10, 0.2), np.full(10, 0.9)]
    correct = np.r_[np.r_[np.ones(5), np.zeros(5)], np.ones(10)]
    table = S.bin_accuracy_band(conf, correct, n_bins=2, method="wilson")
    assert table[["acc_lo", "acc_hi"]].to_numpy() == pytest.approx(
        np.array([[0.2366, 0.7634], [0.7225, 1.0]]), abs=1e-4)


def test_bin_accuracy_band_validates():
    conf, correct = calibrated(n=50)
    with pytest.raises(ValueError, match="method"):
        S.bin_accuracy_band(conf, correct, method="nope")
    with pytest.raises(ValueError, match="alpha"):
        S.bin_accuracy_band(conf, correct, alpha=1.5)
