"""Input validation shared by the whole package: arrays, labels, names, choices.

Every public function of :mod:`vlmcal_utils` that takes user input converts and checks it here, so
the error a user sees names the argument, says what was wrong and what to pass instead.

Conventions
-----------
- Arrays: numpy arrays, torch tensors (any float dtype, including ``bfloat16`` and ``float16``,
  on any device) and nested lists are accepted; they are returned as numpy arrays. Low-precision
  floats are widened to float32 first, because numpy has no ``bfloat16``.
- ``(N, K)`` matrices are returned as finite float64; labels as ``(N,)`` int64 in ``[0, K)``.
  Where a caller works through the rows in blocks (:func:`row_blocks`), float32 input may be kept
  as float32 (``keep_float32=True``) and each block widened to float64 (exactly) as it is used,
  so that a metric never holds a float64 copy of a float32 input.
- Logits may hold ``-inf`` where the caller allows masked classes (``masked=True``): a class given
  ``-inf`` has probability exactly 0. NaN, ``+inf`` and rows with every class masked are refused.
- Objects that hold only part of a model's outputs (e.g. top-5 classes and probabilities,
  :class:`vlmcal_utils.data.topk.Top5Outputs`) say so in a ``top_label_only`` attribute (the reason, a
  string); every array check refuses them with that reason (:func:`refuse_top_label_only`), so no
  NLL, Brier score or temperature is ever computed from outputs that cannot support it.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = [
    "PROB_SUM_TOL",
    "to_numpy",
    "float_matrix",
    "logits_array",
    "probs_array",
    "labels_array",
    "looks_like_probabilities",
    "confidence_arrays",
    "check_n_bins",
    "check_choice",
    "check_int",
    "close_matches",
    "unknown_name_error",
    "looks_like_path",
    "prob_sum_tolerance",
    "BLOCK_ELEMENTS",
    "row_blocks",
    "refuse_top_label_only",
]

PROB_SUM_TOL = 1e-3
"""How far a row of probabilities may sum from 1 and still count as probabilities."""


def refuse_top_label_only(x: Any, name: str) -> None:
    """Raise a one-line ``ValueError`` if ``x`` declares that it holds top-label data only.

    Parameters
    ----------
    x : object
        Anything; refused when it has a string attribute ``top_label_only`` (why it cannot be used).
    name : str
        The argument's name, for the message.
    """
    reason = getattr(x, "top_label_only", None)
    if isinstance(reason, str):
        raise ValueError(f"{name}: {reason}")


def to_numpy(x: Any, name: str) -> np.ndarray:
    """Convert numpy / torch / list input to a numpy array without changing its kind.

    Parameters
    ----------
    x : array-like or torch.Tensor
        The input. Torch tensors are detached and moved to the CPU; ``bfloat16``/``float16``
        tensors are widened to ``float32`` (numpy cannot hold ``bfloat16``).
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    numpy.ndarray
    """
    if x is None:
        raise ValueError(f"{name} is None: pass an array or tensor")
    refuse_top_label_only(x, name)
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu()
        if getattr(x, "is_floating_point", lambda: False)() and x.element_size() < 4:
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise ValueError(
            f"{name} must be a rectangular array (every row the same length): {err}"
        ) from None
    if arr.dtype == object:
        raise ValueError(f"{name} must be a numeric array, got dtype object (ragged rows or mixed types?)")
    return arr


def float_matrix(x: Any, name: str, keep_float32: bool = False, masked: bool = False) -> np.ndarray:
    """Validated ``(N, K)`` finite float64 array with ``N > 0`` and ``K > 0``.

    Parameters
    ----------
    x : array-like or torch.Tensor, shape (N, K)
        Real numbers.
    name : str
        The argument's name, used in error messages.
    keep_float32 : bool
        Return float32 input as float32 (no copy) instead of a float64 copy twice its size; for
        callers that widen it block by block (:func:`row_blocks`).
    masked : bool
        Allow ``-inf`` (a masked class) as long as each row keeps at least one finite entry.

    Returns
    -------
    numpy.ndarray
        float64, or float32 where ``keep_float32`` and the input is float32 (or narrower).
    """
    arr = to_numpy(x, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be (N, K) (one row per sample, one column per class), got shape "
            f"{arr.shape}. For top-label data (confidence + correctness) use ece_from_confidence."
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}): need at least one sample and class")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    narrow = np.issubdtype(arr.dtype, np.floating) and arr.dtype.itemsize <= 4
    arr = arr.astype(np.float32 if keep_float32 and narrow else np.float64, copy=False)
    if not np.isfinite(arr).all():
        _check_non_finite(arr, name, masked)
    return arr


def _check_non_finite(arr: np.ndarray, name: str, masked: bool) -> None:
    """Refuse NaN and inf, except ``-inf`` in rows with a finite entry where ``masked``."""
    bad = np.isnan(arr) | (arr == np.inf) if masked else ~np.isfinite(arr)
    if bad.any():
        n_bad = int(bad.any(axis=1).sum())
        allowed = " (-inf alone, a masked class, is allowed)" if masked else ""
        raise ValueError(f"{name} contains NaN or inf in {n_bad} row(s){allowed}: remove or fix those samples")
    all_masked = np.isneginf(arr).all(axis=1)
    if all_masked.any():
        raise ValueError(
            f"{name} has {int(all_masked.sum())} row(s) with every class at -inf (row "
            f"{int(all_masked.argmax())} first): at least one class per row must be unmasked"
        )


def logits_array(logits: Any, name: str = "logits", keep_float32: bool = False, masked: bool = False) -> np.ndarray:
    """Validated ``(N, K)`` logits: finite reals, or ``-inf`` for masked classes where ``masked``.

    See :func:`float_matrix` for ``keep_float32`` and ``masked``.
    """
    return float_matrix(logits, name, keep_float32=keep_float32, masked=masked)


BLOCK_ELEMENTS = 2**18
"""Entries per block of rows in the block-wise metrics (2 MiB in float64): their temporaries stay
this small whatever ``N``, so a metric's peak memory is at most about its input's size."""


def row_blocks(n_rows: int, n_cols: int) -> Iterator[slice]:
    """Consecutive row slices of about :data:`BLOCK_ELEMENTS` entries each (at least one row).

    Parameters
    ----------
    n_rows, n_cols : int
        The shape ``(N, K)`` of the array to walk through.

    Yields
    ------
    slice
        ``rows[start:stop]``, covering ``0..n_rows`` in order.
    """
    step = max(1, BLOCK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def looks_like_probabilities(arr: np.ndarray) -> bool:
    """True when every row of a float ``(N, K)`` array lies in ``[0, 1]`` and sums to 1."""
    return bool(
        arr.shape[1] > 1
        and (arr >= 0).all()
        and (arr <= 1).all()
        and np.allclose(arr.sum(axis=1, dtype=np.float64), 1.0, atol=PROB_SUM_TOL)
    )


def prob_sum_tolerance(probs: Any) -> float:
    """How far rows of ``probs`` may sum from 1: :data:`PROB_SUM_TOL`, or a narrower dtype's epsilon.

    A softmax computed in bfloat16 rounds each row sum by up to 2^-8, in float16 by 2^-11.
    """
    dtype = str(getattr(probs, "dtype", ""))
    if dtype.endswith("bfloat16"):
        return max(PROB_SUM_TOL, 2.0**-7)
    if dtype.endswith("float16"):
        return max(PROB_SUM_TOL, 2.0**-10)
    return PROB_SUM_TOL


def probs_array(probs: Any, name: str = "probs", keep_float32: bool = False) -> np.ndarray:
    """Validated ``(N, K)`` float64 probabilities: in ``[0, 1]``, rows summing to 1.

    Within 1e-3, or within the epsilon of a narrower dtype (:func:`prob_sum_tolerance`).
    ``keep_float32``: as in :func:`float_matrix` (the row sums are taken in float64 either way).
    """
    tol = prob_sum_tolerance(probs)
    arr = float_matrix(probs, name, keep_float32=keep_float32)
    if (arr < -tol).any() or (arr > 1 + tol).any():
        raise ValueError(
            f"{name} has values outside [0, 1] (min {arr.min():.4g}, max {arr.max():.4g}): "
            "these look like logits — pass softmax(logits)"
        )
    row_err = np.abs(arr.sum(axis=1, dtype=np.float64) - 1.0)
    if (row_err > tol).any():
        worst = int(row_err.argmax())
        raise ValueError(
            f"{name} rows must sum to 1 (tolerance {tol:.3g}); row {worst} sums to "
            f"{arr[worst].sum(dtype=np.float64):.6g} and {int((row_err > tol).sum())} row(s) are off — "
            "pass softmax(logits), not logits or unnormalised scores"
        )
    return arr


def labels_array(labels: Any, n: int, k: int | None, name: str = "labels") -> np.ndarray:
    """Validated ``(N,)`` int64 labels in ``[0, k)``.

    Whole-number floats are accepted; fractions (soft labels), NaN and non-numeric values are not.
    """
    arr = to_numpy(labels, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (N,) class indices, got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but there are {n} samples: N must match")
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise ValueError(
                f"{name} must be integer class indices, got non-integer values "
                "(e.g. soft labels or NaN); pass hard labels as ints"
            )
        arr = arr.astype(np.int64)
    elif not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must be integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if k is not None and n > 0 and (arr.min() < 0 or arr.max() >= k):
        raise ValueError(
            f"{name} must lie in [0, {k}) for K={k} classes, got min {arr.min()} and max {arr.max()}"
        )
    return arr


def confidence_arrays(confidence: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated top-label inputs: ``(N,)`` confidences in ``[0, 1]`` and ``(N,)`` 0/1 correctness."""
    conf = to_numpy(confidence, "confidence")
    corr = to_numpy(correct, "correct")
    if conf.ndim != 1:
        raise ValueError(
            f"confidence must be 1-D (N,), got shape {conf.shape}; for (N, K) probabilities use ece()"
        )
    if conf.shape[0] == 0:
        raise ValueError("confidence is empty: need at least one sample")
    if corr.shape != conf.shape:
        raise ValueError(f"correct has shape {corr.shape} but confidence has {conf.shape}: N must match")
    if not (np.issubdtype(conf.dtype, np.floating) or np.issubdtype(conf.dtype, np.integer)):
        raise ValueError(f"confidence must hold real numbers, got dtype {conf.dtype}")
    conf = conf.astype(np.float64)
    if not np.isfinite(conf).all():
        raise ValueError("confidence contains NaN or inf")
    if (conf < 0).any() or (conf > 1).any():
        raise ValueError(
            f"confidence must lie in [0, 1], got min {conf.min():.4g}, max {conf.max():.4g}: "
            "pass the max of softmax(logits)"
        )
    corr_f = corr.astype(np.float64)
    if not np.isin(corr_f, (0.0, 1.0)).all():
        raise ValueError("correct must be boolean or 0/1 (prediction == label)")
    return conf, corr_f


