"""Tests for vlmcal_utils.metrics: cross-checks against torchmetrics / torch and naive loops,
hypothesis properties, the bin-edge rule, input validation and the real published files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import multiclass_calibration_error

from vlmcal_utils import metrics as M


def random_logits(n: int, k: int, seed: int, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * scale
    labels = rng.integers(0, k, size=n)
    return logits, labels


def naive_ece(probs, labels, n_bins, norm="l1"):
    """Plain-Python ECE/MCE with (lo, hi] bins, confidence 0 in the first bin."""
    n = len(labels)
    bins = [[] for _ in range(n_bins)]
    for p, y in zip(probs, labels, strict=True):
        conf = max(p)
        pred = list(p).index(conf)
        m = 0
        for j in range(n_bins):
            if j / n_bins < conf <= (j + 1) / n_bins:
                m = j
        bins[m].append((conf, pred == y))
    total, worst = 0.0, 0.0
    for b in bins:
        if b:
            acc = sum(c for _, c in b) / len(b)
            conf = sum(c for c, _ in b) / len(b)
            total += len(b) / n * abs(acc - conf)
            worst = max(worst, abs(acc - conf))
    return total if norm == "l1" else worst


def off_edge(probs: np.ndarray, n_bins: int, eps: float = 1e-6) -> np.ndarray:
    """Keep rows whose confidence is not within eps of an inner bin edge (torchmetrics differs there)."""
    conf = probs.max(axis=1) * n_bins
    return np.abs(conf - np.round(conf)) > eps * n_bins


# ------------------------------------------------------------------------------------------
# Cross-checks
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_bins", [1, 5, 15])
def test_ece_mce_match_torchmetrics(seed, n_bins):
    logits, labels = random_logits(3000, 10, seed)
    probs = M.softmax(logits)
    keep = off_edge(probs, n_bins)
    probs, labels = probs[keep], labels[keep]
    pt, yt = torch.as_tensor(probs), torch.as_tensor(labels)
    tm_ece = multiclass_calibration_error(pt, yt, num_classes=10, n_bins=n_bins, norm="l1").item()
    tm_mce = multiclass_calibration_error(pt, yt, num_classes=10, n_bins=n_bins, norm="max").item()
    assert M.ece(probs, labels, n_bins) == pytest.approx(tm_ece, abs=1e-6)  # torchmetrics works in float32
    assert M.mce(probs, labels, n_bins) == pytest.approx(tm_mce, abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_ece_mce_match_naive_loop(seed):
    logits, labels = random_logits(400, 5, seed, scale=2.0)
    probs = M.softmax(logits)
    for n_bins in (3, 10, 15):
        assert M.ece(probs, labels, n_bins) == pytest.approx(naive_ece(probs, labels, n_bins), abs=1e-12)
        assert M.mce(probs, labels, n_bins) == pytest.approx(
            naive_ece(probs, labels, n_bins, "max"), abs=1e-12
        )


def test_nll_matches_torch_cross_entropy_and_loop():
    logits, labels = random_logits(500, 7, 3)
    ref = F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(labels)).item()
    loop = np.mean([-(z[y] - np.log(np.exp(z).sum())) for z, y in zip(logits, labels, strict=True)])
    assert M.nll(logits, labels) == pytest.approx(ref, rel=1e-12)
    assert M.nll(logits, labels) == pytest.approx(loop, rel=1e-12)


def test_nll_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert M.nll(logits, [0, 1]) == pytest.approx(0.0, abs=1e-12)
    assert M.nll(logits, [1, 0]) == pytest.approx(1000.0)


def test_brier_matches_loop_and_convention():
    logits, labels = random_logits(300, 4, 4)
    probs = M.softmax(logits)
    loop = np.mean([sum((p[k] - (k == y)) ** 2 for k in range(4)) for p, y in zip(probs, labels, strict=True)])
    assert M.brier(probs, labels) == pytest.approx(loop, rel=1e-12)
    # Convention: sum over classes (not mean) → a confident wrong answer scores 2, a right one 0.
    assert M.brier([[1.0, 0.0, 0.0]], [1]) == pytest.approx(2.0)
    assert M.brier([[0.0, 1.0, 0.0]], [1]) == pytest.approx(0.0)


def test_accuracy_on_probs_and_logits_and_torch():
    logits, labels = random_logits(200, 3, 5)
    expected = float((logits.argmax(1) == labels).mean())
    assert M.accuracy(logits, labels) == expected
    assert M.accuracy(M.softmax(logits), labels) == expected
    assert M.accuracy(torch.as_tensor(logits, dtype=torch.float32), torch.as_tensor(labels)) == expected


def test_torch_and_numpy_inputs_agree():
    logits, labels = random_logits(300, 6, 6)
    probs = M.softmax(logits)
    for fn in (M.ece, M.mce, M.brier, M.classwise_ece):
        a = fn(probs, labels)
        b = fn(torch.as_tensor(probs), torch.as_tensor(labels))
        assert isinstance(a, float) and a == pytest.approx(b)
    assert M.nll(torch.as_tensor(logits), torch.as_tensor(labels)) == pytest.approx(M.nll(logits, labels))


def test_classwise_ece_matches_loop():
    logits, labels = random_logits(300, 3, 7)
    probs = M.softmax(logits)
    per_class = []
    for k in range(3):
        conf, corr = probs[:, k], (labels == k).astype(float)
        per_class.append(M.ece_from_confidence(conf, corr, 15))
    assert M.classwise_ece(probs, labels) == pytest.approx(np.mean(per_class))
    # Perfect one-hot predictions are perfectly calibrated class-wise.
    assert M.classwise_ece(np.eye(3)[labels], labels) == 0.0


# ------------------------------------------------------------------------------------------
# The (lo, hi] rule and the bins table
# ------------------------------------------------------------------------------------------


def test_confidence_on_an_edge_goes_to_the_lower_bin():
    # 5 bins: 0.2 → (0, 0.2]; 0.6 → (0.4, 0.6]; 1.0 → (0.8, 1]; 0.0 → first bin.
    table = M.reliability_bins_from_confidence([0.2, 0.6, 1.0, 0.0], [1, 0, 1, 0], n_bins=5)
    assert table["count"].tolist() == [2, 0, 1, 0, 1]
    assert table.loc[0, "accuracy"] == 0.5 and table.loc[0, "confidence"] == pytest.approx(0.1)
    # Just above the edge goes to the next bin.
    table = M.reliability_bins_from_confidence([0.2 + 1e-12], [1], n_bins=5)
    assert table["count"].tolist() == [0, 1, 0, 0, 0]


def test_edge_rule_for_every_edge_of_15_bins():
    edges = np.arange(1, 16) / 15
    table = M.reliability_bins_from_confidence(edges, np.ones(15), n_bins=15)
    assert table["count"].tolist() == [1] * 15  # k/15 lands in bin k-1, i.e. (lo, k/15]


def test_reliability_bins_columns_and_empty_bins():
    table = M.reliability_bins([[0.9, 0.1], [0.95, 0.05]], [0, 1], n_bins=10)
    assert list(table.columns) == ["bin_lower", "bin_upper", "count", "accuracy", "confidence", "gap"]
    assert len(table) == 10 and table["count"].sum() == 2
    assert table["bin_lower"].iloc[0] == 0 and table["bin_upper"].iloc[-1] == 1
    empty = table[table["count"] == 0]
    assert empty[["accuracy", "confidence", "gap"]].isna().all().all()
    assert table.loc[8, "count"] == 1 and table.loc[8, "gap"] == pytest.approx(1 - 0.9)
    assert table.loc[9, "gap"] == pytest.approx(0 - 0.95)


def test_equal_mass_bins_rule():
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.3, 1.0, size=103)
    corr = rng.integers(0, 2, size=103)
    table = M.reliability_bins_from_confidence(conf, corr, n_bins=10, binning="equal_mass")
    # array_split: the first 103 mod 10 = 3 groups hold 11, the others 10.
    assert table["count"].tolist() == [11, 11, 11] + [10] * 7
    order = np.sort(conf)
    assert table["bin_upper"].iloc[0] == order[10] and table["bin_upper"].iloc[-1] == 1.0
    assert table["bin_lower"].iloc[0] == 0.0
    assert (table["bin_lower"].iloc[1:].to_numpy() == table["bin_upper"].iloc[:-1].to_numpy()).all()
    # ECE from the table equals the formula on the sorted groups.
    groups = np.array_split(np.argsort(conf, kind="stable"), 10)
    expected = sum(len(g) / 103 * abs(corr[g].mean() - conf[g].mean()) for g in groups)
    assert M.ece_from_confidence(conf, corr, 10, "equal_mass") == pytest.approx(expected)


def test_equal_mass_with_fewer_samples_than_bins():
    table = M.reliability_bins_from_confidence([0.5, 0.7], [1, 0], n_bins=4, binning="equal_mass")
    assert table["count"].tolist() == [1, 1, 0, 0]
    assert np.isfinite(table["bin_upper"]).all() and table["bin_upper"].iloc[-1] == 1.0
    assert M.ece_from_confidence([0.5, 0.7], [1, 0], 4, "equal_mass") == pytest.approx(0.6)


def test_ece_from_confidence_equals_ece():
    logits, labels = random_logits(1000, 10, 8)
    probs = M.softmax(logits)
    conf, corr = M.confidence_and_correct(probs, labels)
    for binning in M.BINNINGS:
        assert M.ece_from_confidence(conf, corr, 15, binning) == M.ece(probs, labels, 15, binning)
        assert M.mce_from_confidence(conf, corr.astype(bool), 15, binning) == M.mce(probs, labels, 15, binning)


# ------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ------------------------------------------------------------------------------------------


@st.composite
def prob_label_sets(draw):
    n = draw(st.integers(1, 60))
    k = draw(st.integers(2, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.floats(0.0, 20.0))
    logits, labels = random_logits(n, k, seed, scale)
    return M.softmax(logits), labels


@settings(max_examples=60, deadline=None, derandomize=True)
@given(prob_label_sets(), st.integers(1, 20), st.sampled_from(M.BINNINGS))
def test_ece_in_unit_interval_and_below_mce(data, n_bins, binning):
    probs, labels = data
    e = M.ece(probs, labels, n_bins, binning)
    m = M.mce(probs, labels, n_bins, binning)
    assert 0.0 <= e <= 1.0
    assert e <= m + 1e-12
    assert 0.0 <= M.classwise_ece(probs, labels, n_bins, binning) <= 1.0
    assert 0.0 <= M.brier(probs, labels) <= 2.0


@settings(max_examples=5, deadline=None, derandomize=True)
@given(st.integers(0, 10_000))
def test_calibrated_synthetic_data_has_small_ece(seed):
    # Labels drawn from the predicted distribution are calibrated by construction, so ECE is
    # pure sampling noise. With N = 50 000, K = 10 and 15 bins we measured over 100 seeds:
    # equal-width ECE mean 0.0054 (sd 0.0011, max 0.0083), equal-mass mean 0.0061 (max 0.0097).
    # The threshold 0.02 is > 10 sd above the mean, yet the same probabilities sharpened with
    # T = 0.5 (ECE ≈ 0.18) fail it by far.
    rng = np.random.default_rng(seed)
    n, k = 50_000, 10
    probs = M.softmax(rng.normal(size=(n, k)) * 2.5)
    u = rng.uniform(size=(n, 1))
    labels = (probs.cumsum(axis=1) < u).sum(axis=1).clip(max=k - 1)
    assert M.ece(probs, labels) < 0.02
    assert M.ece(probs, labels, binning="equal_mass") < 0.02
    # The same probabilities made overconfident (T = 0.5) must show a large ECE.
    assert M.ece(M.softmax(np.log(probs) / 0.5), labels) > 0.05


# ------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------


def test_bootstrap_ci_brackets_the_estimate_and_is_deterministic():
    logits, labels = random_logits(2000, 10, 9, scale=1.5)
    value = M.nll(logits, labels)
    low, high = M.bootstrap_ci(M.nll, logits, labels, n_boot=200, seed=1)
    assert low < value < high and high - low < 0.2
    assert (low, high) == M.bootstrap_ci(M.nll, logits, labels, n_boot=200, seed=1)
    assert (low, high) != M.bootstrap_ci(M.nll, logits, labels, n_boot=200, seed=2)
    probs = M.softmax(logits)
    lo_e, hi_e = M.bootstrap_ci(M.ece, probs, labels, n_boot=100)
    assert lo_e <= hi_e and 0 <= lo_e
    # Paired resampling: a metric that needs row pairing (accuracy of perfect predictions) stays 1.
    perfect = np.eye(10)[labels]
    assert M.bootstrap_ci(M.accuracy, perfect, labels, n_boot=50) == (1.0, 1.0)
    # Torch inputs work too.
    t_low, t_high = M.bootstrap_ci(
        M.nll, torch.as_tensor(logits), torch.as_tensor(labels), n_boot=200, seed=1
    )
    assert (t_low, t_high) == pytest.approx((low, high))


@pytest.mark.parametrize("n, n_bins, n_boot", [(1, 15, 20), (7, 10, 300), (333, 15, 300), (2001, 1, 50),
                                            (1000, 15, 2500)])
def test_ece_bootstrap_ci_is_bootstrap_ci_of_the_ece_from_the_same_draws(n, n_bins, n_boot, monkeypatch):
    rng = np.random.default_rng(n)
    conf = rng.uniform(0, 1, n)
    conf[: min(n, 3)] = [0.0, 1 / n_bins, 1.0][: min(n, 3)]  # on the edges: bins are (lo, hi]
    correct = rng.uniform(size=n) < conf
    # small blocks: replicates are counted several blocks at a time, the last one partial
    monkeypatch.setattr(M, "_RESAMPLE_BLOCK", 7 * n)
    looped = M.bootstrap_ci(lambda c, k: M.ece_from_confidence(c, k, n_bins=n_bins), conf, correct,
                            n_boot=n_boot, alpha=0.1, seed=4)
    vectorised = M.ece_bootstrap_ci(conf, correct, n_bins=n_bins, n_boot=n_boot, alpha=0.1, seed=4)
    assert vectorised == pytest.approx(looped, abs=1e-14)
    if n > 2:  # another seed, other draws
        assert vectorised != M.ece_bootstrap_ci(conf, correct, n_bins=n_bins, n_boot=n_boot, alpha=0.1, seed=5)


@pytest.mark.parametrize("kwargs, match", [({"n_boot": 0}, "n_boot"), ({"alpha": 1.0}, "alpha"),
                                           ({"seed": -1}, "seed"), ({"n_bins": 0}, "n_bins")])
def test_ece_bootstrap_ci_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.ece_bootstrap_ci([0.5, 0.9], [1, 0], **kwargs)


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------

GOOD_P = np.array([[0.7, 0.3], [0.2, 0.8]])
GOOD_Y = np.array([0, 1])


@pytest.mark.parametrize(
    "probs, labels, kwargs, match",
    [
        (np.array([[2.0, -1.0], [0.5, 0.5]]), GOOD_Y, {}, "softmax"),  # logits passed as probs
        (np.array([[0.6, 0.6], [0.5, 0.5]]), GOOD_Y, {}, "pass softmax"),  # rows sum to 1.2
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), GOOD_Y, {}, "NaN"),
        (np.array([[np.inf, 0.5], [0.5, 0.5]]), GOOD_Y, {}, "NaN or inf"),
        (GOOD_P, np.array([0, 2]), {}, r"\[0, 2\)"),
        (GOOD_P, np.array([-1, 0]), {}, r"\[0, 2\)"),
        (GOOD_P, np.array([0.0, 0.5]), {}, "integer"),
        (GOOD_P, np.array([0, 1, 1]), {}, "N must match"),
        (GOOD_P, np.array([[0, 1]]), {}, "1-D"),
        (np.zeros((0, 2)), np.zeros(0, dtype=int), {}, "empty"),
        (np.array([0.7, 0.3]), GOOD_Y, {}, r"must be \(N, K\)"),
        (GOOD_P, GOOD_Y, {"n_bins": 0}, "n_bins"),
        (GOOD_P, GOOD_Y, {"n_bins": 2.5}, "n_bins"),
        (GOOD_P, GOOD_Y, {"binning": "quantile"}, "unknown binning"),
    ],
)
@pytest.mark.parametrize("fn", [M.ece, M.mce, M.reliability_bins, M.classwise_ece])
def test_bad_probability_inputs_raise(fn, probs, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(probs, labels, **kwargs)


@pytest.mark.parametrize(
    "probs, labels, match",
    [
        (np.array([[0.6, 0.6]]), [0], "pass softmax"),
        (np.array([[np.nan, 1.0]]), [0], "NaN"),
        (GOOD_P, [0, 5], r"\[0, 2\)"),
        (GOOD_P, [0], "N must match"),
        (np.zeros((0, 2)), [], "empty"),
        (np.array([0.5, 0.5]), GOOD_Y, r"must be \(N, K\)"),
    ],
)
@pytest.mark.parametrize("fn", [M.brier, M.confidence_and_correct])
def test_bad_inputs_raise_for_brier(fn, probs, labels, match):
    with pytest.raises(ValueError, match=match):
        fn(probs, labels)


@pytest.mark.parametrize(
    "logits, labels, match",
    [
        (np.array([[np.nan, 1.0]]), [0], "NaN"),
        (np.array([[np.inf, 1.0]]), [0], "NaN or inf"),
        (np.array([[1.0, 2.0]]), [2], r"\[0, 2\)"),
        (np.array([[1.0, 2.0]]), [0.5], "integer"),
        (np.array([[1.0, 2.0]]), [0, 1], "N must match"),
        (np.zeros((0, 3)), [], "empty"),
        (np.array([1.0, 2.0]), [0, 1], r"must be \(N, K\)"),
    ],
)
@pytest.mark.parametrize("fn", [M.nll, M.accuracy])
def test_bad_logits_raise(fn, logits, labels, match):
    with pytest.raises(ValueError, match=match):
        fn(logits, labels)


def test_logits_are_fine_for_nll_but_not_for_ece():
    logits = np.array([[5.0, -3.0], [0.0, 4.0]])
    M.nll(logits, GOOD_Y)
    with pytest.raises(ValueError, match="pass softmax"):
        M.ece(logits, GOOD_Y)


@pytest.mark.parametrize(
    "conf, corr, kwargs, match",
    [
        ([0.5, 1.2], [1, 0], {}, r"\[0, 1\]"),
        ([0.5, np.nan], [1, 0], {}, "NaN"),
        ([0.5, 0.6], [1, 2], {}, "0/1"),
        ([0.5, 0.6], [1], {}, "N must match"),
        ([], [], {}, "empty"),
        ([[0.5, 0.5]], [1], {}, "1-D"),
        ([0.5], [1], {"n_bins": -1}, "n_bins"),
        ([0.5], [1], {"binning": "x"}, "unknown binning"),
    ],
)
def test_bad_top_label_inputs_raise(conf, corr, kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.ece_from_confidence(np.asarray(conf, dtype=float), np.asarray(corr), **kwargs)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((), {}, "at least one array"),
        ((np.zeros((3, 2)), np.zeros(4)), {}, "rows"),
        ((np.zeros((0, 2)),), {}, "empty"),
        ((np.zeros((3, 2)),), {"n_boot": 0}, "n_boot"),
        ((np.zeros((3, 2)),), {"alpha": 1.5}, "alpha"),
    ],
)
def test_bootstrap_bad_inputs(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.bootstrap_ci(M.nll, *args, **kwargs)


def test_float32_softmax_over_1000_classes_is_accepted():
    rng = np.random.default_rng(0)
    probs = torch.softmax(torch.as_tensor(rng.normal(size=(64, 1000)) * 5, dtype=torch.float32), dim=1)
    labels = torch.as_tensor(rng.integers(0, 1000, size=64))
    assert 0 <= M.ece(probs, labels) <= 1


# ------------------------------------------------------------------------------------------
# Real published files (skipped without $VLMCAL_SHARED)
# ------------------------------------------------------------------------------------------


def test_toplabel_imagenet_matches_verified_numbers(shared):
    path = shared / "data" / "logits" / "hollance_imagenet_val_toplabel.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    verified = json.loads(str(arrays["meta"]))["verified"]
    assert len(verified) >= 10
    for model, ref in verified.items():
        conf = arrays[f"{model}__confidence"]
        correct = arrays[f"{model}__y_pred"] == arrays[f"{model}__y_true"]
        assert len(conf) == ref["n"]
        assert correct.mean() == pytest.approx(ref["acc"], abs=1e-3), model
        assert M.ece_from_confidence(conf, correct, n_bins=15) == pytest.approx(ref["ece15"], abs=1e-3), model


def test_densenet40_metrics_on_real_logits(shared):
    from vlmcal_utils.data import load_logits

    d = load_logits(shared / "data" / "logits" / "markus93_densenet40_cifar10.npz")
    probs = M.softmax(d.logits_test)
    # Measured 2026-11: accuracy 0.9242, ECE(15) 0.0550, NLL 0.4301, Brier 0.1274.
    assert M.accuracy(probs, d.labels_test) == pytest.approx(0.924, abs=2e-3)
    assert M.ece(probs, d.labels_test) == pytest.approx(0.055, abs=2e-3)
    assert M.nll(d.logits_test, d.labels_test) == pytest.approx(0.430, abs=5e-3)
    assert M.ece(probs, d.labels_test) <= M.mce(probs, d.labels_test)
    table = M.reliability_bins(probs, d.labels_test)
    assert isinstance(table, pd.DataFrame) and table["count"].sum() == len(d.labels_test)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_metrics_accept_low_precision_torch_tensors(dtype):
    logits, labels = random_logits(200, 5, 11)
    z = torch.as_tensor(logits).to(dtype)
    widened = z.float().numpy()  # what the metrics should compute on
    assert M.ece(M.softmax(z), labels) == pytest.approx(M.ece(M.softmax(widened), labels), abs=1e-12)
    assert M.nll(z, labels) == pytest.approx(M.nll(widened, labels), rel=1e-12)
    assert M.brier(M.softmax(z), labels) == pytest.approx(M.brier(M.softmax(widened), labels), rel=1e-12)


def test_bf16_probabilities_are_accepted_and_float32_keeps_its_tolerance():
    """Before (issue 25): a softmax computed in bfloat16 was refused (row sums off by up to 2^-8)."""
    import torch

    from vlmcal_utils.metrics import ece

    torch.manual_seed(0)
    z = torch.randn(500, 10) * 3
    probs16 = z.to(torch.bfloat16).softmax(-1)
    assert (probs16.float().sum(-1) - 1).abs().max() > 1e-3  # the old tolerance refused these
    labels = torch.randint(0, 10, (500,))
    assert 0 <= ece(probs16, labels) <= 1
    off = z.softmax(-1).numpy() * 0.996  # float32 rows 0.4 % off: still refused
    with pytest.raises(ValueError, match="rows must sum to 1"):
        ece(off, labels.numpy())


def test_nll_of_probabilities_warns_and_bootstrap_seed_is_checked():
    """Before: nll(probs) was silently wrong; bootstrap_ci(seed="a") gave numpy's message."""
    import numpy as np

    from vlmcal_utils.metrics import bootstrap_ci, nll

    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.warns(UserWarning, match="look like probabilities"):
        nll(probs, [0, 1])
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got 'a'"):
        bootstrap_ci(nll, np.log(probs), np.array([0, 1]), seed="a")


