"""Calibration metrics: accuracy, ECE/MCE (top-label and class-wise), NLL, Brier, reliability bins.

Conventions
-----------
- ``probs`` is an ``(N, K)`` array of class probabilities (rows sum to 1, within ``1e-3``);
  ``logits`` is an ``(N, K)`` array of unnormalised scores; ``labels`` is an ``(N,)`` array of
  integer class indices in ``[0, K)``. numpy arrays, torch tensors and nested lists are accepted;
  everything is computed in float64 numpy and returned as Python ``float``. Logits may hold
  ``-inf`` for masked classes (probability exactly 0); NaN and ``+inf`` are refused.
- Memory: the metrics work through the rows in blocks (:func:`vlmcal_utils.checks.row_blocks`),
  widening float32 input to float64 one block at a time, so they need at most about their
  input's size again (``benchmarks/bench_memory.py``); :func:`softmax` and :func:`log_softmax`
  return a float64 array of the input's shape.
- *Top-label* quantities (Guo et al., 2017): ``confidence = max_k p_k``, ``prediction = argmax_k p_k``
  (ties go to the lowest index, as in ``numpy.argmax``), ``correct = prediction == label``.
- **Equal-width bins** (``binning="equal_width"``): edges ``k / n_bins`` for ``k = 0..n_bins``
  (the values of ``linspace(0, 1, n_bins + 1)``, correctly rounded); bin ``m`` is the half-open
  interval ``(lo_m, hi_m]``, as in Guo et al.'s code; a confidence of exactly 0 goes to the first
  bin. (torchmetrics uses ``[lo, hi)`` instead: the two agree unless a confidence sits exactly on
  an inner edge. torchmetrics also computes in float32 whatever the input dtype, so its ECE
  differs from ours, computed in float64, by float32 rounding: up to about ``1.2e-5`` on
  large ``N``, ~``1e-7`` typically.)
- **Equal-mass bins** (``binning="equal_mass"``, "adaptive ECE"): the samples are sorted by
  confidence (stable sort) and cut into ``n_bins`` contiguous groups with
  ``numpy.array_split`` — the first ``N mod n_bins`` groups hold ``N // n_bins + 1`` samples, the
  rest ``N // n_bins``. Tied confidences may be split across neighbouring groups. If
  ``N < n_bins`` the last groups are empty. A group's reported ``bin_upper`` is its largest
  confidence (1 for the last group) and its ``bin_lower`` is the previous group's upper (0 for
  the first), so the bins tile ``[0, 1]``.
- ``ECE = sum_m |G_m| / N * |acc(G_m) - conf(G_m)|``; ``MCE = max_m |acc(G_m) - conf(G_m)|`` over
  non-empty bins.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pandas as pd

from vlmcal_utils.checks import (
    check_choice,
    check_n_bins,
    confidence_arrays,
    float_matrix,
    labels_array,
    logits_array,
    looks_like_probabilities,
    probs_array,
    row_blocks,
    to_numpy,
)

__all__ = [
    "BINNINGS",
    "softmax",
    "log_softmax",
    "confidence_and_correct",
    "accuracy",
    "ece",
    "ece_from_confidence",
    "mce",
    "mce_from_confidence",
    "classwise_ece",
    "nll",
    "brier",
    "reliability_bins",
    "reliability_bins_from_confidence",
    "bootstrap_ci",
    "ece_bootstrap_ci",
]

BINNINGS = ("equal_width", "equal_mass")


# --------------------------------------------------------------------------------------------
# Basic transforms
# --------------------------------------------------------------------------------------------


def log_softmax(logits: Any) -> np.ndarray:
    """Row-wise log-softmax of (N, K) logits, computed stably (max-shifted log-sum-exp).

    A masked class (logit ``-inf``) gets ``-inf``, i.e. probability 0.
    """
    z = logits_array(logits, masked=True)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: Any) -> np.ndarray:
    """Row-wise softmax of (N, K) logits as a float64 numpy array (masked ``-inf`` classes get 0)."""
    return np.exp(log_softmax(logits))


def confidence_and_correct(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Top-label confidence ``max_k p_k`` and correctness ``argmax_k p_k == label``, both (N,).

    ``correct`` is returned as float64 0/1 so that it can be averaged directly.
    """
    p = probs_array(probs, keep_float32=True)  # max and argmax are exact in float32
    y = labels_array(labels, p.shape[0], p.shape[1])
    # Rows are validated to sum to 1 within 1e-3, so clipping only removes rounding excess.
    return np.clip(p.max(axis=1).astype(np.float64), 0.0, 1.0), (p.argmax(axis=1) == y).astype(np.float64)


