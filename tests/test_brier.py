import numpy as np
import pandas as pd
import pytest

from vlmcal_utils.brier import brier_decomposition, brier_decomposition_from_confidence
from vlmcal_utils.data import load_logits, published_path
from vlmcal_utils.metrics import brier, softmax


def _parts_sum(d):
    return d["reliability"] - d["resolution"] + d["uncertainty"]


def test_parts_add_up_exactly_on_binned_forecasts():
    rng = np.random.default_rng(0)
    centres = (np.arange(10) + 0.5) / 10
    f = rng.choice(centres, 1000)  # forecasts constant inside each of the 10 bins
    o = (rng.uniform(size=1000) < f**1.5).astype(float)
    d = brier_decomposition_from_confidence(f, o, n_bins=10)
    assert d["within_bin"] == pytest.approx(0, abs=1e-14)
    assert _parts_sum(d) == pytest.approx(((f - o) ** 2).mean(), abs=1e-14)


def test_multiclass_on_binned_forecasts_sums_to_metrics_brier():
    # 3 classes with probabilities on a 1/20 grid: every column is constant inside its 20 bins
    rng = np.random.default_rng(1)
    grid = np.array([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.4, 0.4, 0.2], [0.05, 0.05, 0.9]])
    p = grid[rng.integers(0, 4, 500)]
    y = rng.integers(0, 3, 500)
    d = brier_decomposition(p, y, kind="multiclass", n_bins=20)
    assert d["brier"] == pytest.approx(brier(p, y), abs=1e-14)
    assert d["within_bin"] == pytest.approx(0, abs=1e-13)


def _direct(f, o, n_bins):
    """The parts by pandas groupby on bin index, written independently of the module."""
    idx = np.clip(np.ceil(f * n_bins).astype(int) - 1, 0, n_bins - 1)
    g = pd.DataFrame({"f": f, "o": o, "b": idx}).groupby("b")
    n, fm, om = g.size(), g["f"].mean(), g["o"].mean()
    rate = o.mean()
    return {
        "reliability": float((n * (fm - om) ** 2).sum() / f.size),
        "resolution": float((n * (om - rate) ** 2).sum() / f.size),
        "uncertainty": rate * (1 - rate),
        "brier": float(((f - o) ** 2).mean()),
    }


@pytest.mark.shared
@pytest.mark.parametrize("name", ["markus93_densenet40_cifar10", "clip_vitb32_cifar10_zeroshot"])
def test_each_part_on_real_logits(shared, name):
    lf = load_logits(published_path(name))
    p = softmax(lf.logits_test)
    d = brier_decomposition(p, lf.labels_test, n_bins=15)
    conf, corr = p.max(1), (p.argmax(1) == lf.labels_test).astype(float)
    for part, value in _direct(conf, corr, 15).items():
        assert d[part] == pytest.approx(value, abs=1e-12), part
    assert abs(d["within_bin"]) < 0.01  # continuous forecasts: small, reported
    multi = brier_decomposition(p, lf.labels_test, kind="multiclass")
    assert multi["brier"] == pytest.approx(brier(p, lf.labels_test), rel=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda: brier_decomposition([[0.5, 0.5]], [0], kind="classwise"),
        lambda: brier_decomposition([[0.5, 0.6]], [0]),
        lambda: brier_decomposition_from_confidence([0.5], [2]),
        lambda: brier_decomposition([[0.5, 0.5]], [0], n_bins=0),
    ],
)
def test_bad_inputs(call):
    with pytest.raises(ValueError):
        call()
