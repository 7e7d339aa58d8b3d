"""The empirical study (Tu et al., ICML 2024) from cached logits: tidy results, grid runner, plots.

Tu et al. ask *what matters* for calibrating vision-language models with temperature scaling (TS).
Everything here works on cached ``(N, K)`` logits, so once logits exist each TS experiment takes
milliseconds to seconds. The four findings and the function that tests each one:

1. TS fixes most of the miscalibration of zero-shot VLMs: :func:`calibrate_and_score`
   (rows ``method="none"`` before and ``method="ts"`` after).
2. A temperature fitted in-distribution stays good under distribution shift: one cell of
   :func:`run_grid` scores every evaluation split of a task with the *same* ``T``.
3. The calibration set need not share the test set's classes: :func:`label_mismatch_split`
   makes class-disjoint calibration/test sets; :func:`confidence_accuracy_correlation` then
   measures how well calibrated confidence predicts accuracy across (model, dataset) pairs.
4. A few samples suffice: :func:`n_calib_curve` (ECE after TS against the calibration-set size).

Conventions
-----------
- Temperatures are fitted by NLL with :func:`vlmcal_utils.temperature.fit_temperature`, by
  default with ``method="bisection"`` (as in Tu et al.'s code; it agrees with L-BFGS to ~1e-4 and
  is ~5-100x faster here, which matters for the hundreds of fits of the n_calib curve).
- ``logits`` are ``(N, K)`` arrays (numpy or torch), ``labels`` ``(N,)`` integer class indices.
  ECE is top-label with ``n_bins`` equal-width bins (:func:`vlmcal_utils.metrics.ece`), NLL is the
  mean natural-log cross-entropy, all in ``[0, 1]`` fractions (not percent).
- A *results row* (see :data:`RESULT_COLUMNS`) is one ``(model, dataset, split, method, n_calib,
  seed)`` with ``acc, conf, ece, ece_lo, ece_hi, nll, T, n, source``: ``conf`` is the mean top-label
  confidence, ``[ece_lo, ece_hi]`` the percentile-bootstrap ``1 - alpha`` interval of the ECE
  (NaN when ``n_boot=0``), ``T`` the temperature applied (1 for ``"none"``), ``n`` the number of
  evaluation samples, ``source`` where the logits came from.
- The percentile bootstrap of the ECE need not contain the point estimate: binned ECE is biased
  upwards on resamples (duplicated rows sharpen the bins), most visibly for well-calibrated
  models whose ECE is near 0. The interval is still a fair picture of the sampling spread.
"""

from __future__ import annotations

import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.metrics import (
    _labels_array,
    _logits_array,
    bootstrap_ci,
    ece_from_confidence,
    log_softmax,
    nll,
)
from vlmcal_utils.temperature import apply_temperature, fit_temperature

__all__ = [
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "score_logits",
    "calibrate_and_score",
    "label_mismatch_split",
    "draw_calibration_subset",
    "n_calib_curve",
    "summarise_n_calib_curve",
    "confidence_accuracy_correlation",
    "StudyTask",
    "run_grid",
    "read_results",
    "plot_ece_before_after",
    "plot_ece_across_shifts",
    "plot_confidence_vs_accuracy",
    "plot_n_calib_curve",
    "curve_from_results",
    "samples_needed",
    "toplabel_ece_table",
    "label_mismatch_rows",
    "published_tasks",
    "published_pairs",
    "DatasetSpec",
    "dataset_specs",
    "zeroshot_task",
    "baseline_task",
    "IMAGENET_LABEL_DATASETS",
    "RANDOM_WEIGHTS_NOTE",
    "demo_study_tasks",
    "summarise_findings",
    "claims_table",
    "grid_for",
]

