"""Published logits: one name per real model output the book uses, fetched offline or online.

Every file in ``$VLMCAL_SHARED/data/logits/`` was made by converting model outputs that a research
repository published (its ``meta["source"]`` names the repository, the commit and the path).
:data:`PUBLISHED_LOGITS` records, for each file name (the ``.npz`` stem), where those sources are
and a pinned **content hash**. :func:`fetch_published_logits` returns a path to a verified copy:

- **offline** — the shared copy ``$VLMCAL_SHARED/data/logits/<name>.npz`` (CI, developers);
- **online** — download the source file(s) at the pinned commit from
  ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``, convert them to the
  book's logits format (see :mod:`vlmcal_utils.data`), verify, and cache under
  ``~/.cache/vlmcal/published/`` (Colab, a fresh laptop).

What the hash pins
------------------
Not the bytes of the ``.npz``: an ``.npz`` is a zip archive with timestamps, so a file re-made from
the same numbers has different bytes. :func:`content_sha256` hashes the *content* instead — each
array's name, dtype, shape and raw bytes (arrays in sorted name order) and the ``meta`` JSON in
canonical form (sorted keys). The same number is checked for shared copies and for files
converted from a download, so both routes give provably the same arrays.

Which names can be downloaded
-----------------------------
Converters exist for these source formats (``converter`` in the registry):

- ``credal_csv`` — pwhofman/efficient-credal-prediction DermaMNIST CSVs (one column per class
  named by the class name, then ``target-0`` and ``instance_id``; train CSV → val, test CSV → test).
  Checked against the real test CSV's first rows and by a round trip of the shared arrays.
- ``netcal_npz`` — EFS-OpenSource/calibration-framework records (``predictions`` = softmax,
  ``ground_truth``); logits = log(probabilities), val/test = halves of the test set.
- ``pickle_logits_pairs`` — zongyuange/Workshop-repository ``sample_logits.p``
  (``((logits_val, y_val), (logits_test, y_test))``), read with a numpy-only restricted unpickler.
- ``pickle_probs`` — p-lambda/verified_calibration ``cifar_probs.dat`` (``(probs, labels)``), same
  unpickler; logits = log(probabilities), halves.
- ``npy_probs`` — cleanlab/label-errors (probabilities ``.npy`` + labels ``.npy``); log, halves.

The probability sources were converted with ``log`` at the source's precision, then cast to
float32; if a re-made file does not reproduce the pinned hash, :func:`fetch_published_logits`
raises instead of returning different numbers. The CLIP/SigLIP CIFAR-10 files (they merge CIFAR-10H
human labels and translated-prompt variants from several CSVs) and the ``hollance_*`` top-label
files (many CSVs per file) have **no converter**: fetching them online raises an error naming the
source, and they are available through ``$VLMCAL_SHARED`` only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pickle
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

BASE_URL_ENV_VAR = "VLMCAL_PUBLISHED_BASE_URL"
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
DEFAULT_CACHE = Path("~/.cache/vlmcal/published")


# ---------------------------------------------------------------------------------------------
# content hash
# ---------------------------------------------------------------------------------------------
def _canonical_meta(value: np.ndarray) -> bytes:
    try:
        meta = json.loads(str(value))
    except json.JSONDecodeError:  # not JSON: hash the text itself
        return str(value).encode("utf-8")
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def content_sha256_arrays(arrays: dict[str, np.ndarray]) -> str:
    """:func:`content_sha256` of arrays in memory (``meta`` as a JSON string array)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        if name == "meta":
            body = _canonical_meta(array)
            header = "meta\0json\0"
        else:
            body = np.ascontiguousarray(array).tobytes()
            header = f"{name}\0{array.dtype.str}\0{array.shape}\0"
        digest.update(header.encode("utf-8"))
        digest.update(len(body).to_bytes(8, "little"))
        digest.update(body)
    return digest.hexdigest()


def content_sha256(npz_path: str | os.PathLike) -> str:
    """SHA-256 of an ``.npz`` file's *content*, independent of zip timestamps and compression.

    Hashed, for each array in sorted name order: name, dtype (e.g. ``<f4``), shape and the raw
    C-order bytes; ``meta`` is hashed as canonical JSON (sorted keys), so re-serialising the same
    metadata does not change the hash. Loaded with ``allow_pickle=False``.
    """
    with np.load(Path(npz_path), allow_pickle=False) as npz:
        return content_sha256_arrays({name: npz[name] for name in npz.files})


