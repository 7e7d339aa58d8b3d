"""Each calibrator against torch-uncertainty 0.13 (an independent implementation) and closed forms."""

import logging

import numpy as np
import pytest
import torch

from vlmcal_utils.calibrators import (
    HistogramBinning,
    IsotonicCalibrator,
    VectorScaler,
    make_calibrator,
    nll_of,
)
from vlmcal_utils.data import load_logits, published_path
from vlmcal_utils.metrics import nll, softmax

tu = pytest.importorskip("torch_uncertainty.post_processing.calibration")
logging.getLogger().setLevel(logging.ERROR)  # torch-uncertainty warns that model=None


def _loader(z, y, dtype=torch.float32):
    ds = torch.utils.data.TensorDataset(torch.as_tensor(z, dtype=dtype), torch.as_tensor(y))
    return torch.utils.data.DataLoader(ds, batch_size=len(y))


def _random(n, k, seed, ties=False):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 2.0
    if ties:
        z = np.round(z)  # many identical softmax values
    y = np.where(rng.uniform(size=n) < 0.6, z.argmax(1), rng.integers(0, k, n))
    return z.astype(np.float32).astype(np.float64), y


def _real(name, n):
    lf = load_logits(published_path(name))
    z = lf.logits_val[:n].astype(np.float32).astype(np.float64)
    return z, lf.labels_val[:n], lf.logits_test[:2000].astype(np.float32).astype(np.float64)


CASES = [("random", 500, False), ("small", 12, False), ("ties", 300, True)]


def _data(case):
    _, n, ties = case
    z, y = _random(n, 4, 7, ties)
    return z, y, _random(200, 4, 8, ties)[0]


def _check_histogram(z, y, zt):
    ours = HistogramBinning(n_bins=15).fit(z, y)
    ref = tu.HistogramBinningScaler(num_bins=15)
    ref.fit(_loader(z, y), progress=False)
    assert np.allclose(ours.bin_values_, ref.bin_values.numpy(), atol=1e-6)
    theirs = torch.exp(ref(torch.as_tensor(zt, dtype=torch.float32))).numpy()
    # torch-uncertainty clamps at eps=1e-6 before its log (a row of zeros becomes eps everywhere,
    # ours uniform): compare after renormalising, above that floor
    theirs = theirs / theirs.sum(axis=1, keepdims=True)
    assert np.allclose(ours.transform(zt), theirs, atol=1e-5)


def _check_isotonic(z, y, zt):
    ours = IsotonicCalibrator().fit(z, y)
    ref = tu.IsotonicRegressionScaler()
    # float64 into torch-uncertainty too: in float32 tied softmax values can split (or merge), and
    # isotonic regression pools exact ties, so the fits would differ for a reason unrelated to either
    ref.fit(_loader(z, y, torch.float64), progress=False)
    theirs = torch.softmax(ref(torch.as_tensor(zt, dtype=torch.float64)), -1).numpy()
    assert np.allclose(ours.transform(zt), theirs, atol=1e-4)


def _check_vector(z, y, zt):
    ours = VectorScaler(bias=False).fit(z, y)
    ref = tu.VectorScaler(num_classes=z.shape[1], lr=0.1, max_iter=2000)
    ref.fit(_loader(z, y), progress=False)
    # same objective: compare NLLs (float32 L-BFGS in torch-uncertainty stops a little earlier)
    their_logits = ref(torch.as_tensor(z, dtype=torch.float32)).numpy()
    assert nll(ours.transform(z), y) <= nll(their_logits, y) + 1e-4
    assert np.allclose(ours.weight_, ref.inv_temp.detach().numpy(), rtol=0.05, atol=0.02)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("check", [_check_histogram, _check_isotonic, _check_vector])
def test_against_torch_uncertainty(case, check):
    if check is _check_vector and case[0] == "small":
        pytest.skip("12 samples, 4 free scales: the NLL is flat, so the two optimisers stop apart")
    check(*_data(case))


@pytest.mark.shared
@pytest.mark.parametrize("name", ["clip_vitb32_cifar10_zeroshot", "siglip_b16_cifar10_zeroshot"])
def test_against_torch_uncertainty_on_real_logits(shared, name):
    z, y, zt = _real(name, 1000)
    _check_histogram(z, y, zt)
    _check_isotonic(z, y, zt)
    _check_vector(z, y, zt)


