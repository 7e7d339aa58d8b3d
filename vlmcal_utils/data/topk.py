"""Top-5 output files: each image's five most probable classes and their probabilities, nothing more.

Format (an ``.npz``, loaded with ``allow_pickle=False``): ``labels`` int (N,), ``top5_idx`` int
(N, 5) and ``top5_prob`` float (N, 5), most probable first, and ``meta`` (a JSON string naming the
source). The registry's ``clip_vitb16_imagenet_a_top5`` is one (kind ``"top5"`` in
:mod:`vlmcal_utils.data.registry`).

What such a file can support, and what it cannot:

- **exact**: the top-label prediction and confidence (``top5_idx[:, 0]``, ``top5_prob[:, 0]``),
  hence accuracy, top-label ECE and reliability diagrams, and top-5 accuracy;
- **not possible**: NLL, the Brier score and temperature scaling — each needs the probability of
  every class (the true class is outside the five for about a fifth of ImageNet-A), and TS needs
  the logits of all classes to rescale.

:class:`Top5Outputs` says so in :attr:`~Top5Outputs.top_label_only`; every array check of the
package refuses it with that reason (:func:`vlmcal_utils.checks.refuse_top_label_only`), and
:meth:`Top5Outputs.scores` scores what is exact with the one scoring record
(:func:`vlmcal_utils.scores.score_confidence`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vlmcal_utils.scores import Scores, score_confidence

__all__ = ["TOP5_KEYS", "EXACT", "NOT_EXACT", "Top5Outputs", "load_top5"]

TOP5_KEYS = ("labels", "top5_idx", "top5_prob")
"""The arrays every top-5 file has (besides ``meta``)."""
EXACT = ("accuracy", "top-5 accuracy", "top-label confidence", "top-label ECE", "reliability diagram")
"""What a top-5 file gives exactly."""
NOT_EXACT = ("NLL", "Brier score", "temperature scaling")
"""What a top-5 file cannot give (it lacks the other classes' probabilities)."""


@dataclass(frozen=True, eq=False)
class Top5Outputs:
    """A validated top-5 file (see the module docstring).

    Attributes
    ----------
    labels : numpy.ndarray
        ``(N,)`` int64 true class indices.
    top_idx : numpy.ndarray
        ``(N, k)`` int64 class indices, most probable first.
    top_prob : numpy.ndarray
        ``(N, k)`` float64 probabilities (as stored, e.g. float16, widened), most probable first.
    meta : dict
        The parsed ``meta`` JSON.
    path : pathlib.Path
        Where the file was read from.
    """

    labels: np.ndarray
    top_idx: np.ndarray
    top_prob: np.ndarray
    meta: dict
    path: Path

    @property
    def top_label_only(self) -> str:
        """Why this cannot be scored as logits or probabilities (read by every array check)."""
        return (f"{self.path.name} holds each image's top-{self.top_idx.shape[1]} classes only: "
                f"{', '.join(NOT_EXACT)} need every class's probability and are not computed from it; "
                f"only top-label metrics are exact (use .scores(), i.e. scores.score_confidence)")

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(self.top_label_only)

    @property
    def n(self) -> int:
        """Number of images."""
        return int(self.labels.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        """``(N,)`` top-label confidence, the largest stored probability."""
        return self.top_prob[:, 0]

    @property
    def predictions(self) -> np.ndarray:
        """``(N,)`` top-label predicted class."""
        return self.top_idx[:, 0]

    @property
    def correct(self) -> np.ndarray:
        """``(N,)`` bool: the top-label prediction is the true class."""
        return self.predictions == self.labels

    @property
    def topk_correct(self) -> np.ndarray:
        """``(N,)`` bool: the true class is among the stored top-k."""
        return (self.top_idx == self.labels[:, None]).any(axis=1)

    def scores(self, *, bins: int | Sequence[int] = 15, n_boot: int = 0, alpha: float = 0.05, seed: int = 0,
               estimators: bool | Collection[str] = True) -> Scores:
        """The exact top-label scores (:func:`~vlmcal_utils.scores.score_confidence`); ``nll = brier = None``.

        Parameters
        ----------
        bins, n_boot, alpha, seed, estimators
            As in :func:`~vlmcal_utils.scores.score_confidence`.

        Returns
        -------
        Scores
        """
        return score_confidence(self.confidence, self.correct, bins=bins, n_boot=n_boot, alpha=alpha, seed=seed,
                                estimators=estimators)

    def describe(self) -> str:
        """One line naming model and source, for labelling every number that comes from it."""
        return f"{self.meta.get('model', self.path.stem)} — published top-5 outputs from {self.meta.get('source', '?')}"


def _check_shapes(name: str, labels: np.ndarray, idx: np.ndarray, prob: np.ndarray) -> None:
    if labels.ndim != 1 or idx.ndim != 2 or idx.shape != prob.shape or idx.shape[0] != labels.shape[0]:
        raise ValueError(f"{name}: expected labels (N,), top5_idx and top5_prob (N, k); got {labels.shape}, "
                         f"{idx.shape}, {prob.shape}")
    if not (np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all()):
        raise ValueError(f"{name}: top5_prob must hold probabilities in [0, 1]")
    if (np.diff(prob, axis=1) > 0).any():
        raise ValueError(f"{name}: top5_prob rows must be sorted, most probable first")


def load_top5(path: str | os.PathLike) -> Top5Outputs:
    """Load and validate a top-5 ``.npz`` (e.g. ``resolve_published("clip_vitb16_imagenet_a_top5").path``).

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    Top5Outputs
        Labels and indices as int64, probabilities as float64.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    ValueError
        A missing array, shapes that do not fit, probabilities outside ``[0, 1]`` or unsorted rows,
        or ``meta`` that is not JSON. Every message starts with the file's name.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no top-5 file at {path}: the published ones are in $VLMCAL_SHARED/data/vlm-outputs "
                                "(vlmcal_utils.data.resolve_published finds or downloads them)")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = [key for key in TOP5_KEYS if key not in arrays]
    if missing:
        raise ValueError(f"{path.name} is not a top-5 file: missing {missing}; it has {sorted(arrays)}")
    labels, idx = arrays["labels"].astype(np.int64), arrays["top5_idx"].astype(np.int64)
    prob = arrays["top5_prob"].astype(np.float64)
    _check_shapes(path.name, labels, idx, prob)
    try:
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except json.JSONDecodeError as err:
        raise ValueError(f"{path.name}: 'meta' is not valid JSON ({err})") from err
    return Top5Outputs(labels=labels, top_idx=idx, top_prob=prob, meta=meta, path=path)