# ---------------------------------------------------------------------------------------------
# source formats -> logits arrays
# ---------------------------------------------------------------------------------------------
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

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only numpy arrays are allowed in a logits pickle"
            )
        if module.startswith("numpy.core"):  # numpy 2 moved numpy.core to numpy._core
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def load_numpy_pickle(data: bytes):
    """Unpickle ``data`` allowing numpy arrays only (Python 2 pickles read as latin-1)."""
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


def _labels(y) -> np.ndarray:
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
    """(train CSV, test CSV) → val = train split, test = test split, ``classnames`` from the header."""
    (lv, yv, names_v), (lt, yt, names_t) = (_read_credal_csv(s) for s in sources)
    if names_v != names_t:
        raise ValueError("train and test CSVs name different classes")
    return {"logits_val": lv, "labels_val": yv, "logits_test": lt, "labels_test": yt,
            "classnames": np.array(names_v)}


def convert_netcal_npz(sources: list[bytes]) -> dict[str, np.ndarray]:
    """netcal record (``predictions`` softmax, ``ground_truth``) → log-probabilities, halves."""
    with np.load(io.BytesIO(sources[0]), allow_pickle=False) as npz:
        probs, labels = npz["predictions"].squeeze(), npz["ground_truth"].squeeze()
    return _halves(_log_probs(probs), _labels(labels))


def convert_pickle_logits_pairs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """``((logits_val, y_val), (logits_test, y_test))`` pickle → the four arrays as they are."""
    (lv, yv), (lt, yt) = load_numpy_pickle(sources[0])
    return {"logits_val": np.asarray(lv, dtype=np.float32), "labels_val": _labels(yv),
            "logits_test": np.asarray(lt, dtype=np.float32), "labels_test": _labels(yt)}


def convert_pickle_probs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """``(probs (N, K), labels (N,) or (N, 1))`` pickle → log-probabilities, halves."""
    probs, labels = load_numpy_pickle(sources[0])
    return _halves(_log_probs(probs), _labels(labels))


def convert_npy_probs(sources: list[bytes]) -> dict[str, np.ndarray]:
    """(probabilities ``.npy``, labels ``.npy``) → log-probabilities, halves."""
    probs = np.load(io.BytesIO(sources[0]), allow_pickle=False)
    labels = np.load(io.BytesIO(sources[1]), allow_pickle=False)
    return _halves(_log_probs(probs), _labels(labels))


CONVERTERS: dict[str, Callable[[list[bytes]], dict[str, np.ndarray]]] = {
    "credal_csv": convert_credal_csv,
    "netcal_npz": convert_netcal_npz,
    "pickle_logits_pairs": convert_pickle_logits_pairs,
    "pickle_probs": convert_pickle_probs,
    "npy_probs": convert_npy_probs,
}


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedLogits:
    """One published-logits file: its sources (repository at a pinned commit) and content hash.

    ``converter`` names an entry of :data:`CONVERTERS` (``None``: shared copy only); ``meta`` is
    the metadata a converted file carries (it is part of the hash). ``model`` (a display name such
    as ``"CLIP ViT-B/32"``), ``dataset`` (``"CIFAR-10"``, ``"CIFAR-100"``, ``"DermaMNIST"``,
    ``"ImageNet"``) and ``family`` (``"vlm"``, ``"baseline"`` or ``"toplabel"``) are how the
    chapters name and group the files: this registry is the only list of them.
    """

    name: str
    repo: str
    commit: str
    paths: tuple[str, ...]
    sha256: str
    converter: str | None = None
    meta: dict = field(default_factory=dict, hash=False, compare=False)
    model: str = ""
    dataset: str = ""
    family: str = "baseline"

    @property
    def filename(self) -> str:
        """The file's name in ``$VLMCAL_SHARED/data/logits`` and in the download cache."""
        return f"{self.name}.npz"

    @property
    def source_urls(self) -> list[str]:
        return [f"https://github.com/{self.repo}/blob/{self.commit}/{p}" for p in self.paths]

    def raw_urls(self, base_url: str = DEFAULT_BASE_URL) -> list[str]:
        return [f"{base_url.rstrip('/')}/{self.repo}/{self.commit}/{p}" for p in self.paths]


