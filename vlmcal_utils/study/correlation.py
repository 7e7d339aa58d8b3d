"""Finding 3 of Tu et al.: how well calibrated confidence predicts accuracy across (model, dataset) pairs."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["confidence_accuracy_correlation"]


def _points(data: pd.DataFrame | None, confidence: Any, accuracy: Any, conf_col: str,
            acc_col: str) -> tuple[np.ndarray, np.ndarray]:
    if data is not None:
        if confidence is not None or accuracy is not None:
            raise ValueError("pass either a data frame or confidence/accuracy arrays, not both")
        missing = [c for c in (conf_col, acc_col) if c not in data.columns]
        if missing:
            raise ValueError(f"data has no column(s) {missing}; it has {list(data.columns)}")
        return data[conf_col].to_numpy(np.float64), data[acc_col].to_numpy(np.float64)
    if confidence is None or accuracy is None:
        raise ValueError("give a data frame, or both confidence= and accuracy=")
    return (np.asarray(confidence, dtype=np.float64).ravel(),
            np.asarray(accuracy, dtype=np.float64).ravel())


def confidence_accuracy_correlation(
    data: pd.DataFrame | None = None,
    *,
    confidence: Any = None,
    accuracy: Any = None,
    conf_col: str = "mean_confidence",
    acc_col: str = "accuracy",
) -> dict:
    """How well mean calibrated confidence predicts accuracy across points.

    A *point* is whatever the caller aggregates over; in the study it is one (model, dataset)
    pair (one results row with ``method="ts"``): ``x`` = its mean top-label confidence on the
    test split after TS, ``y`` = its test accuracy.

    Parameters
    ----------
    data : pandas.DataFrame, optional
        One row per point, with columns ``conf_col`` and ``acc_col``.
    confidence, accuracy : array-like, optional
        ``(P,)`` arrays instead of ``data`` (give both).
    conf_col, acc_col : str
        Column names in ``data``.

    Returns
    -------
    dict
        ``r2, r2_linear, spearman, pearson, mae, n``:

        - ``r2``: coefficient of determination of accuracy *predicted by confidence itself*
          (``1 - sum (y - x)^2 / sum (y - mean y)^2``), i.e. about the identity line ``y = x``:
          what calibration promises. It can be negative.
        - ``r2_linear``: ``pearson ** 2``, the R² of the best straight line.
        - ``spearman``, ``pearson``: rank and linear correlation (NaN when either is constant);
          ``mae``: mean ``|y - x|``; ``n``: the number of points (at least 3).
    """
    x, y = _points(data, confidence, accuracy, conf_col, acc_col)
    if x.shape != y.shape:
        raise ValueError(f"confidence has {x.size} points but accuracy has {y.size}: they must pair up")
    if x.size < 3:
        raise ValueError(f"need at least 3 points to correlate, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("confidence/accuracy contain NaN or inf")
    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - x) ** 2).sum())
    # max > min, not std > 0: the std of equal floats can round to a tiny positive number
    varies = bool(np.ptp(x) > 0 and np.ptp(y) > 0)
    pearson = float(stats.pearsonr(x, y)[0]) if varies else math.nan
    spearman = float(stats.spearmanr(x, y)[0]) if varies else math.nan
    return {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        "r2_linear": pearson**2 if not math.isnan(pearson) else math.nan,
        "spearman": spearman,
        "pearson": pearson,
        "mae": float(np.abs(y - x).mean()),
        "n": int(x.size),
    }
