"""Selective prediction: the risk-coverage curve, its area (AURC; Geifman & El-Yaniv 2017), a threshold.

Predictions are accepted from the most to the least confident; at coverage ``k / N`` the
selective risk is the error rate of the ``k`` accepted ones. Top-label: ``confidence = max_k p_k``,
``error = 1[argmax != label]``.

**Ties.** Tied confidences cannot be ordered by the model, so the curve inside a tie group is the
*expected* risk under a random order of the group: with ``e_before`` errors among the samples
ranked above the group, a group of ``g`` samples with ``e_g`` errors and ``j`` of them accepted,
``risk = (e_before + j e_g / g) / (e_before_count + j)``. This is deterministic, does not depend
on the input order, and equals the usual sorted cumulative mean when there are no ties
(torch-uncertainty's ``AURC`` breaks ties by ``argsort`` order instead).

``AURC = mean_k risk_k`` (the mean over the N coverage levels ``1/N, ..., 1``), Geifman et al.'s
form. torch-uncertainty 0.13 reports the trapezoid over ``[1/N, 1]`` divided by ``1 - 1/N``: with
``r`` the curve, that is ``(sum r - (r_1 + r_N) / 2) / (N - 1)``; :func:`aurc` gives it with
``convention="trapezoid"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmcal_utils.checks import check_choice, confidence_arrays
from vlmcal_utils.metrics import confidence_and_correct

__all__ = ["CONVENTIONS", "risk_coverage_curve", "aurc", "aurc_from_confidence", "excess_aurc", "accept_above"]

CONVENTIONS = ("mean", "trapezoid")


def risk_coverage_curve(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """Selective risk at each coverage ``k / N``, ``k = 1..N``, ties averaged (module docstring).

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidences in [0, 1]; higher is accepted first.
    correct : array-like, shape (N,)
        Bool or 0/1 correctness.

    Returns
    -------
    coverage, risk : numpy.ndarray, shape (N,)
        ``coverage[k-1] = k / N``; ``risk[k-1]`` is the expected error rate of the ``k`` most
        confident predictions.

    Examples
    --------
    >>> cov, risk = risk_coverage_curve([0.9, 0.8, 0.6], [1, 0, 1])
    >>> risk.round(4).tolist()
    [0.0, 0.5, 0.3333]
    """
    conf, corr = confidence_arrays(confidence, correct)
    err = 1.0 - corr
    n = conf.shape[0]
    order = np.argsort(-conf, kind="stable")
    c, e = conf[order], err[order]
    # Tie groups in the sorted order: every position gets its group's start, size and error rate.
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, n])
    group_err = np.add.reduceat(e, starts)
    errors_before = np.r_[0.0, np.cumsum(group_err)[:-1]]
    group_of = np.repeat(np.arange(starts.size), sizes)
    k = np.arange(1, n + 1, dtype=np.float64)
    j = k - starts[group_of]  # how many of the group are accepted at coverage k
    expected_errors = errors_before[group_of] + j * group_err[group_of] / sizes[group_of]
    return k / n, expected_errors / k


def accept_above(confidence: Any, correct: Any, threshold: float) -> dict[str, float]:
    """Accept the predictions whose confidence is above ``threshold``: what they promise, what they deliver.

    A user who acts only on predictions with confidence ``> threshold`` is promised, by a
    calibrated model, an accuracy equal to the mean confidence of those predictions (at least
    ``threshold``). The gap between ``promised`` and ``delivered`` is the broken promise.

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Top-label confidences in [0, 1].
    correct : array-like, shape (N,)
        Bool or 0/1 correctness.
    threshold : float
        In ``[0, 1)``; accepted: ``confidence > threshold`` (strictly, as bins are ``(lo, hi]``).

    Returns
    -------
    dict
        ``threshold``, ``coverage`` (share accepted), ``n_accepted``, ``promised`` (their mean
        confidence) and ``delivered`` (their accuracy); the last two are NaN when none is accepted.

    Examples
    --------
    >>> r = accept_above([0.95, 0.92, 0.6, 0.99], [1, 0, 1, 1], 0.9)
    >>> r["coverage"], round(r["promised"], 4), round(r["delivered"], 4)
    (0.75, 0.9533, 0.6667)
    """
    conf, corr = confidence_arrays(confidence, correct)
    if not 0.0 <= float(threshold) < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}: a confidence above 1 accepts nothing")
    accepted = conf > threshold
    n = int(accepted.sum())
    return {"threshold": float(threshold), "coverage": n / conf.shape[0], "n_accepted": n,
            "promised": float(conf[accepted].mean()) if n else float("nan"),
            "delivered": float(corr[accepted].mean()) if n else float("nan")}


def aurc_from_confidence(confidence: Any, correct: Any, convention: str = "mean") -> float:
    """Area under the risk-coverage curve of top-label data (lower is better), in [0, 1].

    Parameters
    ----------
    confidence, correct
        As in :func:`risk_coverage_curve`.
    convention : {"mean", "trapezoid"}
        ``"mean"``: ``mean_k risk_k`` (Geifman et al.); ``"trapezoid"``: torch-uncertainty's
        normalised trapezoid (module docstring; needs N >= 2).

    Returns
    -------
    float
    """
    convention = check_choice(convention, CONVENTIONS, "convention")
    _, risk = risk_coverage_curve(confidence, correct)
    if convention == "mean":
        return float(risk.mean())
    if risk.size < 2:
        raise ValueError("aurc: the trapezoid convention needs at least 2 samples")
    return float((risk.sum() - 0.5 * (risk[0] + risk[-1])) / (risk.size - 1))


def aurc(probs: Any, labels: Any, convention: str = "mean") -> float:
    """AURC of (N, K) probabilities and (N,) labels; see :func:`aurc_from_confidence`."""
    conf, corr = confidence_and_correct(probs, labels)
    return aurc_from_confidence(conf, corr, convention=convention)


def excess_aurc(probs: Any, labels: Any) -> float:
    """E-AURC: AURC minus that of an oracle ranking all correct predictions first (``mean`` form).

    Removes the part of AURC that only reflects the error rate, leaving the ranking quality;
    0 for a perfect ranking.
    """
    conf, corr = confidence_and_correct(probs, labels)
    _, risk = risk_coverage_curve(conf, corr)
    _, oracle = risk_coverage_curve(corr, corr)  # correct ones (confidence 1) first
    return float(risk.mean() - oracle.mean())
