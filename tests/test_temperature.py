"""Tests for vlmcal_utils.temperature: recovery of a known temperature, agreement of the two
fitting methods, invariances, bound warnings, validation and the real published logits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from vlmcal_utils import metrics as M
from vlmcal_utils.temperature import (
    TemperatureScaler,
    apply_temperature,
    fit_temperature,
    nll_gradient_wrt_T,
)


def known_temperature_data(T_true: float, seed: int, n: int = 50_000, k: int = 10):
    """Logits whose best temperature is T_true: labels ~ softmax(z), logits = z * T_true.

    The MLE of T is then T_true up to sampling noise. Over 40 fits with N = 20 000 we measured a
    relative error of mean 0.5 % and max 1.6 %; N = 50 000 shrinks it by ~1.6x, so the 2 %
    tolerance below is several standard deviations wide.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2.0
    p = M.softmax(z)
    labels = (p.cumsum(axis=1) < rng.uniform(size=(n, 1))).sum(axis=1).clip(max=k - 1)
    return z * T_true, labels


@pytest.fixture(scope="module", params=[(0.5, 0), (1.0, 1), (2.0, 2)], ids=lambda p: f"T{p[0]}")
def known(request):
    T_true, seed = request.param
    logits, labels = known_temperature_data(T_true, seed)
    return T_true, logits, labels


@pytest.mark.parametrize("method", ["lbfgs", "bisection"])
def test_fit_recovers_true_temperature(known, method):
    T_true, logits, labels = known
    T = fit_temperature(logits, labels, method=method)
    assert isinstance(T, float)
    assert T == pytest.approx(T_true, rel=0.02)


def test_methods_agree(known):
    _, logits, labels = known
    a = fit_temperature(logits, labels, method="lbfgs")
    b = fit_temperature(logits, labels, method="bisection")
    assert a == pytest.approx(b, rel=1e-3)
    # The fitted T is a stationary point of the NLL.
    assert abs(nll_gradient_wrt_T(logits, labels, a)) < 1e-4


def test_ts_keeps_argmax_and_lowers_nll(known):
    T_true, logits, labels = known
    # Miscalibrate on purpose so that there is something to fix.
    bad = logits * 1.7
    T = fit_temperature(bad, labels)
    scaled = apply_temperature(bad, T)
    assert (scaled.argmax(axis=1) == bad.argmax(axis=1)).all()
    assert M.accuracy(scaled, labels) == M.accuracy(bad, labels)
    assert M.nll(scaled, labels) < M.nll(bad, labels) - 1e-3
    # T is the NLL minimiser: nudging it either way does not help.
    for factor in (0.97, 1.03):
        assert M.nll(apply_temperature(bad, T * factor), labels) > M.nll(scaled, labels)


def test_torch_input_gives_same_temperature():
    logits, labels = known_temperature_data(1.5, 3, n=5_000)
    a = fit_temperature(logits, labels)
    b = fit_temperature(torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(labels))
    assert a == pytest.approx(b, rel=1e-4)


def test_apply_temperature_keeps_type():
    x = np.array([[1.0, 2.0]])
    out = apply_temperature(x, 2.0)
    assert isinstance(out, np.ndarray) and np.allclose(out, [[0.5, 1.0]])
    t = torch.tensor([[1.0, 2.0]])
    out_t = apply_temperature(t, torch.tensor(2.0))
    assert isinstance(out_t, torch.Tensor) and torch.allclose(out_t, torch.tensor([[0.5, 1.0]]))


@pytest.mark.parametrize("T", [0.0, -1.0, float("nan"), float("inf"), "warm", None])
def test_apply_temperature_rejects_bad_T(T):
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.ones((2, 2)), T)


def test_bisection_at_a_bound_warns():
    # Every sample correct with a clear margin: the NLL keeps falling as T -> 0.
    logits = np.array([[3.0, 0.0], [0.0, 3.0]] * 50)
    labels = np.array([0, 1] * 50)
    for method in ("bisection", "lbfgs"):
        with pytest.warns(UserWarning, match="lower bound"):
            T = fit_temperature(logits, labels, method=method, bounds=(0.05, 10.0))
        assert T == 0.05
    # Optimum (T ≈ 2.9 for DenseNet-like data) above a too-tight upper bound.
    logits, labels = known_temperature_data(3.0, 4, n=5_000)
    with pytest.warns(UserWarning, match="upper bound"):
        assert fit_temperature(logits, labels, method="bisection", bounds=(0.1, 2.0)) == 2.0
    with pytest.warns(UserWarning, match="upper bound"):
        assert fit_temperature(logits, labels, method="lbfgs", bounds=(0.1, 2.0)) == 2.0


