"""One scoring record: every place in the package that scores predictions builds a :class:`Scores`.

Conventions
-----------
- Everything is a **fraction** in ``[0, 1]`` (accuracy, confidence, ECE, MCE, smooth and debiased
  ECE); NLL is in nats and Brier in ``[0, 2]``. Percent and display labels exist only where a table
  is formatted for a reader (the chapter views), never in a record or a results file.
- Top-label quantities as in :mod:`vlmcal_utils.metrics`: ``confidence = max_k p_k``,
  ``correct = argmax_k p_k == label``; ECE with equal-width bins ``(lo, hi]``, one value per bin
  count in ``bins``; MCE, the debiased ECE and the bootstrap interval use the *first* bin count
  (the record's ``primary_bins``).
- A record made from top-label data only (:func:`score_confidence`: confidences and correctness,
  no class probabilities) has ``nll = brier = None``: those need the full ``(N, K)`` probabilities.
- ``as_row()`` flattens a record to fixed keys (``n, accuracy, mean_confidence, ece_<b>...,
  ece_lo, ece_hi, mce, nll, brier, smooth_ece, debiased_ece, temperature``), the one shape in
  which scores enter tables and results files; :meth:`Scores.from_row` reads it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vlmcal_utils.checks import (
    check_int,
    check_n_bins,
    confidence_arrays,
    labels_array,
    logits_array,
    probs_array,
    row_blocks,
)
from vlmcal_utils.ece_estimators import debiased_ece_from_confidence, smooth_ece_from_confidence
from vlmcal_utils.metrics import ece_bootstrap_ci, ece_from_confidence, log_softmax, mce_from_confidence

__all__ = ["Scores", "score_logits", "score_probs", "score_confidence", "ROW_KEYS", "ece_key"]

#: The keys of :meth:`Scores.as_row` besides one ``ece_<b>`` per bin count.
ROW_KEYS = ("n", "accuracy", "mean_confidence", "ece_lo", "ece_hi", "mce", "nll", "brier",
            "smooth_ece", "debiased_ece", "temperature")


@dataclass(frozen=True)
class Scores:
    """The scores of one set of predictions (fractions; see the module's conventions).

    Attributes
    ----------
    n : int
        Number of scored rows.
    accuracy, mean_confidence : float
        Top-label accuracy and mean top-label confidence.
    ece : dict of int to float
        Equal-width top-label ECE per bin count, in the order asked for (first = primary).
    mce : float
        Maximum calibration error at the primary bin count.
    nll, brier : float or None
        Mean NLL (nats) and multiclass Brier score; ``None`` for top-label-only data.
    smooth_ece, debiased_ece : float or None
        SmoothECE (relplot) and the debiased ECE at the primary bin count; ``None`` when not asked.
    ece_interval : tuple of float or None
        Percentile bootstrap interval of the primary-bin ECE; ``None`` when ``n_boot = 0``.
    temperature : float
        The temperature the probabilities were computed at (1: the raw model).
    """

    n: int
    accuracy: float
    mean_confidence: float
    ece: Mapping[int, float]
    mce: float
    nll: float | None = None
    brier: float | None = None
    smooth_ece: float | None = None
    debiased_ece: float | None = None
    ece_interval: tuple[float, float] | None = None
    temperature: float = 1.0

    @property
    def primary_bins(self) -> int:
        """The first bin count asked for: the one of ``mce``, ``debiased_ece`` and the interval."""
        return next(iter(self.ece))

    @property
    def primary_ece(self) -> float:
        """The ECE at :attr:`primary_bins`."""
        return self.ece[self.primary_bins]

    def as_row(self) -> dict[str, Any]:
        """The record as a flat dict with fixed keys (``ece_<b>`` per bin count; NaN where absent).

        Returns
        -------
        dict
            ``n, accuracy, mean_confidence, ece_<b>..., ece_lo, ece_hi, mce, nll, brier,
            smooth_ece, debiased_ece, temperature``; ``None`` values of the record become NaN so
            that a table column stays numeric.
        """
        lo, hi = self.ece_interval if self.ece_interval is not None else (math.nan, math.nan)
        row: dict[str, Any] = {"n": self.n, "accuracy": self.accuracy, "mean_confidence": self.mean_confidence}
        row.update({f"ece_{b}": v for b, v in self.ece.items()})
        row.update({"ece_lo": lo, "ece_hi": hi, "mce": self.mce, "nll": _nan(self.nll), "brier": _nan(self.brier),
                    "smooth_ece": _nan(self.smooth_ece), "debiased_ece": _nan(self.debiased_ece),
                    "temperature": self.temperature})
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Scores:
        """Read back :meth:`as_row` (bin counts in the order of their ``ece_<b>`` keys).

        Parameters
        ----------
        row : mapping
            A dict (or a pandas row) with the keys of :meth:`as_row`.

        Returns
        -------
        Scores
        """
        ece = {int(k[4:]): float(v) for k, v in row.items() if k.startswith("ece_") and k[4:].isdigit()}
        if not ece:
            raise ValueError(f"not a scores row: no 'ece_<bins>' key among {sorted(row)}")
        lo, hi = float(row.get("ece_lo", math.nan)), float(row.get("ece_hi", math.nan))
        return cls(n=int(row["n"]), accuracy=float(row["accuracy"]), mean_confidence=float(row["mean_confidence"]),
                   ece=ece, mce=float(row["mce"]), nll=_none(row.get("nll")), brier=_none(row.get("brier")),
                   smooth_ece=_none(row.get("smooth_ece")), debiased_ece=_none(row.get("debiased_ece")),
                   ece_interval=None if math.isnan(lo) and math.isnan(hi) else (lo, hi),
                   temperature=float(row.get("temperature", 1.0)))


def ece_key(columns: Any) -> str:
    """The primary ECE key of a row or table: its first ``ece_<bins>`` key (as :meth:`Scores.as_row` orders them).

    Parameters
    ----------
    columns : iterable of str
        A row's keys or a table's columns (e.g. ``df.columns``).

    Returns
    -------
    str
        E.g. ``"ece_15"``.

    Examples
    --------
    >>> ece_key(["n", "accuracy", "ece_15", "ece_lo"])
    'ece_15'
    """
    for c in columns:
        if isinstance(c, str) and c.startswith("ece_") and c[4:].isdigit():
            return c
    raise ValueError(f"no 'ece_<bins>' column among {list(columns)}: not a table of scores rows")


def _nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


def _none(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _bins(bins: int | Sequence[int]) -> tuple[int, ...]:
    seq = (bins,) if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool) else tuple(bins)
    if not seq:
        raise ValueError("bins must name at least one bin count, e.g. bins=(15, 20)")
    out = tuple(check_n_bins(b) for b in seq)
    if len(set(out)) != len(out):
        raise ValueError(f"bins repeats a bin count: {list(out)}")
    return out


_ESTIMATORS = ("smooth", "debiased")


def _estimators(estimators: bool | Collection[str]) -> frozenset[str]:
    if isinstance(estimators, bool):
        return frozenset(_ESTIMATORS if estimators else ())
    chosen = frozenset(estimators)
    if not chosen <= set(_ESTIMATORS):
        raise ValueError(f"estimators must be True, False or a subset of {_ESTIMATORS}, got {sorted(chosen)}")
    return chosen


def score_confidence(confidence: Any, correct: Any, *, bins: int | Sequence[int] = 15, n_boot: int = 0,
                     alpha: float = 0.05, seed: int = 0, estimators: bool | Collection[str] = True,
                     temperature: float = 1.0) -> Scores:
    """Score top-label data: ``(N,)`` confidences and ``(N,)`` 0/1 correctness.

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Top-label confidences in ``[0, 1]``.
    correct : array-like, shape (N,)
        Whether each top-label prediction was right (bool or 0/1).
    bins : int or sequence of int
        Equal-width ECE bin counts; the first is the primary one.
    n_boot : int
        Bootstrap replicates of the primary-bin ECE interval (0: none).
    alpha : float
        The interval is the percentile ``1 - alpha`` one.
    seed : int
        Seed of the bootstrap resampling.
    estimators : bool or collection of {"smooth", "debiased"}
        Which ECE estimators to compute besides the binned ECE: ``True`` both, ``False`` none, or
        e.g. ``("debiased",)`` (SmoothECE costs ~15 ms per 5 000 rows; ``None`` where not computed).
    temperature : float
        Recorded as the temperature the confidences were computed at.

    Returns
    -------
    Scores
        With ``nll = brier = None`` (they need the class probabilities).

    Examples
    --------
    >>> s = score_confidence([0.9, 0.8, 0.6, 0.7], [1, 1, 0, 1], bins=(10, 20), estimators=False)
    >>> s.n, s.accuracy, round(s.mean_confidence, 3), round(s.ece[10], 3)
    (4, 0.75, 0.75, 0.3)
    >>> s.nll is None
    True
    """
    bins = _bins(bins)
    n_boot = check_int(n_boot, "n_boot", minimum=0)
    chosen = _estimators(estimators)
    conf, corr = confidence_arrays(confidence, correct)
    primary = bins[0]
    interval = None
    if n_boot:
        interval = ece_bootstrap_ci(conf, corr, n_bins=primary, n_boot=n_boot, alpha=alpha, seed=seed)
    return Scores(
        n=int(conf.size), accuracy=float(corr.mean()), mean_confidence=float(conf.mean()),
        ece={b: float(ece_from_confidence(conf, corr, n_bins=b)) for b in bins},
        mce=float(mce_from_confidence(conf, corr, n_bins=primary)),
        smooth_ece=float(smooth_ece_from_confidence(conf, corr)) if "smooth" in chosen else None,
        debiased_ece=float(debiased_ece_from_confidence(conf, corr, n_bins=primary)) if "debiased" in chosen else None,
        ece_interval=interval, temperature=float(temperature),
    )


def _score_log_probs(z: np.ndarray, labels: Any, temperature: float, to_log_probs: Callable[[np.ndarray], np.ndarray],
                     **kw: Any) -> Scores:
    """Score the rows of ``z`` block by block: ``to_log_probs`` maps a float64 block to log-probabilities."""
    y = labels_array(labels, z.shape[0], z.shape[1])
    conf, correct = np.empty(z.shape[0]), np.empty(z.shape[0])
    nll_sum = brier_sum = 0.0
    for rows in row_blocks(*z.shape):
        logp = to_log_probs(z[rows].astype(np.float64))
        yb, idx = y[rows], np.arange(logp.shape[0])
        conf[rows], correct[rows] = np.exp(logp.max(axis=1)), logp.argmax(axis=1) == yb
        nll_sum -= float(logp[idx, yb].sum())
        p = np.exp(logp, out=logp)
        p[idx, yb] -= 1.0
        brier_sum += float((p**2).sum())
    top = score_confidence(conf, correct, temperature=temperature, **kw)
    return Scores(n=top.n, accuracy=top.accuracy, mean_confidence=top.mean_confidence, ece=top.ece, mce=top.mce,
                  nll=nll_sum / top.n, brier=brier_sum / top.n, smooth_ece=top.smooth_ece,
                  debiased_ece=top.debiased_ece, ece_interval=top.ece_interval, temperature=top.temperature)


def score_logits(logits: Any, labels: Any, *, temperature: float = 1.0, bins: int | Sequence[int] = 15,
                 n_boot: int = 0, alpha: float = 0.05, seed: int = 0,
                 estimators: bool | Collection[str] = True) -> Scores:
    """Score ``softmax(logits / temperature)`` against integer labels.

    Parameters
    ----------
    logits : array-like, shape (N, K)
        Unnormalised scores (numpy, torch or nested lists; computed in float64; ``-inf`` marks a
        masked class).
    labels : array-like, shape (N,)
        Integer class indices in ``[0, K)``.
    temperature : float
        Divides the logits before the softmax (1: the raw model; a fitted TS temperature after TS).
    bins, n_boot, alpha, seed, estimators
        As in :func:`score_confidence`.

    Returns
    -------
    Scores

    Examples
    --------
    >>> s = score_logits([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]], [0, 1, 1], bins=(15, 20), estimators=False)
    >>> s.n, round(s.accuracy, 4), round(s.nll, 4), sorted(s.ece)  # nll: log(1+e^-2), log(1+e^-1), log(1+e^3)
    (3, 0.6667, 1.1629, [15, 20])
    >>> list(s.as_row())[:5]
    ['n', 'accuracy', 'mean_confidence', 'ece_15', 'ece_20']
    """
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    z = logits_array(logits, keep_float32=True, masked=True)
    return _score_log_probs(z, labels, float(temperature), lambda block: log_softmax(block / float(temperature)),
                            bins=bins, n_boot=n_boot, alpha=alpha, seed=seed, estimators=estimators)


def score_probs(probs: Any, labels: Any, *, bins: int | Sequence[int] = 15, n_boot: int = 0, alpha: float = 0.05,
                seed: int = 0, estimators: bool | Collection[str] = True) -> Scores:
    """Score ``(N, K)`` class probabilities against integer labels.

    Parameters
    ----------
    probs : array-like, shape (N, K)
        Rows sum to 1 (within the tolerance of :mod:`vlmcal_utils.checks`).
    labels : array-like, shape (N,)
        Integer class indices in ``[0, K)``.
    bins, n_boot, alpha, seed, estimators
        As in :func:`score_confidence`.

    Returns
    -------
    Scores
        ``nll`` is ``inf`` when a true class has probability 0.

    Examples
    --------
    >>> s = score_probs([[0.8, 0.2], [0.4, 0.6]], [0, 0], estimators=False)
    >>> s.accuracy, round(s.brier, 2)  # Brier: (0.2^2 + 0.2^2 + 0.6^2 + 0.6^2) / 2
    (0.5, 0.4)
    """
    p = probs_array(probs, keep_float32=True)
    return _score_log_probs(p, labels, 1.0, _log, bins=bins, n_boot=n_boot, alpha=alpha, seed=seed,
                            estimators=estimators)


def _log(p: np.ndarray) -> np.ndarray:
    """``log(p)`` of a float64 block of probabilities, ``-inf`` where ``p`` is 0."""
    with np.errstate(divide="ignore"):
        return np.log(p, out=p)