def _pav(x, t):
    """Pool-adjacent-violators with tied x pooled first: the isotonic fit at each distinct x."""
    xs, inv = np.unique(x, return_inverse=True)
    w = np.bincount(inv).astype(float)
    v = np.bincount(inv, weights=t) / w
    blocks = []  # [value, weight, count of distinct x]
    for vi, wi in zip(v, w, strict=True):
        blocks.append([vi, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            b = blocks.pop()
            a = blocks[-1]
            a[0] = (a[0] * a[1] + b[0] * b[1]) / (a[1] + b[1])
            a[1] += b[1]
            a[2] += b[2]
    return xs, np.repeat([b[0] for b in blocks], [b[2] for b in blocks])


def test_isotonic_one_vs_rest_is_pav_with_ties():
    z, y = _random(200, 3, 11, ties=True)
    cal = IsotonicCalibrator().fit(z, y)
    p = softmax(z)
    for k in range(3):
        xs, fitted = _pav(p[:, k], (y == k).astype(float))
        assert np.allclose(cal.models_[k].predict(xs), fitted, atol=1e-12)


def test_vector_scaling_closed_form_and_invariances():
    z, y = _random(2000, 3, 12)
    full = VectorScaler().fit(z, y)
    # the fitted NLL is no worse than TS's optimum on the same data (TS is the w = T^-1 1, b = 0 case)
    from vlmcal_utils.temperature import fit_temperature

    assert nll(full.transform(z), y) <= nll(z / fit_temperature(z, y), y) + 1e-9
    assert abs(full.bias_.sum()) < 1e-9  # centred: softmax ignores a common shift
    # zero gradient of the NLL at the optimum
    zt, w = torch.as_tensor(z), torch.as_tensor(full.weight_).requires_grad_()
    b = torch.as_tensor(full.bias_).requires_grad_()
    torch.nn.functional.cross_entropy(zt * w + b, torch.as_tensor(y)).backward()
    assert w.grad.abs().max() < 1e-6 and b.grad.abs().max() < 1e-6


def test_histogram_binning_closed_form_and_edges():
    # Two classes, p = (0.3, 0.7) or (0.7, 0.3): inside bins 1 and 2 of 4, away from the edges. (A
    # softmax landing exactly on an edge, e.g. (0, log 3) -> 0.75, rounds either way depending on
    # the CPU's vectorised exp, so the edge rule is checked on exact values below instead.)
    z = np.array([[0.0, np.log(7 / 3)]] * 4 + [[np.log(7 / 3), 0.0]] * 4)
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    cal = HistogramBinning(n_bins=4).fit(z, y)
    # class 1: p = 0.7 in (0.5, 0.75] (bin 2), frequency 3/4; p = 0.3 in (0.25, 0.5] (bin 1), 1/4;
    # empty bins 0 and 3 keep their centres
    assert cal.bin_values_[1].tolist() == [0.125, 0.25, 0.75, 0.875]
    assert np.allclose(cal.transform(z[:1]), [[0.25, 0.75]])
    # (lo, hi] bins as in metrics: an edge belongs to the bin it closes; 0 goes to the first bin
    edges = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    assert cal._bin_index(edges).tolist() == [0, 0, 1, 2, 3]


def test_api_and_errors():
    z, y = _random(50, 3, 13)
    for name in ("vector_scaling", "histogram_binning", "isotonic"):
        cal = make_calibrator(name).fit(z, y)
        p = cal.predict_proba(z)
        assert p.shape == (50, 3) and np.allclose(p.sum(1), 1)
        assert np.isfinite(nll_of(cal, z, y))
        with pytest.raises(ValueError, match="fitted on 3 classes"):
            cal.transform(z[:, :2])
    with pytest.raises(ValueError, match="not fitted"):
        IsotonicCalibrator().transform(z)
    with pytest.raises(ValueError, match="calibrator"):
        make_calibrator("platt")
    with pytest.raises(ValueError):
        VectorScaler().fit(z, y[:10])
    with pytest.raises(ValueError):
        HistogramBinning(n_bins=0).fit(z, y)
