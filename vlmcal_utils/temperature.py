"""Temperature scaling (Guo et al., 2017): one scalar ``T > 0`` fitted by NLL on held-out data.

``softmax(logits / T)`` keeps every argmax (so accuracy is unchanged) and only sharpens
(``T < 1``) or softens (``T > 1``) the probabilities. ``T`` is chosen to minimise the mean NLL on a
calibration split. The NLL is convex in ``1 / T``, so it has one minimum over ``T > 0`` (or none,
when it keeps falling towards a bound, e.g. if every sample is classified correctly).

Two fitting methods are provided and agree to ~1e-4 relative on well-posed data:

- ``"lbfgs"``: L-BFGS (torch, float64, strong-Wolfe line search) on ``log T``, starting at T = 1.
- ``"bisection"``: bisection on the sign of ``dNLL/dT`` between the bounds, using the closed form
  ``dNLL/dT = mean(z_y - sum_k p_k z_k) / T^2`` (no autograd, a few passes over the logits).

If the optimum lies at or beyond a bound (decided, for both methods, by the sign of ``dNLL/dT`` at
the bounds), both return that bound and emit a ``UserWarning``.

A logit of ``-inf`` marks a masked class (probability 0 at every ``T``); a row whose true class
is masked is refused (its NLL is infinite at every ``T``). Both methods work through the rows in
blocks (:func:`vlmcal_utils.checks.row_blocks`), widening float32 logits to float64 one block at a
time: a fit needs at most about its input's size again (``benchmarks/bench_memory.py``).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from vlmcal_utils.checks import labels_array, logits_array, looks_like_probabilities, refuse_top_label_only, row_blocks

__all__ = ["fit_temperature", "apply_temperature", "TemperatureScaler", "nll_gradient_wrt_T"]

METHODS = ("lbfgs", "bisection")
"""The ways :func:`fit_temperature` can fit T (see the module docstring)."""


def _check_T(T: Any) -> float:
    if hasattr(T, "detach"):  # a 0-d torch tensor
        T = T.detach().cpu().item()
    if isinstance(T, (str, bytes, bool)):  # float("2") would pass silently: a typo, not a temperature
        raise ValueError(f"temperature must be a positive number, got {T!r}")
    try:
        value = float(T)
    except (TypeError, ValueError) as err:
        raise ValueError(f"temperature must be a positive number, got {T!r}") from err
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"temperature must be finite and > 0, got {value}: fit it with fit_temperature()"
        )
    return value


def apply_temperature(logits: Any, T: float) -> Any:
    """Return ``logits / T``, of the same type as ``logits`` (numpy in → numpy out, torch → torch)."""
    value = _check_T(T)
    refuse_top_label_only(logits, "logits")
    if isinstance(logits, (list, tuple)):
        raise ValueError(
            "apply_temperature needs a numpy array or torch tensor (it returns the same type); "
            "got a Python list — pass numpy.asarray(logits)"
        )
    return logits / value


def _validated(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = logits_array(logits, keep_float32=True, masked=True)
    y = labels_array(labels, z.shape[0], z.shape[1])
    masked_true = np.isneginf(z[np.arange(z.shape[0]), y])
    if masked_true.any():
        raise ValueError(
            f"{int(masked_true.sum())} row(s) have their true class masked (logit -inf; row "
            f"{int(masked_true.argmax())} first): their NLL is infinite at every temperature. "
            "Drop those rows or unmask the class"
        )
    return z, y


def nll_gradient_wrt_T(logits: Any, labels: Any, T: float) -> float:
    """``dNLL/dT`` of ``softmax(logits / T)`` at ``T``: ``mean(z_y - E_p[z]) / T^2``.

    Negative below the optimum temperature, positive above it.
    """
    z, y = _validated(logits, labels)
    return _grad(z, y, _check_T(T))


def _unmasked(block: np.ndarray) -> np.ndarray:
    """A float64 copy of a block of logits with ``-inf`` (masked, probability 0) replaced by 0.

    ``p * z`` would be ``0 * -inf = nan`` at a masked class; its probability is exactly 0, so
    any finite value there gives the same expectation.
    """
    block = block.astype(np.float64)
    block[np.isneginf(block)] = 0.0
    return block


def _grad(z: np.ndarray, y: np.ndarray, T: float) -> float:
    total = 0.0
    for rows in row_blocks(*z.shape):
        zb = z[rows].astype(np.float64)
        s = zb / T
        s -= s.max(axis=1, keepdims=True)
        p = np.exp(s, out=s)  # masked classes: exp(-inf) = 0
        p /= p.sum(axis=1, keepdims=True)
        expected = (p * _unmasked(zb)).sum(axis=1)
        total += float((zb[np.arange(zb.shape[0]), y[rows]] - expected).sum())
    return total / z.shape[0] / T**2


def _warn_bound(T: float, which: str, bounds: tuple[float, float]) -> None:
    warnings.warn(
        f"fit_temperature: the NLL optimum is at or beyond the {which} bound; returning T={T} "
        f"(bounds={bounds}). The data may be (nearly) separable or the logits badly scaled; "
        "widen `bounds` if this is expected.",
        UserWarning,
        stacklevel=4,
    )


def _optimum_at_bound(z: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float | None:
    """The bound to return (with a warning) if the NLL optimum is not strictly inside it.

    Checked by the gradient's sign for both methods: an unconstrained optimiser can stall far
    from the bound where the NLL is flat (e.g. separable data, NLL -> 0 as T -> 0).
    """
    if _grad(z, y, lo) >= 0:  # NLL already increasing at the lower bound
        _warn_bound(lo, "lower", (lo, hi))
        return lo
    if _grad(z, y, hi) <= 0:  # NLL still decreasing at the upper bound
        _warn_bound(hi, "upper", (lo, hi))
        return hi
    return None


def _fit_bisection(z: np.ndarray, y: np.ndarray, lo: float, hi: float, tol: float) -> float:
    # Invariant: dNLL/dT < 0 at lo and > 0 at hi. Stop on a *relative* width so that small and
    # large temperatures are found equally precisely.
    while hi - lo > tol * 0.5 * (hi + lo):
        mid = 0.5 * (lo + hi)
        if _grad(z, y, mid) < 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _fit_lbfgs(z: np.ndarray, y: np.ndarray, lo: float, hi: float, tol: float) -> float:
    import torch

    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)  # start at T = 1
    opt = torch.optim.LBFGS(
        [log_t],
        lr=1.0,
        max_iter=200,
        tolerance_grad=1e-12,
        tolerance_change=1e-14,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        return torch.tensor(_nll_backward(z, y, log_t), dtype=torch.float64)

    opt.step(closure)
    T = float(torch.exp(log_t).item())
    if not math.isfinite(T):  # cannot happen for an interior optimum; fall back rather than fail
        return _fit_bisection(z, y, lo, hi, tol)
    # The optimum is known to be inside (lo, hi); clipping only guards against rounding.
    return min(max(T, lo), hi)


def _nll_backward(z: np.ndarray, y: np.ndarray, log_t: Any) -> float:
    """The mean NLL of ``softmax(z / exp(log_t))``, its gradient accumulated into ``log_t`` block by block."""
    import torch

    total = 0.0
    for rows in row_blocks(*z.shape):
        zb = torch.from_numpy(_unmasked(z[rows]))
        scaled = zb / torch.exp(log_t)
        mask = torch.from_numpy(np.isneginf(z[rows]))
        if mask.any():  # masked after the division: its gradient there is 0, not 0 * inf
            scaled = scaled.masked_fill(mask, -math.inf)
        loss = torch.nn.functional.cross_entropy(scaled, torch.from_numpy(y[rows]), reduction="sum") / z.shape[0]
        loss.backward()
        total += float(loss.item())
    return total


def fit_temperature(
    logits: Any,
    labels: Any,
    method: str = "lbfgs",
    bounds: tuple[float, float] = (0.01, 10.0),
    tol: float = 1e-4,
) -> float:
    """Fit the temperature ``T > 0`` minimising the mean NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits: (N, K) logits of the calibration split (numpy or torch; computed in float64; ``-inf``
        marks a masked class).
    labels: (N,) integer labels in ``[0, K)``.
    method: ``"lbfgs"`` (default) or ``"bisection"`` (see the module docstring).
    bounds: ``(T_min, T_max)``; an optimum at/beyond a bound returns the bound with a warning.
    tol: relative tolerance on ``T`` for bisection (L-BFGS converges far tighter).

    Returns
    -------
    float: the fitted temperature. ``T > 1`` means the model was overconfident.

    Examples
    --------
    Synthetic labels drawn from ``softmax(z)``: logits ``z`` are calibrated, ``2.5 * z`` are
    overconfident by a factor 2.5, which the fit recovers.

    >>> import numpy as np
    >>> from vlmcal_utils.metrics import softmax
    >>> rng = np.random.default_rng(0)
    >>> z = 2 * rng.normal(size=(5000, 10))
    >>> labels = (softmax(z).cumsum(axis=1) < rng.random((5000, 1))).sum(axis=1)
    >>> round(fit_temperature(z, labels), 2), round(fit_temperature(2.5 * z, labels), 2)
    (1.01, 2.52)
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError) as err:
        raise ValueError(f"bounds must be a pair (T_min, T_max), got {bounds!r}") from err
    if not (0 < lo < hi and math.isfinite(hi)):
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got {bounds!r}")
    if not (isinstance(tol, (int, float)) and 0 < tol < 1):
        raise ValueError(f"tol must be a small positive number such as 1e-4, got {tol!r}")
    z, y = _validated(logits, labels)
    if looks_like_probabilities(z):
        warnings.warn(
            "fit_temperature got rows in [0, 1] that sum to 1: these look like probabilities, not "
            "logits, and the fitted T would be meaningless. Pass logits (or log-probabilities: "
            "numpy.log(probs) behaves the same under softmax).",
            UserWarning,
            stacklevel=2,
        )
    at_bound = _optimum_at_bound(z, y, lo, hi)
    if at_bound is not None:
        return float(at_bound)
    if method == "bisection":
        return float(_fit_bisection(z, y, lo, hi, tol))
    return float(_fit_lbfgs(z, y, lo, hi, tol))


class TemperatureScaler:
    """Scikit-learn-style wrapper: ``TemperatureScaler().fit(val_logits, val_labels).transform(x)``."""

    def __init__(self, method: str = "lbfgs", bounds: tuple[float, float] = (0.01, 10.0)):
        self.method = method
        self.bounds = bounds
        self.temperature_: float | None = None

    def fit(self, logits: Any, labels: Any) -> "TemperatureScaler":
        """Fit ``T`` on ``(N, K)`` calibration logits and ``(N,)`` labels; returns ``self``."""
        self.temperature_ = fit_temperature(logits, labels, method=self.method, bounds=self.bounds)
        return self

    def transform(self, logits: Any) -> Any:
        """Scaled logits ``logits / T`` (same type as the input)."""
        if self.temperature_ is None:
            raise ValueError("TemperatureScaler is not fitted: call fit(logits, labels) first")
        return apply_temperature(logits, self.temperature_)