_CREDAL = ("pwhofman/efficient-credal-prediction", "9481efa39c7e364bca0ae604db145bb180a28bbf")
_NETCAL = ("EFS-OpenSource/calibration-framework", "2a3db8d7cb2a557f3b563c98ce00954f43dfe927")
_HOLLANCE = ("hollance/reliability-diagrams", "e133f3d3a63356920c7d5cb7b032c3e03b38afb5")
_NETCAL_META = {
    "content": "softmax outputs (float32) of the full CIFAR test set (10000, original order); logits_* = log(probs)",
    "split": "val = test[:5000], test = test[5000:] (made here)",
    "licence": "Apache-2.0 (netcal)",
}
_DERMA_SPLIT = "val = DermaMNIST train split (7007), test = DermaMNIST test split (2005)"
_TEMPLATE = "This is a photo of a {}"


def _credal_derma(name: str, prefix: str, model: str, sha: str) -> PublishedLogits:
    paths = tuple(f"logits/{prefix}_DermaMNIST_DermaMNIST_{s}.csv" for s in ("train", "test"))
    meta = {
        "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} logits/{prefix}_DermaMNIST_DermaMNIST_{{train,test}}.csv",
        "model": model, "template": _TEMPLATE, "split": _DERMA_SPLIT,
    }
    return PublishedLogits(name, *_CREDAL, paths, sha, "credal_csv", meta)


def _netcal(name: str, path: str, sha: str) -> PublishedLogits:
    meta = {"source": f"github.com/{_NETCAL[0]}@{_NETCAL[1]} {path}", **_NETCAL_META}
    return PublishedLogits(name, *_NETCAL, (path,), sha, "netcal_npz", meta)


def _shared_only(name: str, repo_commit: tuple[str, str], paths: tuple[str, ...], sha: str) -> PublishedLogits:
    return PublishedLogits(name, *repo_commit, paths, sha, None)


