"""Which calibrator when labels are few: TS vs vector scaling vs histogram binning vs isotonic.

For each calibration-set size ``n`` and repeat ``r``, ``n`` samples are drawn without replacement
from a pool (the logits file's ``val`` split, seeded ``default_rng([seed, n, r])`` so adding a size
does not change the others' draws), every method is fitted on them and scored on the fixed test
split. Scores: top-label ECE with ``n_bins`` equal-width bins, the debiased ECE
(:mod:`vlmcal_utils.ece_estimators`) and the NLL. The summary gives, per (method, n), the mean
over repeats and the 2.5/97.5 % percentiles of the repeats — the spread due to *which* ``n``
samples were labelled, the quantity a user with ``n`` labels faces.

Draws per size: ``repeats`` up to ``n = large_n``, ``repeats_large`` above it (the spread of
large calibration sets is small, and these fits dominate the cost), and one draw when ``n`` is
the whole pool (every draw is then the same set).

``"none"`` is the uncalibrated model (fitted on nothing), ``"ts"`` temperature scaling
(:func:`vlmcal_utils.temperature.fit_temperature`, bisection: no torch start-up per fit),
``"vector_scaling"`` :class:`~vlmcal_utils.calibrators.VectorScaler` fitted by
:func:`fit_vector_scaler` (the same objective in numpy/scipy on standardised logits, many times
faster than the torch L-BFGS fit — cProfile of a small case showed that fit was 90 % of the
curves' time — and capped at ``vs_max_iter`` iterations), ``"histogram_binning"`` and
``"isotonic"`` the classes of :mod:`vlmcal_utils.calibrators`. On SigLIP's sigmoid logits every
method here is a softmax-based recalibration of the K-way decision (see
:mod:`vlmcal_utils.calibrators`).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which requires it

from vlmcal_utils.calibrators import CALIBRATORS, VectorScaler, nll_of
from vlmcal_utils.checks import check_int, labels_array, logits_array, unknown_name_error
from vlmcal_utils.metrics import nll, softmax
from vlmcal_utils.scores import score_probs
from vlmcal_utils.temperature import fit_temperature

__all__ = ["CURVE_METHODS", "DEFAULT_SIZES", "fit_vector_scaler", "calibrator_curves",
           "summarise_calibrator_curves"]

CURVE_METHODS = ("none", "ts", "vector_scaling", "histogram_binning", "isotonic")
#: The default calibration-set sizes (10 ... 5000).
DEFAULT_SIZES = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


def fit_vector_scaler(logits: Any, labels: Any, max_iter: int = 500) -> VectorScaler:
    """A :class:`~vlmcal_utils.calibrators.VectorScaler` (with bias) fitted by scipy's L-BFGS-B.

    Same objective and start as ``VectorScaler().fit``: the mean NLL of ``softmax(z * w + b)``
    from ``w = 1, b = 0``, with the analytic gradient in float64; ``b`` is centred afterwards.
    Where the NLL has no finite minimum (tiny or separable calibration sets: 2K parameters and
    perhaps fewer samples) both stop at their iteration or tolerance limits and may differ; such
    fits are overconfident either way.

    Parameters
    ----------
    logits : array-like, shape (N, K)
    labels : array-like, shape (N,)
    max_iter : int
        L-BFGS iterations at most.

    Returns
    -------
    VectorScaler
        Fitted (``weight_``, ``bias_`` of shape (K,)); use its ``predict_proba``.
    """
    z0 = logits_array(logits, "logits")
    y = labels_array(labels, z0.shape[0], z0.shape[1], "labels")
    # Fit on standardised logits z = (z0 - m) / s (CLIP's are ~25 +- 3: badly conditioned for
    # L-BFGS), then map back: z0 * w + b = z * (s w) + (m w + b).
    m, sd = float(z0.mean()), float(z0.std()) or 1.0
    z = (z0 - m) / sd
    n, k = z.shape
    onehot = np.zeros_like(z)
    rows = np.arange(n)
    onehot[rows, y] = 1.0

    def loss_and_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        s = z * theta[:k] + theta[k:]
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        tot = e.sum(axis=1, keepdims=True)
        g = (e / tot - onehot) / n
        loss = float((np.log(tot[:, 0]) - s[rows, y]).mean())
        return loss, np.concatenate([(g * z).sum(0), g.sum(0)])

    theta0 = np.concatenate([np.full(k, sd), np.full(k, m)])  # w = 1, b = 0 in the original scale
    # One BLAS thread: L-BFGS-B's 2K-vector steps gain nothing from more, and waking the pool on
    # every step made the fit ~5x slower on 2 cores (chapter 3's calibrator table: most of its time).
    with threadpool_limits(limits=1, user_api="blas"):
        res = minimize(loss_and_grad, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": max_iter, "gtol": 1e-5, "ftol": 1e-9})
    w = res.x[:k] / sd
    b = res.x[k:] - m * w
    vs = VectorScaler(bias=True, max_iter=max_iter)
    vs.weight_ = w
    vs.bias_ = b - b.mean()
    vs.n_classes_ = k
    return vs


def _score(method: str, z: np.ndarray, y: np.ndarray, zt: np.ndarray, yt: np.ndarray,
           n_bins: int, vs_max_iter: int = 100) -> dict[str, float]:
    if method == "none":
        probs, loss = softmax(zt), nll(zt, yt)
    elif method == "ts":
        with warnings.catch_warnings():  # at tiny n the optimum may sit at a bound: that is a result
            warnings.simplefilter("ignore", UserWarning)
            scaled = zt / fit_temperature(z, y, method="bisection")
        probs, loss = softmax(scaled), nll(scaled, yt)
    else:
        cal = (fit_vector_scaler(z, y, max_iter=vs_max_iter) if method == "vector_scaling"
               else CALIBRATORS[method]().fit(z, y))
        probs, loss = cal.predict_proba(zt), nll_of(cal, zt, yt)
    scores = score_probs(probs, yt, bins=n_bins, estimators=("debiased",))
    # the NLL is the calibrator's own (nll_of: a histogram's or isotonic's zero probabilities are
    # clipped there), not the record's, which is infinite on a zero
    return {"ece": scores.primary_ece, "debiased_ece": scores.debiased_ece, "nll": loss}


def _draws(n: int, pool: int, repeats: int, large_n: int, repeats_large: int) -> int:
    if n == pool:
        return 1
    return repeats if n <= large_n else min(repeats, repeats_large)


def calibrator_curves(
    logits_pool: Any,
    labels_pool: Any,
    logits_test: Any,
    labels_test: Any,
    sizes: Sequence[int] = DEFAULT_SIZES,
    repeats: int = 20,
    methods: Sequence[str] = CURVE_METHODS,
    seed: int = 0,
    n_bins: int = 15,
    large_n: int = 500,
    repeats_large: int = 5,
    vs_max_iter: int = 100,
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
        Draws per size up to ``large_n``.
    methods : sequence of str
        A subset of :data:`CURVE_METHODS`.
    seed : int
        Base seed of the draws.
    n_bins : int
        Equal-width bins of both ECEs (15 as the chapter; the TPT papers use 20).
    large_n, repeats_large : int
        Sizes above ``large_n`` get ``min(repeats, repeats_large)`` draws; ``n = P`` gets one.
    vs_max_iter : int
        L-BFGS iterations of each vector-scaling fit. Where the fit has a minimum it is reached in
        well under 100 (CLIP CIFAR-10, n >= 200: about 40-90); where it has none (small, separable
        draws) more iterations only push the fit further towards one-hot: on CLIP at n = 50 the
        mean test ECE over 20 draws is 12.2 % after 100 and 12.6 % after 500 iterations, at half
        the cost.

    Returns
    -------
    pandas.DataFrame
        One row per (method, n, repeat): ``method, n, repeat, ece, debiased_ece, nll``.
    """
    z = logits_array(logits_pool, "logits_pool")
    y = labels_array(labels_pool, z.shape[0], z.shape[1], "labels_pool")
    zt = logits_array(logits_test, "logits_test")
    yt = labels_array(labels_test, zt.shape[0], z.shape[1], "labels_test")
    repeats = check_int(repeats, "repeats", minimum=1)
    repeats_large = check_int(repeats_large, "repeats_large", minimum=1)
    for m in methods:
        if m not in CURVE_METHODS:
            raise unknown_name_error("method", m, CURVE_METHODS)
    rows = []
    none = _score("none", z[:0], y[:0], zt, yt, n_bins) if "none" in methods else None  # fitted on nothing
    for n in sizes:
        n = check_int(n, "size", minimum=2)
        if n > z.shape[0]:
            continue
        for r in range(_draws(n, z.shape[0], repeats, large_n, repeats_large)):
            idx = np.random.default_rng([seed, n, r]).choice(z.shape[0], size=n, replace=False)
            for m in methods:
                scores = none if m == "none" else _score(m, z[idx], y[idx], zt, yt, n_bins, vs_max_iter)
                rows.append({"method": m, "n": n, "repeat": r, **scores})
    if not rows:
        raise ValueError(f"calibrator_curves: every size in {list(sizes)} exceeds the pool of {z.shape[0]}")
    return pd.DataFrame(rows)


def summarise_calibrator_curves(rows: pd.DataFrame, metric: str = "ece") -> pd.DataFrame:
    """Mean and 2.5/97.5 % percentiles over repeats per (method, n) of ``metric``.

    Parameters
    ----------
    rows : pandas.DataFrame
        :func:`calibrator_curves` rows (extra key columns such as ``model`` are kept as groups).
    metric : str
        ``"ece"``, ``"debiased_ece"`` or ``"nll"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``[model,] method, n, mean, low, high, repeats``, sorted by (model,) method, n.
    """
    if metric not in rows.columns:
        raise unknown_name_error("metric", metric, [c for c in rows.columns if c not in ("method", "n", "repeat")])
    keys = (["model"] if "model" in rows.columns else []) + ["method", "n"]
    g = rows.groupby(keys)[metric]
    out = pd.DataFrame(
        {"mean": g.mean(), "low": g.quantile(0.025), "high": g.quantile(0.975), "repeats": g.size()}
    ).reset_index()
    return out
