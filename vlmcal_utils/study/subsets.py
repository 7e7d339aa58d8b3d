"""Which samples and classes a temperature is fitted on: findings 3 and 4 of Tu et al.

- Finding 3 (the calibration set need not share the test set's classes):
  :func:`label_mismatch_split` makes class-disjoint calibration/test sets.
- Finding 4 (a few samples suffice): :func:`draw_calibration_subset` draws calibration subsets,
  :func:`n_calib_curve` fits ``T`` on many of them and :func:`summarise_n_calib_curve` /
  :func:`samples_needed` summarise the ECE after TS against the calibration-set size.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.checks import check_int, labels_array
from vlmcal_utils.scores import ece_key, score_logits
from vlmcal_utils.study.scoring import check_same_k, fit_temperature_flagged, logits_and_labels

__all__ = [
    "label_mismatch_split",
    "draw_calibration_subset",
    "grid_values",
    "grid_for",
    "n_calib_curve",
    "summarise_n_calib_curve",
    "samples_needed",
]


# --------------------------------------------------------------------------------------------
# Finding 3: label-mismatched calibration
# --------------------------------------------------------------------------------------------


def _class_list(classes: Iterable[int], k: int, name: str) -> np.ndarray:
    arr = np.asarray(list(classes))
    if arr.size == 0:
        raise ValueError(f"{name} is empty: give at least one class index in [0, {k})")
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be a flat list of integer class indices, got {arr!r}")
    if arr.min() < 0 or arr.max() >= k:
        raise ValueError(f"{name} must lie in [0, {k}) (the logits have {k} columns), got {arr.tolist()}")
    if len(set(arr.tolist())) != arr.size:
        raise ValueError(f"{name} has repeated classes {arr.tolist()}: list each class once")
    return arr.astype(np.int64)


def _restrict(z: np.ndarray, y: np.ndarray, classes: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows labelled in ``classes``, only those columns, labels renumbered ``0 .. len(classes) - 1``."""
    keep = np.isin(y, classes)
    if not keep.any():
        raise ValueError(f"no samples with labels in {name} {classes.tolist()}: choose classes present in the data")
    remap = np.full(z.shape[1], -1, dtype=np.int64)
    remap[classes] = np.arange(classes.size)
    return z[keep][:, classes], remap[y[keep]]


