"""Scoring cached logits before and after temperature scaling (TS).

Conventions
-----------
- ``logits`` are ``(N, K)`` arrays (numpy or torch), ``labels`` ``(N,)`` integer class indices;
  both are validated by :mod:`vlmcal_utils.checks` and computed in float64.
- ECE is top-label with ``n_bins`` equal-width bins (:func:`vlmcal_utils.metrics.ece_from_confidence`),
  NLL the mean natural-log cross-entropy; all in ``[0, 1]`` fractions (not percent).
- Temperatures are fitted by NLL with :func:`vlmcal_utils.temperature.fit_temperature`, by default
  with ``method="bisection"`` (as in Tu et al.'s code; it agrees with L-BFGS to ~1e-4 and is
  ~5-100x faster here, which matters for the hundreds of fits of the n_calib curve).
- The percentile bootstrap of the ECE need not contain the point estimate: binned ECE is biased
  upwards on resamples (duplicated rows sharpen the bins), most visibly for well-calibrated
  models whose ECE is near 0. The interval is still a fair picture of the sampling spread.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmcal_utils.checks import check_int, check_n_bins, labels_array, logits_array
from vlmcal_utils.metrics import bootstrap_ci, ece_from_confidence, log_softmax, nll
from vlmcal_utils.temperature import METHODS, apply_temperature, fit_temperature

__all__ = [
    "TS_METHODS",
    "logits_and_labels",
    "check_same_k",
    "fit_temperature_flagged",
    "score_logits",
    "calibrate_and_score",
    "toplabel_ece_table",
]

#: The ``method`` values :func:`vlmcal_utils.temperature.fit_temperature` accepts (its own list):
#: a grid refuses a bad one before it loads any logits.
TS_METHODS = METHODS


def logits_and_labels(logits: Any, labels: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated ``(N, K)`` float64 logits and ``(N,)`` int64 labels in ``[0, K)``.

    Parameters
    ----------
    logits, labels : array-like or torch.Tensor
        One split of cached model outputs.
    name : str
        The split's name, used in error messages (e.g. ``"calibration"``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``(z, y)`` with shapes ``(N, K)`` and ``(N,)``.
    """
    z = logits_array(logits, f"{name} logits")
    y = labels_array(labels, z.shape[0], z.shape[1], f"{name} labels")
    return z, y


def check_same_k(z_cal: np.ndarray, z_test: np.ndarray) -> None:
    """Raise ``ValueError`` unless the two logit arrays have the same number of classes.

    Parameters
    ----------
    z_cal, z_test : numpy.ndarray
        ``(N, K)`` and ``(M, K')`` logits; ``K == K'`` is required.

    Returns
    -------
    None
    """
    if z_cal.shape[1] != z_test.shape[1]:
        raise ValueError(
            f"calibration logits have {z_cal.shape[1]} classes but test logits have "
            f"{z_test.shape[1]}: cal_classes/test_classes index the columns of both, so pass "
            "two splits of the same K-way problem"
        )


def fit_temperature_flagged(z: np.ndarray, y: np.ndarray, method: str = "bisection") -> tuple[float, bool]:
    """The NLL-fitted temperature and whether the fit stopped at a bound.

    Tiny calibration sets are often separable (every sample correct), so the NLL optimum runs off
    to the lower bound; that is a real property of NLL-fitted TS on few samples, recorded in the
    results rather than printed as a warning hundreds of times.

    Parameters
    ----------
    z : numpy.ndarray
        ``(N, K)`` calibration logits.
    y : numpy.ndarray
        ``(N,)`` calibration labels.
    method : str
        One of :data:`TS_METHODS`.

    Returns
    -------
    (float, bool)
        ``(T, at_bound)``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T = fit_temperature(z, y, method=method)
    at_bound = any("bound" in str(w.message) for w in caught)
    return float(T), at_bound


def _ece_interval(conf: np.ndarray, correct: np.ndarray, n_bins: int, n_boot: int, alpha: float,
                  seed: int) -> tuple[float, float]:
    if n_boot == 0:
        return math.nan, math.nan
    # Top-label ECE only needs (confidence, correct): bootstrapping those is ~K times cheaper
    # than re-validating (N, K) probabilities in every replicate, and gives the same numbers.
    return bootstrap_ci(lambda c, k: ece_from_confidence(c, k, n_bins=n_bins),
                        conf, correct, n_boot=n_boot, alpha=alpha, seed=seed)


def score_logits(
    logits: Any,
    labels: Any,
    T: float = 1.0,
    n_bins: int = 15,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Accuracy, mean confidence, ECE (with a bootstrap interval) and NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : array-like
        ``(N, K)`` evaluation logits.
    labels : array-like
        ``(N,)`` integer labels.
    T : float
        The temperature applied (1: the raw model).
    n_bins : int
        Equal-width ECE bins.
    n_boot : int
        Bootstrap replicates over the test rows (integer >= 0); ``0`` skips the interval.
    alpha : float
        The interval is the percentile ``1 - alpha`` one.
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    dict
        ``acc, conf, ece, ece_lo, ece_hi, nll, T, n``: ``conf`` is the mean top-label confidence,
        ``[ece_lo, ece_hi]`` the interval (NaN when ``n_boot=0``), ``n`` the number of rows.
    """
    n_bins = check_n_bins(n_bins)
    n_boot = check_int(n_boot, "n_boot", minimum=0)
    z, y = logits_and_labels(logits, labels, "evaluation")
    logp = log_softmax(np.asarray(apply_temperature(z, T)))
    conf = np.exp(logp.max(axis=1))
    correct = (logp.argmax(axis=1) == y).astype(np.float64)
    lo, hi = _ece_interval(conf, correct, n_bins, n_boot, alpha, seed)
    return {
        "acc": float(correct.mean()),
        "conf": float(conf.mean()),
        "ece": float(ece_from_confidence(conf, correct, n_bins=n_bins)),
        "ece_lo": float(lo),
        "ece_hi": float(hi),
        "nll": float(-logp[np.arange(len(y)), y].mean()),
        "T": float(T),
        "n": int(len(y)),
    }