def test_no_warning_on_well_posed_data():
    logits, labels = known_temperature_data(1.2, 5, n=5_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_temperature(logits, labels, method="bisection")
        fit_temperature(logits, labels, method="lbfgs")


def test_fit_is_deterministic():
    logits, labels = known_temperature_data(0.8, 6, n=5_000)
    assert fit_temperature(logits, labels) == fit_temperature(logits, labels)


def test_temperature_scaler():
    logits, labels = known_temperature_data(2.0, 7, n=5_000)
    scaler = TemperatureScaler()
    with pytest.raises(ValueError, match="not fitted"):
        scaler.transform(logits)
    scaler.fit(logits, labels)
    assert scaler.temperature_ == fit_temperature(logits, labels)
    assert np.allclose(scaler.transform(logits), logits / scaler.temperature_)


@pytest.mark.parametrize(
    "logits, labels, kwargs, match",
    [
        (np.array([[np.nan, 1.0]]), [0], {}, "NaN"),
        (np.array([[1.0, 2.0]]), [0, 1], {}, "N must match"),
        (np.array([[1.0, 2.0]]), [3], {}, r"\[0, 2\)"),
        (np.array([[1.0, 2.0]]), [0.5], {}, "integer"),
        (np.zeros((0, 2)), [], {}, "empty"),
        (np.array([1.0, 2.0]), [0, 1], {}, r"\(N, K\)"),
        (np.array([[1.0, 2.0]]), [0], {"method": "newton"}, "unknown method"),
        (np.array([[1.0, 2.0]]), [0], {"bounds": (1.0, 0.5)}, "bounds"),
        (np.array([[1.0, 2.0]]), [0], {"bounds": (0.0, 5.0)}, "bounds"),
        (np.array([[1.0, 2.0]]), [0], {"bounds": 3.0}, "bounds"),
        (np.array([[1.0, 2.0]]), [0], {"tol": 0.0}, "tol"),
    ],
)
def test_fit_rejects_bad_input(logits, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_temperature(logits, labels, **kwargs)


# ------------------------------------------------------------------------------------------
# Real published logits (skipped without $VLMCAL_SHARED)
# ------------------------------------------------------------------------------------------


def _before_after(path):
    from vlmcal_utils.data import load_logits

    d = load_logits(path)
    T = fit_temperature(d.logits_val, d.labels_val)
    T_bis = fit_temperature(d.logits_val, d.labels_val, method="bisection")
    before = M.ece(M.softmax(d.logits_test), d.labels_test)
    after = M.ece(M.softmax(apply_temperature(d.logits_test, T)), d.labels_test)
    return T, T_bis, before, after


def test_densenet40_cifar10_ts(shared):
    # Measured: T = 2.8826 (bisection 2.8826); test ECE(15) 0.0550 -> 0.0095
    # (the shared README quotes 5.5 % -> 0.95 %).
    T, T_bis, before, after = _before_after(shared / "data/logits/markus93_densenet40_cifar10.npz")
    assert T == pytest.approx(T_bis, rel=1e-3)
    assert 2.7 < T < 3.05  # overconfident CNN: T > 1
    assert before == pytest.approx(0.055, abs=2e-3)
    assert after == pytest.approx(0.0095, abs=2e-3)


def test_clip_vitb32_cifar10_ts(shared):
    # Measured: T = 0.6853 (under-confident zero-shot CLIP: T < 1); test ECE(15) 0.0670 -> 0.0114.
    T, T_bis, before, after = _before_after(shared / "data/logits/clip_vitb32_cifar10_zeroshot.npz")
    assert T == pytest.approx(T_bis, rel=1e-3)
    assert 0.64 < T < 0.73
    assert before == pytest.approx(0.067, abs=2e-3)
    assert after == pytest.approx(0.0114, abs=3e-3)


def test_fit_temperature_accepts_bfloat16_tensors():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) * 3 + 4 * np.eye(4)[labels]  # informative: T lies inside the bounds
    z = torch.as_tensor(logits).to(torch.bfloat16)
    T = fit_temperature(z, labels)
    assert 0.1 < T < 9.0
    assert T == pytest.approx(fit_temperature(z.float().numpy(), labels), rel=1e-9)


@pytest.mark.parametrize("bad", ["2", b"2", True])
def test_apply_temperature_refuses_non_numbers(bad):
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(np.zeros((2, 3)), bad)


def test_fit_temperature_warns_when_given_probabilities():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 200)
    logits = rng.normal(size=(200, 3)) + 3 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    with pytest.warns(UserWarning, match="probabilities"):
        fit_temperature(probs, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_temperature(logits, labels)  # logits: no warning


@pytest.mark.parametrize("method", ["lbfgs", "bisection"])
def test_masked_logits_fit_the_temperature_of_the_columns_left(method):
    """Before (issue 25): -inf masked logits were refused; computed naively, p * z gives 0 * -inf = nan."""
    rng = np.random.default_rng(3)
    z = 3 * rng.normal(size=(600, 5))
    labels = rng.integers(0, 3, 600)
    z[np.arange(600), labels] += 1.5
    masked = np.concatenate([z[:, :3], np.full((600, 2), -np.inf)], axis=1)
    t_masked = fit_temperature(masked, labels, method=method)
    assert np.isfinite(t_masked)
    assert t_masked == pytest.approx(fit_temperature(z[:, :3], labels, method=method), rel=1e-6)
    assert nll_gradient_wrt_T(masked, labels, 1.3) == pytest.approx(nll_gradient_wrt_T(z[:, :3], labels, 1.3))


def test_a_masked_true_class_is_refused_by_the_fit():
    z = np.array([[1.0, 0.0, -np.inf], [0.0, 2.0, 1.0]])
    with pytest.raises(ValueError, match=r"1 row\(s\) have their true class masked \(logit -inf; row 0"):
        fit_temperature(z, [2, 1])
