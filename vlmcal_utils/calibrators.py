"""Post-hoc calibrators beyond temperature scaling, with :class:`~vlmcal_utils.temperature.TemperatureScaler`'s API.

Every calibrator is fitted on a calibration split, ``fit(logits, labels) -> self`` with ``(N, K)``
logits and ``(N,)`` integer labels, then applied with ``transform(logits)``. ``transform`` returns
what the method naturally produces — **logits** for :class:`VectorScaler` (like TS),
**probabilities** for :class:`HistogramBinning` and :class:`IsotonicCalibrator` — and every
calibrator also has ``predict_proba(logits)``, ``(M, K)`` probabilities, for uniform use.

- :class:`VectorScaler` (Guo et al. 2017): ``z'_k = w_k z_k + b_k``, 2K parameters fitted by NLL
  (L-BFGS in float64, from ``w = 1, b = 0``); ``bias=False`` leaves K (torch-uncertainty's
  ``VectorScaler``, a per-class temperature). Written here.
- :class:`HistogramBinning` (Zadrozny & Elkan 2001): one-vs-rest on ``softmax(z)[:, k]``,
  ``n_bins`` equal-width bins ``(lo, hi]`` per class, each mapped to its calibration-set
  frequency of class ``k`` (an empty bin keeps its centre); rows renormalised. Written here.
- :class:`IsotonicCalibrator` (Zadrozny & Elkan 2002): one-vs-rest isotonic regression of
  ``1[y = k]`` on ``softmax(z)[:, k]`` by scikit-learn (``y_min=0, y_max=1,
  out_of_bounds="clip"``; tied scores are pooled), rows renormalised.

A row whose calibrated one-vs-rest values are all 0 gets the uniform distribution.

**SigLIP.** SigLIP/SigLIP2 are trained with a per-class *sigmoid* loss: their logits
``t * cos + b`` are independent binary scores, not softmax logits. These calibrators (like TS and
like the zero-shot chapters' accuracy) treat the K scores as softmax logits, which asks a
different question — "which of the K classes", not "is this class present" — and the shared
bias ``b`` cancels inside the softmax. So a calibrated SigLIP here is a calibrated K-way
classifier built on SigLIP's scores, not a calibration of SigLIP's own sigmoid probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.isotonic import IsotonicRegression

from vlmcal_utils.checks import check_n_bins, labels_array, logits_array, unknown_name_error
from vlmcal_utils.metrics import log_softmax, softmax

__all__ = [
    "CALIBRATORS",
    "VectorScaler",
    "HistogramBinning",
    "IsotonicCalibrator",
    "make_calibrator",
    "nll_of",
]


def _fit_data(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    z = logits_array(logits)
    return z, labels_array(labels, z.shape[0], z.shape[1])


def _renormalise(q: np.ndarray) -> np.ndarray:
    total = q.sum(axis=1, keepdims=True)
    uniform = np.full_like(q, 1.0 / q.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, q / np.where(total > 0, total, 1.0), uniform)


class _Calibrator:
    """Shared checks: a fitted flag and the number of classes seen in ``fit``."""

    n_classes_: int | None = None

    def _check_transform(self, logits: Any) -> np.ndarray:
        if self.n_classes_ is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(logits, labels) first")
        z = logits_array(logits)
        if z.shape[1] != self.n_classes_:
            raise ValueError(
                f"{type(self).__name__} was fitted on {self.n_classes_} classes, got logits with {z.shape[1]}"
            )
        return z


class VectorScaler(_Calibrator):
    """Vector scaling ``z * w + b`` (per-class scale and bias), fitted by NLL.

    Parameters
    ----------
    bias : bool
        Fit the bias ``b`` too (Guo et al.'s vector scaling, 2K parameters); ``False`` fits only
        ``w`` (a per-class inverse temperature, K parameters).
    max_iter : int
        L-BFGS iterations.

    Attributes
    ----------
    weight_, bias_ : numpy.ndarray, shape (K,)
        The fitted ``w`` and ``b`` (``b`` is 0 with ``bias=False``).
    """

    def __init__(self, bias: bool = True, max_iter: int = 500):
        self.bias = bias
        self.max_iter = max_iter
        self.weight_: np.ndarray | None = None
        self.bias_: np.ndarray | None = None

    def fit(self, logits: Any, labels: Any) -> "VectorScaler":
        """Fit ``w`` (and ``b``) on (N, K) calibration logits and (N,) labels; returns ``self``."""
        z, y = _fit_data(logits, labels)
        zt = torch.as_tensor(z, dtype=torch.float64)
        yt = torch.as_tensor(y, dtype=torch.int64)
        k = z.shape[1]
        w = torch.ones(k, dtype=torch.float64, requires_grad=True)
        b = torch.zeros(k, dtype=torch.float64, requires_grad=self.bias)
        params = [w, b] if self.bias else [w]
        opt = torch.optim.LBFGS(
            params, lr=1.0, max_iter=self.max_iter, tolerance_grad=1e-10,
            tolerance_change=1e-14, line_search_fn="strong_wolfe",
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(zt * w + b, yt)
            loss.backward()
            return loss

        opt.step(closure)
        self.weight_ = w.detach().numpy().copy()
        # softmax ignores a constant added to every logit: centre b so the fit is unique
        bias = b.detach().numpy().copy()
        self.bias_ = bias - bias.mean()
        self.n_classes_ = k
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated **logits** ``z * w + b``, (M, K) float64."""
        z = self._check_transform(logits)
        return z * self.weight_ + self.bias_

    def predict_proba(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities ``softmax(z * w + b)``, (M, K)."""
        return softmax(self.transform(logits))


class HistogramBinning(_Calibrator):
    """One-vs-rest histogram binning on softmax probabilities (equal-width ``(lo, hi]`` bins).

    Parameters
    ----------
    n_bins : int
        Bins per class (15 by default, as torch-uncertainty's ``HistogramBinningScaler``).

    Attributes
    ----------
    bin_values_ : numpy.ndarray, shape (K, n_bins)
        The calibrated value of each class's bins.
    """

    def __init__(self, n_bins: int = 15):
        self.n_bins = n_bins
        self.bin_values_: np.ndarray | None = None

    def _bin_index(self, p: np.ndarray) -> np.ndarray:
        edges = np.arange(self.n_bins + 1, dtype=np.float64) / self.n_bins
        # side="left" puts p == hi into the bin ending at hi, as metrics' (lo, hi] bins
        return np.clip(np.searchsorted(edges, p, side="left") - 1, 0, self.n_bins - 1)

    def fit(self, logits: Any, labels: Any) -> "HistogramBinning":
        """Fit each class's bin frequencies on (N, K) calibration logits and (N,) labels."""
        n_bins = check_n_bins(self.n_bins)
        z, y = _fit_data(logits, labels)
        p = softmax(z)
        centres = (np.arange(n_bins) + 0.5) / n_bins
        values = np.empty((z.shape[1], n_bins))
        for k in range(z.shape[1]):
            idx = self._bin_index(p[:, k])
            count = np.bincount(idx, minlength=n_bins)
            hits = np.bincount(idx, weights=(y == k).astype(np.float64), minlength=n_bins)
            values[k] = np.where(count > 0, hits / np.maximum(count, 1), centres)
        self.bin_values_ = values
        self.n_classes_ = z.shape[1]
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated **probabilities**, (M, K), rows renormalised to sum to 1."""
        p = softmax(self._check_transform(logits))
        idx = self._bin_index(p)
        q = np.take_along_axis(self.bin_values_.T, idx, axis=0)  # (M, K): class k's bin value
        return _renormalise(q)

    predict_proba = transform


class IsotonicCalibrator(_Calibrator):
    """One-vs-rest isotonic regression (scikit-learn) on softmax probabilities.

    Attributes
    ----------
    models_ : list of sklearn.isotonic.IsotonicRegression
        One fitted regressor per class.
    """

    def __init__(self) -> None:
        self.models_: list[IsotonicRegression] = []

    def fit(self, logits: Any, labels: Any) -> "IsotonicCalibrator":
        """Fit one isotonic map per class on (N, K) calibration logits and (N,) labels."""
        z, y = _fit_data(logits, labels)
        p = softmax(z)
        self.models_ = [
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p[:, k], (y == k).astype(np.float64))
            for k in range(z.shape[1])
        ]
        self.n_classes_ = z.shape[1]
        return self

    def transform(self, logits: Any) -> np.ndarray:
        """Calibrated **probabilities**, (M, K), rows renormalised to sum to 1."""
        p = softmax(self._check_transform(logits))
        q = np.column_stack([m.predict(p[:, k]) for k, m in enumerate(self.models_)])
        return _renormalise(q)

    predict_proba = transform


CALIBRATORS = {
    "vector_scaling": VectorScaler,
    "histogram_binning": HistogramBinning,
    "isotonic": IsotonicCalibrator,
}
"""The calibrators of this module by name (temperature scaling is :mod:`vlmcal_utils.temperature`)."""


def make_calibrator(name: str, **kwargs: Any) -> _Calibrator:
    """A fresh calibrator from :data:`CALIBRATORS` by name, e.g. ``make_calibrator("isotonic")``."""
    if name not in CALIBRATORS:
        raise unknown_name_error("calibrator", name, list(CALIBRATORS))
    return CALIBRATORS[name](**kwargs)


def nll_of(calibrator: _Calibrator, logits: Any, labels: Any) -> float:
    """Mean NLL of a fitted calibrator's probabilities (clipped at 1e-12 so binning's zeros stay finite)."""
    z, y = _fit_data(logits, labels)
    if isinstance(calibrator, VectorScaler):
        logp = log_softmax(calibrator.transform(z))
    else:
        logp = np.log(np.clip(calibrator.predict_proba(z), 1e-12, 1.0))
    return float(-logp[np.arange(z.shape[0]), y].mean())
