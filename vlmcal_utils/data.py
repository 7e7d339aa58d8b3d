"""Data: published logits files, the shared offline data folder and (later) datasets.

Conventions
-----------
A *logits file* is an ``.npz`` (loaded with ``allow_pickle=False``) holding at least

- ``logits_val``  float (N_val, K)  — the calibration split
- ``labels_val``  int   (N_val,)    — class indices in ``[0, K)``
- ``logits_test`` float (N_test, K) — the evaluation split
- ``labels_test`` int   (N_test,)
- ``meta``        a JSON string: source repo@commit and path, model, prompt, split, licence

and optionally other arrays (``classnames``, ``logits_french``, ...), kept in ``extra``.
Where a source published only probabilities, ``logits = log(probabilities)``: softmax and
temperature scaling behave the same on them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHARED_ENV_VAR = "VLMCAL_SHARED"
_REQUIRED_LOGITS_KEYS = ("logits_val", "labels_val", "logits_test", "labels_test")


def shared_dir() -> Path | None:
    """The read-only folder of real data for tests and CI, or ``None`` when there is none.

    It is found through the ``VLMCAL_SHARED`` environment variable (``.ci/run`` sets it to the
    absolute path of ``../shared``). A fresh user machine has no such folder: callers must then
    fall back (synthetic data, the demo world) or skip, and say so.
    """
    value = os.environ.get(SHARED_ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def shared_path(*parts: str) -> Path | None:
    """``shared_dir() / parts`` if that file or folder exists, else ``None``."""
    root = shared_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


@dataclass
class LogitsFile:
    """A validated published-logits file (see the module docstring for the format)."""

    logits_val: np.ndarray
    labels_val: np.ndarray
    logits_test: np.ndarray
    labels_test: np.ndarray
    meta: dict
    path: Path
    extra: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.logits_val.shape[1])

    @property
    def classnames(self) -> list[str] | None:
        names = self.extra.get("classnames")
        return None if names is None else [str(n) for n in names]

    def describe(self) -> str:
        """One line naming model and source, for labelling every number that comes from it."""
        model = self.meta.get("model", self.path.stem)
        source = self.meta.get("source", "unknown source")
        return f"{model} — published logits from {source}"


def load_logits(path: str | os.PathLike) -> LogitsFile:
    """Load and validate a published-logits ``.npz`` file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message says where such files live).
    ValueError
        If a required array is missing, shapes disagree, logits are not finite, or labels are
        out of ``[0, K)``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no logits file at {path}. Published logits live in $VLMCAL_SHARED/data/logits "
            "on machines that have the shared folder; elsewhere pass logits_path=None to use "
            "the notebook's synthetic fallback."
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = [key for key in _REQUIRED_LOGITS_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path.name} is not a logits file: missing {missing}; it has {sorted(arrays)}. "
            f"Top-label-only files (…__confidence arrays) are read with numpy directly and "
            "scored with metrics.ece_from_confidence."
        )
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path.name}: 'meta' is not valid JSON ({err})") from err
    for split in ("val", "test"):
        logits, labels = arrays[f"logits_{split}"], arrays[f"labels_{split}"]
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"{path.name}: logits_{split} must be (N, K) with N > 0, got {logits.shape}")
        if labels.shape != (logits.shape[0],):
            raise ValueError(
                f"{path.name}: labels_{split} has shape {labels.shape}, expected ({logits.shape[0]},)"
            )
        if not np.isfinite(logits).all():
            raise ValueError(f"{path.name}: logits_{split} contains NaN or inf")
        if labels.min() < 0 or labels.max() >= logits.shape[1]:
            raise ValueError(
                f"{path.name}: labels_{split} out of range [0, {logits.shape[1]}): "
                f"min {labels.min()}, max {labels.max()}"
            )
    if arrays["logits_val"].shape[1] != arrays["logits_test"].shape[1]:
        raise ValueError(f"{path.name}: val and test have different numbers of classes")
    return LogitsFile(
        logits_val=arrays.pop("logits_val").astype(np.float64),
        labels_val=arrays.pop("labels_val").astype(np.int64),
        logits_test=arrays.pop("logits_test").astype(np.float64),
        labels_test=arrays.pop("labels_test").astype(np.int64),
        meta=meta,
        path=path,
        extra=arrays,
    )