_ENTRIES = [
    _credal_derma("clip_dermamnist_zeroshot", "Clip", "CLIP ViT-B/32 HF openai/clip-vit-base-patch32",
                  "d3a7e571040aaa05cbf0e5d64bb274709032a524ac16776e191d7f1ed1eb9e40"),
    _credal_derma("biomedclip_dermamnist_zeroshot", "BiomedCLIP",
                  "BiomedCLIP hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 (open_clip)",
                  "ef710b9acc8fc6f7242b3a6a472de9972e07cfd483163f992fd6defb4e8eb50b"),
    _credal_derma("siglip_dermamnist_zeroshot", "SigLIP", "google/siglip-base-patch16-224",
                  "eb192978e030becf6ed7582ffcba9867f7bf715514cb27d2ff53069c44e561dc"),
    _credal_derma("siglip2_dermamnist_zeroshot", "SigLIP2", "google/siglip2-base-patch16-224",
                  "92b4f303492a1e3faa6605378ec0471f1011d17bdf112de692caae0fab1d6de5"),
    _netcal("netcal_lenet5_cifar10", "examples/classification/records/cifar10/lenet-5-cifar-10.npz",
            "f6964d6317cb99ea536e81034df57343c79a5088528a8bcb85f6a0219fd1e3da"),
    _netcal("netcal_wrn16-4_cifar10", "examples/classification/records/cifar10/wideresnet-16-4-cifar-10.npz",
            "5c0ce11ab8f16dc1850cf326885c1fc6386305d8e36b8a9f51dad7db2189dda9"),
    _netcal("netcal_lenet5_cifar100", "examples/classification/records/cifar100/lenet-5-cifar-100.npz",
            "86ff960ef6733123d8324a0e6e9517819fa6db0abbfaf0b37d3c52e0ea649a54"),
    _netcal("netcal_wrn16-4_cifar100", "examples/classification/records/cifar100/wideresnet-16-4-cifar-100.npz",
            "90e04b9805028c2ddfdcfca5a374833d6f7c6facc8f5a5fc6544cf3f360916d1"),
    _netcal("netcal_densenetbc100_cifar100",
            "examples/classification/records/cifar100/densenet-bc-100-cifar-100.npz",
            "86240b3e80b0304c494837a537a2298c904f289cb8033c1d55014780ab1ea75d"),
    PublishedLogits(
        "markus93_densenet40_cifar10", "zongyuange/Workshop-repository",
        "a6765b04cb6a1e8b8e36c1cc34d6f0370d240a10", ("sample_logits.p",),
        "8834d883217ac756a00ddb62e1211106551dbfcc3524a29713ae8b5a0a5dc2b6", "pickle_logits_pairs",
        {
            "source": "github.com/zongyuange/Workshop-repository@a6765b04cb6a1e8b8e36c1cc34d6f0370d240a10 "
            "sample_logits.p (python pickle ((logits_val,y_val),(logits_test,y_test)); unpickled here "
            "with numpy-only restricted unpickler)",
            "identity": "bit-identical (conf diff<3e-7, same argmax) to markus93/NN_calibration DenseNet-40 "
            "CIFAR-10 logits (hollance results/markus93/probs_densenet40_c10_logits.csv)",
            "model": "DenseNet-40 (Keras, markus93/NN_calibration, Kangsepp 2018 reproduction of Guo et al. 2017)",
            "split": "val = 5000 held-out CIFAR-10 TRAIN images, test = full CIFAR-10 test set (10000, original order)",
            "licence": "Workshop-repository: no licence file; original logits from markus93/NN_calibration (MIT)",
        },
    ),
    PublishedLogits(
        "verifiedcal_vgg16_cifar10", "p-lambda/verified_calibration",
        "ee81c346895e3377653bd347c429a95bd631058d", ("data/cifar_probs.dat",),
        "3c0dbcc0fccbbf5c3a67ca25e1019259c22ecf4866d33c3153ab258df417c117", "pickle_probs",
        {
            "source": "github.com/p-lambda/verified_calibration@ee81c346895e3377653bd347c429a95bd631058d "
            "data/cifar_probs.dat (python pickle of (probs float32 10000x10, labels int64 10000x1); "
            "unpickled here with a numpy-only restricted unpickler)",
            "model": "Keras VGG16 (geifmany cifar10vgg) per experiments/platt_not_calibrated",
            "content": "softmax probs on CIFAR-10 test (original order); logits = log(probs)",
            "split": "val=test[:5000], test=test[5000:] (made here)",
            "licence": "MIT",
        },
    ),
    PublishedLogits(
        "cleanlab_cv_cifar10_test", "cleanlab/label-errors", "6d5d6b31a13216290afc40e5c6319399c4d15c06",
        ("cross_validated_predicted_probabilities/cifar10_test_set_pyx.npy",
         "original_test_labels/cifar10_test_set_original_labels.npy"),
        "d63712a4913138bf8a266d030936c07770a73403d16f141069dc00bf705e88dd", "npy_probs",
        {
            "source": "github.com/cleanlab/label-errors@6d5d6b31a13216290afc40e5c6319399c4d15c06 "
            "cross_validated_predicted_probabilities/cifar10_test_set_pyx.npy + "
            "original_test_labels/cifar10_test_set_original_labels.npy",
            "content": "out-of-sample (cross-validated, fine-tuned) predicted probabilities float64 on CIFAR-10 "
            "test set; logits = log(probs)",
            "split": "val=test[:5000], test=test[5000:] (made here)",
            "licence": "see repo LICENSE (Apache-2.0 text at top level)",
        },
    ),
    _shared_only("clip_vitb32_cifar10_zeroshot", _CREDAL, ("logits/Clip_CIFAR10_CIFAR10_test.csv",),
                 "1a62ee490b421eec92cf01ba1d4d4d796d7e92696ba6ccf541c3c992e4e6d3ef"),
    _shared_only("siglip_b16_cifar10_zeroshot", _CREDAL, ("logits/SigLIP_CIFAR10_CIFAR10_test.csv",),
                 "2aefe23000795a1c60d5ede947beb2d7d3d6b9c2d7861ef4c5c1741ffa8b0762"),
    _shared_only("siglip2_b16_cifar10_zeroshot", _CREDAL, ("logits/SigLIP2_CIFAR10_CIFAR10_test.csv",),
                 "80222c48dfd1d39c9e267cf40b6c803920ef18890bf9676694e154cd1f2ddbf9"),
    _shared_only("hollance_imagenet_val_toplabel", _HOLLANCE, ("results/ImageNet_*/*.csv",),
                 "ecf65e917b4f43da736363f5836589896fbb3064cb72d9ee91ae39dcdb3fa5b3"),
    _shared_only("hollance_markus93_cifar_birds_toplabel", _HOLLANCE, ("results/markus93/*.csv",),
                 "cb1ff215fb9b56761ac910328c56f0746909bb5f7c225782ec8f8196d3841c40"),
    _shared_only("hollance_snacks_toplabel", _HOLLANCE, ("results/other/*.csv",),
                 "2bb03feb27d1ac84c6e1cd5d24e65a20bf6948cadf719cc8152e641ab9b287be"),
]