def accuracy(probs_or_logits: Any, labels: Any) -> float:
    """Top-1 accuracy of (N, K) probabilities or logits (argmax is the same for both).

    Parameters
    ----------
    probs_or_logits : array-like, shape (N, K)
        Probabilities or logits; ties go to the lowest class index.
    labels : array-like, shape (N,)
        Integer class indices in ``[0, K)``.

    Returns
    -------
    float
        The fraction of rows whose argmax is the label, in [0, 1].

    Examples
    --------
    >>> accuracy([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 1, 1])
    0.6666666666666666
    >>> accuracy([[2.0, 0.0], [0.0, 1.0]], [0, 1])  # logits give the same decisions
    1.0
    """
    s = float_matrix(probs_or_logits, "probs_or_logits", keep_float32=True, masked=True)
    y = labels_array(labels, s.shape[0], s.shape[1])
    return float((s.argmax(axis=1) == y).mean())


# --------------------------------------------------------------------------------------------
# Binning
# --------------------------------------------------------------------------------------------


def _equal_width_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin of each confidence among ``n_bins`` equal-width bins ``(lo, hi]`` (0 goes to the first)."""
    edges = np.arange(n_bins + 1, dtype=np.float64) / n_bins
    # side="left" puts conf == hi into the bin ending at hi: bins are (lo, hi].
    return np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)


def _bin_stats(conf: np.ndarray, corr: np.ndarray, n_bins: int, binning: str) -> dict:
    """Per-bin lower/upper edge, count, mean accuracy, mean confidence, gap (validated inputs).

    Plain numpy arrays (no DataFrame) so that ECE inside a bootstrap loop stays fast.
    """
    n_bins = check_n_bins(n_bins)
    binning = check_choice(binning, BINNINGS, "binning")
    if binning == "equal_width":
        idx = _equal_width_index(conf, n_bins)
        edges = np.arange(n_bins + 1, dtype=np.float64) / n_bins
        lower, upper = edges[:-1], edges[1:]
    else:
        order = np.argsort(conf, kind="stable")
        idx = np.empty(conf.shape[0], dtype=np.int64)
        groups = np.array_split(order, n_bins)
        upper = np.empty(n_bins)
        for m, g in enumerate(groups):
            idx[g] = m
            upper[m] = conf[g].max() if g.size else np.nan
        # Empty trailing groups (N < n_bins) inherit the previous edge so the bins still tile [0, 1].
        upper = np.fmax.accumulate(np.nan_to_num(upper, nan=-np.inf))
        upper[-1] = 1.0
        lower = np.concatenate([[0.0], upper[:-1]])
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    acc_sum = np.bincount(idx, weights=corr, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(count > 0, acc_sum / np.maximum(count, 1), np.nan)
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
    return {
        "bin_lower": lower,
        "bin_upper": upper,
        "count": count,
        "accuracy": acc,
        "confidence": mean_conf,
        "gap": acc - mean_conf,
    }


def _bin_table(conf: np.ndarray, corr: np.ndarray, n_bins: int, binning: str) -> pd.DataFrame:
    return pd.DataFrame(_bin_stats(conf, corr, n_bins, binning))


def _ece_from_stats(stats: dict) -> float:
    nonempty = stats["count"] > 0
    weights = stats["count"][nonempty] / stats["count"].sum()
    return float((weights * np.abs(stats["gap"][nonempty])).sum())


def _mce_from_stats(stats: dict) -> float:
    return float(np.abs(stats["gap"][stats["count"] > 0]).max())


def reliability_bins_from_confidence(
    confidence: Any, correct: Any, n_bins: int = 15, binning: str = "equal_width"
) -> pd.DataFrame:
    """Reliability table from top-label data: one row per bin.

    Columns ``bin_lower, bin_upper, count, accuracy, confidence, gap`` (``gap = accuracy -
    confidence``; negative means overconfident). Empty bins have count 0 and NaN accuracy,
    confidence and gap.
    """
    conf, corr = confidence_arrays(confidence, correct)
    return _bin_table(conf, corr, n_bins, binning)


def reliability_bins(
    probs: Any, labels: Any, n_bins: int = 15, binning: str = "equal_width"
) -> pd.DataFrame:
    """Reliability table of (N, K) probabilities: see :func:`reliability_bins_from_confidence`."""
    check_n_bins(n_bins)
    check_choice(binning, BINNINGS, "binning")
    conf, corr = confidence_and_correct(probs, labels)
    return _bin_table(conf, corr, n_bins, binning)


# --------------------------------------------------------------------------------------------
# Calibration errors
# --------------------------------------------------------------------------------------------


def ece_from_confidence(
    confidence: Any, correct: Any, n_bins: int = 15, binning: str = "equal_width"
) -> float:
    """Top-label ECE from (N,) confidences and (N,) correctness (bool or 0/1). In [0, 1].

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidence of each prediction, in [0, 1].
    correct : array-like, shape (N,)
        Whether each prediction was right (bool or 0/1).
    n_bins : int
        Number of bins.
    binning : {"equal_width", "equal_mass"}
        The bins of the module docstring.

    Returns
    -------
    float
        ``sum_m |G_m| / N * |acc(G_m) - conf(G_m)|``, in [0, 1].

    Examples
    --------
    Three predictions, one per bin of width 0.2: gaps 0.1, 0.2 and 0.6, each weighted 1/3.

    >>> round(ece_from_confidence([0.9, 0.8, 0.6], [True, True, False], n_bins=5), 4)
    0.3
    """
    conf, corr = confidence_arrays(confidence, correct)
    return _ece_from_stats(_bin_stats(conf, corr, n_bins, binning))


def ece(probs: Any, labels: Any, n_bins: int = 15, binning: str = "equal_width") -> float:
    """Top-label expected calibration error of (N, K) probabilities. In [0, 1].

    ``ECE = sum_m |G_m| / N * |acc(G_m) - conf(G_m)|`` with the bins described in the module
    docstring. ``binning="equal_mass"`` gives the adaptive ECE.

    Parameters
    ----------
    probs : array-like, shape (N, K)
        Class probabilities (rows sum to 1).
    labels : array-like, shape (N,)
        Integer class indices in ``[0, K)``.
    n_bins : int
        Number of bins (15 as in Guo et al. 2017).
    binning : {"equal_width", "equal_mass"}
        The bins of the module docstring.

    Returns
    -------
    float
        The ECE of the top-label confidence ``max_k p_k``, in [0, 1].

    Examples
    --------
    The same three predictions as in :func:`ece_from_confidence` (confidences 0.9, 0.8, 0.6; the
    last one wrong):

    >>> probs = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    >>> round(ece(probs, [0, 1, 1], n_bins=5), 4)
    0.3
    >>> ece([[1.0, 0.0], [0.0, 1.0]], [0, 1])  # confident and right: perfectly calibrated
    0.0
    """
    check_n_bins(n_bins)
    check_choice(binning, BINNINGS, "binning")
    conf, corr = confidence_and_correct(probs, labels)
    return _ece_from_stats(_bin_stats(conf, corr, n_bins, binning))


def mce_from_confidence(
    confidence: Any, correct: Any, n_bins: int = 15, binning: str = "equal_width"
) -> float:
    """Maximum calibration error (largest ``|acc - conf|`` over non-empty bins) from top-label data."""
    conf, corr = confidence_arrays(confidence, correct)
    return _mce_from_stats(_bin_stats(conf, corr, n_bins, binning))


def mce(probs: Any, labels: Any, n_bins: int = 15, binning: str = "equal_width") -> float:
    """Maximum calibration error of (N, K) probabilities: max over non-empty bins of ``|acc - conf|``."""
    check_n_bins(n_bins)
    check_choice(binning, BINNINGS, "binning")
    conf, corr = confidence_and_correct(probs, labels)
    return _mce_from_stats(_bin_stats(conf, corr, n_bins, binning))


def classwise_ece(
    probs: Any, labels: Any, n_bins: int = 15, binning: str = "equal_width"
) -> float:
    """Class-wise ECE (Kull et al., 2019): the mean over the K classes of a per-class ECE.

    For class ``k`` the "confidence" is the probability column ``p[:, k]`` for *every* sample and
    the "outcome" is ``labels == k``; its ECE uses the same bins as :func:`ece`. The result is the
    unweighted mean over all K classes (classes that never occur still count: their ECE measures
    how much probability they were given). In [0, 1].
    """
    p = probs_array(probs, keep_float32=True)
    y = labels_array(labels, p.shape[0], p.shape[1])
    check_n_bins(n_bins)
    check_choice(binning, BINNINGS, "binning")
    # Probabilities may exceed [0, 1] by rounding (validated within 1e-3): clip for binning, one
    # column at a time (a clipped float64 copy of the whole input would be 2-4x its size).
    per_class = [
        _ece_from_stats(_bin_stats(np.clip(p[:, k].astype(np.float64), 0.0, 1.0), (y == k).astype(np.float64),
                                   n_bins, binning))
        for k in range(p.shape[1])
    ]
    return float(np.mean(per_class))


# --------------------------------------------------------------------------------------------
# Proper scoring rules
# --------------------------------------------------------------------------------------------


def nll(logits: Any, labels: Any) -> float:
    """Mean negative log-likelihood (cross-entropy, natural log) of (N, K) **logits**.

    Computed with a stable log-softmax, so very large logits do not overflow. For probabilities
    ``p`` pass ``np.log(p)`` (softmax of log-probabilities gives back ``p``; a probability of 0
    becomes ``-inf``, a masked class). If a row's true class is masked the NLL is ``inf``.

    Parameters
    ----------
    logits : array-like, shape (N, K)
        Unnormalised scores.
    labels : array-like, shape (N,)
        Integer class indices in ``[0, K)``.

    Returns
    -------
    float
        ``-mean_i log softmax(logits_i)[labels_i]``, in nats, ``>= 0``.

    Examples
    --------
    >>> round(nll([[2.0, 0.0], [0.0, 1.0]], [0, 1]), 4)  # (log(1 + e^-2) + log(1 + e^-1)) / 2
    0.2201
    >>> nll([[1e4, 0.0]], [1])  # a huge wrong logit: no overflow
    10000.0
    >>> import numpy as np
    >>> round(nll(np.log([[0.5, 0.5], [0.25, 0.75]]), [0, 1]), 4)  # from probabilities
    0.4904
    >>> nll([[2.0, -np.inf, 0.0]], [0]) == nll([[2.0, 0.0]], [0])  # a masked class: probability 0
    True
    """
    z = logits_array(logits, keep_float32=True, masked=True)
    if looks_like_probabilities(z):
        # softmax of probabilities is not the probabilities: the NLL would be silently wrong
        warnings.warn("nll got rows in [0, 1] that sum to 1: these look like probabilities, not logits; "
                      "pass numpy.log(probs)", UserWarning, stacklevel=2)
    y = labels_array(labels, z.shape[0], z.shape[1])
    with np.errstate(divide="ignore"):  # a masked true class: log(0) = -inf, the NLL is inf
        total = sum(-_true_class_log_probs(log_softmax(z[rows]), y[rows]).sum()
                    for rows in row_blocks(*z.shape))
    return float(total / z.shape[0])


def _true_class_log_probs(logp: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``logp[i, y[i]]`` for each row ``i`` of an ``(n, K)`` block: ``(n,)``."""
    return logp[np.arange(logp.shape[0]), y]


