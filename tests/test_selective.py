import numpy as np
import pytest
import torch

from vlmcal_utils.metrics import softmax
from vlmcal_utils.selective import accept_above, aurc, aurc_from_confidence, excess_aurc, risk_coverage_curve


def test_no_ties_is_sorted_cumulative_mean_and_matches_torch_uncertainty():
    from torch_uncertainty.metrics import AURC

    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(400, 5)) * 2)
    y = rng.integers(0, 5, 400)
    conf, corr = p.max(1), (p.argmax(1) == y)
    _, risk = risk_coverage_curve(conf, corr)
    order = np.argsort(-conf)
    assert np.allclose(risk, np.cumsum(1 - corr[order]) / np.arange(1, 401))
    assert aurc(p, y) == pytest.approx(risk.mean())
    metric = AURC()
    metric.update(torch.as_tensor(p), torch.as_tensor(y))
    assert aurc(p, y, convention="trapezoid") == pytest.approx(float(metric.compute()), rel=1e-5)


def test_ties_give_the_mean_over_random_orders():
    rng = np.random.default_rng(1)
    conf = rng.choice([0.3, 0.6, 0.9], 30)
    corr = rng.uniform(size=30) < conf
    _, risk = risk_coverage_curve(conf, corr)
    perms = []
    for _ in range(4000):
        key = rng.permutation(30)
        order = np.lexsort((key, -conf))
        perms.append(np.cumsum(1 - corr[order]) / np.arange(1, 31))
    assert np.allclose(risk, np.mean(perms, axis=0), atol=0.01)
    shuffled = rng.permutation(30)
    assert np.allclose(risk_coverage_curve(conf[shuffled], corr[shuffled])[1], risk)


def test_closed_forms():
    assert aurc_from_confidence([0.9, 0.8, 0.6], [1, 0, 1]) == pytest.approx((0 + 0.5 + 1 / 3) / 3)
    p = np.array([[0.9, 0.1], [0.7, 0.3], [0.4, 0.6]])
    assert excess_aurc(p, [0, 0, 1]) == 0.0  # all right


def test_bad_inputs():
    with pytest.raises(ValueError):
        aurc_from_confidence([0.5], [1], convention="area")
    with pytest.raises(ValueError):
        aurc_from_confidence([0.5], [1], convention="trapezoid")
    with pytest.raises(ValueError):
        risk_coverage_curve([0.5, 1.2], [1, 0])


def test_accept_above_promises_the_mean_confidence_and_delivers_the_accuracy():
    conf = np.array([0.95, 0.92, 0.9, 0.6, 0.99])
    correct = np.array([1, 0, 1, 1, 1])
    r = accept_above(conf, correct, 0.9)  # 0.9 itself is not above 0.9
    assert r["n_accepted"] == 3 and r["coverage"] == pytest.approx(0.6)
    assert r["promised"] == pytest.approx((0.95 + 0.92 + 0.99) / 3)
    assert r["delivered"] == pytest.approx(2 / 3)
    none = accept_above(conf, correct, 0.995)
    assert none["n_accepted"] == 0 and np.isnan(none["promised"]) and np.isnan(none["delivered"])
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        accept_above(conf, correct, 1.0)


def test_a_calibrated_model_keeps_its_promise_above_any_threshold():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 200_000)
    correct = rng.random(conf.size) < conf  # calibrated by construction
    for t in (0.6, 0.8, 0.95):
        r = accept_above(conf, correct, t)
        assert r["delivered"] == pytest.approx(r["promised"], abs=0.005)
