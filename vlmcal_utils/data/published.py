"""Published logits: the registry of every real model output the book uses, fetched offline or online.

(688 lines, over the project's 600: lines ~150-330 are the registry itself, one entry per file, as
data; the resolver is the rest. Split planned: the registry into its own module.)

This is the package's only list of published files. Every file in ``$VLMCAL_SHARED/data/logits/``
was made by converting model outputs that a research repository published (its ``meta["source"]``
names the repository, the commit and the path). :data:`PUBLISHED_LOGITS` records, for each file
name (the ``.npz`` stem), where those sources are, a pinned **content hash**, and how the chapters
name and group it (``model``, ``dataset``, ``family``; select with :func:`published_entries`).

- :func:`published_path` — the shared copy ``$VLMCAL_SHARED/data/logits/<name>.npz`` if this
  machine has it, else ``None`` (never downloads; for chapters that fall back to other data).
- :func:`fetch_published_logits` — a path to a hash-verified copy: the shared copy (CI,
  developers), else a download of the source file(s) at the pinned commit from
  ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``, converted to the book's
  logits format (:mod:`vlmcal_utils.data.converters`), verified and cached in
  ``vlmcal_utils.paths.cache_dir("published")`` — ``$VLMCAL_CACHE/published``, else
  ``$XDG_CACHE_HOME/vlmcal/published``, else ``~/.cache/vlmcal/published`` (Colab, a fresh laptop).

What the hash pins
------------------
The *content* of the file (:func:`~vlmcal_utils.data.content_hash.content_sha256`), not its zip
bytes. The same number is checked for shared copies and for files converted from a download, so
both routes give provably the same arrays.

Which names can be downloaded
-----------------------------
Entries with a ``converter`` (see :data:`~vlmcal_utils.data.converters.CONVERTERS`). If a re-made
file does not reproduce the pinned hash, :func:`fetch_published_logits` raises instead of
returning different numbers. The CLIP/SigLIP CIFAR-10 files merge five CSVs each (English, CIFAR-10H
human labels, three translated class-name variants; converter ``credal_cifar10``). The ``hollance_*``
top-label files merge one CSV per model (converters ``hollance_*_toplabel``; the models and files
are :data:`~vlmcal_utils.data.converters.HOLLANCE_TOPLABEL`).

:func:`resolve_published` (and :func:`resolve_published_dir` for a folder) is what the chapters'
defaults use: shared copy, else cache, else download, else ``None`` with a reason to print.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from vlmcal_utils.checks import close_matches
from vlmcal_utils.data.content_hash import content_sha256, npz_content_sha256
from vlmcal_utils.data.converters import CONVERTERS, CREDAL_LANGUAGES, HOLLANCE_TOPLABEL
from vlmcal_utils.data.download import DownloadError, download_file, download_limits
from vlmcal_utils.paths import OFFLINE_ENV_VAR, SHARED_ENV_VAR, cache_dir, offline, shared_path
from vlmcal_utils.storage import atomic_write_bytes

__all__ = [
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "SHARED_LOGITS_DIR",
    "PublishedLogits",
    "PUBLISHED_LOGITS",
    "published_entries",
    "published_path",
    "fetch_published_logits",
    "OFFLINE_ENV_VAR",
    "Resolved",
    "SourceError",
    "resolve_published",
    "resolve_published_dir",
]

BASE_URL_ENV_VAR = "VLMCAL_PUBLISHED_BASE_URL"
# OFFLINE_ENV_VAR (from vlmcal_utils.paths): set to 1 to make resolve_published use shared copies and
# the cache only (no download)
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"
SHARED_LOGITS_DIR = ("data", "logits")
"""Where the shared copies are, relative to ``$VLMCAL_SHARED``."""


# ---------------------------------------------------------------------------------------------
# the registry
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishedLogits:
    """One published-logits file: its sources (repository at a pinned commit) and content hash.

    Attributes
    ----------
    name : str
        The registry key and file stem (``<name>.npz``).
    repo, commit : str
        ``owner/name`` on GitHub and the 40-digit commit the sources are pinned to.
    paths : tuple of str
        The source files inside the repository, in the converter's order.
    sha256 : str
        The pinned :func:`content_sha256` of the converted file.
    converter : str or None
        A key of :data:`~vlmcal_utils.data.converters.CONVERTERS`; ``None``: shared copy only.
    meta : dict
        The metadata a converted file carries (it is part of the hash).
    model : str
        Display name of the model, e.g. ``"CLIP ViT-B/32"``.
    dataset : str
        ``"CIFAR-10"``, ``"CIFAR-100"``, ``"DermaMNIST"``, ``"ImageNet"``, ...
    family : str
        ``"vlm"``, ``"baseline"`` (a classifier trained on the dataset) or ``"toplabel"``
        (confidence/correctness arrays only, not a logits file).
    sizes : tuple of int
        The size in bytes of each source file at the pinned commit (``()``: unknown); a download
        is capped at :data:`~vlmcal_utils.data.download.SIZE_MARGIN` times it.
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
    sizes: tuple[int, ...] = ()

    @property
    def filename(self) -> str:
        """The file's name in ``$VLMCAL_SHARED/data/logits`` and in the download cache."""
        return f"{self.name}.npz"

    @property
    def label(self) -> str:
        """``"<model>, <dataset>"``: how a chapter names the file in titles and tables."""
        return f"{self.model}, {self.dataset}"

    @property
    def source_urls(self) -> list[str]:
        """The sources on github.com, at the pinned commit."""
        return [f"https://github.com/{self.repo}/blob/{self.commit}/{p}" for p in self.paths]

    def raw_urls(self, base_url: str = DEFAULT_BASE_URL) -> list[str]:
        """Download URLs of the sources: ``<base_url>/<repo>/<commit>/<path>``."""
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


