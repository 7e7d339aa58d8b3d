"""How the binned ECE behaves on finite samples: subsample draws and per-bin accuracy intervals.

Two questions chapter 1 asks of a measured ECE:

- :func:`subsample_ece` — how large is the ECE of a random subsample of ``n`` predictions, compared
  with the value on all of them? The plug-in ECE is biased upwards at small ``n`` (each bin's
  accuracy is noisy, and ``|noise|`` is positive); the debiased estimator of
  :func:`vlmcal_utils.ece_estimators.debiased_ece_from_confidence` removes most of that bias.
- :func:`bin_accuracy_band` — how sure is each bar of a reliability diagram? A pointwise
  ``(1 - alpha)`` interval of every bin's accuracy, with the bin's members held fixed.

Conventions
-----------
Top-label inputs: ``(N,)`` confidences in [0, 1] and ``(N,)`` 0/1 correctness; bins are
:mod:`vlmcal_utils.metrics`' (equal-width ``(lo, hi]`` or equal-mass). Every random draw comes from
``numpy.random.default_rng(seed)``, so the numbers are reproducible.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm

from vlmcal_utils.checks import check_choice, check_int, check_n_bins, confidence_arrays
from vlmcal_utils.ece_estimators import debiased_ece_from_confidence
from vlmcal_utils.metrics import BINNINGS, ece_from_confidence, reliability_bins_from_confidence

__all__ = ["BAND_METHODS", "subsample_ece", "bin_accuracy_band"]

BAND_METHODS = ("wilson", "bootstrap")
"""Per-bin interval methods of :func:`bin_accuracy_band`."""


def subsample_ece(
    confidence: Any,
    correct: Any,
    sizes: Sequence[int] = (100, 300, 1000, 3000, 10000),
    n_repeats: int = 100,
    n_bins: int = 15,
    binning: str = "equal_width",
    seed: int = 0,
) -> pd.DataFrame:
    """Plug-in and debiased ECE of random subsamples of size ``n``, ``n_repeats`` draws per size.

    Each draw takes ``n`` predictions without replacement (``n`` is capped at ``N``; a size of
    ``N`` or more is the full set, drawn once, since every draw would be the same).

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidences in [0, 1].
    correct : array-like, shape (N,)
        Bool or 0/1 correctness.
    sizes : sequence of int
        Subsample sizes (each >= 2).
    n_repeats : int
        Draws per size.
    n_bins : int
        Number of bins of both estimators.
    binning : {"equal_width", "equal_mass"}
        The bins of :mod:`vlmcal_utils.metrics`.
    seed : int
        Seed of the draws.

    Returns
    -------
    pandas.DataFrame
        One row per draw: ``n`` (the size actually drawn), ``repeat``, ``ece`` (plug-in),
        ``debiased_ece`` (Kumar et al. 2019, ``p = 1``), and ``full_ece``, the plug-in ECE of all
        ``N`` predictions (the same in every row).
    """
    conf, corr = confidence_arrays(confidence, correct)
    n_bins = check_n_bins(n_bins)
    check_choice(binning, BINNINGS, "binning")
    n_repeats = check_int(n_repeats, "n_repeats", minimum=1)
    if len(sizes) == 0:
        raise ValueError("subsample_ece: give at least one subsample size")
    total = conf.shape[0]
    full = ece_from_confidence(conf, corr, n_bins=n_bins, binning=binning)
    rng = np.random.default_rng(seed)
    rows = []
    for size in sizes:
        n = min(check_int(size, "subsample size", minimum=2), total)
        for r in range(1 if n == total else n_repeats):
            idx = rng.choice(total, size=n, replace=False) if n < total else np.arange(total)
            c, k = conf[idx], corr[idx]
            rows.append({"n": n, "repeat": r, "ece": ece_from_confidence(c, k, n_bins=n_bins, binning=binning),
                         "debiased_ece": debiased_ece_from_confidence(c, k, n_bins=n_bins, binning=binning),
                         "full_ece": full})
    return pd.DataFrame(rows)


def bin_accuracy_band(
    confidence: Any,
    correct: Any,
    n_bins: int = 15,
    binning: str = "equal_width",
    method: str = "wilson",
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """The reliability table with a pointwise ``(1 - alpha)`` interval of every bin's accuracy.

    The interval treats the bin's ``n_m`` members as fixed and their correctness as
    ``n_m`` independent 0/1 draws with the bin's accuracy ``a_m``:

    - ``"wilson"``: the Wilson score interval (deterministic; sensible also where ``a_m`` is 0 or 1,
      e.g. ``[0.72, 1]`` for 10 of 10 correct, where a percentile bootstrap collapses to ``[1, 1]``).
    - ``"bootstrap"``: percentile interval of ``n_boot`` resamples of the bin's outcomes with
      replacement (``Binomial(n_m, a_m) / n_m``), seeded.

    Intervals are per bin, not simultaneous: with 15 bins, one of them missing the diagonal by
    chance is not unusual.

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
    method : {"wilson", "bootstrap"}
        See above.
    alpha : float
        ``0.05`` for 95 % intervals.
    n_boot, seed
        Resamples and seed of ``"bootstrap"`` (ignored by ``"wilson"``).

    Returns
    -------
    pandas.DataFrame
        :func:`vlmcal_utils.metrics.reliability_bins_from_confidence`'s columns (``bin_lower,
        bin_upper, count, accuracy, confidence, gap``) plus ``acc_lo`` and ``acc_hi``, NaN for
        empty bins; ``acc_lo <= accuracy <= acc_hi`` in every other bin.
    """
    method = check_choice(method, BAND_METHODS, "method")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.05 for a 95 % interval; got {alpha!r}")
    table = reliability_bins_from_confidence(confidence, correct, n_bins=check_n_bins(n_bins), binning=binning)
    n = table["count"].to_numpy().astype(np.float64)
    acc = table["accuracy"].to_numpy()
    filled = n > 0
    lo, hi = np.full(n.shape, np.nan), np.full(n.shape, np.nan)
    if method == "wilson":
        z = norm.ppf(1 - alpha / 2)
        nf, af = n[filled], acc[filled]
        centre = (af + z**2 / (2 * nf)) / (1 + z**2 / nf)
        half = z / (1 + z**2 / nf) * np.sqrt(af * (1 - af) / nf + z**2 / (4 * nf**2))
        lo[filled] = np.clip(np.minimum(centre - half, af), 0.0, 1.0)
        hi[filled] = np.clip(np.maximum(centre + half, af), 0.0, 1.0)
    else:
        n_boot = check_int(n_boot, "n_boot", minimum=1)
        rng = np.random.default_rng(seed)
        for m in np.flatnonzero(filled):
            draws = rng.binomial(int(n[m]), acc[m], size=n_boot) / n[m]
            lo[m], hi[m] = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    table["acc_lo"], table["acc_hi"] = lo, hi
    return table