MAX_BINS = 1_000_000
"""More bins than any calibration estimate can use; larger requests are refused, not allocated."""


def check_n_bins(n_bins: Any) -> int:
    """``n_bins`` as an ``int`` in ``[1, MAX_BINS]``, else ``ValueError``."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or not 1 <= n_bins <= MAX_BINS:
        raise ValueError(f"n_bins must be an integer in [1, {MAX_BINS}], got {n_bins!r}")
    return int(n_bins)


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (``bool`` and fractional numbers refused), at least ``minimum``."""
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not ok or (minimum is not None and value < minimum):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name} must be an integer{bound}, got {value!r}")
    return int(value)


def check_choice(value: Any, choices: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else ``ValueError`` listing them (and close matches)."""
    if value not in choices:
        raise unknown_name_error(what, str(value), list(choices))
    return value


def close_matches(word: str, candidates: Sequence[str], n: int = 5) -> list[str]:
    """Up to ``n`` candidates that look like ``word`` (difflib, then a case-insensitive substring)."""
    candidates = [str(c) for c in candidates]
    matches = difflib.get_close_matches(str(word), candidates, n=n, cutoff=0.4)
    if not matches:
        matches = [c for c in candidates if str(word).lower() in c.lower()][:n]
    return matches


def unknown_name_error(what: str, name: str, candidates: Sequence[str], hint: str = "") -> ValueError:
    """A ``ValueError`` for an unknown ``what`` named ``name``, listing close matches or all choices."""
    close = close_matches(name, candidates)
    listing = f"close matches: {close}" if close else f"choose one of {sorted(candidates)}"
    return ValueError(f"unknown {what} {name!r}; {listing}" + (f". {hint}" if hint else ""))


def looks_like_path(value: str | os.PathLike) -> bool:
    """True when ``value`` names a file rather than a registry name (has a separator or suffix)."""
    text = os.fspath(value)
    return os.sep in text or "/" in text or Path(text).suffix in (".safetensors", ".pt", ".pth", ".bin", ".npz")