def _credal_derma(name: str, prefix: str, source_model: str, sha: str, model: str) -> PublishedLogits:
    paths = tuple(f"logits/{prefix}_DermaMNIST_DermaMNIST_{s}.csv" for s in ("train", "test"))
    meta = {
        "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} logits/{prefix}_DermaMNIST_DermaMNIST_{{train,test}}.csv",
        "model": source_model, "template": _TEMPLATE, "split": _DERMA_SPLIT,
    }
    return PublishedLogits(name, *_CREDAL, paths, sha, "credal_csv", meta,
                           model=model, dataset="DermaMNIST", family="vlm")


def _credal_cifar10(name: str, prefix: str, source_model: str, h_split: str, sha: str,
                    model: str) -> PublishedLogits:
    """A credal CIFAR-10 file: English test CSV, CIFAR-10H CSV, then the language CSVs (converter order)."""
    paths = (f"logits/{prefix}_CIFAR10_CIFAR10_test.csv", f"logits/{prefix}_CIFAR10-H_CIFAR10_{h_split}.csv",
             *(f"logits/{prefix}_CIFAR10_CIFAR10-{lang.upper()}_test.csv" for lang in CREDAL_LANGUAGES))
    meta = {
        "source": f"github.com/{_CREDAL[0]}@{_CREDAL[1]} {paths[0]} (+CIFAR10-H and language variants)",
        "model": source_model, "template": _TEMPLATE,
        "dataset": "CIFAR-10 test set (10000, original order); cifar10h_soft_labels = CIFAR-10H human label "
        "distributions",
        "split": "val = test[:5000], test = test[5000:] (made here; repo has no val split)",
        "licence": "no licence file at repo top level (only ddu/LICENSE MIT for the ddu subfolder)",
    }
    return PublishedLogits(name, *_CREDAL, paths, sha, "credal_cifar10", meta,
                           model=model, dataset="CIFAR-10", family="vlm")


def _netcal(name: str, path: str, sha: str, model: str, dataset: str) -> PublishedLogits:
    meta = {"source": f"github.com/{_NETCAL[0]}@{_NETCAL[1]} {path}", **_NETCAL_META}
    return PublishedLogits(name, *_NETCAL, (path,), sha, "netcal_npz", meta,
                           model=model, dataset=dataset, family="baseline")


def _hollance(name: str, converter: str, glob: str, verified: tuple[tuple[int, float, float], ...], sha: str,
              model: str, dataset: str) -> PublishedLogits:
    """A top-label file: one CSV per model; ``verified`` = (n, accuracy, ECE-15) per model, in converter order."""
    models = HOLLANCE_TOPLABEL[converter]
    meta = {
        "source": f"github.com/{_HOLLANCE[0]}@{_HOLLANCE[1]} {glob}",
        "content": "top-label only: true label, predicted label, confidence of predicted class "
        "(no full logits; TS not possible)",
        "licence": "MIT (repo)",
        "verified": {m: {"n": n, "acc": acc, "ece15": ece}
                     for m, (n, acc, ece) in zip(models, verified, strict=True)},
    }
    return PublishedLogits(name, *_HOLLANCE, tuple(models.values()), sha, converter, meta,
                           model=model, dataset=dataset, family="toplabel")


