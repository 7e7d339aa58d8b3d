"""How much to trust an ECE: smooth ECE, the debiased binned ECE and the ECE's bin sensitivity.

The binned ECE of :mod:`vlmcal_utils.metrics` depends on its bin count (Guo et al. use 15, the
C-TPT/O-TPT/A-TPT papers 20, others 10) and is biased upwards on small samples: even a perfectly
calibrated model has ``E[ECE] > 0``, because each bin's accuracy is a noisy estimate. This module
gives three ways to see how much of a reported ECE is real.

Conventions
-----------
Top-label throughout (``confidence = max_k p_k``, ``correct = argmax_k p_k == label``, as in
:mod:`vlmcal_utils.metrics`); equal-width bins are ``(lo, hi]`` with a confidence of 0 in the first
bin, equal-mass bins are :mod:`vlmcal_utils.metrics`' ``numpy.array_split`` groups.

- :func:`smooth_ece` is the SmoothECE of Błasiok & Nakkiran (2023), computed by the authors'
  package ``relplot`` (1.0.3, ``relplot.smECE``: reflected Gaussian kernel, bandwidth chosen
  automatically as the fixed point ``sigma = smECE_sigma``). It has no bins to choose.
- :func:`debiased_ece` is Kumar, Liang & Ma (2019, "Verified uncertainty calibration")'s
  bias-corrected binned estimator, as in their ``calibration`` library
  (``p-lambda/verified_calibration``, ``calibration/utils.py``: ``unbiased_square_ce`` for
  ``p = 2``, ``normal_debiased_ce`` for ``p = 1``).
- :func:`ece_bin_sensitivity` is the plug-in ECE over the bin counts papers use.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from vlmcal_utils.checks import check_choice, check_int, check_n_bins, confidence_arrays
from vlmcal_utils.metrics import (
    BINNINGS,
    bootstrap_ci,
    confidence_and_correct,
    ece_from_confidence,
    reliability_bins_from_confidence,
)

__all__ = [
    "SENSITIVITY_BINS",
    "smooth_ece",
    "smooth_ece_from_confidence",
    "smooth_ece_ci",
    "debiased_ece",
    "debiased_ece_from_confidence",
    "ece_bin_sensitivity",
]


def _sm_ece(confidence, correct) -> float:
    """relplot's smECE of (N,) confidences and (N,) 0/1 correctness.

    relplot is imported on first use: it imports scikit-learn (seconds), which reading a results
    file or a command line's --help should not pay.
    """
    import relplot

    return relplot.smECE(confidence, correct)


SENSITIVITY_BINS = (5, 10, 15, 20, 30)
"""Equal-width bin counts in use across the calibration literature (10; 15 Guo et al.; 20 C-TPT)."""


def smooth_ece_from_confidence(confidence: Any, correct: Any) -> float:
    """SmoothECE (Błasiok & Nakkiran 2023) of (N,) top-label confidences and (N,) 0/1 correctness.

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidences in [0, 1].
    correct : array-like, shape (N,)
        Whether each prediction was right (bool or 0/1).

    Returns
    -------
    float
        ``_sm_ece(confidence, correct)``, in [0, 1]: the kernel-smoothed ``|E[y - f | f]|``
        averaged over the smoothed density of ``f``, at relplot's automatic bandwidth.
    """
    conf, corr = confidence_arrays(confidence, correct)
    return float(_sm_ece(conf, corr))


def smooth_ece(probs: Any, labels: Any) -> float:
    """Top-label SmoothECE of (N, K) probabilities and (N,) labels; see :func:`smooth_ece_from_confidence`."""
    conf, corr = confidence_and_correct(probs, labels)
    return float(_sm_ece(conf, corr))


def smooth_ece_ci(
    probs: Any, labels: Any, n_boot: int = 200, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float, float]:
    """SmoothECE with a percentile bootstrap ``(1 - alpha)`` interval.

    relplot's own band (``prepare_rel_diagram``'s ``ce_ci_width``) uses an unseeded
    ``scipy.stats.bootstrap``; this one resamples (confidence, correct) pairs with
    :func:`vlmcal_utils.metrics.bootstrap_ci` so the book's numbers are reproducible.

    Parameters
    ----------
    probs : array-like, shape (N, K)
        Class probabilities.
    labels : array-like, shape (N,)
        Integer labels in ``[0, K)``.
    n_boot, alpha, seed
        As in :func:`vlmcal_utils.metrics.bootstrap_ci`.

    Returns
    -------
    (estimate, low, high) : tuple of float
    """
    conf, corr = confidence_and_correct(probs, labels)
    low, high = bootstrap_ci(
        lambda f, y: float(_sm_ece(f, y)), conf, corr, n_boot=n_boot, alpha=alpha, seed=seed
    )
    return float(_sm_ece(conf, corr)), low, high


def _check_p(p: Any) -> int:
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"p must be 1 (the ECE) or 2 (the l2 calibration error), got {p!r}")
    return int(p)


def debiased_ece_from_confidence(
    confidence: Any, correct: Any, n_bins: int = 15, binning: str = "equal_width", p: int = 1
) -> float:
    """Bias-corrected binned l_p calibration error (Kumar et al. 2019) from top-label data.

    Per bin ``m`` with ``n_m`` samples, mean confidence ``c_m`` and accuracy ``a_m``:

    - ``p = 2`` (``unbiased_square_ce``): ``sum_m n_m/N [(c_m - a_m)^2 - a_m (1 - a_m) / (n_m - 1)]``
      (bins with one sample contribute 0), clipped at 0, square-rooted. Unbiased for the squared
      binned error.
    - ``p = 1`` (``normal_debiased_ce``): ``2 ECE - E[ECE*]`` where ``ECE*`` replaces each ``a_m``
      by ``N(a_m, a_m (1 - a_m) / n_m)``. verified_calibration estimates ``E[ECE*]`` with 1000
      random draws; here it is the exact folded-normal mean
      ``E|X| = s sqrt(2/pi) exp(-d^2 / 2s^2) + d (1 - 2 Phi(-d/s))`` (``d = a_m - c_m``), i.e. the
      limit of infinitely many draws, and deterministic. verified_calibration refuses any bin with
      fewer than 2 samples; here empty bins carry no weight and a one-sample bin has ``s = 0``
      (no correction), so equal-width bins with empty ends are allowed. The result may be
      negative when the model is very well calibrated (it is an estimate of a difference).

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidences in [0, 1].
    correct : array-like, shape (N,)
        Bool or 0/1 correctness.
    n_bins : int
        Number of bins.
    binning : {"equal_width", "equal_mass"}
        The bins of :mod:`vlmcal_utils.metrics`.
    p : {1, 2}
        1 for the ECE, 2 for the l2 calibration error.

    Returns
    -------
    float
        The debiased estimate (``p = 1`` may dip below 0; ``p = 2`` is >= 0).
    """
    p = _check_p(p)
    table = reliability_bins_from_confidence(confidence, correct, n_bins=n_bins, binning=binning)
    table = table[table["count"] > 0]
    w = table["count"].to_numpy() / table["count"].sum()
    n_m = table["count"].to_numpy().astype(np.float64)
    acc = table["accuracy"].to_numpy()
    d = acc - table["confidence"].to_numpy()
    if p == 2:
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.where(n_m >= 2, acc * (1 - acc) / np.maximum(n_m - 1, 1), 0.0)
        per_bin = np.where(n_m >= 2, d**2 - var, 0.0)
        return float(np.sqrt(max(float((w * per_bin).sum()), 0.0)))
    plugin = float((w * np.abs(d)).sum())
    s = np.sqrt(acc * (1 - acc) / n_m)
    with np.errstate(divide="ignore", invalid="ignore"):
        folded = np.where(
            s > 0,
            s * np.sqrt(2 / np.pi) * np.exp(-(d**2) / (2 * np.maximum(s, 1e-300) ** 2))
            + d * (1 - 2 * norm.cdf(-d / np.maximum(s, 1e-300))),
            np.abs(d),
        )
    return float(2 * plugin - (w * folded).sum())


def debiased_ece(
    probs: Any, labels: Any, n_bins: int = 15, binning: str = "equal_width", p: int = 1
) -> float:
    """Debiased top-label ECE of (N, K) probabilities; see :func:`debiased_ece_from_confidence`."""
    conf, corr = confidence_and_correct(probs, labels)
    return debiased_ece_from_confidence(conf, corr, n_bins=n_bins, binning=binning, p=p)


def ece_bin_sensitivity(
    probs: Any,
    labels: Any,
    bins: Sequence[int] = SENSITIVITY_BINS,
    equal_mass_bins: int | None = 15,
    debiased: bool = True,
) -> pd.DataFrame:
    """The top-label ECE under each bin choice the literature uses, one row per choice.

    Parameters
    ----------
    probs : array-like, shape (N, K)
        Class probabilities.
    labels : array-like, shape (N,)
        Integer labels in ``[0, K)``.
    bins : sequence of int
        Equal-width bin counts (default 5, 10, 15, 20, 30).
    equal_mass_bins : int or None
        Also add the equal-mass ("adaptive") ECE with this many bins; ``None`` leaves it out.
    debiased : bool
        Add a ``debiased_ece`` column (:func:`debiased_ece`, ``p = 1``).

    Returns
    -------
    pandas.DataFrame
        Columns ``binning`` ("equal_width"/"equal_mass"), ``n_bins``, ``ece`` (and
        ``debiased_ece``), in the order given.
    """
    conf, corr = confidence_and_correct(probs, labels)
    choices = [("equal_width", check_n_bins(b)) for b in bins]
    if equal_mass_bins is not None:
        choices.append(("equal_mass", check_int(equal_mass_bins, "equal_mass_bins", minimum=1)))
    if not choices:
        raise ValueError("ece_bin_sensitivity: give at least one bin count")
    rows = []
    for binning, n in choices:
        check_choice(binning, BINNINGS, "binning")
        row = {"binning": binning, "n_bins": n, "ece": ece_from_confidence(conf, corr, n, binning)}
        if debiased:
            row["debiased_ece"] = debiased_ece_from_confidence(conf, corr, n, binning)
        rows.append(row)
    return pd.DataFrame(rows)
