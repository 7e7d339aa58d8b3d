"""Scoring cached logits before and after temperature scaling (TS).

Conventions
-----------
- ``logits`` are ``(N, K)`` arrays (numpy or torch), ``labels`` ``(N,)`` integer class indices;
  both are validated by :mod:`vlmcal_utils.checks` and computed in float64.
- Every score is a :class:`vlmcal_utils.scores.Scores` record (the package's one scoring record),
  made by :func:`vlmcal_utils.scores.score_logits` with ``bins=n_bins`` and without the smooth and
  debiased estimators (the study's tables are plug-in ECE; they are NaN in its rows). Tables hold
  :meth:`~vlmcal_utils.scores.Scores.as_row` keys: ``n, accuracy, mean_confidence, ece_<n_bins>,
  ece_lo, ece_hi, mce, nll, brier, smooth_ece, debiased_ece, temperature``; all fractions.
- Temperatures are fitted by NLL with :func:`vlmcal_utils.temperature.fit_temperature`, by default
  with ``method="bisection"`` (as in Tu et al.'s code; it agrees with L-BFGS to ~1e-4 and is
  ~5-100x faster here, which matters for the hundreds of fits of the n_calib curve).
- The percentile bootstrap of the ECE need not contain the point estimate: binned ECE is biased
  upwards on resamples (duplicated rows sharpen the bins), most visibly for well-calibrated
  models whose ECE is near 0. The interval is still a fair picture of the sampling spread.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vlmcal_utils.checks import labels_array, logits_array
from vlmcal_utils.metrics import nll
from vlmcal_utils.scores import Scores, score_confidence, score_logits
from vlmcal_utils.temperature import METHODS, fit_temperature

__all__ = [
    "TS_METHODS",
    "logits_and_labels",
    "check_same_k",
    "fit_temperature_flagged",
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
    n_bins : int
        Equal-width ECE bins.
    n_boot : int
        Bootstrap replicates of the ECE interval over the test rows (0: none). Both records use the
        same bootstrap seed, so their intervals resample the same test rows.
    alpha : float
        The intervals are percentile ``1 - alpha`` ones.
    seed : int
        Seed of the bootstrap resampling.
    method : str
        One of :data:`TS_METHODS`.

    Returns
    -------
    dict
        ``{"none": Scores, "ts": Scores, "temperature": T, "T_at_bound": bool, "nll_cal_before":
        float, "nll_cal_after": float}``: the test split scored at ``T = 1`` and at the fitted ``T``
        (:class:`~vlmcal_utils.scores.Scores` records), and the calibration split's NLL.
    """
    z_cal, y_cal = logits_and_labels(logits_cal, labels_cal, "calibration")
    z_test, y_test = logits_and_labels(logits_test, labels_test, "test")
    T, at_bound = fit_temperature_flagged(z_cal, y_cal, method)
    kw = dict(bins=n_bins, n_boot=n_boot, alpha=alpha, seed=seed, estimators=False)
    return {
        "none": score_logits(z_test, y_test, **kw),
        "ts": score_logits(z_test, y_test, temperature=T, **kw),
        "temperature": T,
        "T_at_bound": at_bound,
        "nll_cal_before": nll(z_cal, y_cal),
        "nll_cal_after": nll(z_cal / T, y_cal),
    }


def _toplabel_scores(arrays: dict, model: str, n_bins: int, n_boot: int, seed: int) -> Scores:
    conf = arrays[f"{model}__confidence"].astype(np.float64)
    correct = (arrays[f"{model}__y_pred"] == arrays[f"{model}__y_true"]).astype(np.float64)
    return score_confidence(conf, correct, bins=n_bins, n_boot=n_boot, seed=seed, estimators=False)


def toplabel_ece_table(path: str | os.PathLike, n_bins: int = 15, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """The scores (before any recalibration) of every model in a top-label-only file.

    Such files (e.g. ``hollance_imagenet_val_toplabel.npz``) hold ``<model>__y_true``,
    ``<model>__y_pred`` and ``<model>__confidence`` arrays; without full logits TS cannot be
    fitted, so they serve as *uncalibrated* reference points (finding 1 compares VLMs to them).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` file.
    n_bins : int
        Equal-width ECE bins.
    n_boot : int
        Bootstrap replicates of each model's 95 % ECE interval (0: none).
    seed : int
        Seed of the bootstrap resampling.

    Returns
    -------
    pandas.DataFrame
        One row per model (sorted by name): ``model``, the
        :meth:`~vlmcal_utils.scores.Scores.as_row` keys of
        :func:`~vlmcal_utils.scores.score_confidence` (``nll``, ``brier``, ``smooth_ece`` and
        ``debiased_ece`` NaN: top-label data, no estimators), and ``source`` (the file's name).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no top-label file at {path}")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    models = sorted(k[: -len("__confidence")] for k in arrays if k.endswith("__confidence"))
    if not models:
        raise ValueError(f"{path.name} has no '<model>__confidence' arrays: not a top-label file")
    return pd.DataFrame([{"model": m, **_toplabel_scores(arrays, m, n_bins, n_boot, seed).as_row(), "source": path.name}
                         for m in models])