_ENTRIES: tuple[PublishedLogits, ...] = (
    _credal_derma("clip_dermamnist_zeroshot", "Clip", "CLIP ViT-B/32 HF openai/clip-vit-base-patch32",
                  "d3a7e571040aaa05cbf0e5d64bb274709032a524ac16776e191d7f1ed1eb9e40", "CLIP ViT-B/32"),
    _credal_derma("biomedclip_dermamnist_zeroshot", "BiomedCLIP",
                  "BiomedCLIP hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 (open_clip)",
                  "ef710b9acc8fc6f7242b3a6a472de9972e07cfd483163f992fd6defb4e8eb50b", "BiomedCLIP"),
    _credal_derma("siglip_dermamnist_zeroshot", "SigLIP", "google/siglip-base-patch16-224",
                  "eb192978e030becf6ed7582ffcba9867f7bf715514cb27d2ff53069c44e561dc", "SigLIP ViT-B/16"),
    _credal_derma("siglip2_dermamnist_zeroshot", "SigLIP2", "google/siglip2-base-patch16-224",
                  "92b4f303492a1e3faa6605378ec0471f1011d17bdf112de692caae0fab1d6de5", "SigLIP2 ViT-B/16"),
    _netcal("netcal_lenet5_cifar10", "examples/classification/records/cifar10/lenet-5-cifar-10.npz",
            "f6964d6317cb99ea536e81034df57343c79a5088528a8bcb85f6a0219fd1e3da", "LeNet-5", "CIFAR-10"),
    _netcal("netcal_wrn16-4_cifar10", "examples/classification/records/cifar10/wideresnet-16-4-cifar-10.npz",
            "5c0ce11ab8f16dc1850cf326885c1fc6386305d8e36b8a9f51dad7db2189dda9", "WRN-16-4", "CIFAR-10"),
    _netcal("netcal_lenet5_cifar100", "examples/classification/records/cifar100/lenet-5-cifar-100.npz",
            "86ff960ef6733123d8324a0e6e9517819fa6db0abbfaf0b37d3c52e0ea649a54", "LeNet-5", "CIFAR-100"),
    _netcal("netcal_wrn16-4_cifar100", "examples/classification/records/cifar100/wideresnet-16-4-cifar-100.npz",
            "90e04b9805028c2ddfdcfca5a374833d6f7c6facc8f5a5fc6544cf3f360916d1", "WRN-16-4", "CIFAR-100"),
    _netcal("netcal_densenetbc100_cifar100",
            "examples/classification/records/cifar100/densenet-bc-100-cifar-100.npz",
            "86240b3e80b0304c494837a537a2298c904f289cb8033c1d55014780ab1ea75d", "DenseNet-BC-100", "CIFAR-100"),
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
        model="DenseNet-40", dataset="CIFAR-10", family="baseline",
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
        model="VGG16", dataset="CIFAR-10", family="baseline",
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
        model="cross-validated CNN (cleanlab)", dataset="CIFAR-10", family="baseline",
    ),
    _credal_cifar10("clip_vitb32_cifar10_zeroshot", "Clip", "CLIP ViT-B/32, HF openai/clip-vit-base-patch32, "
                    "logits_per_image (logit_scale 100 x cosine)", "train",
                    "1a62ee490b421eec92cf01ba1d4d4d796d7e92696ba6ccf541c3c992e4e6d3ef", "CLIP ViT-B/32"),
    _credal_cifar10("siglip_b16_cifar10_zeroshot", "SigLIP", "SigLIP ViT-B/16 224, HF google/siglip-base-patch16-224, "
                    "logits_per_image (sigmoid logits: scale*cos+bias)", "train",
                    "2aefe23000795a1c60d5ede947beb2d7d3d6b9c2d7861ef4c5c1741ffa8b0762", "SigLIP ViT-B/16"),
    _credal_cifar10("siglip2_b16_cifar10_zeroshot", "SigLIP2",
                    "SigLIP2 ViT-B/16 224, HF google/siglip2-base-patch16-224, logits_per_image (sigmoid logits)",
                    "test",
                    "80222c48dfd1d39c9e267cf40b6c803920ef18890bf9676694e154cd1f2ddbf9", "SigLIP2 ViT-B/16"),
    _hollance("hollance_imagenet_val_toplabel", "hollance_imagenet_toplabel", "results/ImageNet_*/*.csv",
              ((50000, 0.7658, 0.0696), (50000, 0.787, 0.1), (50000, 0.8187, 0.1238), (50000, 0.768, 0.1229),
               (50000, 0.8122, 0.0506), (50000, 0.7726, 0.0649), (50000, 0.7577, 0.067), (50000, 0.7511, 0.078),
               (50000, 0.7976, 0.058), (50000, 0.7786, 0.0202), (50000, 0.7714, 0.0564), (50000, 0.7732, 0.0191),
               (50000, 0.7737, 0.0492), (50000, 0.7931, 0.0806)),
              "ecf65e917b4f43da736363f5836589896fbb3064cb72d9ee91ae39dcdb3fa5b3", "14 ImageNet CNNs", "ImageNet"),
    _hollance("hollance_markus93_cifar_birds_toplabel", "hollance_markus93_toplabel", "results/markus93/*.csv",
              ((10000, 0.7, 0.2116), (10000, 0.9242, 0.055), (10000, 0.7148, 0.1848), (10000, 0.9356, 0.0475),
               (2897, 0.7314, 0.0235)),
              "cb1ff215fb9b56761ac910328c56f0746909bb5f7c225782ec8f8196d3841c40",
              "ResNet-110 / DenseNet-40 (+ birds)", "CIFAR-10/100"),
    _hollance("hollance_snacks_toplabel", "hollance_snacks_toplabel", "results/other/*.csv", ((952, 0.8634, 0.028),),
              "2bb03feb27d1ac84c6e1cd5d24e65a20bf6948cadf719cc8152e641ab9b287be", "snacks classifiers", "Snacks"),
)