def label_mismatch_split(
    logits: Any,
    labels: Any,
    cal_classes: Sequence[int],
    test_classes: Sequence[int],
    *,
    test_logits: Any = None,
    test_labels: Any = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Class-disjoint calibration and test sets (Tu et al.'s label-mismatched calibration).

    The calibration set is the rows of ``(logits, labels)`` whose label is in ``cal_classes``,
    with the logit **columns restricted** to ``cal_classes`` (in the given order) and labels
    remapped to positions ``0 .. len(cal_classes) - 1``: a ``len(cal_classes)``-way problem.
    The test set is built the same way from ``test_classes``, taken from ``(test_logits,
    test_labels)`` when given (e.g. the val half for calibration and the test half for testing),
    else from the same arrays. Restricting columns is what makes it a zero-shot problem over
    *other* classes: the test softmax never sees the calibration classes.

    Parameters
    ----------
    logits, labels : array-like
        ``(N, K)`` logits and ``(N,)`` labels the calibration set is cut from.
    cal_classes, test_classes : sequence of int
        Disjoint, non-empty lists of class indices in ``[0, K)``.
    test_logits, test_labels : array-like, optional
        ``(M, K)`` and ``(M,)``: where the test set is cut from (give both or neither).

    Returns
    -------
    ((numpy.ndarray, numpy.ndarray), (numpy.ndarray, numpy.ndarray))
        ``((logits_cal, labels_cal), (logits_test, labels_test))``.

    Raises
    ------
    ValueError
        Empty or repeated class lists, out-of-range classes, overlapping cal/test classes, or a
        class subset with no samples.
    """
    z, y = logits_and_labels(logits, labels, "calibration")
    if (test_logits is None) != (test_labels is None):
        raise ValueError("give both test_logits and test_labels, or neither")
    if test_logits is None:
        zt, yt = z, y
    else:
        zt, yt = logits_and_labels(test_logits, test_labels, "test")
        check_same_k(z, zt)
    k = z.shape[1]
    cal = _class_list(cal_classes, k, "cal_classes")
    test = _class_list(test_classes, k, "test_classes")
    overlap = sorted(set(cal.tolist()) & set(test.tolist()))
    if overlap:
        raise ValueError(
            f"cal_classes and test_classes overlap in {overlap}: label-mismatched calibration "
            "needs disjoint class sets"
        )
    return _restrict(z, y, cal, "cal_classes"), _restrict(zt, yt, test, "test_classes")


# --------------------------------------------------------------------------------------------
# Finding 4: how many calibration samples
# --------------------------------------------------------------------------------------------


def _rng(seed: int, n: int, repeat: int) -> np.random.Generator:
    # One independent stream per (seed, n, repeat): a draw does not change when the grid or the
    # number of repeats changes, and resumed runs reproduce it exactly.
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(n), int(repeat)]))


def _check_n_calib(n: Any, n_total: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_calib must be a positive integer, got {n!r}")
    if n > n_total:
        raise ValueError(
            f"n_calib={n} is larger than the {n_total} calibration samples available: "
            "drop it from n_grid or use 'all'"
        )
    return int(n)


def draw_calibration_subset(
    labels: Any, n: int, seed: int = 0, repeat: int = 0, stratified: bool = False
) -> np.ndarray:
    """Indices of ``n`` calibration samples drawn without replacement (sorted).

    Parameters
    ----------
    labels : array-like
        ``(N,)`` integer labels of the calibration split.
    n : int
        How many samples (``1 <= n <= N``).
    seed, repeat : int
        The draw is deterministic in ``(seed, n, repeat)`` (one independent random stream each).
    stratified : bool
        ``False``: a plain uniform draw. ``True``: ``n // C`` samples from each of the ``C``
        classes present, the remaining ``n mod C`` uniformly from what is left (so small draws
        still see every class; needs ``n >= C`` and enough samples per class).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` sorted int64 row indices.
    """
    y = labels_array(labels, len(labels), None, "labels")
    n = _check_n_calib(n, y.size)
    rng = _rng(seed, n, repeat)
    if not stratified:
        return np.sort(rng.choice(y.size, size=n, replace=False))
    classes = np.unique(y)
    per = n // classes.size
    if per == 0:
        raise ValueError(
            f"stratified draw of n_calib={n} needs at least one sample per class "
            f"({classes.size} classes): use n >= {classes.size} or stratified=False"
        )
    chosen = []
    for c in classes:
        pool = np.flatnonzero(y == c)
        if pool.size < per:
            raise ValueError(f"class {c} has {pool.size} samples, fewer than {per} per class needed")
        chosen.append(rng.choice(pool, size=per, replace=False))
    chosen = np.concatenate(chosen)
    rest = np.setdiff1d(np.arange(y.size), chosen)
    extra = rng.choice(rest, size=n - chosen.size, replace=False)
    return np.sort(np.concatenate([chosen, extra]))


def grid_values(n_grid: Iterable[int | str | None], n_total: int) -> list[int]:
    """The calibration-set sizes of ``n_grid`` as integers (``"all"``/``None`` -> ``n_total``).

    Parameters
    ----------
    n_grid : iterable of int, "all" or None
        Sizes; each integer must lie in ``[1, n_total]``.
    n_total : int
        The calibration split's size.

    Returns
    -------
    list of int
        One size per entry, in order. ``ValueError`` for an empty grid or a bad size.
    """
    out = []
    for n in n_grid:
        if n is None or n == "all":
            out.append(n_total)
        elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_grid entries must be positive integers or 'all', got {n!r}")
        else:
            out.append(_check_n_calib(n, n_total))
    if not out:
        raise ValueError("n_grid is empty: give sizes such as [10, 50, 100, 'all']")
    return out


def grid_for(n_grid: Iterable[int | str | None], n_total: int) -> list[int | str]:
    """The sizes of ``n_grid`` that are draws for a calibration split of ``n_total`` samples.

    Use it to share one grid between tasks of different sizes (:func:`~vlmcal_utils.study.run_grid`
    rejects sizes ``>= n_total``).

    Parameters
    ----------
    n_grid : iterable of int, "all" or None
        Candidate sizes.
    n_total : int
        The smallest calibration split of the tasks.

    Returns
    -------
    list
        The entries ``< n_total``, plus ``"all"``/``None`` if listed, in order.
    """
    return [n for n in n_grid if n is None or n == "all" or int(n) < n_total]


def n_calib_curve(
    logits_cal: Any,
    labels_cal: Any,
    logits_test: Any,
    labels_test: Any,
    n_grid: Iterable[int | str] = (10, 20, 50, 100, 500, 1000, "all"),
    n_repeats: int = 10,
    seed: int = 0,
    n_bins: int = 15,
    stratified: bool = False,
    method: str = "bisection",
) -> pd.DataFrame:
    """ECE after TS against the number of calibration samples.

    For each ``n`` in ``n_grid`` and each repeat ``r < n_repeats``, draw ``n`` calibration rows
    with :func:`draw_calibration_subset`, fit ``T`` on them and score the *whole* test split.
    ``"all"`` (the whole calibration split) is a single deterministic draw, so it gets one row.

    Parameters
    ----------
    logits_cal, labels_cal : array-like
        ``(N_cal, K)`` and ``(N_cal,)``: the pool the draws come from.
    logits_test, labels_test : array-like
        ``(N_test, K')`` and ``(N_test,)``: scored with each fitted ``T``.
    n_grid : iterable of int or "all"
        Calibration-set sizes.
    n_repeats : int
        Draws per size (integer >= 1).
    seed : int
        Seed of the draws (deterministic for a given seed).
    n_bins : int
        Equal-width ECE bins.
    stratified : bool
        Class-balanced draws instead of plain uniform ones.
    method : str
        Temperature fitting method (see :func:`~vlmcal_utils.study.scoring.fit_temperature_flagged`).

    Returns
    -------
    pandas.DataFrame
        One row per ``(n_calib, repeat)``: ``n_calib, repeat, seed``, the test split's
        :meth:`~vlmcal_utils.scores.Scores.as_row` at the fitted ``temperature`` (``ece_<n_bins>``
        among them), ``T_at_bound`` and ``ece_before`` (the untouched test ECE, the same in every row).
    """
    z_cal, y_cal = logits_and_labels(logits_cal, labels_cal, "calibration")
    z_test, y_test = logits_and_labels(logits_test, labels_test, "test")
    n_repeats = check_int(n_repeats, "n_repeats", minimum=1)
    grid = grid_values(n_grid, y_cal.size)
    before = score_logits(z_test, y_test, bins=n_bins, estimators=False).ece[n_bins]
    rows = []
    for n in grid:
        repeats = 1 if n == y_cal.size else n_repeats
        for r in range(repeats):
            idx = (np.arange(y_cal.size) if n == y_cal.size
                   else draw_calibration_subset(y_cal, n, seed, r, stratified))
            T, at_bound = fit_temperature_flagged(z_cal[idx], y_cal[idx], method)
            s = score_logits(z_test, y_test, temperature=T, bins=n_bins, estimators=False)
            rows.append({"n_calib": n, "repeat": r, "seed": int(seed), **s.as_row(), "T_at_bound": at_bound,
                         "ece_before": before})
    return pd.DataFrame(rows)


def summarise_n_calib_curve(curve: pd.DataFrame, q: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """Per calibration-set size: the spread of the ECE after TS over the draws.

    Parameters
    ----------
    curve : pandas.DataFrame
        An :func:`n_calib_curve` frame (or :func:`~vlmcal_utils.study.curve_from_results`).
    q : (float, float)
        The lower and upper quantiles reported.

    Returns
    -------
    pandas.DataFrame
        One row per ``n_calib`` (sorted): ``ece_mean, ece_std, ece_median, ece_q_lo, ece_q_hi,
        T_median, frac_at_bound`` (share of fits that stopped at a temperature bound), ``n_draws``.
    """
    if curve.empty:
        raise ValueError("the curve is empty: run n_calib_curve first")
    g = curve.groupby("n_calib")
    ece = g[ece_key(curve.columns)]
    out = pd.DataFrame({
        "ece_mean": ece.mean(),
        "ece_std": ece.std(ddof=0),
        "ece_median": ece.median(),
        "ece_q_lo": ece.quantile(q[0]),
        "ece_q_hi": ece.quantile(q[1]),
        "T_median": g["temperature"].median(),
        "frac_at_bound": g["T_at_bound"].mean(),
        "n_draws": g.size(),
    }).reset_index()
    return out.sort_values("n_calib").reset_index(drop=True)


def samples_needed(curve: pd.DataFrame, tol: float = 0.01) -> int | None:
    """The smallest calibration-set size whose mean ECE after TS is within ``tol`` of the full one.

    Parameters
    ----------
    curve : pandas.DataFrame
        An n_calib curve; its largest ``n_calib`` is taken as the whole calibration split.
    tol : float
        Absolute tolerance on the mean ECE (0.01 = 1 percentage point).

    Returns
    -------
    int or None
        That ``n_calib``, or ``None`` if no size is within ``tol``.
    """
    s = summarise_n_calib_curve(curve)
    full = float(s["ece_mean"].iloc[-1])
    ok = s[s["ece_mean"] <= full + tol]
    return int(ok["n_calib"].iloc[0]) if not ok.empty else None