#: name (the ``.npz`` stem in ``$VLMCAL_SHARED/data/logits``) -> :class:`PublishedLogits`
_LABELS = {  # name -> (model, dataset, family): how the chapters show each file
    "clip_dermamnist_zeroshot": ('CLIP ViT-B/32', 'DermaMNIST', 'vlm'),
    "biomedclip_dermamnist_zeroshot": ('BiomedCLIP', 'DermaMNIST', 'vlm'),
    "siglip_dermamnist_zeroshot": ('SigLIP ViT-B/16', 'DermaMNIST', 'vlm'),
    "siglip2_dermamnist_zeroshot": ('SigLIP2 ViT-B/16', 'DermaMNIST', 'vlm'),
    "netcal_lenet5_cifar10": ('LeNet-5', 'CIFAR-10', 'baseline'),
    "netcal_wrn16-4_cifar10": ('WRN-16-4', 'CIFAR-10', 'baseline'),
    "netcal_lenet5_cifar100": ('LeNet-5', 'CIFAR-100', 'baseline'),
    "netcal_wrn16-4_cifar100": ('WRN-16-4', 'CIFAR-100', 'baseline'),
    "netcal_densenetbc100_cifar100": ('DenseNet-BC-100', 'CIFAR-100', 'baseline'),
    "markus93_densenet40_cifar10": ('DenseNet-40', 'CIFAR-10', 'baseline'),
    "verifiedcal_vgg16_cifar10": ('VGG16', 'CIFAR-10', 'baseline'),
    "cleanlab_cv_cifar10_test": ('cross-validated CNN (cleanlab)', 'CIFAR-10', 'baseline'),
    "clip_vitb32_cifar10_zeroshot": ('CLIP ViT-B/32', 'CIFAR-10', 'vlm'),
    "siglip_b16_cifar10_zeroshot": ('SigLIP ViT-B/16', 'CIFAR-10', 'vlm'),
    "siglip2_b16_cifar10_zeroshot": ('SigLIP2 ViT-B/16', 'CIFAR-10', 'vlm'),
    "hollance_imagenet_val_toplabel": ('14 ImageNet CNNs', 'ImageNet', 'toplabel'),
    "hollance_markus93_cifar_birds_toplabel": ('ResNet-110 / DenseNet-40 (+ birds)', 'CIFAR-10/100', 'toplabel'),
    "hollance_snacks_toplabel": ('snacks classifiers', 'Snacks', 'toplabel'),
}
_ENTRIES = [dataclasses.replace(e, model=_LABELS[e.name][0], dataset=_LABELS[e.name][1], family=_LABELS[e.name][2])
            for e in _ENTRIES]
PUBLISHED_LOGITS: dict[str, PublishedLogits] = {entry.name: entry for entry in _ENTRIES}


def published_entries(dataset: str | None = None, family: str | None = None) -> list[PublishedLogits]:
    """Registry entries, in registry order, optionally only one ``dataset`` and/or ``family``."""
    return [e for e in _ENTRIES if (dataset is None or e.dataset == dataset) and (family is None or e.family == family)]


# ---------------------------------------------------------------------------------------------
# fetching
# ---------------------------------------------------------------------------------------------
def _lookup(name: str, registry: dict[str, PublishedLogits]) -> PublishedLogits:
    if name not in registry:
        raise KeyError(f"unknown published logits {name!r}; known names: {', '.join(sorted(registry))}")
    return registry[name]