def _masked_logits(seed=0, n=400, k=6, masked=(1, 4)):
    """Logits with columns ``masked`` set to -inf, the same logits without them, and labels."""
    rng = np.random.default_rng(seed)
    keep = [c for c in range(k) if c not in masked]
    z = 2 * rng.normal(size=(n, k))
    labels = np.asarray(keep)[rng.integers(0, len(keep), n)]
    zm = z.copy()
    zm[:, list(masked)] = -np.inf
    return zm, z[:, keep], np.searchsorted(keep, labels), labels


def test_masked_logits_are_legal_and_score_like_the_columns_dropped():
    """Before (issue 25): a -inf masked logit was refused ("NaN or inf")."""
    from vlmcal_utils.scores import score_logits

    zm, dropped, y_dropped, y = _masked_logits()
    assert M.nll(zm, y) == pytest.approx(M.nll(dropped, y_dropped), rel=1e-12)
    assert M.accuracy(zm, y) == M.accuracy(dropped, y_dropped)
    assert (M.softmax(zm)[:, [1, 4]] == 0).all()
    assert M.ece(M.softmax(zm), y) == pytest.approx(M.ece(M.softmax(dropped), y_dropped), abs=1e-12)
    a, b = score_logits(zm, y, estimators=False), score_logits(dropped, y_dropped, estimators=False)
    assert (a.nll, a.brier, a.ece[15]) == pytest.approx((b.nll, b.brier, b.ece[15]), rel=1e-12)
    # log(probs) with a probability of exactly 0 is a masked class too
    with np.errstate(divide="ignore"):
        logp = np.log([[0.5, 0.5, 0.0]])
    assert M.nll(logp, [0]) == pytest.approx(np.log(2))


def test_masked_true_class_gives_infinite_nll_and_bad_masks_are_refused():
    assert M.nll([[0.0, -np.inf]], [1]) == np.inf
    with pytest.raises(ValueError, match="NaN or inf in 1 row"):
        M.nll([[np.inf, 0.0], [0.0, -np.inf]], [0, 0])
    with pytest.raises(ValueError, match="NaN or inf"):
        M.softmax([[np.nan, -np.inf]])
    with pytest.raises(ValueError, match="every class at -inf"):
        M.nll([[0.0, 1.0], [-np.inf, -np.inf]], [0, 0])