KEY_COLUMNS = ("model", "dataset", "split", "method", "n_calib", "seed")
RESULT_COLUMNS = KEY_COLUMNS + (
    "acc", "conf", "ece", "ece_lo", "ece_hi", "nll", "T", "n", "source", "family",
)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _pair(logits: Any, labels: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 (N, K) logits and int64 (N,) labels; ``name`` goes into the messages."""
    z = _logits_array(logits, f"{name} logits")
    y = _labels_array(labels, z.shape[0], z.shape[1], f"{name} labels")
    return z, y


def _check_same_k(z_cal: np.ndarray, z_test: np.ndarray) -> None:
    if z_cal.shape[1] != z_test.shape[1]:
        raise ValueError(
            f"calibration logits have {z_cal.shape[1]} classes but test logits have "
            f"{z_test.shape[1]}: cal_classes/test_classes index the columns of both, so pass "
            "two splits of the same K-way problem"
        )


def _fit_T(z: np.ndarray, y: np.ndarray, method: str) -> tuple[float, bool]:
    """Fitted temperature and whether the fit stopped at a bound (e.g. every sample correct).

    Tiny calibration sets are often separable, so the NLL optimum runs off to the lower bound;
    that is a real property of NLL-fitted TS on few samples, recorded rather than hidden.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        T = fit_temperature(z, y, method=method)
    at_bound = any("bound" in str(w.message) for w in caught)
    return float(T), at_bound


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def score_logits(
    logits: Any,
    labels: Any,
    T: float = 1.0,
    n_bins: int = 15,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Accuracy, mean confidence, ECE (+ bootstrap interval) and NLL of ``softmax(logits / T)``.

    Returns ``dict(acc, conf, ece, ece_lo, ece_hi, nll, T, n)``. The bootstrap resamples the test
    rows (``n_boot`` replicates, seed ``seed``); ``n_boot=0`` skips it (``ece_lo = ece_hi = NaN``).
    """
    z, y = _pair(logits, labels, "evaluation")
    scaled = np.asarray(apply_temperature(z, T))
    logp = log_softmax(scaled)
    conf = np.exp(logp.max(axis=1))
    correct = (logp.argmax(axis=1) == y).astype(np.float64)
    e = ece_from_confidence(conf, correct, n_bins=n_bins)
    if n_boot and n_boot > 0:
        # Top-label ECE only needs (confidence, correct): bootstrapping those is ~K times cheaper
        # than re-validating (N, K) probabilities in every replicate, and gives the same numbers.
        lo, hi = bootstrap_ci(
            lambda c, k: ece_from_confidence(c, k, n_bins=n_bins),
            conf, correct, n_boot=int(n_boot), alpha=alpha, seed=seed,
        )
    else:
        lo = hi = math.nan
    return {
        "acc": float(correct.mean()),
        "conf": float(conf.mean()),
        "ece": float(e),
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

    Returns ``{"none": row, "ts": row, "T": T, "T_at_bound": bool, "nll_cal_before": ...,
    "nll_cal_after": ...}`` where each ``row`` is :func:`score_logits` on the test split
    (``"none"`` with ``T = 1``, ``"ts"`` with the fitted ``T``). Calibration and test may have
    different numbers of classes (``T`` is a scalar). Both rows use the same bootstrap
    seed, so their intervals resample the same test rows.
    """
    z_cal, y_cal = _pair(logits_cal, labels_cal, "calibration")
    z_test, y_test = _pair(logits_test, labels_test, "test")
    # No check that K matches: T is one scalar, so it can be fitted on a K1-way problem and
    # applied to a K2-way one (label-mismatched calibration, finding 3).
    T, at_bound = _fit_T(z_cal, y_cal, method)
    kw = dict(n_bins=n_bins, n_boot=n_boot, alpha=alpha, seed=seed)
    return {
        "none": score_logits(z_test, y_test, 1.0, **kw),
        "ts": score_logits(z_test, y_test, T, **kw),
        "T": T,
        "T_at_bound": at_bound,
        "nll_cal_before": nll(z_cal, y_cal),
        "nll_cal_after": nll(z_cal / T, y_cal),
    }


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
    remapped to positions ``0 .. len(cal_classes) - 1``; i.e. a ``len(cal_classes)``-way problem.
    The test set is built the same way from ``test_classes``, taken from ``(test_logits,
    test_labels)`` when given (e.g. the val half for calibration and the test half for testing),
    else from the same arrays. Restricting columns is what makes it a zero-shot problem over
    *other* classes: the test softmax never sees the calibration classes.

    Returns ``((logits_cal, labels_cal), (logits_test, labels_test))`` as numpy arrays.

    Raises ``ValueError`` for empty or repeated class lists, out-of-range classes, overlapping
    cal/test classes, or a class subset with no samples.
    """
    z, y = _pair(logits, labels, "calibration")
    if (test_logits is None) != (test_labels is None):
        raise ValueError("give both test_logits and test_labels, or neither")
    if test_logits is None:
        zt, yt = z, y
    else:
        zt, yt = _pair(test_logits, test_labels, "test")
        _check_same_k(z, zt)
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


def draw_calibration_subset(
    labels: Any, n: int, seed: int = 0, repeat: int = 0, stratified: bool = False
) -> np.ndarray:
    """Indices of ``n`` calibration samples drawn without replacement (sorted).

    ``stratified=False``: a plain uniform draw. ``stratified=True``: ``n // K`` samples from every
    class present, the remaining ``n mod K`` uniformly from what is left (so small draws still
    see every class; needs ``n >= K`` classes present and enough samples per class).
    Deterministic in ``(seed, n, repeat)``.
    """
    y = _labels_array(labels, len(labels), None, "labels")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_calib must be a positive integer, got {n!r}")
    if n > y.size:
        raise ValueError(
            f"n_calib={n} is larger than the {y.size} calibration samples available: "
            "drop it from n_grid or use 'all'"
        )
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


def _grid_values(n_grid: Iterable[int | str | None], n_total: int) -> list[int]:
    out = []
    for n in n_grid:
        if n is None or n == "all":
            out.append(n_total)
        elif isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n_grid entries must be positive integers or 'all', got {n!r}")
        elif n > n_total:
            raise ValueError(
                f"n_calib={n} is larger than the {n_total} calibration samples available: "
                "drop it from n_grid or use 'all'"
            )
        else:
            out.append(int(n))
    if not out:
        raise ValueError("n_grid is empty: give sizes such as [10, 50, 100, 'all']")
    return out


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

    For each ``n`` in ``n_grid`` (``"all"`` = the whole calibration split) and each repeat
    ``r < n_repeats``, draw ``n`` calibration rows with :func:`draw_calibration_subset` (plain
    uniform draws by default; ``stratified=True`` for class-balanced ones), fit ``T`` on them and
    score the *whole* test split. ``"all"`` is a single deterministic draw, so it gets one row.

    Returns one row per ``(n_calib, repeat)``: ``n_calib, repeat, seed, T, T_at_bound, acc, conf,
    ece, nll`` plus ``ece_before`` (the untouched test ECE, the same in every row).
    Deterministic for a given ``seed``.
    """
    z_cal, y_cal = _pair(logits_cal, labels_cal, "calibration")
    z_test, y_test = _pair(logits_test, labels_test, "test")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    grid = _grid_values(n_grid, y_cal.size)
    before = score_logits(z_test, y_test, 1.0, n_bins=n_bins, n_boot=0)["ece"]
    rows = []
    for n in grid:
        repeats = 1 if n == y_cal.size else int(n_repeats)
        for r in range(repeats):
            idx = (np.arange(y_cal.size) if n == y_cal.size
                   else draw_calibration_subset(y_cal, n, seed, r, stratified))
            T, at_bound = _fit_T(z_cal[idx], y_cal[idx], method)
            s = score_logits(z_test, y_test, T, n_bins=n_bins, n_boot=0)
            rows.append({
                "n_calib": n, "repeat": r, "seed": int(seed), "T": T, "T_at_bound": at_bound,
                "acc": s["acc"], "conf": s["conf"], "ece": s["ece"], "nll": s["nll"],
                "ece_before": before,
            })
    return pd.DataFrame(rows)


def summarise_n_calib_curve(curve: pd.DataFrame, q: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """Per ``n_calib``: mean, std, quantiles ``q`` and median of the ECE after TS, and the share of
    fits that stopped at a temperature bound. One row per ``n_calib`` (sorted)."""
    if curve.empty:
        raise ValueError("the curve is empty: run n_calib_curve first")
    g = curve.groupby("n_calib")
    out = pd.DataFrame({
        "ece_mean": g["ece"].mean(),
        "ece_std": g["ece"].std(ddof=0),
        "ece_median": g["ece"].median(),
        "ece_q_lo": g["ece"].quantile(q[0]),
        "ece_q_hi": g["ece"].quantile(q[1]),
        "T_median": g["T"].median(),
        "frac_at_bound": g["T_at_bound"].mean(),
        "n_draws": g.size(),
    }).reset_index()
    return out.sort_values("n_calib").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Finding 3: does calibrated confidence predict accuracy?
# --------------------------------------------------------------------------------------------


def confidence_accuracy_correlation(
    data: pd.DataFrame | None = None,
    *,
    confidence: Any = None,
    accuracy: Any = None,
    conf_col: str = "conf",
    acc_col: str = "acc",
) -> dict:
    """How well mean calibrated confidence predicts accuracy across points.

    A *point* is whatever the caller aggregates over; in the study it is one (model, dataset)
    pair (one results row with ``method="ts"``): ``x`` = its mean top-label confidence on the
    test split after TS, ``y`` = its test accuracy. Pass a results frame (columns ``conf_col``,
    ``acc_col``) or the two arrays.

    Returns ``dict(r2, r2_linear, spearman, pearson, mae, n)``:

    - ``r2``: coefficient of determination of accuracy *predicted by confidence itself*
      (``1 - sum (y - x)^2 / sum (y - mean y)^2``), i.e. about the identity line ``y = x``: what
      calibration promises. It can be negative.
    - ``r2_linear``: ``pearson ** 2``, the R² of the best straight line (what a linear fit reports).
    - ``spearman``, ``pearson``: rank and linear correlation; ``mae``: mean ``|y - x|``.
    """
    if data is not None:
        if confidence is not None or accuracy is not None:
            raise ValueError("pass either a data frame or confidence/accuracy arrays, not both")
        missing = [c for c in (conf_col, acc_col) if c not in data.columns]
        if missing:
            raise ValueError(f"data has no column(s) {missing}; it has {list(data.columns)}")
        x = data[conf_col].to_numpy(np.float64)
        y = data[acc_col].to_numpy(np.float64)
    else:
        if confidence is None or accuracy is None:
            raise ValueError("give a data frame, or both confidence= and accuracy=")
        x = np.asarray(confidence, dtype=np.float64).ravel()
        y = np.asarray(accuracy, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"confidence has {x.size} points but accuracy has {y.size}: they must pair up")
    if x.size < 3:
        raise ValueError(f"need at least 3 points to correlate, got {x.size}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError("confidence/accuracy contain NaN or inf")
    from scipy import stats

    ss_tot = float(((y - y.mean()) ** 2).sum())
    ss_res = float(((y - x) ** 2).sum())
    pearson = float(stats.pearsonr(x, y)[0]) if x.std() > 0 and y.std() > 0 else math.nan
    spearman = float(stats.spearmanr(x, y)[0]) if x.std() > 0 and y.std() > 0 else math.nan
    return {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan,
        "r2_linear": pearson**2 if not math.isnan(pearson) else math.nan,
        "spearman": spearman,
        "pearson": pearson,
        "mae": float(np.abs(y - x).mean()),
        "n": int(x.size),
    }


# --------------------------------------------------------------------------------------------
# Grid runner (resumable)
# --------------------------------------------------------------------------------------------


@dataclass
class StudyTask:
    """One (model, dataset) of the study.

    ``load()`` returns a mapping ``{"cal": (logits, labels), split_name: (logits, labels), ...}``:
    the temperature is fitted on ``"cal"`` and every other entry is an evaluation split scored with
    that same ``T`` (e.g. ``"test"`` plus shifted splits such as ``"test_french"``). It is called
    only if some cell of the task still has to be computed.
    """

    model: str
    dataset: str
    load: Callable[[], Mapping[str, tuple[Any, Any]]]
    source: str = ""
    family: str = "vlm"  # "vlm" or "baseline": colours the plots
    splits: tuple[str, ...] | None = None  # evaluation split names, if known before loading


def _key(row: Mapping[str, Any]) -> tuple:
    return tuple(
        int(row[c]) if c in ("n_calib", "seed") else str(row[c]) for c in KEY_COLUMNS
    )


def _read_rows(path: Path) -> tuple[list[dict], bool]:
    """Complete JSON lines of ``path`` and whether a torn/invalid line had to be dropped."""
    if not path.exists():
        return [], False
    rows, dropped = [], False
    with open(path, "r", encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                dropped = True  # a write cut short by a kill: that cell is recomputed
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                dropped = True
    return rows, dropped


def _rewrite(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, allow_nan=True) + "\n" for r in rows)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def _append(path: Path, rows: list[dict]) -> None:
    # One write call per cell, then fsync: a kill either leaves the whole cell or a torn last
    # line, which _read_rows drops (and the cell is recomputed on resume).
    text = "".join(json.dumps(r, allow_nan=True) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_results(path: str | os.PathLike) -> pd.DataFrame:
    """The results table written by :func:`run_grid` (complete rows only), sorted by key."""
    rows, _ = _read_rows(Path(path))
    if not rows:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.DataFrame(rows)
    cols = [c for c in RESULT_COLUMNS if c in df.columns] + [c for c in df.columns if c not in RESULT_COLUMNS]
    return df[cols].sort_values(list(KEY_COLUMNS)).reset_index(drop=True)


def _cells(n_calib_grid, n_repeats: int, seed: int) -> list[tuple[int | str, int]]:
    """(n_calib, seed) cells of one task: the full calibration split plus the n_calib grid."""
    cells: list[tuple[int | str, int]] = [("all", seed)]
    for n in n_calib_grid or ():
        if n is None or n == "all":
            continue
        cells.extend((int(n), seed + r) for r in range(n_repeats))
    return cells


def run_grid(
    tasks: Sequence[StudyTask],
    out_path: str | os.PathLike,
    n_calib_grid: Iterable[int | str] | None = None,
    n_repeats: int = 5,
    n_bins: int = 15,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    method: str = "bisection",
    stratified: bool = False,
    on_cell: Callable[[list[dict]], None] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Run every (task, n_calib, seed) cell not yet in ``out_path`` and return the full table.

    A *cell* is one temperature fit: on the whole ``"cal"`` split (``n_calib`` = its size, seed
    ``seed``) and, for each ``n`` in ``n_calib_grid``, on ``n_repeats`` random draws of ``n``
    samples (seeds ``seed .. seed + n_repeats - 1``, see :func:`draw_calibration_subset`). A cell
    writes one row per evaluation split and method: ``"none"`` (T = 1, only for the full-split
    cell, since it does not depend on the draw) and ``"ts"``.

    Rows go to the JSON-lines file ``out_path`` as each cell finishes (one append + fsync per
    cell), so an interrupted run resumes where it stopped: cells whose rows are all present are
    skipped, a torn last line is dropped and its cell recomputed, nothing is written twice.
    ``on_cell(rows)`` is called after each cell is saved (tests use it to interrupt a run).
    Rows record the settings (``n_bins, n_boot, alpha, method, stratified``); resuming a file
    written with other settings raises ``ValueError`` instead of mixing the two.
    Bootstrap intervals (``n_boot``) are computed only for full-split cells; draws get NaN.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer, got {n_repeats!r}")
    names = [(t.model, t.dataset) for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"tasks repeat a (model, dataset) pair: {names}; each must be unique")
    rows, dropped = _read_rows(out)
    # Resuming must never mix numbers computed with other settings under the same keys.
    settings = json.dumps({"n_bins": int(n_bins), "n_boot": int(n_boot), "alpha": float(alpha),
                           "method": method, "stratified": bool(stratified)}, sort_keys=True)
    other = {r.get("settings") for r in rows} - {settings}
    if other:
        raise ValueError(
            f"{out} holds results computed with other settings ({sorted(map(str, other))}) than "
            f"this run ({settings}): delete the file or pass another out_path"
        )
    # A cell is done only if all of its rows are on disk (a kill in the middle of its single
    # write can leave the first rows complete and the rest torn): drop incomplete cells.
    cell_id = lambda r: (r["model"], r["dataset"], str(r.get("cell", "")), int(r["seed"]))  # noqa: E731
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[cell_id(r)] = counts.get(cell_id(r), 0) + 1
    complete = [r for r in rows if counts[cell_id(r)] == r.get("cell_rows", counts[cell_id(r)])]
    if dropped or len(complete) != len(rows):  # repair before appending, so nothing glues on
        rows = complete
        _rewrite(out, rows)
    done_cells = {cell_id(r) for r in rows}

    todo = []
    for task in tasks:
        for n, s in _cells(n_calib_grid, n_repeats, seed):
            if (task.model, task.dataset, str(n), s) not in done_cells:
                todo.append((task, n, s))
    try:
        from tqdm.auto import tqdm

        it = tqdm(todo, desc="study cells", disable=not progress or not todo)
    except ImportError:  # pragma: no cover
        it = todo
    cache: dict[tuple[str, str], dict] = {}
    for task, n, s in it:
        tk = (task.model, task.dataset)
        if tk not in cache:
            cache.clear()  # one task's logits in memory at a time
            data = dict(task.load())
            if "cal" not in data:
                raise ValueError(f"task {tk}: load() must return a 'cal' split, got {sorted(data)}")
            if len(data) < 2:
                raise ValueError(f"task {tk}: load() returned no evaluation split besides 'cal'")
            cache[tk] = {k: _pair(*v, f"{tk} {k}") for k, v in data.items()}
            # Check the grid against this task's calibration size before any draw is written.
            n_total = cache[tk]["cal"][1].size
            _grid_values(list(n_calib_grid or ()) or ["all"], n_total)
            if any(n == n_total for n in n_calib_grid or ()):
                raise ValueError(
                    f"task {tk}: n_calib={n_total} is the whole calibration split, whose rows the "
                    "'all' cell already writes (same key): drop it from n_calib_grid"
                )
        data = cache[tk]
        z_cal, y_cal = data["cal"]
        if n == "all":
            idx, n_cal = np.arange(y_cal.size), y_cal.size
        else:
            idx, n_cal = draw_calibration_subset(y_cal, int(n), s, 0, stratified), int(n)
        T, at_bound = _fit_T(z_cal[idx], y_cal[idx], method)
        # NLL on the calibration draw itself: TS minimises it, so "after" can never exceed "before"
        # (a check the notebook-results tests make on every cell).
        nll_cal = {"nll_cal_before": nll(z_cal[idx], y_cal[idx]), "nll_cal_after": nll(z_cal[idx] / T, y_cal[idx])}
        cell_rows = []
        for split, (z, y) in data.items():
            if split == "cal":
                continue
            methods = [("none", 1.0), ("ts", T)] if n == "all" else [("ts", T)]
            for m, t in methods:
                sc = score_logits(z, y, t, n_bins=n_bins, n_boot=n_boot if n == "all" else 0,
                                  alpha=alpha, seed=s)
                cell_rows.append({
                    "model": task.model, "dataset": task.dataset, "split": split, "method": m,
                    "n_calib": n_cal, "seed": s, **sc, "source": task.source,
                    "family": task.family, "cell": str(n), "T_at_bound": bool(at_bound and m == "ts"),
                    **nll_cal,
                })
        for r in cell_rows:
            r["cell_rows"], r["settings"] = len(cell_rows), settings
        _append(out, cell_rows)
        if on_cell is not None:
            on_cell(cell_rows)
    return read_results(out)


# --------------------------------------------------------------------------------------------
# Plots (each draws on the given Axes and returns it)
# --------------------------------------------------------------------------------------------

FAMILY_COLOURS = {"vlm": "tab:blue", "baseline": "tab:orange"}


def _ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.gca()
    return ax


def _yerr(sub: pd.DataFrame) -> np.ndarray | None:
    if not {"ece_lo", "ece_hi"} <= set(sub.columns) or sub[["ece_lo", "ece_hi"]].isna().all().all():
        return None
    lo = (sub["ece"] - sub["ece_lo"]).clip(lower=0).fillna(0).to_numpy()
    hi = (sub["ece_hi"] - sub["ece"]).clip(lower=0).fillna(0).to_numpy()
    return np.vstack([lo, hi]) * 100


def plot_ece_before_after(df: pd.DataFrame, ax=None, split: str = "test", label_col: str = "model",
                          reference: tuple[float, str] | None = None):
    """Finding 1: grouped bars of ECE (%) before (light, hatched) and after TS, per model.

    ``df`` is a results table; rows with ``split == split`` and the full calibration split are
    used (``method`` in {none, ts}). Bars are coloured by ``family`` (VLM vs baseline) with the
    bootstrap interval as error bars, VLMs first. ``reference=(ece, label)`` adds a dotted
    horizontal line (e.g. the median ECE of ImageNet classifiers) to the plot and its legend.
    """
    ax = _ax(ax)
    sub = df[df["split"] == split]
    if "family" in sub.columns:  # VLMs first, then baselines, each alphabetically
        sub = sub.assign(_fam=(sub["family"] != "vlm")).sort_values(["_fam", label_col], kind="stable")
    if "cell" in sub.columns:
        sub = sub[sub["cell"] == "all"]
    if sub.empty:
        raise ValueError(f"no rows with split={split!r} to plot")
    labels = list(dict.fromkeys(sub[label_col] + (" / " + sub["dataset"] if sub["dataset"].nunique() > 1 else "")))
    sub = sub.assign(_label=sub[label_col] + (" / " + sub["dataset"] if sub["dataset"].nunique() > 1 else ""))
    x = np.arange(len(labels))
    width = 0.38
    for off, m, kw in ((-width / 2, "none", dict(alpha=0.45, hatch="//")), (width / 2, "ts", {})):
        part = sub[sub["method"] == m].set_index("_label").reindex(labels)
        colours = [FAMILY_COLOURS.get(f, "tab:gray") for f in part.get("family", pd.Series(["vlm"] * len(part)))]
        ax.bar(x + off, part["ece"] * 100, width, color=colours, yerr=_yerr(part), capsize=2,
               edgecolor="k", linewidth=0.5, **kw)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("ECE (%)")
    from matplotlib.patches import Patch

    handles = [Patch(facecolor="white", edgecolor="k", hatch="//", label="before TS"),
               Patch(facecolor="white", edgecolor="k", label="after TS")]
    handles += [Patch(color=c, label=f) for f, c in FAMILY_COLOURS.items()
                if "family" in sub.columns and f in set(sub["family"])]
    if reference is not None:
        handles.append(ax.axhline(reference[0] * 100, color="gray", ls=":", label=reference[1]))
    ax.legend(handles=handles, fontsize="small")
    return ax


def plot_ece_across_shifts(df: pd.DataFrame, ax=None, splits: Sequence[str] | None = None):
    """Finding 2: ECE (%) on each evaluation split, one line per model; solid = after TS (T fitted
    on the in-distribution calibration split), dashed = before."""
    ax = _ax(ax)
    sub = df[df["cell"] == "all"] if "cell" in df.columns else df
    splits = list(splits) if splits is not None else list(dict.fromkeys(sub["split"]))
    x = np.arange(len(splits))
    for i, ((model, dataset), g) in enumerate(sub.groupby(["model", "dataset"], sort=False)):
        colour = f"C{i}"
        for m, ls in (("none", "--"), ("ts", "-")):
            part = g[g["method"] == m].set_index("split").reindex(splits)
            ax.errorbar(x, part["ece"] * 100, yerr=_yerr(part), ls=ls, marker="o", color=colour,
                        capsize=2, label=f"{model} ({'after' if m == 'ts' else 'before'} TS)")
    ax.set_xticks(x, splits, rotation=20, ha="right")
    ax.set_ylabel("ECE (%)")
    ax.legend(fontsize="x-small")
    return ax


def plot_confidence_vs_accuracy(points: pd.DataFrame, ax=None, conf_col: str = "conf",
                                acc_col: str = "acc", xlabel: str = "mean confidence after TS (%)"):
    """Finding 3: mean calibrated confidence (x) vs accuracy (y), one point per row of
    ``points``, with the identity line and R²/Spearman (:func:`confidence_accuracy_correlation`)
    in the legend."""
    ax = _ax(ax)
    stats = confidence_accuracy_correlation(points, conf_col=conf_col, acc_col=acc_col)
    colours = [FAMILY_COLOURS.get(f, "tab:blue") for f in points.get("family", ["vlm"] * len(points))]
    ax.scatter(points[conf_col] * 100, points[acc_col] * 100, c=colours, edgecolor="k", zorder=3,
               label=f"R² = {stats['r2']:.3f}, Spearman = {stats['spearman']:.3f} (n = {stats['n']})")
    lo = float(min(points[conf_col].min(), points[acc_col].min())) * 100 - 2
    hi = float(max(points[conf_col].max(), points[acc_col].max())) * 100 + 2
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="confidence = accuracy")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_n_calib_curve(curve: pd.DataFrame, ax=None, band: str = "std", label: str | None = None,
                       colour: str | None = None, log_x: bool = True):
    """Finding 4: ECE after TS (%) against the calibration-set size, with a band over draws
    (``band="std"``: mean ± std; ``"percentile"``: the 10–90 % range around the median) and the
    ECE before TS as a dashed line."""
    if band not in ("std", "percentile"):
        raise ValueError(f"band must be 'std' or 'percentile', got {band!r}")
    ax = _ax(ax)
    s = summarise_n_calib_curve(curve)
    n = s["n_calib"].to_numpy()
    if band == "std":
        mid, lo, hi = s["ece_mean"], s["ece_mean"] - s["ece_std"], s["ece_mean"] + s["ece_std"]
    else:
        mid, lo, hi = s["ece_median"], s["ece_q_lo"], s["ece_q_hi"]
    line, = ax.plot(n, mid * 100, marker="o", color=colour, label=f"{label or 'after TS'}")
    ax.fill_between(n, lo.clip(lower=0) * 100, hi * 100, color=line.get_color(), alpha=0.2)
    if "ece_before" in curve.columns:
        ax.axhline(curve["ece_before"].iloc[0] * 100, color=line.get_color(), ls="--", lw=1,
                   label=f"{label + ': ' if label else ''}before TS")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("calibration samples")
    ax.set_ylabel("ECE after TS (%)")
    ax.legend(fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------
# Published logits (the shared data folder, or the same files fetched from their source repos)
# --------------------------------------------------------------------------------------------

#: CIFAR-10 logits files: display name -> (file, family). All are compared on the same images,
#: CIFAR-10 test[5000:] (DenseNet-40's file holds the full test set: its [5000:] is taken).
#: Calibration split: test[:5000] for every file except DenseNet-40, whose val split is 5000
#: held-out *training* images. cleanlab's cross-validated probabilities are left out: that model
#: was fitted on folds of the test set itself.
PUBLISHED_CIFAR10 = {
    "CLIP ViT-B/32": ("clip_vitb32_cifar10_zeroshot.npz", "vlm"),
    "SigLIP ViT-B/16": ("siglip_b16_cifar10_zeroshot.npz", "vlm"),
    "SigLIP2 ViT-B/16": ("siglip2_b16_cifar10_zeroshot.npz", "vlm"),
    "DenseNet-40": ("markus93_densenet40_cifar10.npz", "baseline"),
    "WRN-16-4": ("netcal_wrn16-4_cifar10.npz", "baseline"),
    "VGG16": ("verifiedcal_vgg16_cifar10.npz", "baseline"),
    "LeNet-5": ("netcal_lenet5_cifar10.npz", "baseline"),
}
#: The same VLM weights and prompt template zero-shot on DermaMNIST (a strong image shift).
PUBLISHED_DERMAMNIST = {
    "CLIP ViT-B/32": "clip_dermamnist_zeroshot.npz",
    "SigLIP ViT-B/16": "siglip_dermamnist_zeroshot.npz",
    "SigLIP2 ViT-B/16": "siglip2_dermamnist_zeroshot.npz",
    "BiomedCLIP": "biomedclip_dermamnist_zeroshot.npz",
}
LANGUAGES = ("french", "chinese", "swahili")
_CIFAR_HALF = 5000


def _published_cifar10(logits_dir: Path, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"cal", "test", "test_<language>"...}`` for one CIFAR-10 file, on test[5000:]."""
    from vlmcal_utils.data import load_logits

    f = load_logits(logits_dir / PUBLISHED_CIFAR10[name][0])
    zt, yt = f.logits_test, f.labels_test
    if zt.shape[0] == 2 * _CIFAR_HALF:  # DenseNet-40: the full test set -> the common half
        zt, yt = zt[_CIFAR_HALF:], yt[_CIFAR_HALF:]
    if zt.shape[0] != _CIFAR_HALF:
        raise ValueError(f"{f.path.name}: expected {_CIFAR_HALF} or {2 * _CIFAR_HALF} test rows, got {zt.shape[0]}")
    out = {"cal": (f.logits_val, f.labels_val), "test": (zt, yt)}
    for lang in LANGUAGES:
        if f"logits_{lang}" in f.extra:
            # The language files cover all 10 000 images in order: the same halves apply.
            z = f.extra[f"logits_{lang}"].astype(np.float64)
            out[f"cal_{lang}"] = (z[:_CIFAR_HALF], f.extra["labels"][:_CIFAR_HALF].astype(np.int64))
            out[f"test_{lang}"] = (z[_CIFAR_HALF:], yt)
    return out


def published_tasks(logits_dir: str | os.PathLike, with_shifts: bool = True) -> list[StudyTask]:
    """:class:`StudyTask` s for the published CIFAR-10 files in ``logits_dir`` (missing files are
    skipped). Every task fits ``T`` on its own English calibration split and is scored on
    ``test`` (CIFAR-10 test[5000:]); with ``with_shifts``, VLM tasks are also scored on
    ``test_<language>`` (class names in another language: a *prompt* shift, same images) and on
    ``dermamnist`` (the same weights and template on DermaMNIST's test split: an *image* shift,
    7 classes; ``T`` is a scalar so it transfers across K).
    """
    logits_dir = Path(logits_dir)
    tasks = []
    for name, (fname, family) in PUBLISHED_CIFAR10.items():
        if not (logits_dir / fname).is_file():
            continue

        def load(name=name):
            data = _published_cifar10(logits_dir, name)
            out = {"cal": data["cal"], "test": data["test"]}
            if with_shifts:
                out.update({k: v for k, v in data.items() if k.startswith("test_")})
                derma = PUBLISHED_DERMAMNIST.get(name)
                if derma and (logits_dir / derma).is_file():
                    from vlmcal_utils.data import load_logits

                    d = load_logits(logits_dir / derma)
                    out["dermamnist"] = (d.logits_test, d.labels_test)
            return out

        tasks.append(StudyTask(name, "CIFAR-10", load, source=fname, family=family))
    return tasks


def published_pairs(logits_dir: str | os.PathLike) -> list[dict]:
    """(model, dataset) pairs of published VLM logits for label-mismatched calibration.

    One dict per pair: ``model, dataset, source, cal=(logits, labels), test=(logits, labels)``.
    CIFAR-10 pairs (each class-name language is its own pair: the classifier differs) use
    test[:5000] / test[5000:]; DermaMNIST pairs use its train / test splits.
    """
    logits_dir = Path(logits_dir)
    from vlmcal_utils.data import load_logits

    pairs = []
    for name, (fname, family) in PUBLISHED_CIFAR10.items():
        if family != "vlm" or not (logits_dir / fname).is_file():
            continue
        data = _published_cifar10(logits_dir, name)
        pairs.append(dict(model=name, dataset="CIFAR-10", source=fname, cal=data["cal"], test=data["test"]))
        for lang in LANGUAGES:
            if f"cal_{lang}" in data:
                pairs.append(dict(model=name, dataset=f"CIFAR-10 ({lang} names)", source=f"{fname}:logits_{lang}",
                                  cal=data[f"cal_{lang}"], test=data[f"test_{lang}"]))
    for name, fname in PUBLISHED_DERMAMNIST.items():
        if (logits_dir / fname).is_file():
            d = load_logits(logits_dir / fname)
            pairs.append(dict(model=name, dataset="DermaMNIST", source=fname,
                              cal=(d.logits_val, d.labels_val), test=(d.logits_test, d.labels_test)))
    return pairs


def label_mismatch_rows(
    model: str,
    dataset: str,
    cal: tuple[Any, Any],
    test: tuple[Any, Any],
    n_bins: int = 15,
    n_boot: int = 0,
    seed: int = 0,
    method: str = "bisection",
    source: str = "",
) -> list[dict]:
    """Label-mismatched vs matched TS on one (model, dataset) pair, both class halves.

    The K classes are cut into a first half ``A = 0 .. K//2 - 1`` and a second half ``B``.
    For each direction (test on ``B`` calibrated on ``A``, and the reverse) the test set is the
    ``test`` rows of the held-out half (columns restricted, :func:`label_mismatch_split`), scored
    ``"none"``, ``"ts_mismatched"`` (``T`` from the *other* half of ``cal``) and ``"ts_matched"``
    (``T`` from the *same* half of ``cal``: the usual, label-matched reference). Returns 6 rows
    with :data:`RESULT_COLUMNS`-style fields; ``split`` names the test classes
    (``"classes 5-9"``), ``n_calib`` the calibration samples used.
    """
    z, y = _pair(*cal, "calibration")
    zt, yt = _pair(*test, "test")
    k = z.shape[1]
    if k < 2:
        raise ValueError("label-mismatched calibration needs at least 2 classes")
    halves = (list(range(k // 2)), list(range(k // 2, k)))
    rows = []
    for cal_classes, test_classes in (halves, halves[::-1]):
        (zc, yc), (zte, yte) = label_mismatch_split(z, y, cal_classes, test_classes, test_logits=zt, test_labels=yt)
        (zm, ym), _ = label_mismatch_split(z, y, test_classes, cal_classes)
        T_mis, _ = _fit_T(zc, yc, method)
        T_mat, _ = _fit_T(zm, ym, method)
        split = f"classes {test_classes[0]}-{test_classes[-1]}"
        for m, T, n_cal in (("none", 1.0, 0), ("ts_mismatched", T_mis, yc.size), ("ts_matched", T_mat, ym.size)):
            sc = score_logits(zte, yte, T, n_bins=n_bins, n_boot=n_boot, seed=seed)
            rows.append({"model": model, "dataset": dataset, "split": split, "method": m,
                         "n_calib": n_cal, "seed": seed, **sc, "source": source})
    return rows


def curve_from_results(df: pd.DataFrame, model: str, dataset: str, split: str = "test") -> pd.DataFrame:
    """The n_calib curve of one (model, dataset, split) from a :func:`run_grid` table, in the
    format of :func:`n_calib_curve` (``n_calib, seed, T, T_at_bound, ece, ..., ece_before``):
    every ``"ts"`` row of the split, the full-split cell included."""
    sub = df[(df["model"] == model) & (df["dataset"] == dataset) & (df["split"] == split)]
    if sub.empty:
        raise ValueError(f"no rows for model={model!r}, dataset={dataset!r}, split={split!r}")
    before = sub[sub["method"] == "none"]
    if before.empty:
        raise ValueError("the table has no 'none' row for this split: run the full-split cell first")
    curve = sub[sub["method"] == "ts"].copy()
    curve["ece_before"] = float(before["ece"].iloc[0])
    if "T_at_bound" not in curve.columns:
        curve["T_at_bound"] = False
    return curve.sort_values(["n_calib", "seed"]).reset_index(drop=True)


def samples_needed(curve: pd.DataFrame, tol: float = 0.01) -> int | None:
    """Smallest ``n_calib`` whose mean ECE after TS over the draws is within ``tol`` (absolute,
    e.g. 0.01 = 1 percentage point) of the ECE with the whole calibration split (the largest
    ``n_calib`` in ``curve``); ``None`` if no size is."""
    s = summarise_n_calib_curve(curve)
    full = float(s["ece_mean"].iloc[-1])
    ok = s[s["ece_mean"] <= full + tol]
    return int(ok["n_calib"].iloc[0]) if not ok.empty else None


def toplabel_ece_table(path: str | os.PathLike, n_bins: int = 15, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """Accuracy and ECE (before any recalibration) of every model in a top-label-only file.

    Such files (e.g. ``hollance_imagenet_val_toplabel.npz``) hold ``<model>__y_true``,
    ``<model>__y_pred`` and ``<model>__confidence`` arrays; without full logits TS cannot be fitted,
    so they serve as *uncalibrated* reference points (finding 1 compares VLMs to them).
    One row per model: ``model, n, acc, conf, ece, ece_lo, ece_hi, source``.
    """
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
        e = ece_from_confidence(conf, correct, n_bins=n_bins)
        lo, hi = (bootstrap_ci(lambda c, k: ece_from_confidence(c, k, n_bins=n_bins), conf, correct,
                               n_boot=n_boot, seed=seed) if n_boot else (math.nan, math.nan))
        rows.append({"model": m, "n": int(conf.size), "acc": float(correct.mean()), "conf": float(conf.mean()),
                     "ece": e, "ece_lo": lo, "ece_hi": hi, "source": path.name})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# End to end: zero-shot logits of a model on image datasets (demo world, or real on Colab)
# --------------------------------------------------------------------------------------------


@dataclass
class DatasetSpec:
    """Which images a split uses: ``vlmcal_utils.data.load_dataset(name, split, root, **kwargs)``,
    then the items ``index_range = (start, stop)`` (e.g. CIFAR-10 test ``(0, 5000)`` for
    calibration and ``(5000, 10000)`` for testing), then a seeded random subset of ``n`` items
    (:func:`vlmcal_utils.data.subsample`; ``None`` = all)."""

    name: str
    split: str = "test"
    n: int | None = None
    index_range: tuple[int, int] | None = None
    kwargs: dict = field(default_factory=dict)
    shuffle: bool = False  # take index_range of a seeded permutation (class-sorted folders)
    optional: bool = False  # skip this split (with a warning) when its images are missing

    def ident(self, seed: int) -> str:
        """A string naming exactly these images (the feature-cache key)."""
        return (f"{self.name}/{self.split}/range{self.index_range}/shuffle{self.shuffle}/n{self.n}/"
                f"seed{seed}/" + json.dumps(self.kwargs, sort_keys=True))

    def select(self, ds, seed: int):
        """The chosen items of ``ds`` (a torch Subset, or ``ds`` itself)."""
        import torch

        from vlmcal_utils.data import subsample

        if self.index_range is not None or self.shuffle:
            order = (np.random.default_rng(seed).permutation(len(ds)) if self.shuffle
                     else np.arange(len(ds)))
            lo, hi = self.index_range or (0, len(ds))
            if not 0 <= lo < hi <= len(ds):
                raise ValueError(f"{self.name}/{self.split}: index_range {self.index_range} is outside "
                                 f"its {len(ds)} items")
            names = getattr(ds, "classnames", None)
            ds = torch.utils.data.Subset(ds, order[lo:hi].tolist())
            if names is not None:
                ds.classnames = list(names)
        return subsample(ds, self.n, seed=seed)


def zeroshot_task(
    arch: str,
    pretrained: Any,
    dataset: str,
    cal: DatasetSpec,
    evals: Mapping[str, DatasetSpec],
    data_root: str | os.PathLike | None = None,
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    templates: Sequence[str] | None = None,
    seed: int = 0,
    model_loader: Callable[[str, Any, Any], tuple] | None = None,
    model_name: str | None = None,
) -> StudyTask:
    """A :class:`StudyTask` whose ``load()`` computes zero-shot logits of an open_clip model.

    ``pretrained="random"``: seeded random weights (``seed``), saved to a temporary .safetensors
    file and loaded from it like a user's weights file — for plumbing runs; the task's ``source``
    says the numbers mean nothing.

    ``load()`` loads the model (:func:`vlmcal_utils.models.load_model`, or ``model_loader(arch,
    pretrained, device)`` returning ``(model, preprocess, tokenizer)``), extracts image features
    of every split with :func:`vlmcal_utils.features.extract_features` (cached on disk and
    resumable, so a second call costs only the text tower), builds one zero-shot classifier per
    split's class names (:func:`vlmcal_utils.zeroshot.build_classifier`, ``templates`` default
    ``("a photo of a {}.",)``) and returns ``{"cal": ..., **evals}`` logits = ``logit_scale *
    cos``. Demo models (``arch`` starting with ``vlmcal-demo``) load offline.
    """
    if "cal" in evals:
        raise ValueError("'cal' is reserved for the calibration split: rename that evaluation split")
    if not evals:
        raise ValueError("give at least one evaluation split in evals")

    def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from vlmcal_utils.data import load_dataset
        from vlmcal_utils.device import get_device
        from vlmcal_utils.features import extract_features
        from vlmcal_utils.models import load_model, model_id
        from vlmcal_utils.zeroshot import SINGLE_TEMPLATE, build_classifier, logit_scale, zeroshot_logits

        dev = get_device(device, verbose=False)
        loader = model_loader or (lambda a, p, d: load_model(a, p, device=d))
        if pretrained == "random":
            from vlmcal_utils.models import save_random_weights

            model, preprocess, tokenizer = _load_random(save_random_weights, lambda p: loader(arch, p, dev), arch, seed)
            mid = f"{arch}/random-seed{seed}"  # seeded: the same weights every run, so the cache holds
        else:
            model, preprocess, tokenizer = loader(arch, pretrained, dev)
            mid = model_id(arch, pretrained)
        # repr() of a transform that holds a lambda contains its memory address, which changes
        # every run: drop addresses so the feature cache is hit across sessions.
        preprocess_id = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(preprocess))
        scale = logit_scale(model)
        bias = getattr(model, "logit_bias", None)  # SigLIP: sigmoid logits carry a bias
        classifiers: dict[tuple[str, ...], Any] = {}
        out = {}
        for split_name, spec in {"cal": cal, **evals}.items():
            try:
                ds = load_dataset(spec.name, spec.split, root=data_root, transform=preprocess, **spec.kwargs)
            except FileNotFoundError as err:
                if not spec.optional:
                    raise
                warnings.warn(f"skipping split {split_name!r}: {err}", UserWarning, stacklevel=2)
                continue
            names = list(ds.classnames)
            ds = spec.select(ds, seed)
            feats, labels = extract_features(model, ds, mid, spec.ident(seed), cache_dir=cache_dir,
                                             device=dev, progress=False, preprocess_id=preprocess_id)
            key = tuple(names)
            if key not in classifiers:
                classifiers[key] = build_classifier(model, tokenizer, names, templates or SINGLE_TEMPLATE,
                                                    device=dev, progress=False)
            z = zeroshot_logits(feats, classifiers[key], scale,
                                None if bias is None else bias.detach().float().cpu())
            out[split_name] = (z.numpy().astype(np.float64), labels.numpy())
        return out

    from vlmcal_utils.models import describe_model

    if pretrained == "random":
        name = model_name or f"{arch} (random weights, seed {seed})"
        source = f"zero-shot {arch}, {RANDOM_WEIGHTS_NOTE}"
    else:
        name = model_name or describe_model(arch, pretrained)
        source = f"zero-shot {arch}/{pretrained}, computed here"
    return StudyTask(name, dataset, load, source=source, family="vlm", splits=tuple(evals))


RANDOM_WEIGHTS_NOTE = "random weights — plumbing only, numbers mean nothing"


def _load_random(save: Callable, load: Callable, arch: str, seed: int):
    """``load(path)`` of seeded random weights for ``arch`` written by ``save(arch, path, seed=seed)``
    to a temporary .safetensors file, deleted afterwards (a ViT-B file is ~600 MB): the model loads
    through the same file path as a user's downloaded weights, which a plumbing run is meant to test."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="vlmcal-random-") as tmp:
        path = Path(tmp) / f"{re.sub(r'[^A-Za-z0-9.-]+', '_', arch)}-seed{seed}.safetensors"
        return load(str(save(arch, path, seed=seed)))


#: Study datasets whose labels are ImageNet-1k classes (or a subset): where an ImageNet-trained
#: classifier can be scored without a new head.
IMAGENET_LABEL_DATASETS = ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r",
                           "imagenet-shared")


def baseline_task(
    name: str,
    pretrained: Any,
    dataset: str,
    cal: DatasetSpec,
    evals: Mapping[str, DatasetSpec],
    data_root: str | os.PathLike | None = None,
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 64,
    model_name: str | None = None,
) -> StudyTask:
    """A :class:`StudyTask` (family ``"baseline"``) whose ``load()`` computes the logits of a timm
    ImageNet-1k classifier (:func:`vlmcal_utils.baselines.load_baseline`).

    ``pretrained``: ``True`` (timm's weights; internet), a local ``.safetensors`` path, or
    ``"random"`` (seeded random weights through a temporary file: plumbing only). Only
    ImageNet-label datasets (:data:`IMAGENET_LABEL_DATASETS`) are accepted; on ImageNet-A/-R the
    1000 logit columns are restricted to their 200 classes
    (:func:`vlmcal_utils.baselines.imagenet_columns`). Logits are cached like image features and
    optional splits whose images are missing are skipped with a warning.
    """
    if "cal" in evals:
        raise ValueError("'cal' is reserved for the calibration split: rename that evaluation split")
    if not evals:
        raise ValueError("give at least one evaluation split in evals")
    bad = sorted({s.name for s in (cal, *evals.values())} - set(IMAGENET_LABEL_DATASETS))
    if bad:
        raise ValueError(
            f"baseline {name!r} is an ImageNet-1k classifier: it has no head for {bad}. Use an "
            f"ImageNet-label dataset: {list(IMAGENET_LABEL_DATASETS)}"
        )
    if isinstance(pretrained, str) and pretrained.lower() in ("true", "false"):
        pretrained = pretrained.lower() == "true"  # from a command line / YAML string

    def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from vlmcal_utils.baselines import baseline_id, baseline_logits, load_baseline, save_random_baseline
        from vlmcal_utils.data import load_dataset
        from vlmcal_utils.device import get_device

        dev = get_device(device, verbose=False)
        if pretrained == "random":
            model, preprocess = _load_random(save_random_baseline, lambda p: load_baseline(name, p, device=dev), name, seed)
            mid = f"timm/{name}/random-seed{seed}"
        else:
            model, preprocess = load_baseline(name, pretrained, device=dev)
            mid = baseline_id(name, pretrained, model)
        out = {}
        for split_name, spec in {"cal": cal, **evals}.items():
            try:
                ds = load_dataset(spec.name, spec.split, root=data_root, **spec.kwargs)
            except FileNotFoundError as err:
                if not spec.optional:
                    raise
                warnings.warn(f"skipping split {split_name!r}: {err}", UserWarning, stacklevel=2)
                continue
            z, labels = baseline_logits(model, preprocess, spec.select(ds, seed), mid, spec.ident(seed),
                                        cache_dir=cache_dir, batch_size=batch_size, device=dev, progress=False)
            out[split_name] = (z.numpy().astype(np.float64), labels.numpy())
        return out

    if pretrained == "random":
        label, source = f"{name} (random weights, seed {seed})", f"timm {name}, {RANDOM_WEIGHTS_NOTE}"
    elif pretrained is True:
        label, source = name, f"timm {name} (ImageNet-1k weights), computed here"
    else:
        label, source = f"{name} ({Path(str(pretrained)).name})", f"timm {name}, weights {pretrained}, computed here"
    return StudyTask(model_name or label, dataset, load, source=source, family="baseline", splits=tuple(evals))


def demo_study_tasks(
    model_names: Sequence[str] | None = None,
    n_val: int = 1000,
    n_test: int = 600,
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    model_loader: Callable[[str, Any, Any], tuple] | None = None,
) -> list[StudyTask]:
    """Zero-shot tasks for the demo world (offline): ``T`` fitted on ``photo`` validation images
    (all 36 classes), scored on the ``photo`` test images (``"test"``) and on the other domains
    (``"clipart"``, ``"sketch"``, ``"painting"``: distribution shifts; the demo models were
    trained on photo and clipart only). Demo numbers are toy numbers, not CLIP's."""
    from vlmcal_utils.demo import DEMO_MODEL_NAMES

    names = list(model_names) if model_names is not None else list(DEMO_MODEL_NAMES)
    cal, evals = dataset_specs("demo", n_val, n_test)
    return [zeroshot_task(n, None, "demo world", cal, evals, device=device, cache_dir=cache_dir, seed=seed,
                          model_loader=model_loader, model_name=n) for n in names]


IMAGENET_SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")


def dataset_specs(dataset: str, n_cal: int | None = None, n_test: int | None = None) -> tuple[DatasetSpec, dict]:
    """``(cal, evals)`` of one study dataset, for :func:`zeroshot_task`.

    - ``"demo"``: photo validation images -> photo test (``"test"``) + clipart, sketch, painting.
    - ``"cifar10"`` (torchvision; ``"cifar10-shared"``: the shared JPEG copy): calibration on
      test[:5000], evaluation on test[5000:] — the halves of the published logits files.
    - ``"imagenet"``: a seeded random half of ImageNet-1k val for calibration, the other half for
      testing, plus ImageNet-V2/-Sketch/-A/-R as shifts when their folders exist (skipped with a
      warning otherwise).
    - ``"imagenet-shared"``: the shared 1000 ImageNet val photos (one per class, offline for CI):
      a seeded random half for calibration, the other half for testing.

    ``n_cal``/``n_test`` subsample each split (``None``: all).
    """
    if dataset == "demo":
        kw = {"classes": "all"}
        evals = {("test" if d == "photo" else d): DatasetSpec(f"demo-{d}", "test", n=n_test or 1000, kwargs=kw)
                 for d in ("photo", "clipart", "sketch", "painting")}
        return DatasetSpec("demo-photo", "val", n=n_cal or 1000, kwargs=kw), evals
    if dataset in ("cifar10", "cifar10-shared"):
        return (DatasetSpec(dataset, "test", n=n_cal, index_range=(0, 5000)),
                {"test": DatasetSpec(dataset, "test", n=n_test, index_range=(5000, 10000))})
    if dataset == "imagenet-shared":
        return (DatasetSpec(dataset, "val", n=n_cal, index_range=(0, 500), shuffle=True),
                {"test": DatasetSpec(dataset, "val", n=n_test, index_range=(500, 1000), shuffle=True)})
    if dataset == "imagenet":
        evals = {"test": DatasetSpec("imagenet", "val", n=n_test, index_range=(25000, 50000), shuffle=True)}
        evals.update({s: DatasetSpec(s, "test", n=n_test, optional=True) for s in IMAGENET_SHIFTS})
        return DatasetSpec("imagenet", "val", n=n_cal, index_range=(0, 25000), shuffle=True), evals
    raise ValueError(f"unknown study dataset {dataset!r}: use 'demo', 'cifar10', 'cifar10-shared', "
                     "'imagenet' or 'imagenet-shared'")


# --------------------------------------------------------------------------------------------
# The paper's claims beside a run
# --------------------------------------------------------------------------------------------


def summarise_findings(table: pd.DataFrame, mismatch: pd.DataFrame | None = None,
                       reference_ece: float | None = None, tol: float = 0.01) -> dict:
    """The numbers behind the four findings, from a :func:`run_grid` table (and the rows of
    :func:`label_mismatch_rows`, if any). ``reference_ece``: the uncalibrated ECE of
    ImageNet-trained classifiers to compare with (finding 1a). Only VLM tasks count for the
    claims; baseline tasks are reported next to them."""
    full = table[table["cell"] == "all"] if "cell" in table.columns else table
    test = full[full["split"] == "test"]
    fam = test["family"] if "family" in test.columns else pd.Series("vlm", index=test.index)
    by = lambda m, f: test[(test["method"] == m) & (fam == f)].set_index("model")["ece"].to_dict()  # noqa: E731
    out: dict[str, Any] = {
        "vlm_ece_before": by("none", "vlm"), "vlm_ece_after": by("ts", "vlm"),
        "vlm_T": test[(test["method"] == "ts") & (fam == "vlm")].set_index("model")["T"].to_dict(),
        "baseline_ece_before": by("none", "baseline"), "baseline_ece_after": by("ts", "baseline"),
        "reference_ece": reference_ece,
    }
    shifted = full[(full["split"] != "test") & ((full["family"] == "vlm") if "family" in full.columns else True)]
    rows = shifted.pivot_table(index=["model", "split"], columns="method", values="ece").reset_index()
    out["shift"] = rows.to_dict(orient="records")
    out["shift_n_helps"] = int((rows["ts"] < rows["none"]).sum()) if len(rows) else 0
    out["shift_n"] = int(len(rows))
    needed, at50 = {}, {}
    for (model, dataset), g in table[table["family"] == "vlm"].groupby(["model", "dataset"]) if "family" in table.columns else []:
        curve = curve_from_results(table, model, dataset)
        if curve["n_calib"].nunique() > 1:
            needed[model] = samples_needed(curve, tol)
            s = summarise_n_calib_curve(curve).set_index("n_calib")["ece_mean"]
            at50[model] = float(s[50]) if 50 in s.index else None
    out["samples_needed"], out["ece_at_50"], out["tol"] = needed, at50, tol
    if mismatch is not None and len(mismatch):
        piv = mismatch.pivot_table(index=["model", "dataset", "split"], columns="method", values="ece")
        out["mismatch_ece_mean"] = mismatch.groupby("method")["ece"].mean().to_dict()
        out["mismatch_n_better"] = int((piv["ts_mismatched"] < piv["none"]).sum())
        out["mismatch_n"] = int(len(piv))
        out["correlation"] = {m: confidence_accuracy_correlation(mismatch[mismatch["method"] == m])
                              for m in ("none", "ts_mismatched", "ts_matched")
                              if (mismatch["method"] == m).sum() >= 3}
    return out


def claims_table(s: dict, source: str) -> pd.DataFrame:
    """Tu et al.'s claims, what :func:`summarise_findings` measured, and a verdict, one row each.

    Verdict rules (stated in the rows): 1a holds if the median VLM ECE before TS is at least half
    the reference median; 1b if every VLM's ECE after TS is <= 0.05; 2 if TS lowers the ECE on
    every shifted split; 3a if the mean ECE after label-mismatched TS is below the uncalibrated
    one; 3b if R² (about the identity) and Spearman both exceed 0.90; 4 if every VLM's mean ECE
    is within ``tol`` of the all-samples ECE by 50 samples.
    """
    fmt = lambda d: ", ".join(f"{k} {v:.3f}" for k, v in d.items()) or "—"  # noqa: E731
    before, after, ref = pd.Series(s["vlm_ece_before"], dtype=float), pd.Series(s["vlm_ece_after"], dtype=float), s["reference_ece"]
    rows = []
    if len(before):
        rows.append(("1a. Before TS, VLM ECE is similar to or worse than ImageNet-trained models",
                     f"VLMs: {fmt(s['vlm_ece_before'])}; reference median: " + ("—" if ref is None else f"{ref:.3f}"),
                     "no reference here" if ref is None else
                     ("holds" if before.median() >= 0.5 * ref else "does not hold here")
                     + " (rule: VLM median ≥ half the reference)"))
        rows.append(("1b. After TS, VLM ECE drops to ≈ 0.05 or lower", f"VLMs after TS: {fmt(s['vlm_ece_after'])}",
                     "holds" if (after <= 0.05).all() else "does not hold here"))
    if s["shift_n"]:
        rows.append(("2. A temperature fitted in-distribution keeps working under shift",
                     f"TS lowers ECE on {s['shift_n_helps']} of {s['shift_n']} shifted splits: "
                     + ", ".join(f"{r['model']} {r['split']} {r['none']:.3f}→{r['ts']:.3f}" for r in s["shift"]),
                     "holds" if s["shift_n_helps"] == s["shift_n"] else "partly: not under every shift here"))
    if "mismatch_ece_mean" in s:
        m = s["mismatch_ece_mean"]
        rows.append(("3a. TS fitted on other classes (label mismatch) still calibrates",
                     f"mean ECE: none {m['none']:.3f}, mismatched TS {m['ts_mismatched']:.3f}, matched TS "
                     f"{m['ts_matched']:.3f}; mismatched < none on {s['mismatch_n_better']} of {s['mismatch_n']}",
                     "holds" if m["ts_mismatched"] < m["none"] else "does not hold here"))
        c = s["correlation"].get("ts_mismatched")
        if c:
            rows.append(("3b. After TS, confidence predicts accuracy (R², Spearman > 0.90)",
                         f"R² {c['r2']:.3f}, Spearman {c['spearman']:.3f} over {c['n']} points",
                         "holds" if c["r2"] > 0.9 and c["spearman"] > 0.9 else "does not hold here"))
    if s["samples_needed"]:
        rows.append(("4. ≈ 40–50 calibration samples suffice",
                     f"smallest n with mean ECE within {s['tol'] * 100:.0f} pp of all samples: "
                     + ", ".join(f"{k} {v}" for k, v in s["samples_needed"].items())
                     + "; mean ECE at n = 50: " + ", ".join(f"{k} {'—' if v is None else f'{v:.3f}'}"
                                                          for k, v in s["ece_at_50"].items()),
                     "holds" if all(v is not None and v <= 50 for v in s["samples_needed"].values())
                     else f"does not hold here (at {s['tol'] * 100:.0f} pp)"))
    return pd.DataFrame(rows, columns=["claim (Tu et al. 2024)", f"measured: {source}", "verdict"])


def grid_for(n_grid: Iterable[int | str | None], n_total: int) -> list[int | str]:
    """The sizes of ``n_grid`` that are draws for a calibration split of ``n_total`` samples:
    those ``< n_total``, plus ``"all"`` if listed. Use it to share one grid between tasks of
    different sizes (:func:`run_grid` rejects sizes ``>= n_total``)."""
    return [n for n in n_grid if n is None or n == "all" or int(n) < n_total]
