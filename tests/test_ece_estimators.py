import numpy as np
import pytest
import relplot

from vlmcal_utils import ece_estimators as est
from vlmcal_utils.data import load_logits, published_path
from vlmcal_utils.metrics import ece, reliability_bins_from_confidence, softmax


def _calibrated(n, seed):
    rng = np.random.default_rng(seed)
    f = rng.uniform(0.5, 1.0, n)
    return f, (rng.uniform(size=n) < f).astype(float)


def test_smooth_ece_is_relplots_call_and_matches_its_own_binned_sanity():
    f, y = _calibrated(2000, 0)
    assert est.smooth_ece_from_confidence(f, y) == pytest.approx(relplot.smECE(f, y), abs=0)
    # relplot's README example: a forecaster off by 0.1 everywhere has smECE close to 0.1
    rng = np.random.default_rng(1)
    g = rng.uniform(0.2, 0.8, 20000)
    yy = (rng.uniform(size=g.size) < g - 0.1).astype(float)
    assert est.smooth_ece_from_confidence(g, yy) == pytest.approx(0.1, abs=0.02)


def test_smooth_ece_top_label_of_probs():
    rng = np.random.default_rng(2)
    p = softmax(rng.normal(size=(300, 4)) * 2)
    y = rng.integers(0, 4, 300)
    conf, corr = p.max(1), (p.argmax(1) == y).astype(float)
    assert est.smooth_ece(p, y) == pytest.approx(relplot.smECE(conf, corr))
    value, lo, hi = est.smooth_ece_ci(p, y, n_boot=30)
    assert value == pytest.approx(est.smooth_ece(p, y))  # the estimate is the full-sample smECE
    assert 0 <= lo < hi <= 1 and est.smooth_ece_ci(p, y, n_boot=30) == (value, lo, hi)  # seeded


def _mc_debiased_l1(f, y, n_bins, draws=20000, seed=0):
    """verified_calibration's normal_debiased_ce written out (Monte Carlo over label means)."""
    t = reliability_bins_from_confidence(f, y, n_bins=n_bins)
    t = t[t["count"] > 0]
    w = t["count"].to_numpy() / t["count"].sum()
    a, c, n = t["accuracy"].to_numpy(), t["confidence"].to_numpy(), t["count"].to_numpy()
    plugin = (w * np.abs(a - c)).sum()
    rng = np.random.default_rng(seed)
    samples = rng.normal(a, np.sqrt(a * (1 - a) / n), size=(draws, a.size))
    return 2 * plugin - (np.abs(samples - c) @ w).mean()


def test_debiased_l1_is_the_limit_of_the_resampling_estimator():
    f, y = _calibrated(400, 3)
    assert est.debiased_ece_from_confidence(f, y, n_bins=10) == pytest.approx(
        _mc_debiased_l1(f, y, 10), abs=2e-3
    )


def test_debiased_l2_closed_form():
    f, y = _calibrated(300, 4)
    t = reliability_bins_from_confidence(f, y, n_bins=5)
    t = t[t["count"] > 0]
    w, a, c, n = t["count"] / 300, t["accuracy"], t["confidence"], t["count"]
    want = np.sqrt(max((w * ((c - a) ** 2 - a * (1 - a) / (n - 1))).sum(), 0))
    assert est.debiased_ece_from_confidence(f, y, n_bins=5, p=2) == pytest.approx(want)


def test_debiased_ece_has_less_bias_than_plugin_on_calibrated_small_samples():
    # Perfectly calibrated forecasts: the true ECE is 0; the plug-in is biased upwards.
    plug, deb = [], []
    for seed in range(40):
        f, y = _calibrated(100, 100 + seed)
        plug.append(est.ece_from_confidence(f, y, 15))
        deb.append(est.debiased_ece_from_confidence(f, y, 15))
    # (the normal-approximation correction removes part of the bias, not all: ~0.09 -> ~0.06 here)
    assert 0 < np.mean(deb) < 0.75 * np.mean(plug)


def test_bin_sensitivity_rows_match_ece():
    rng = np.random.default_rng(5)
    p = softmax(rng.normal(size=(500, 3)) * 3)
    y = rng.integers(0, 3, 500)
    table = est.ece_bin_sensitivity(p, y)
    assert list(table["n_bins"]) == [5, 10, 15, 20, 30, 15]
    for row in table.itertuples():
        assert row.ece == pytest.approx(ece(p, y, n_bins=row.n_bins, binning=row.binning))


@pytest.mark.parametrize(
    "call",
    [
        lambda: est.debiased_ece([[0.5, 0.5]], [0], p=3),
        lambda: est.debiased_ece([[0.5, 0.5]], [2]),
        lambda: est.smooth_ece_from_confidence([1.5], [1]),
        lambda: est.ece_bin_sensitivity([[0.5, 0.5]], [0], bins=[0]),
        lambda: est.ece_bin_sensitivity([[0.5, 0.5]], [0], bins=[], equal_mass_bins=None),
    ],
)
def test_bad_inputs_are_value_errors(call):
    with pytest.raises(ValueError):
        call()


@pytest.mark.shared
def test_on_real_cnn_logits(shared):
    lf = load_logits(published_path("markus93_densenet40_cifar10"))
    p = softmax(lf.logits_test)
    smooth = est.smooth_ece(p, lf.labels_test)
    binned = ece(p, lf.labels_test, n_bins=15)
    # an overconfident CNN: every estimator sees a few percent of miscalibration, and they agree roughly
    assert 0.01 < smooth < 0.2 and 0.01 < binned < 0.2
    assert abs(est.debiased_ece(p, lf.labels_test) - binned) < 0.01