# each source's size at the pinned commit (git ls-tree -l <commit> <path> in the source repository)
_SOURCE_SIZES: dict[str, tuple[int, ...]] = {
    "clip_dermamnist_zeroshot": (542280, 154584),
    "biomedclip_dermamnist_zeroshot": (541263, 154138),
    "siglip_dermamnist_zeroshot": (574949, 163959),
    "siglip2_dermamnist_zeroshot": (562685, 160180),
    "netcal_lenet5_cifar10": (480492,),
    "netcal_wrn16-4_cifar10": (480492,),
    "netcal_lenet5_cifar100": (4080492,),
    "netcal_wrn16-4_cifar100": (4080492,),
    "netcal_densenetbc100_cifar100": (4080492,),
    "markus93_densenet40_cifar10": (720341,),
    "verifiedcal_vgg16_cifar10": (480249,),
    "cleanlab_cv_cifar10_test": (800128, 20128),
    "clip_vitb32_cifar10_zeroshot": (1067730, 1507786, 1067596, 1067617, 1068111),
    "siglip_b16_cifar10_zeroshot": (1159756, 1599951, 1159514, 1149418, 1119777),
    "siglip2_b16_cifar10_zeroshot": (1146234, 1586290, 1133688, 1138116, 1178472),
    "hollance_imagenet_val_toplabel": (1390898, 1389266, 1388127, 1392350, 1386964, 1389544, 1390983, 1391618,
                                       1388700, 1387591, 1377126, 1387788, 1382470, 1355201),
    "hollance_markus93_cifar_birds_toplabel": (233889, 155635, 247229, 196100, 77982),
    "hollance_snacks_toplabel": (15571,),
}
_ENTRIES = tuple(replace(entry, sizes=_SOURCE_SIZES[entry.name]) for entry in _ENTRIES)

PUBLISHED_LOGITS: dict[str, PublishedLogits] = {entry.name: entry for entry in _ENTRIES}
"""name (the ``.npz`` stem in ``$VLMCAL_SHARED/data/logits``) -> :class:`PublishedLogits`."""


def published_entries(dataset: str | None = None, family: str | None = None) -> list[PublishedLogits]:
    """Registry entries in registry order, optionally only one ``dataset`` and/or ``family``.

    Parameters
    ----------
    dataset : str, optional
        e.g. ``"CIFAR-10"`` (exact match with :attr:`PublishedLogits.dataset`).
    family : str, optional
        ``"vlm"``, ``"baseline"`` or ``"toplabel"``.

    Returns
    -------
    list of PublishedLogits
    """
    return [e for e in _ENTRIES if (dataset is None or e.dataset == dataset) and (family is None or e.family == family)]