def calibrate_and_score(
    logits_cal: Any,
    labels_cal: Any,
    logits_test: Any,
    labels_test: Any,
    n_bins: int = 15,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    method: str = "bisection",
) -> dict:
    """Fit TS on the calibration split and score the test split before and after.

    Calibration and test may have different numbers of classes: ``T`` is one scalar, so it can be
    fitted on a K1-way problem and applied to a K2-way one (label-mismatched calibration).

    Parameters
    ----------
    logits_cal, labels_cal : array-like
        ``(N_cal, K1)`` logits and ``(N_cal,)`` labels the temperature is fitted on.
    logits_test, labels_test : array-like
        ``(N_test, K2)`` logits and ``(N_test,)`` labels that are scored.
    n_bins, n_boot, alpha, seed
        As in :func:`score_logits`; both rows use the same bootstrap seed, so their intervals
        resample the same test rows.
    method : str
        One of :data:`TS_METHODS`.

    Returns
    -------
    dict
        ``{"none": row, "ts": row, "T": T, "T_at_bound": bool, "nll_cal_before": float,
        "nll_cal_after": float}``; each ``row`` is :func:`score_logits` on the test split
        (``"none"`` with ``T = 1``, ``"ts"`` with the fitted ``T``).
    """
    z_cal, y_cal = logits_and_labels(logits_cal, labels_cal, "calibration")
    z_test, y_test = logits_and_labels(logits_test, labels_test, "test")
    T, at_bound = fit_temperature_flagged(z_cal, y_cal, method)
    kw = dict(n_bins=n_bins, n_boot=n_boot, alpha=alpha, seed=seed)
    return {
        "none": score_logits(z_test, y_test, 1.0, **kw),
        "ts": score_logits(z_test, y_test, T, **kw),
        "T": T,
        "T_at_bound": at_bound,
        "nll_cal_before": nll(z_cal, y_cal),
        "nll_cal_after": nll(z_cal / T, y_cal),
    }


def toplabel_ece_table(path: str | os.PathLike, n_bins: int = 15, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Accuracy and ECE (before any recalibration) of every model in a top-label-only file.

    Such files (e.g. ``hollance_imagenet_val_toplabel.npz``) hold ``<model>__y_true``,
    ``<model>__y_pred`` and ``<model>__confidence`` arrays; without full logits TS cannot be
    fitted, so they serve as *uncalibrated* reference points (finding 1 compares VLMs to them).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    n_bins, n_boot, seed
        As in :func:`score_logits` (95 % intervals).

    Returns
    -------
    pandas.DataFrame
        One row per model (sorted by name): ``model, n, acc, conf, ece, ece_lo, ece_hi, source``.
    """
    n_boot = check_int(n_boot, "n_boot", minimum=0)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no top-label file at {path}")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    models = sorted(k[: -len("__confidence")] for k in arrays if k.endswith("__confidence"))
    if not models:
        raise ValueError(f"{path.name} has no '<model>__confidence' arrays: not a top-label file")
    rows = []
    for m in models:
        conf = arrays[f"{m}__confidence"].astype(np.float64)
        correct = (arrays[f"{m}__y_pred"] == arrays[f"{m}__y_true"]).astype(np.float64)
        lo, hi = _ece_interval(conf, correct, n_bins, n_boot, 0.05, seed)
        rows.append({"model": m, "n": int(conf.size), "acc": float(correct.mean()), "conf": float(conf.mean()),
                     "ece": ece_from_confidence(conf, correct, n_bins=n_bins), "ece_lo": lo, "ece_hi": hi,
                     "source": path.name})
    return pd.DataFrame(rows)
