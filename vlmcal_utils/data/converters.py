"""Source formats of published model outputs -> the arrays of a logits file.

Each converter takes the raw bytes of a registry entry's source files (in the order of its
``paths``) and returns the arrays of a logits file (see :mod:`vlmcal_utils.data.logits`) without
``meta``. :data:`CONVERTERS` names them for the registry (:mod:`vlmcal_utils.data.published`):

- ``credal_csv`` — pwhofman/efficient-credal-prediction DermaMNIST CSVs (one column per class
  named by the class name, then ``target-0`` and ``instance_id``; train CSV → val, test CSV → test).
- ``netcal_npz`` — EFS-OpenSource/calibration-framework records (``predictions`` = softmax,
  ``ground_truth``); logits = log(probabilities), val/test = halves of the test set.
- ``pickle_logits_pairs`` — zongyuange/Workshop-repository ``sample_logits.p``
  (``((logits_val, y_val), (logits_test, y_test))``), read with a numpy-only restricted unpickler.
- ``pickle_probs`` — p-lambda/verified_calibration ``cifar_probs.dat`` (``(probs, labels)``), same
  unpickler; logits = log(probabilities), halves.
- ``npy_probs`` — cleanlab/label-errors (probabilities ``.npy`` + labels ``.npy``); log, halves.

Probabilities are converted with ``log`` at the source's precision, then cast to float32.
"""

from __future__ import annotations

import io
import pickle
from typing import Any, Callable

import numpy as np

__all__ = [
    "CONVERTERS",
    "load_numpy_pickle",
    "convert_credal_csv",
    "convert_netcal_npz",
    "convert_pickle_logits_pairs",
    "convert_pickle_probs",
    "convert_npy_probs",
]

Converter = Callable[[list[bytes]], dict[str, np.ndarray]]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, tuples, lists and numbers — and refuses every other global.

    A pickle can run arbitrary code when loaded; these sources are pinned by commit and verified
    by hash afterwards, but refusing everything except numpy's array reconstruction means a
    tampered file fails before any of its code runs.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 writing protocol 2 stores an array's raw bytes as _codecs.encode(text, "latin1"):
        # a pure text -> bytes conversion, no side effects
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only numpy arrays are allowed in a logits pickle"
            )
        if module.startswith("numpy.core"):  # numpy 2 moved numpy.core to numpy._core
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def load_numpy_pickle(data: bytes) -> Any:
    """Unpickle ``data`` allowing numpy arrays only (Python 2 pickles read as latin-1).

    Parameters
    ----------
    data : bytes
        The pickle.

    Returns
    -------
    object
        Tuples/lists/numbers/numpy arrays as pickled.

    Raises
    ------
    pickle.UnpicklingError
        The pickle names any other global (e.g. ``os.system``); nothing of it has run.
    """
    return _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def _halves(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    half = len(labels) // 2
    return {
        "logits_val": logits[:half], "labels_val": labels[:half],
        "logits_test": logits[half:], "labels_test": labels[half:],
    }


def _log_probs(probs: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probs)).astype(np.float32)


def _labels(y: Any) -> np.ndarray:
    return np.asarray(y).reshape(-1).astype(np.int64)


def _read_credal_csv(data: bytes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    lines = data.decode("utf-8").splitlines()
    header = lines[0].split(",")
    if header[-2:] != ["target-0", "instance_id"]:
        raise ValueError(f"unexpected CSV header {header[-3:]}: expected class columns, target-0, instance_id")
    table = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2)
    n_classes = len(header) - 2
    # parse as text -> float32 directly: float32(float64(text)) can differ from float32(text) in
    # rare double-rounding cases, so re-parse the class columns as float32
    logits = np.loadtxt(lines[1:], delimiter=",", dtype=np.float32, ndmin=2, usecols=range(n_classes))
    order = np.argsort(table[:, -1], kind="stable")  # rows in instance_id order
    return logits[order], _labels(table[order, -2]), header[:n_classes]


def convert_credal_csv(sources: list[bytes]) -> dict[str, np.ndarray]:
    """(train CSV, test CSV) → val = train split, test = test split, ``classnames`` from the header.

    Parameters
    ----------
    sources : list of bytes
        The two CSV files.

    Returns
    -------
    dict of str to numpy.ndarray
        float32 logits, int64 labels, ``classnames``.
    """
    (lv, yv, names_v), (lt, yt, names_t) = (_read_credal_csv(s) for s in sources)
    if names_v != names_t:
        raise ValueError("train and test CSVs name different classes")
    return {"logits_val": lv, "labels_val": yv, "logits_test": lt, "labels_test": yt,
            "classnames": np.array(names_v)}


def convert_netcal_npz(sources: list[bytes]) -> dict[str, np.ndarray]:
    """netcal record (``predictions`` softmax, ``ground_truth``) → log-probabilities, halves.

    Parameters
    ----------
    sources : list of bytes
        The one ``.npz`` record.

    Returns
    -------
    dict of str to numpy.ndarray
        float32 ``log(probs)``; val = first half of the rows, test = second half.
    """
    with np.load(io.BytesIO(sources[0]), allow_pickle=False) as npz:
        probs, labels = npz["predictions"].squeeze(), npz["ground_truth"].squeeze()
    return _halves(_log_probs(probs), _labels(labels))


def convert_pickle_logits_pairs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """``((logits_val, y_val), (logits_test, y_test))`` pickle → the four arrays as they are.

    Parameters
    ----------
    sources : list of bytes
        The one pickle (read with :func:`load_numpy_pickle`).

    Returns
    -------
    dict of str to numpy.ndarray
        float32 logits, int64 labels (``(N, 1)`` labels flattened).
    """
    (lv, yv), (lt, yt) = load_numpy_pickle(sources[0])
    return {"logits_val": np.asarray(lv, dtype=np.float32), "labels_val": _labels(yv),
            "logits_test": np.asarray(lt, dtype=np.float32), "labels_test": _labels(yt)}


def convert_pickle_probs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """``(probs (N, K), labels (N,) or (N, 1))`` pickle → log-probabilities, halves.

    Parameters
    ----------
    sources : list of bytes
        The one pickle (read with :func:`load_numpy_pickle`).

    Returns
    -------
    dict of str to numpy.ndarray
        float32 ``log(probs)``; val = first half, test = second half.
    """
    probs, labels = load_numpy_pickle(sources[0])
    return _halves(_log_probs(probs), _labels(labels))


def convert_npy_probs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """(probabilities ``.npy``, labels ``.npy``) → log-probabilities, halves.

    Parameters
    ----------
    sources : list of bytes
        The probabilities file, then the labels file.

    Returns
    -------
    dict of str to numpy.ndarray
        float32 ``log(probs)``; val = first half, test = second half.
    """
    probs = np.load(io.BytesIO(sources[0]), allow_pickle=False)
    labels = np.load(io.BytesIO(sources[1]), allow_pickle=False)
    return _halves(_log_probs(probs), _labels(labels))


CONVERTERS: dict[str, Converter] = {
    "credal_csv": convert_credal_csv,
    "netcal_npz": convert_netcal_npz,
    "pickle_logits_pairs": convert_pickle_logits_pairs,
    "pickle_probs": convert_pickle_probs,
    "npy_probs": convert_npy_probs,
}
"""converter name (``PublishedLogits.converter``) -> function ``(source bytes) -> arrays``."""
