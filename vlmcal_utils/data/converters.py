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
- ``credal_cifar10`` — pwhofman/efficient-credal-prediction CIFAR-10 CSVs of one model: the
  English test CSV, the CIFAR-10H CSV (human label distributions as ``target-0..9``) and the
  French, Chinese and Swahili class-name CSVs, merged by ``instance_id`` into one file.
- ``hollance_imagenet_toplabel``, ``hollance_markus93_toplabel``, ``hollance_snacks_toplabel`` —
  hollance/reliability-diagrams ``results/**.csv`` (``true_label,pred_label,confidence``, one CSV
  per model; :data:`HOLLANCE_TOPLABEL` names the models and files): top-label arrays
  ``<model>__y_true``/``__y_pred`` (int16) and ``<model>__confidence`` (float32), rows as in the CSV.
- ``credal_cifar10_test`` — one pwhofman/efficient-credal-prediction CIFAR-10 test CSV (a model
  with no CIFAR-10H or translated-name CSVs): logits, labels, halves, class names.
- ``tensor_pickle_top5`` — rogergheser/DS-DLProject ``results/imagenet_A/run0.pkl``, a pickle of
  three torch tensors (labels, top-5 class indices, top-5 probabilities), read as numpy arrays by
  the restricted reader :func:`~vlmcal_utils.data.torch_pickle.load_tensor_pickle` (no torch, no
  other global): ``labels``, ``top5_idx``, ``top5_prob`` as stored (a *top-5* file, not a logits
  file: see :mod:`vlmcal_utils.data.topk`).

Probabilities are converted with ``log`` in **float64**, then cast to float32 — the pinned files
were made that way. (``log`` in float32 is not correctly rounded and differs from this in the last
bit for some inputs, and even between numpy's CPU code paths: the hash would then miss.)
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import Any, Callable

import numpy as np

from vlmcal_utils.data.content_hash import check_npz_size
from vlmcal_utils.data.torch_pickle import load_tensor_pickle

__all__ = [
    "CONVERTERS",
    "load_numpy_pickle",
    "convert_credal_csv",
    "convert_netcal_npz",
    "convert_pickle_logits_pairs",
    "convert_pickle_probs",
    "convert_npy_probs",
    "convert_credal_cifar10",
    "convert_credal_cifar10_test",
    "convert_tensor_pickle_top5",
    "CREDAL_LANGUAGES",
    "HOLLANCE_TOPLABEL",
    "convert_toplabel_csvs",
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
        if module.endswith(".multiarray"):  # written as numpy.core (numpy 1) or numpy._core (numpy 2)
            module = _multiarray_module()
        return super().find_class(module, name)


def _multiarray_module() -> str:
    """Where the installed numpy keeps ``multiarray``: numpy 2 moved ``numpy.core`` to ``numpy._core``.

    A pickle names the module of the numpy that wrote it; either spelling is read by either numpy
    (numpy 1.x has no ``numpy._core``; numpy 2 still has ``numpy.core``, but deprecated).
    """
    try:
        importlib.import_module("numpy._core.multiarray")
    except ImportError:
        return "numpy.core.multiarray"
    return "numpy._core.multiarray"


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
    # float64 log whatever the source's dtype: see the module docstring
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(probs, dtype=np.float64)).astype(np.float32)


def _labels(y: Any) -> np.ndarray:
    return np.asarray(y).reshape(-1).astype(np.int64)


def _read_credal_table(data: bytes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A credal CSV -> (class scores float32 (N, K), targets float32 (N, T), class names), rows by instance_id.

    Columns: one per class (named by the class name), then ``target-0`` (a label) or
    ``target-0..K-1`` (a label distribution), then ``instance_id``.
    """
    lines = data.decode("utf-8").splitlines()
    header = lines[0].split(",")
    if header[-1] != "instance_id" or "target-0" not in header:
        raise ValueError(f"unexpected CSV header {header[-3:]}: expected class columns, target-*, instance_id")
    n_classes = header.index("target-0")
    ids = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64, ndmin=2, usecols=[len(header) - 1])[:, 0]
    # parse as text -> float32 directly: float32(float64(text)) can differ from float32(text) in
    # rare double-rounding cases
    values = np.loadtxt(lines[1:], delimiter=",", dtype=np.float32, ndmin=2, usecols=range(len(header) - 1))
    order = np.argsort(ids, kind="stable")  # rows in instance_id order
    return values[order, :n_classes], values[order, n_classes:], header[:n_classes]


def _read_credal_csv(data: bytes) -> tuple[np.ndarray, np.ndarray, list[str]]:
    logits, targets, names = _read_credal_table(data)
    if targets.shape[1] != 1:
        raise ValueError(f"expected one target column (a label), got {targets.shape[1]}")
    return logits, _labels(targets[:, 0]), names


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

    Raises
    ------
    ValueError
        Not an archive, a decompression bomb (checked before inflating), object arrays.
    """
    check_npz_size(io.BytesIO(sources[0]))
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


CREDAL_LANGUAGES = ("french", "chinese", "swahili")
"""The class-name languages of the credal CIFAR-10 files, in source order after English and CIFAR-10H."""


def convert_credal_cifar10(sources: list[bytes]) -> dict[str, np.ndarray]:
    """One model's credal CIFAR-10 CSVs → one file (logits, CIFAR-10H soft labels, languages).

    Parameters
    ----------
    sources : list of bytes
        The English test CSV (``target-0`` = label), the CIFAR-10H CSV (``target-0..9`` = human
        label distribution), then one CSV per :data:`CREDAL_LANGUAGES` (translated class names).
        Each covers the 10 000 test images; rows are matched by ``instance_id``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``logits`` (N, 10) float32 and ``labels`` (N,) int64 of the full test set, their halves
        ``logits_val``/``labels_val`` (test[:N/2]) and ``logits_test``/``labels_test``,
        ``classnames``, ``cifar10h_soft_labels`` (N, 10) float32, and per language
        ``logits_<language>`` and ``classnames_<language>``.

    Raises
    ------
    ValueError
        Wrong number of sources, or files that disagree on the number of images or classes.
    """
    if len(sources) != 2 + len(CREDAL_LANGUAGES):
        raise ValueError(f"expected {2 + len(CREDAL_LANGUAGES)} CSVs (English, CIFAR-10H, languages), "
                         f"got {len(sources)}")
    logits, labels, names = _read_credal_csv(sources[0])
    _, soft, _ = _read_credal_table(sources[1])
    if soft.shape != logits.shape:
        raise ValueError(f"CIFAR-10H soft labels {soft.shape} do not match the logits {logits.shape}")
    out = {"logits": logits, "labels": labels, "cifar10h_soft_labels": soft,
           **_halves(logits, labels), "classnames": np.array(names)}
    for language, data in zip(CREDAL_LANGUAGES, sources[2:], strict=True):
        z, y, lang_names = _read_credal_csv(data)
        if z.shape != logits.shape or not np.array_equal(y, labels):
            raise ValueError(f"the {language} CSV does not cover the same images as the English one")
        out[f"logits_{language}"], out[f"classnames_{language}"] = z, np.array(lang_names)
    return out


def convert_credal_cifar10_test(sources: list[bytes]) -> dict[str, np.ndarray]:
    """One model's credal CIFAR-10 test CSV → logits, labels, their halves and the class names.

    Parameters
    ----------
    sources : list of bytes
        The one English test CSV (``target-0`` = label; 10 000 rows, matched by ``instance_id``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``logits`` (N, 10) float32 and ``labels`` (N,) int64 of the full test set, their halves
        ``logits_val``/``labels_val`` (test[:N/2]) and ``logits_test``/``labels_test``, ``classnames``.
    """
    logits, labels, names = _read_credal_csv(sources[0])
    return {"logits": logits, "labels": labels, **_halves(logits, labels), "classnames": np.array(names)}


def convert_tensor_pickle_top5(sources: list[bytes]) -> dict[str, np.ndarray]:
    """A pickle of three tensors ``(labels (N,), top5_idx (N, 5), top5_prob (N, 5))`` → those arrays as stored.

    Parameters
    ----------
    sources : list of bytes
        The one pickle, read by :func:`~vlmcal_utils.data.torch_pickle.load_tensor_pickle`
        (torch tensor rebuilds only: any other global is refused before it runs).

    Returns
    -------
    dict of str to numpy.ndarray
        ``labels`` int64, ``top5_idx`` int64, ``top5_prob`` in the stored dtype (float16 here).

    Raises
    ------
    pickle.UnpicklingError
        A global other than the tensor rebuilds (e.g. ``os.system``), or a malformed storage.
    ValueError
        Not three tensors of matching shapes.
    """
    loaded = load_tensor_pickle(sources[0])
    if not (isinstance(loaded, tuple) and len(loaded) == 3):
        raise ValueError(f"expected a tuple of three tensors (labels, top-5 indices, top-5 probabilities), "
                         f"got {type(loaded).__name__}")
    labels, idx, prob = loaded
    if labels.ndim != 1 or idx.shape != prob.shape or idx.shape[:1] != labels.shape or idx.ndim != 2:
        raise ValueError(f"shapes do not fit labels (N,), top-k (N, k): {labels.shape}, {idx.shape}, {prob.shape}")
    return {"labels": labels.astype(np.int64), "top5_idx": idx.astype(np.int64), "top5_prob": prob}


def _imagenet_models(library: str, stems: str) -> dict[str, str]:
    return {f"{library}__{stem}": f"results/ImageNet_{library}/{stem}.csv" for stem in stems.split()}


HOLLANCE_TOPLABEL: dict[str, dict[str, str]] = {
    "hollance_imagenet_toplabel": {
        **_imagenet_models("pytorch-image-models", "densenetblur121d efficientnet_b1 efficientnet_b3a "
                           "ese_vovnet19b_dw gluon_senet154 mixnet_m mobilenetv3_large_100 resnet34 "
                           "resnext50_32x4d tf_inception_v3"),
        **_imagenet_models("torchvision", "densenet161 inception_v3 resnet101 resnext101_32x8d"),
    },
    "hollance_markus93_toplabel": {
        stem: f"results/markus93/{stem}.csv" for stem in (
            "probs_densenet40_c100_logits", "probs_densenet40_c10_logits", "probs_resnet110_c100_logits",
            "probs_resnet110_c10_logits", "probs_resnet50_birds_logits")
    },
    "hollance_snacks_toplabel": {"snacks": "results/other/snacks.csv"},
}
"""converter name -> {model name (array prefix): source path in hollance/reliability-diagrams}, in
source order: the registry entry's ``paths`` are the values, the arrays are named by the keys."""

_TOPLABEL_HEADER = ["true_label", "pred_label", "confidence"]


def _read_toplabel_csv(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``true_label,pred_label,confidence`` CSV -> (y_true int16, y_pred int16, confidence float32)."""
    lines = data.decode("utf-8").splitlines()
    if not lines or [c.strip() for c in lines[0].split(",")] != _TOPLABEL_HEADER:
        raise ValueError(f"unexpected CSV header {lines[:1]}: expected {','.join(_TOPLABEL_HEADER)}")
    labels = np.loadtxt(lines[1:], delimiter=",", dtype=np.int64, ndmin=2, usecols=(0, 1))
    if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int16).max):
        raise ValueError(f"labels outside 0..{np.iinfo(np.int16).max}: not class indices")
    # text -> float32 directly (see _read_credal_table)
    confidence = np.loadtxt(lines[1:], delimiter=",", dtype=np.float32, ndmin=1, usecols=2)
    return labels[:, 0].astype(np.int16), labels[:, 1].astype(np.int16), confidence


def convert_toplabel_csvs(sources: list[bytes], models: list[str]) -> dict[str, np.ndarray]:
    """One ``true_label,pred_label,confidence`` CSV per model → the top-label arrays of one file.

    Parameters
    ----------
    sources : list of bytes
        The CSVs, one per model, in the order of ``models``.
    models : list of str
        The array-name prefix of each CSV's model.

    Returns
    -------
    dict of str to numpy.ndarray
        ``<model>__y_true`` and ``<model>__y_pred`` (int16) and ``<model>__confidence`` (float32),
        rows in CSV order.

    Raises
    ------
    ValueError
        Not one CSV per model, a CSV without the three columns, or labels that are not int16 indices.
    """
    if len(sources) != len(models):
        raise ValueError(f"expected {len(models)} CSVs (one per model), got {len(sources)}")
    out: dict[str, np.ndarray] = {}
    for model, data in zip(models, sources, strict=True):
        out[f"{model}__y_true"], out[f"{model}__y_pred"], out[f"{model}__confidence"] = _read_toplabel_csv(data)
    return out


def _toplabel_converter(name: str) -> Converter:
    models = list(HOLLANCE_TOPLABEL[name])

    def convert(sources: list[bytes]) -> dict[str, np.ndarray]:
        return convert_toplabel_csvs(sources, models)

    convert.__name__ = convert.__qualname__ = f"convert_{name}"
    convert.__doc__ = f"The {name} CSVs (models {', '.join(models)}) → top-label arrays."
    return convert


CONVERTERS: dict[str, Converter] = {
    "credal_csv": convert_credal_csv,
    "netcal_npz": convert_netcal_npz,
    "pickle_logits_pairs": convert_pickle_logits_pairs,
    "pickle_probs": convert_pickle_probs,
    "npy_probs": convert_npy_probs,
    "credal_cifar10": convert_credal_cifar10,
    "credal_cifar10_test": convert_credal_cifar10_test,
    "tensor_pickle_top5": convert_tensor_pickle_top5,
    **{name: _toplabel_converter(name) for name in HOLLANCE_TOPLABEL},
}
"""converter name (``PublishedLogits.converter``) -> function ``(source bytes) -> arrays``."""