def _lookup(name: str, registry: dict[str, PublishedLogits]) -> PublishedLogits:
    if name not in registry:
        close = close_matches(name, list(registry))
        raise KeyError(
            f"unknown published logits {name!r}" + (f"; close matches: {close}" if close else "")
            + f"; known names: {', '.join(sorted(registry))}"
        )
    return registry[name]


def published_path(name: str) -> Path | None:
    """The shared copy of the published logits ``name``, if this machine has it; never downloads.

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`, e.g. ``"markus93_densenet40_cifar10"``.

    Returns
    -------
    pathlib.Path or None
        ``$VLMCAL_SHARED/data/logits/<name>.npz``, or ``None`` without a shared folder or copy
        (not hash-checked: :func:`fetch_published_logits` verifies, and downloads where it can).

    Raises
    ------
    KeyError
        ``name`` is not in the registry (the message lists close matches).
    """
    entry = _lookup(name, PUBLISHED_LOGITS)
    return shared_path(*SHARED_LOGITS_DIR, entry.filename)


# ---------------------------------------------------------------------------------------------
# fetching
# ---------------------------------------------------------------------------------------------
class SourceError(ValueError):
    """Downloaded sources that do not give the pinned file: not convertible, refused, or other numbers."""


def _check_hash(got: str, entry: PublishedLogits, origin: str) -> None:
    if got != entry.sha256:
        raise ValueError(
            f"{entry.name}: the {origin} has content hash {got}, but the pinned hash is "
            f"{entry.sha256}: these are not the published numbers. Delete the file and fetch again; "
            f"if it persists, compare with the source {', '.join(entry.source_urls)}"
        )