def _check_hash(path: Path, entry: PublishedLogits, origin: str) -> None:
    got = content_sha256(path)
    if got != entry.sha256:
        raise ValueError(
            f"{entry.name}: the {origin} ({path}) has content hash {got}, but the pinned hash is "
            f"{entry.sha256}: these are not the published numbers. Delete the file and fetch again; "
            f"if it persists, compare with the source {', '.join(entry.source_urls)}"
        )


def _download(url: str, timeout: float = 60.0) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (pinned https URL)
            return response.read()
    except (urllib.error.URLError, OSError) as err:
        raise ConnectionError(
            f"could not download {url} ({err}). Without internet, set VLMCAL_SHARED to a folder "
            "holding data/logits/<name>.npz, or download the source by hand."
        ) from err


def fetch_published_logits(
    name: str,
    root: str | os.PathLike | None = None,
    offline: bool | None = None,
    base_url: str | None = None,
    registry: dict[str, PublishedLogits] | None = None,
) -> Path:
    """Path to a hash-verified copy of the published logits ``name`` (load it with ``load_logits``).

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`, e.g. ``"markus93_densenet40_cifar10"``.
    root : path, optional
        Download cache (default ``~/.cache/vlmcal/published``); converted files are
        ``root/<name>.npz``, the raw sources ``root/sources/<name>/``.
    offline : bool, optional
        ``True``: use the shared copy only. ``False``: download and convert even where a shared
        copy exists. ``None`` (default): the shared copy if there is one, else the cache, else download.
    base_url : str, optional
        Server holding ``<owner>/<repo>/<commit>/<path>`` (default: ``$VLMCAL_PUBLISHED_BASE_URL``
        or raw.githubusercontent.com) — tests point it at a local server.
    registry : dict, optional
        Defaults to :data:`PUBLISHED_LOGITS`.

    Raises
    ------
    KeyError
        Unknown ``name``.
    FileNotFoundError
        ``offline=True`` and no shared copy.
    ValueError
        A copy's content hash differs from the pinned one, or ``name`` has no converter and no
        shared copy (the message names the source to fetch by hand).
    ConnectionError
        The download failed.
    """
    # imported here, not at the top: vlmcal_utils.data re-exports this function, so a top-level
    # import would be circular
    from vlmcal_utils.data import shared_path

    entry = _lookup(name, registry if registry is not None else PUBLISHED_LOGITS)
    if offline is not False:
        shared = shared_path("data", "logits", f"{name}.npz")
        if shared is not None:
            _check_hash(shared, entry, "shared copy")
            return shared
        if offline:
            raise FileNotFoundError(
                f"{name}: no shared copy (set VLMCAL_SHARED to the folder holding data/logits/{name}.npz), "
                "or call with offline=None to download it"
            )
    cache = Path(root if root is not None else DEFAULT_CACHE).expanduser()
    target = cache / f"{name}.npz"
    if target.is_file():
        try:
            _check_hash(target, entry, "cached copy")
            return target
        except ValueError:
            target.unlink()  # a stale or damaged cache entry: make it again
    if entry.converter is None:
        raise ValueError(
            f"{name} cannot be downloaded and converted by vlmcal_utils (its source spans several files "
            f"with no converter here): use a machine with VLMCAL_SHARED set, or the source "
            f"{', '.join(entry.source_urls)}"
        )
    base = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    source_dir = cache / "sources" / name
    source_dir.mkdir(parents=True, exist_ok=True)
    sources = []
    for path, url in zip(entry.paths, entry.raw_urls(base)):
        local = source_dir / Path(path).name
        if not local.is_file():
            data = _download(url)
            tmp = local.with_suffix(local.suffix + ".part")
            tmp.write_bytes(data)
            tmp.replace(local)
        sources.append(local.read_bytes())
    arrays = CONVERTERS[entry.converter](sources)
    arrays["meta"] = np.array(json.dumps(entry.meta))
    # write to a temporary name, verify, then rename: a failed check leaves no file behind
    fd, tmp_name = tempfile.mkstemp(suffix=".npz", dir=cache)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        np.savez_compressed(tmp_path, **arrays)
        try:
            _check_hash(tmp_path, entry, "file converted from the download")
        except ValueError:
            shutil.rmtree(source_dir, ignore_errors=True)  # don't keep sources that gave wrong numbers
            raise
        tmp_path.replace(target)
    finally:
        tmp_path.unlink(missing_ok=True)
    return target
