"""Logits files: the ``.npz`` format of the book's model outputs, loaded and validated.

Format
------
A *logits file* is an ``.npz`` (loaded with ``allow_pickle=False``) holding at least

- ``logits_val``  float (N_val, K)  — the calibration split
- ``labels_val``  int   (N_val,)    — class indices in ``[0, K)``
- ``logits_test`` float (N_test, K) — the evaluation split
- ``labels_test`` int   (N_test,)
- ``meta``        a JSON string: source repo@commit and path, model, prompt, split, licence

and optionally other arrays (``classnames``, ``logits_french``, ...), kept in ``extra``.
Where a source published only probabilities, ``logits = log(probabilities)``: softmax and
temperature scaling behave the same on them. The published files and where they come from are
listed in :mod:`vlmcal_utils.data.published`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vlmcal_utils.checks import labels_array, logits_array

__all__ = ["REQUIRED_LOGITS_KEYS", "LogitsFile", "load_logits"]

REQUIRED_LOGITS_KEYS = ("logits_val", "labels_val", "logits_test", "labels_test")
"""The arrays every logits file has (see the module docstring)."""


@dataclass
class LogitsFile:
    """A validated logits file (see the module docstring for the format).

    Attributes
    ----------
    logits_val, logits_test : numpy.ndarray
        ``(N_val, K)`` and ``(N_test, K)`` float64.
    labels_val, labels_test : numpy.ndarray
        ``(N_val,)`` and ``(N_test,)`` int64 in ``[0, K)``.
    meta : dict
        The parsed ``meta`` JSON (``{}`` when the file has none).
    path : pathlib.Path
        Where the file was read from.
    extra : dict
        Every other array of the file, by name.
    """

    logits_val: np.ndarray
    labels_val: np.ndarray
    logits_test: np.ndarray
    labels_test: np.ndarray
    meta: dict
    path: Path
    extra: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        """``K``, the number of classes (columns of the logits)."""
        return int(self.logits_val.shape[1])

    @property
    def classnames(self) -> list[str] | None:
        """The ``classnames`` array of the file as strings, or ``None`` if it has none."""
        names = self.extra.get("classnames")
        return None if names is None else [str(n) for n in names]

    def describe(self) -> str:
        """One line naming model and source, for labelling every number that comes from it."""
        model = self.meta.get("model", self.path.stem)
        source = self.meta.get("source", "unknown source")
        return f"{model} — published logits from {source}"


def load_logits(path: str | os.PathLike) -> LogitsFile:
    """Load and validate a logits ``.npz`` file.

    Parameters
    ----------
    path : str or os.PathLike
        The file, e.g. ``published_path("markus93_densenet40_cifar10")``.

    Returns
    -------
    LogitsFile
        Logits as float64, labels as int64; ``meta`` parsed from JSON.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message says where such files live).
    ValueError
        If a required array is missing, shapes disagree, logits are not finite, or labels are not
        whole class indices in ``[0, K)`` (fractional "soft" labels are refused, not truncated).
        Every message starts with the file's name.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no logits file at {path}. Published logits live in $VLMCAL_SHARED/data/logits "
            "on machines that have the shared folder (see vlmcal_utils.data.fetch_published_logits "
            "to download one); elsewhere pass logits_path=None to use the notebook's synthetic fallback."
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = [key for key in REQUIRED_LOGITS_KEYS if key not in arrays]
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
    checked = {}
    for split in ("val", "test"):
        logits = logits_array(arrays.pop(f"logits_{split}"), name=f"{path.name}: logits_{split}")
        labels = labels_array(arrays.pop(f"labels_{split}"), n=logits.shape[0], k=logits.shape[1],
                              name=f"{path.name}: labels_{split}")
        checked[split] = logits, labels
    if checked["val"][0].shape[1] != checked["test"][0].shape[1]:
        raise ValueError(
            f"{path.name}: val and test have different numbers of classes "
            f"({checked['val'][0].shape[1]} and {checked['test'][0].shape[1]})"
        )
    return LogitsFile(
        logits_val=checked["val"][0],
        labels_val=checked["val"][1],
        logits_test=checked["test"][0],
        labels_test=checked["test"][1],
        meta=meta,
        path=path,
        extra=arrays,
    )
