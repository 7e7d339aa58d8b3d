"""Murphy's (1973) decomposition of the Brier score: reliability - resolution + uncertainty.

For forecasts ``f_i`` of a 0/1 outcome ``o_i``, grouped into bins ``m`` with ``n_m`` samples, mean
forecast ``f_m`` and outcome rate ``o_m`` (overall rate ``o``):

- reliability ``REL = sum_m n_m/N (f_m - o_m)^2`` (calibration; lower is better),
- resolution ``RES = sum_m n_m/N (o_m - o)^2`` (how far the bins' outcome rates spread; higher is better),
- uncertainty ``UNC = o (1 - o)`` (the outcomes' own variance; the model cannot change it).

``BS = mean_i (f_i - o_i)^2 = REL - RES + UNC + within``, where ``within`` (Stephenson et al. 2008's
within-bin variance and covariance terms) is exactly 0 when the forecasts are constant inside each
bin ("binned forecasts"); on continuous forecasts it is small and reported, not hidden.

Two targets:

- ``kind="top_label"``: ``f = max_k p_k``, ``o = 1[argmax = label]``; ``BS`` is the top-label
  Brier score ``mean (conf - correct)^2`` (not :func:`vlmcal_utils.metrics.brier`).
- ``kind="multiclass"``: the sum over classes ``k`` of the decomposition of ``f = p[:, k]``,
  ``o = 1[label = k]``; ``BS`` is then :func:`vlmcal_utils.metrics.brier` (Brier's multiclass form,
  in [0, 2]).

Bins are :mod:`vlmcal_utils.metrics`' (equal-width ``(lo, hi]`` or equal-mass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vlmcal_utils.checks import check_choice, confidence_arrays, labels_array, probs_array
from vlmcal_utils.metrics import BINNINGS, confidence_and_correct, reliability_bins_from_confidence

__all__ = ["KINDS", "brier_decomposition", "brier_decomposition_from_confidence"]

KINDS = ("top_label", "multiclass")
PARTS = ("brier", "reliability", "resolution", "uncertainty", "within_bin")


def _decompose(f: np.ndarray, o: np.ndarray, n_bins: int, binning: str) -> dict[str, float]:
    table = reliability_bins_from_confidence(f, o, n_bins=n_bins, binning=binning)
    table = table[table["count"] > 0]
    w = table["count"].to_numpy() / f.shape[0]
    f_m, o_m = table["confidence"].to_numpy(), table["accuracy"].to_numpy()
    rate = float(o.mean())
    parts = {
        "brier": float(((f - o) ** 2).mean()),
        "reliability": float((w * (f_m - o_m) ** 2).sum()),
        "resolution": float((w * (o_m - rate) ** 2).sum()),
        "uncertainty": rate * (1 - rate),
    }
    parts["within_bin"] = parts["brier"] - parts["reliability"] + parts["resolution"] - parts["uncertainty"]
    return parts


def brier_decomposition_from_confidence(
    forecast: Any, outcome: Any, n_bins: int = 15, binning: str = "equal_width"
) -> dict[str, float]:
    """Murphy decomposition of (N,) forecasts in [0, 1] of (N,) 0/1 outcomes.

    Parameters
    ----------
    forecast : array-like, shape (N,)
        Forecast probabilities of the event (e.g. top-label confidences).
    outcome : array-like, shape (N,)
        Whether the event happened (bool or 0/1).
    n_bins : int
        Number of bins.
    binning : {"equal_width", "equal_mass"}
        The bins of :mod:`vlmcal_utils.metrics`.

    Returns
    -------
    dict
        ``brier, reliability, resolution, uncertainty, within_bin`` (floats) with
        ``brier == reliability - resolution + uncertainty + within_bin``.

    Examples
    --------
    Forecasts 0.2 and 0.8, each twice: constant within their bins, so ``within_bin`` is 0.

    >>> d = brier_decomposition_from_confidence([0.2, 0.2, 0.8, 0.8], [0, 1, 1, 1], n_bins=5)
    >>> {k: round(v, 4) for k, v in d.items()}
    {'brier': 0.19, 'reliability': 0.065, 'resolution': 0.0625, 'uncertainty': 0.1875, 'within_bin': 0.0}
    """
    f, o = confidence_arrays(forecast, outcome)
    check_choice(binning, BINNINGS, "binning")
    return _decompose(f, o, n_bins, binning)


def brier_decomposition(
    probs: Any, labels: Any, kind: str = "top_label", n_bins: int = 15, binning: str = "equal_width"
) -> dict[str, float]:
    """Murphy decomposition of the Brier score of (N, K) probabilities, top-label or multiclass.

    Parameters
    ----------
    probs : array-like, shape (N, K)
        Class probabilities (rows sum to 1).
    labels : array-like, shape (N,)
        Integer labels in ``[0, K)``.
    kind : {"top_label", "multiclass"}
        See the module docstring; ``"multiclass"`` sums the K one-vs-rest decompositions.
    n_bins : int
        Number of bins (per class for ``"multiclass"``).
    binning : {"equal_width", "equal_mass"}
        The bins of :mod:`vlmcal_utils.metrics`.

    Returns
    -------
    dict
        ``brier, reliability, resolution, uncertainty, within_bin``; the parts add up to ``brier``.
    """
    kind = check_choice(kind, KINDS, "kind")
    check_choice(binning, BINNINGS, "binning")
    if kind == "top_label":
        conf, corr = confidence_and_correct(probs, labels)
        return _decompose(conf, corr, n_bins, binning)
    p = probs_array(probs)
    y = labels_array(labels, p.shape[0], p.shape[1])
    p = np.clip(p, 0.0, 1.0)  # rows are validated within 1e-3; clip rounding excess for binning
    total = dict.fromkeys(PARTS, 0.0)
    for k in range(p.shape[1]):
        for name, value in _decompose(p[:, k], (y == k).astype(np.float64), n_bins, binning).items():
            total[name] += value
    return total