def _verified(path: Path, entry: PublishedLogits, origin: str) -> Path:
    """``path`` if its content hash is the pinned one; else a ``ValueError`` naming the file and why."""
    try:
        got = content_sha256(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # a damaged file (cut short, not a zip, a bomb, object arrays) is named, never loaded further
        raise ValueError(f"{entry.name}: the {origin} ({path}) is damaged and cannot be read "
                         f"({type(err).__name__}: {err}); delete it and fetch again") from err
    _check_hash(got, entry, f"{origin} ({path})")
    return path


def _shared_copy(entry: PublishedLogits) -> Path | None:
    """The hash-verified shared copy, ``None`` without one; a tampered or damaged copy is an error.

    The one check of a shared copy, used by :func:`fetch_published_logits` and :func:`resolve_published`.
    """
    shared = shared_path(*SHARED_LOGITS_DIR, entry.filename)
    return None if shared is None else _verified(shared, entry, "shared copy")


def _cached_copy(target: Path, entry: PublishedLogits) -> tuple[Path | None, str]:
    """The hash-verified cached copy (or ``None``) and a note; a stale or damaged copy is deleted and named."""
    if not target.is_file():
        return None, ""
    try:
        return _verified(target, entry, "cached copy"), ""
    except ValueError as err:
        target.unlink(missing_ok=True)  # made again from the sources by the caller
        return None, f"the cached copy was deleted ({str(err)[:300]})"


def _download_sources(entry: PublishedLogits, base: str, work: Path) -> list[bytes]:
    """Each source, streamed into ``work`` within its caps (:mod:`~vlmcal_utils.data.download`)."""
    sizes = entry.sizes or (None,) * len(entry.paths)
    sources = []
    for url, size in zip(entry.raw_urls(base), sizes, strict=True):
        max_bytes, seconds = download_limits(size)
        sources.append(download_file(url, work, max_bytes=max_bytes, time_limit_s=seconds).read_bytes())
    return sources


def _why(err: BaseException) -> str:
    """One line on why a source did not convert; numpy's advice to unpickle is never passed on."""
    text = str(err).splitlines()[0][:200] if str(err) else ""
    if "allow_pickle" in text or "pickled" in text:
        text = "it holds Python objects (pickled data), which are never loaded"
    return f"{type(err).__name__}: {text}"


def _convert_verified(entry: PublishedLogits, sources: list[bytes]) -> bytes:
    """The sources converted to the bytes of the ``.npz`` to cache, hash-verified; else :class:`SourceError`."""
    try:
        arrays = CONVERTERS[entry.converter](sources)
    except (ValueError, pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError, EOFError,
            KeyError, IndexError, TypeError, AttributeError) as err:
        # whatever the server sent, it is not the source: say so in one line (numpy's own advice
        # for object arrays, "load it unsafely with allow_pickle", must never reach a reader)
        raise SourceError(f"{entry.name}: the downloaded sources are not the published files and were "
                          f"discarded ({_why(err)})") from err
    arrays["meta"] = np.array(json.dumps(entry.meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    try:
        _check_hash(npz_content_sha256(io.BytesIO(buffer.getvalue())), entry, "file converted from the download")
    except ValueError as err:
        raise SourceError(str(err)) from err
    return buffer.getvalue()


def _download_convert(entry: PublishedLogits, base: str, cache: Path) -> Path:
    """Download into a temporary folder, convert, verify; only a verified file reaches ``cache``."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".fetch-{entry.name}-", dir=cache))
    except OSError as err:
        raise DownloadError(f"{entry.name}: cannot write to the cache {cache} ({err})") from err
    try:
        data = _convert_verified(entry, _download_sources(entry, base, work))
        try:
            return atomic_write_bytes(cache / entry.filename, data)
        except OSError as err:  # a full disk: nothing half-written stays (atomic write)
            raise DownloadError(f"{entry.name}: cannot write {cache / entry.filename} ({err})") from err
    finally:
        shutil.rmtree(work, ignore_errors=True)


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
        Download cache; default ``vlmcal_utils.paths.cache_dir("published")`` (``$VLMCAL_CACHE``,
        else ``$XDG_CACHE_HOME/vlmcal``, else ``~/.cache/vlmcal``, then ``/published``). Converted
        files are ``root/<name>.npz``; sources are downloaded into a temporary folder inside
        ``root`` and deleted afterwards, whatever happened, so only a verified file is ever cached.
    offline : bool, optional
        ``True``: use the shared copy only. ``False``: download and convert even where a shared
        copy exists. ``None`` (default): the shared copy if there is one, else the cache, else download.
    base_url : str, optional
        Server holding ``<owner>/<repo>/<commit>/<path>`` (default: ``$VLMCAL_PUBLISHED_BASE_URL``
        or raw.githubusercontent.com) — tests point it at a local server.
    registry : dict, optional
        Defaults to :data:`PUBLISHED_LOGITS`.

    Returns
    -------
    pathlib.Path
        The shared copy or the cached converted file; its content hash is the pinned one.

    Raises
    ------
    KeyError
        Unknown ``name``.
    FileNotFoundError
        ``offline=True`` and no shared copy.
    ValueError
        The shared copy is damaged or has another content hash, or ``name`` has no converter and
        no shared copy (the message names the source to fetch by hand); :class:`SourceError` (a
        ``ValueError``): the downloaded sources do not convert or give other numbers.
    ConnectionError
        :class:`~vlmcal_utils.data.download.DownloadError`: the download failed or was refused
        (HTTP error, size or time cap, body cut short, an HTML page), or the cache cannot be written.
    """
    entry = _lookup(name, registry if registry is not None else PUBLISHED_LOGITS)
    if offline is not False:
        shared = _shared_copy(entry)
        if shared is not None:
            return shared
        if offline:
            raise FileNotFoundError(
                f"{name}: no shared copy (set {SHARED_ENV_VAR} to the folder holding "
                f"data/logits/{entry.filename}), or call with offline=None to download it"
            )
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    cached, _ = _cached_copy(cache / entry.filename, entry)
    if cached is not None:
        return cached
    if entry.converter is None:
        raise ValueError(
            f"{name} cannot be downloaded and converted by vlmcal_utils (its source spans several files "
            f"with no converter here): use a machine with {SHARED_ENV_VAR} set, or the source "
            f"{', '.join(entry.source_urls)}"
        )
    base = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    try:
        return _download_convert(entry, base, cache)
    except DownloadError as err:
        raise DownloadError(f"{err}. Without internet, set {SHARED_ENV_VAR} to a folder holding "
                            f"data/logits/{entry.filename}, or download the source by hand.") from err


# ---------------------------------------------------------------------------------------------
# the one resolver the chapters use
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """Where a published file was found, or why not.

    Attributes
    ----------
    name : str
        The registry key.
    path : pathlib.Path or None
        The hash-verified file, or ``None``.
    origin : str
        ``"shared"``, ``"cache"``, ``"download"``; not found: ``"missing"`` (downloads off, or no
        converter), ``"unreachable"`` (the download failed or was refused) or ``"unusable"`` (what
        was downloaded is not the published file: it was discarded).
    reason : str
        One line a chapter can print (where it came from, or why it is unavailable).
    """

    name: str
    path: Path | None
    origin: str
    reason: str


def resolve_published(name: str, *, download: bool | None = None, root: str | os.PathLike | None = None,
                      base_url: str | None = None) -> Resolved:
    """The published file ``name``: the shared copy, else the cache, else a download, else ``None``.

    This is what the chapters' defaults use, so a book built with ``$VLMCAL_SHARED`` (CI) or with
    internet (GitHub Pages, Colab) shows the real numbers, and a machine with neither gets
    ``path=None`` and a ``reason`` for its labelled fallback. Never raises for a missing file or
    a failed download: an HTTP error, a body cut short or over its cap, an HTML page, sources that
    do not convert (a refused pickle, object arrays, a decompression bomb) or give other numbers,
    a full disk — each is cleaned up and becomes ``path=None`` with the reason.

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`.
    download : bool, optional
        ``False``: shared copy or cache only. Default: download unless ``$VLMCAL_OFFLINE=1``.
    root, base_url : optional
        As for :func:`fetch_published_logits`.

    Returns
    -------
    Resolved
        ``path`` is hash-verified (same numbers on every route) or ``None``.

    Raises
    ------
    KeyError
        ``name`` is not in the registry (a typo must not look like "offline").
    ValueError
        The shared copy is damaged or has the wrong content hash (someone's data folder holds
        other numbers: that must be fixed there, not hidden by a fallback).
    """
    entry = _lookup(name, PUBLISHED_LOGITS)
    shared = _shared_copy(entry)
    if shared is not None:
        return Resolved(name, shared, "shared", f"{entry.filename} from ${SHARED_ENV_VAR}")
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    if download is None:
        download = not offline()
    cached, note = _cached_copy(cache / entry.filename, entry)
    note = f" ({note})" if note else ""
    if cached is not None:
        return Resolved(name, cached, "cache", f"{entry.filename} converted from {entry.repo}@{entry.commit[:7]} "
                        "(cache)")
    if not download or entry.converter is None:
        why = "downloads are off" if not download else "it has no converter (shared copy only)"
        return Resolved(name, None, "missing",
                        f"{entry.filename}: no shared copy (${SHARED_ENV_VAR}) and {why}{note}")
    try:
        path = fetch_published_logits(name, root=cache, offline=False, base_url=base_url)
    except ConnectionError as err:
        return Resolved(name, None, "unreachable",
                        f"{entry.filename} unavailable, because the download failed{note}: {err}")
    except SourceError as err:
        return Resolved(name, None, "unusable", f"{entry.filename} unavailable, because {err}{note}")
    return Resolved(name, path, "download", f"{entry.filename} converted from {entry.repo}@{entry.commit[:7]} "
                    f"(download){note}")


def resolve_published_dir(names: list[str] | tuple[str, ...], *, download: bool | None = None,
                          root: str | os.PathLike | None = None,
                          base_url: str | None = None) -> tuple[Path | None, dict[str, Resolved]]:
    """One folder holding every file of ``names`` that can be had (for chapters that read a folder).

    Parameters
    ----------
    names : sequence of str
        Registry keys.
    download, root, base_url : optional
        As for :func:`resolve_published`. After the first failed download the others are not
        tried (offline: one timeout, not one per file).

    Returns
    -------
    folder : pathlib.Path or None
        ``$VLMCAL_SHARED/data/logits`` when every found file is a shared copy, else the download
        cache, else (a mix) ``<cache>/resolved`` with links to each found file; ``None`` if none found.
    found : dict of str to Resolved
        One entry per name, found or not.
    """
    found: dict[str, Resolved] = {}
    for name in names:
        found[name] = resolve_published(name, download=download, root=root, base_url=base_url)
        if found[name].origin == "unreachable":
            download = False  # offline: don't wait for every other file's download to fail
    paths = [r.path for r in found.values() if r.path is not None]
    if not paths:
        return None, found
    parents = {p.parent for p in paths}
    if len(parents) == 1:
        return parents.pop(), found
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    links = cache / "resolved"
    links.mkdir(parents=True, exist_ok=True)
    for path in paths:
        link = links / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
    return links, found
