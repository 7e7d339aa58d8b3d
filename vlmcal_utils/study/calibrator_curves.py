"""Which calibrator when labels are few: TS vs vector scaling vs histogram binning vs isotonic.

For each calibration-set size ``n`` and repeat ``r``, ``n`` samples are drawn without replacement
from a pool (the logits file's ``val`` split, seeded ``default_rng([seed, n, r])`` so adding a size
does not change the others' draws), every method is fitted on them and scored on the fixed test
split. Scores: 20-bin top-label ECE (the TPT papers' bins), the debiased ECE
(:mod:`vlmcal_utils.ece_estimators`) and the NLL. The summary gives, per (method, n), the mean
over repeats and the 2.5/97.5 % percentiles of the repeats — the spread due to *which* ``n``
samples were labelled, the quantity a user with ``n`` labels faces.

``"none"`` is the uncalibrated model (fitted on nothing), ``"ts"`` temperature scaling
(:func:`vlmcal_utils.temperature.fit_temperature`, bisection: no torch start-up per fit). On
SigLIP's sigmoid logits every method here is a softmax-based recalibration of the K-way decision
(see :mod:`vlmcal_utils.calibrators`).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.calibrators import CALIBRATORS, nll_of
from vlmcal_utils.checks import check_int, labels_array, logits_array, unknown_name_error
from vlmcal_utils.ece_estimators import debiased_ece
from vlmcal_utils.metrics import ece, nll, softmax
from vlmcal_utils.temperature import fit_temperature

__all__ = ["CURVE_METHODS", "calibrator_curves", "summarise_calibrator_curves"]

CURVE_METHODS = ("none", "ts", "vector_scaling", "histogram_binning", "isotonic")


def _score(method: str, z: np.ndarray, y: np.ndarray, zt: np.ndarray, yt: np.ndarray) -> dict[str, float]:
    if method == "none":
        probs, loss = softmax(zt), nll(zt, yt)
    elif method == "ts":
        with warnings.catch_warnings():  # at tiny n the optimum may sit at a bound: that is a result
            warnings.simplefilter("ignore", UserWarning)
            scaled = zt / fit_temperature(z, y, method="bisection")
        probs, loss = softmax(scaled), nll(scaled, yt)
    else:
        cal = CALIBRATORS[method]().fit(z, y)
        probs, loss = cal.predict_proba(zt), nll_of(cal, zt, yt)
    return {"ece20": ece(probs, yt, n_bins=20), "debiased_ece20": debiased_ece(probs, yt, n_bins=20), "nll": loss}


def calibrator_curves(
    logits_pool: Any,
    labels_pool: Any,
    logits_test: Any,
    labels_test: Any,
    sizes: Sequence[int] = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
    repeats: int = 20,
    methods: Sequence[str] = CURVE_METHODS,
    seed: int = 0,
) -> pd.DataFrame:
    """Scores of each method fitted on ``n`` pool samples, for each size and repeat.

    Parameters
    ----------
    logits_pool, labels_pool : array-like, shapes (P, K) and (P,)
        Where calibration sets are drawn from (sizes larger than P are skipped).
    logits_test, labels_test : array-like, shapes (M, K) and (M,)
        The fixed evaluation split.
    sizes : sequence of int
        Calibration-set sizes.
    repeats : int
        Draws per size.
    methods : sequence of str
        A subset of :data:`CURVE_METHODS`.
    seed : int
        Base seed of the draws.

    Returns
    -------
    pandas.DataFrame
        One row per (method, n, repeat): ``method, n, repeat, ece20, debiased_ece20, nll``.
    """
    z = logits_array(logits_pool, "logits_pool")
    y = labels_array(labels_pool, z.shape[0], z.shape[1], "labels_pool")
    zt = logits_array(logits_test, "logits_test")
    yt = labels_array(labels_test, zt.shape[0], z.shape[1], "labels_test")
    repeats = check_int(repeats, "repeats", minimum=1)
    for m in methods:
        if m not in CURVE_METHODS:
            raise unknown_name_error("method", m, CURVE_METHODS)
    rows = []
    for n in sizes:
        n = check_int(n, "size", minimum=2)
        if n > z.shape[0]:
            continue
        for r in range(repeats):
            idx = np.random.default_rng([seed, n, r]).choice(z.shape[0], size=n, replace=False)
            for m in methods:
                rows.append({"method": m, "n": n, "repeat": r, **_score(m, z[idx], y[idx], zt, yt)})
    if not rows:
        raise ValueError(f"calibrator_curves: every size in {list(sizes)} exceeds the pool of {z.shape[0]}")
    return pd.DataFrame(rows)


def summarise_calibrator_curves(rows: pd.DataFrame, metric: str = "ece20") -> pd.DataFrame:
    """Mean and 2.5/97.5 % percentiles over repeats per (method, n) of ``metric``.

    Returns
    -------
    pandas.DataFrame
        Columns ``method, n, mean, low, high, repeats``, sorted by method then n.
    """
    if metric not in rows.columns:
        raise unknown_name_error("metric", metric, [c for c in rows.columns if c not in ("method", "n", "repeat")])
    g = rows.groupby(["method", "n"])[metric]
    out = pd.DataFrame(
        {"mean": g.mean(), "low": g.quantile(0.025), "high": g.quantile(0.975), "repeats": g.size()}
    ).reset_index()
    return out