def brier(probs: Any, labels: Any) -> float:
    """Multiclass Brier score: mean over samples of ``sum_k (p_k - 1[y = k])^2``. In [0, 2].

    This is Brier's (1950) original multiclass form, the one scikit-learn 1.9 computes with
    ``brier_score_loss(labels, probs, labels=range(K), scale_by_half=False)`` for ``(N, K)``
    probabilities (checked against scikit-learn 1.9.1: equal to ``1e-16``; its default
    ``scale_by_half="auto"`` halves the score on two classes only). Some libraries divide by K as
    well (a mean over classes) or report only the top-label term; torchmetrics 1.9 has no
    multiclass Brier score.
    """
    p = probs_array(probs, keep_float32=True)
    y = labels_array(labels, p.shape[0], p.shape[1])
    total = 0.0
    for rows in row_blocks(*p.shape):
        block = p[rows].astype(np.float64)  # a copy: the input is never changed
        block[np.arange(block.shape[0]), y[rows]] -= 1.0
        total += float((block**2).sum())
    return total / p.shape[0]


# --------------------------------------------------------------------------------------------
# Uncertainty of a metric
# --------------------------------------------------------------------------------------------


def _check_bootstrap(n_boot: Any, alpha: Any, seed: Any) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05 for a 95 % interval; got {alpha!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def bootstrap_ci(
    metric: Callable[..., float],
    *arrays: Any,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` interval of ``metric(*arrays)``.

    Each replicate draws N row indices with replacement (``numpy.random.default_rng(seed)``) and
    applies the *same* indices to every array, so logits and labels stay paired. Example::

        bootstrap_ci(nll, logits, labels)        # 95 % interval of the NLL
        bootstrap_ci(ece, softmax(logits), labels, n_boot=500)

    For the equal-width ECE of top-label data, :func:`ece_bootstrap_ci` gives the same interval
    from the same draws, without a Python call per replicate.
    """
    if not callable(metric):
        raise ValueError(f"metric must be a function such as metrics.ece, got {metric!r}")
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array after the metric")
    _check_bootstrap(n_boot, alpha, seed)
    arrs = [to_numpy(a, f"array {i}") for i, a in enumerate(arrays)]
    n = arrs[0].shape[0] if arrs[0].ndim else 0
    if n == 0:
        raise ValueError("bootstrap_ci: the arrays are empty")
    for i, a in enumerate(arrs):
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(
                f"bootstrap_ci: array {i} has shape {a.shape}, expected {n} rows like array 0"
            )
    rng = np.random.default_rng(seed)
    stats = np.empty(int(n_boot))
    for b in range(int(n_boot)):
        idx = rng.integers(0, n, size=n)
        stats[b] = metric(*(a[idx] for a in arrs))
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


# Resampled rows held at once by ece_bootstrap_ci (replicates x rows): five arrays of 8 MB each.
_RESAMPLE_BLOCK = 1 << 20


def ece_bootstrap_ci(
    confidence: Any,
    correct: Any,
    n_bins: int = 15,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap ``(1 - alpha)`` interval of the equal-width top-label ECE.

    The same interval as ``bootstrap_ci(lambda c, k: ece_from_confidence(c, k, n_bins), confidence,
    correct, ...)``, from the same draws (one ``rng.integers(0, N, N)`` per replicate, in order),
    equal to it up to float rounding (~1e-16): a row's bin does not change when it is resampled,
    so each row is binned once and a block of replicates is counted with one ``bincount``.

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Top-label confidences in ``[0, 1]``.
    correct : array-like, shape (N,)
        Whether each prediction was right (bool or 0/1).
    n_bins : int
        Equal-width bins ``(lo, hi]``.
    n_boot, alpha, seed
        As in :func:`bootstrap_ci`.

    Returns
    -------
    (low, high) : tuple of float

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> conf = rng.uniform(0.5, 1.0, 400)
    >>> correct = rng.uniform(size=400) < conf - 0.1  # overconfident by ~0.1
    >>> low, high = ece_bootstrap_ci(conf, correct, n_boot=500)
    >>> low < ece_from_confidence(conf, correct) < high
    True
    """
    conf, corr = confidence_arrays(confidence, correct)
    n_bins = check_n_bins(n_bins)
    _check_bootstrap(n_boot, alpha, seed)
    n = conf.shape[0]
    if n == 0:
        raise ValueError("ece_bootstrap_ci: the arrays are empty")
    bins = _equal_width_index(conf, n_bins)
    rng = np.random.default_rng(seed)
    stats = np.empty(int(n_boot))
    per_block = max(1, _RESAMPLE_BLOCK // n)
    for start in range(0, int(n_boot), per_block):
        reps = min(per_block, int(n_boot) - start)
        idx = np.stack([rng.integers(0, n, size=n) for _ in range(reps)])
        cell = (bins[idx] + n_bins * np.arange(reps)[:, None]).ravel()  # (replicate, bin) as one number
        size = reps * n_bins
        count = np.bincount(cell, minlength=size).reshape(reps, n_bins)
        acc_sum = np.bincount(cell, weights=corr[idx].ravel(), minlength=size).reshape(reps, n_bins)
        conf_sum = np.bincount(cell, weights=conf[idx].ravel(), minlength=size).reshape(reps, n_bins)
        filled = np.maximum(count, 1)
        gap = np.where(count > 0, np.abs(acc_sum / filled - conf_sum / filled), 0.0)
        stats[start:start + reps] = (count / n * gap).sum(axis=1)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)
