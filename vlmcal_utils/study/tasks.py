"""Study tasks that compute logits end to end: a model on image datasets (demo world, or real).

:func:`zeroshot_task` (an open_clip VLM, zero-shot) and :func:`baseline_task` (a timm ImageNet-1k
classifier) return :class:`~vlmcal_utils.study.StudyTask` s whose ``load()`` loads the model,
extracts (cached) image features or logits for each split named by a :class:`DatasetSpec`, and
returns ``{"cal": (logits, labels), split: (logits, labels), ...}``. :func:`dataset_specs` names
the splits of each study dataset. ``pretrained="random"`` gives seeded random weights for
plumbing runs (:data:`~vlmcal_utils.models.RANDOM_WEIGHTS_NOTE`): the numbers mean nothing.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from vlmcal_utils.baselines import baseline_id, baseline_logits, load_baseline
from vlmcal_utils.data import DOMAINNET_DOMAINS, load_dataset, subsample
from vlmcal_utils.demo import DEMO_MODEL_NAMES
from vlmcal_utils.device import get_device
from vlmcal_utils.features import extract_features
from vlmcal_utils.models import RANDOM_WEIGHTS_NOTE, describe_model, load_model, model_id
from vlmcal_utils.study.grid import StudyTask
from vlmcal_utils.zeroshot import SINGLE_TEMPLATE, build_classifier, logit_scale, zeroshot_logits

__all__ = [
    "IMAGENET_LABEL_DATASETS",
    "IMAGENET_SHIFTS",
    "DOMAINNET_CAL_DOMAIN",
    "DOMAINNET_PROTOCOL",
    "domainnet_shifts",
    "DatasetSpec",
    "dataset_specs",
    "zeroshot_task",
    "baseline_task",
    "demo_study_tasks",
]

#: Study datasets whose labels are ImageNet-1k classes (or a subset): where an ImageNet-trained
#: classifier can be scored without a new head.
IMAGENET_LABEL_DATASETS = ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r",
                           "imagenet-shared")
#: The distribution shifts of ImageNet scored with the temperature fitted on ImageNet val.
IMAGENET_SHIFTS = ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")

#: The DomainNet domain whose test list is halved into calibration and test images by default
#: (``"domainnet"``; ``"domainnet-<domain>"`` picks another one).
DOMAINNET_CAL_DOMAIN = "real"

DOMAINNET_PROTOCOL = (
    "Tu et al. (ICML 2024) calibrate 'in one domain ... and test in a different one' (abstract) and list "
    "DomainNet (345 classes) among their three datasets (ImageNet, CIFAR-10, DomainNet; seminar deck, "
    "'Paper review (1)'). Which domain and which split files they calibrate on is in their supplementary, "
    "which was not available to check: here T is fitted on a seeded random half of one domain's official "
    "<domain>_test.txt (default 'real'), scored on the other half and on the other five domains' test lists "
    "as shifts (this package's choice, the same halving as for ImageNet val)."
)
"""The DomainNet protocol of :func:`dataset_specs`, with what of it is the paper's and what is ours."""

#: (arch, pretrained, device) -> (model, preprocess, tokenizer), like :func:`vlmcal_utils.models.load_model`.
ModelLoader = Callable[[str, Any, Any], tuple]


@dataclass
class DatasetSpec:
    """Which images a split uses.

    ``vlmcal_utils.data.load_dataset(name, split, root, **kwargs)``, then the items
    ``index_range = (start, stop)`` (e.g. CIFAR-10 test ``(0, 5000)`` for calibration and
    ``(5000, 10000)`` for testing) or ``fraction = (a, b)`` (items ``int(a*N)`` to ``int(b*N)`` of
    the ``N`` items, for lists whose size is only known once read, e.g. a DomainNet domain's
    halves ``(0, 0.5)`` and ``(0.5, 1)``) — of a seeded permutation if ``shuffle`` (class-sorted
    folders) — then a seeded random subset of ``n`` items (:func:`vlmcal_utils.data.subsample`;
    ``None`` = all). ``optional`` splits are skipped with a warning when their images are missing.
    """

    name: str
    split: str = "test"
    n: int | None = None
    index_range: tuple[int, int] | None = None
    kwargs: dict = field(default_factory=dict)
    shuffle: bool = False
    optional: bool = False
    fraction: tuple[float, float] | None = None

    def ident(self, seed: int) -> str:
        """A string naming exactly these images (the feature-cache key)."""
        frac = "" if self.fraction is None else f"/fraction{tuple(float(f) for f in self.fraction)}"
        return (f"{self.name}/{self.split}/range{self.index_range}{frac}/shuffle{self.shuffle}/n{self.n}/"
                f"seed{seed}/" + json.dumps(self.kwargs, sort_keys=True))

    def _bounds(self, size: int) -> tuple[int, int]:
        if self.index_range is not None and self.fraction is not None:
            raise ValueError(f"{self.name}/{self.split}: give index_range or fraction, not both")
        if self.fraction is not None:
            a, b = (float(f) for f in self.fraction)
            if not 0.0 <= a < b <= 1.0:
                raise ValueError(f"{self.name}/{self.split}: fraction {self.fraction} is not 0 <= a < b <= 1")
            return int(a * size), int(b * size)
        return self.index_range or (0, size)

    def select(self, ds: torch.utils.data.Dataset, seed: int) -> torch.utils.data.Dataset:
        """The chosen items of ``ds`` (a torch ``Subset`` keeping ``classnames``, or ``ds`` itself)."""
        if self.index_range is not None or self.fraction is not None or self.shuffle:
            order = (np.random.default_rng(seed).permutation(len(ds)) if self.shuffle
                     else np.arange(len(ds)))
            lo, hi = self._bounds(len(ds))
            if not 0 <= lo < hi <= len(ds):
                raise ValueError(f"{self.name}/{self.split}: index_range {self.index_range} is outside "
                                 f"its {len(ds)} items")
            names = getattr(ds, "classnames", None)
            ds = torch.utils.data.Subset(ds, order[lo:hi].tolist())
            if names is not None:
                ds.classnames = list(names)
        return subsample(ds, self.n, seed=seed)


def dataset_specs(dataset: str, n_cal: int | None = None, n_test: int | None = None) -> tuple[DatasetSpec, dict]:
    """The calibration and evaluation splits of one study dataset, for :func:`zeroshot_task`.

    - ``"demo"``: photo validation images -> photo test (``"test"``) + clipart, sketch, painting.
    - ``"cifar10"`` (torchvision; ``"cifar10-shared"``: the shared JPEG copy): calibration on
      test[:5000], evaluation on test[5000:] — the halves of the published logits files.
    - ``"imagenet"``: a seeded random half of ImageNet-1k val for calibration, the other half for
      testing, plus ImageNet-V2/-Sketch/-A/-R as shifts when their folders exist (skipped with a
      warning otherwise).
    - ``"imagenet-shared"``: the shared 1000 ImageNet val photos (one per class, offline for CI):
      a seeded random half for calibration, the other half for testing.
    - ``"domainnet"`` (345 classes; ``"domainnet-<domain>"`` for another calibration domain than
      :data:`DOMAINNET_CAL_DOMAIN`): a seeded random half of that domain's official test list for
      calibration, the other half for testing (``"test"``), plus the other five domains' test lists
      as shifts (split names = domain names, skipped with a warning when missing). See
      :data:`DOMAINNET_PROTOCOL` for which part of this is Tu et al.'s.

    Parameters
    ----------
    dataset : str
        One of the names above.
    n_cal, n_test : int, optional
        Subsample each split to this many images (``None``: all).

    Returns
    -------
    (DatasetSpec, dict)
        ``(cal, evals)``: ``evals`` maps evaluation split names to specs.
    """
    if dataset == "demo":
        kw = {"classes": "all"}
        evals = {("test" if d == "photo" else d): DatasetSpec(f"demo-{d}", "test", n=n_test or 1000, kwargs=kw)
                 for d in ("photo", "clipart", "sketch", "painting")}
        return DatasetSpec("demo-photo", "val", n=n_cal or 1000, kwargs=kw), evals
    if dataset in ("cifar10", "cifar10-shared"):
        return (DatasetSpec(dataset, "test", n=n_cal, index_range=(0, 5000)),
                {"test": DatasetSpec(dataset, "test", n=n_test, index_range=(5000, 10000))})
    if dataset == "imagenet-shared":
        return (DatasetSpec(dataset, "val", n=n_cal, index_range=(0, 500), shuffle=True),
                {"test": DatasetSpec(dataset, "val", n=n_test, index_range=(500, 1000), shuffle=True)})
    if dataset == "imagenet":
        evals = {"test": DatasetSpec("imagenet", "val", n=n_test, index_range=(25000, 50000), shuffle=True)}
        evals.update({s: DatasetSpec(s, "test", n=n_test, optional=True) for s in IMAGENET_SHIFTS})
        return DatasetSpec("imagenet", "val", n=n_cal, index_range=(0, 25000), shuffle=True), evals
    if dataset == "domainnet" or dataset.startswith("domainnet-"):
        domain = dataset.partition("-")[2] or DOMAINNET_CAL_DOMAIN
        shifts = domainnet_shifts(domain)  # checks the domain
        kw = {"domain": domain}
        evals = {"test": DatasetSpec("domainnet", "test", n=n_test, fraction=(0.5, 1.0), shuffle=True, kwargs=kw)}
        evals.update({d: DatasetSpec("domainnet", "test", n=n_test, kwargs={"domain": d}, optional=True)
                      for d in shifts})
        return DatasetSpec("domainnet", "test", n=n_cal, fraction=(0.0, 0.5), shuffle=True, kwargs=kw), evals
    raise ValueError(f"unknown study dataset {dataset!r}: use 'demo', 'cifar10', 'cifar10-shared', "
                     "'imagenet', 'imagenet-shared', 'domainnet' or 'domainnet-<domain>'")


def domainnet_shifts(cal_domain: str = DOMAINNET_CAL_DOMAIN) -> tuple[str, ...]:
    """The DomainNet domains scored as shifts when ``T`` is fitted on ``cal_domain``.

    Parameters
    ----------
    cal_domain : str
        One of :data:`vlmcal_utils.data.DOMAINNET_DOMAINS`.

    Returns
    -------
    tuple of str
        The other five domains, in :data:`~vlmcal_utils.data.DOMAINNET_DOMAINS` order.
    """
    if cal_domain not in DOMAINNET_DOMAINS:
        raise ValueError(f"unknown DomainNet domain {cal_domain!r}: use one of {list(DOMAINNET_DOMAINS)}")
    return tuple(d for d in DOMAINNET_DOMAINS if d != cal_domain)


def _check_evals(evals: Mapping[str, DatasetSpec]) -> None:
    if "cal" in evals:
        raise ValueError("'cal' is reserved for the calibration split: rename that evaluation split")
    if not evals:
        raise ValueError("give at least one evaluation split in evals")


def _splits(cal: DatasetSpec, evals: Mapping[str, DatasetSpec], data_root: Any, transform: Callable | None,
            seed: int):
    """``(split name, spec, selected dataset)`` of each split; optional ones with missing images skipped."""
    for split_name, spec in {"cal": cal, **evals}.items():
        kwargs = dict(spec.kwargs) if transform is None else {"transform": transform, **spec.kwargs}
        try:
            ds = load_dataset(spec.name, spec.split, root=data_root, **kwargs)
        except FileNotFoundError as err:
            if not spec.optional:
                raise
            warnings.warn(f"skipping split {split_name!r}: {err}", UserWarning, stacklevel=3)
            continue
        yield split_name, spec, ds


def _inputs(cal: DatasetSpec, evals: Mapping[str, DatasetSpec], seed: int, data_root: Any) -> str:
    """The task's :attr:`StudyTask.inputs`: every split's images (sizes and subset seed included)."""
    splits = {"cal": cal, **evals}
    return json.dumps({"splits": {k: s.ident(seed) for k, s in splits.items()},
                       "data_root": None if data_root is None else str(data_root)}, sort_keys=True)


def zeroshot_task(
    arch: str,
    pretrained: Any,
    dataset: str,
    cal: DatasetSpec,
    evals: Mapping[str, DatasetSpec],
    data_root: str | os.PathLike | None = None,
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    templates: Sequence[str] | None = None,
    seed: int = 0,
    model_loader: ModelLoader | None = None,
    model_name: str | None = None,
) -> StudyTask:
    """A study task whose ``load()`` computes zero-shot logits of an open_clip model.

    ``load()`` loads the model (:func:`vlmcal_utils.models.load_model`, or ``model_loader``),
    extracts image features of every split with :func:`vlmcal_utils.features.extract_features`
    (cached on disk and resumable, so a second call costs only the text tower), builds one
    zero-shot classifier per split's class names (:func:`vlmcal_utils.zeroshot.build_classifier`)
    and returns ``{"cal": ..., **evals}`` with logits ``logit_scale * cos`` (plus SigLIP's bias).

    Parameters
    ----------
    arch : str
        open_clip architecture; demo models (``vlmcal-demo-*``) load offline.
    pretrained : str, path or None
        A tag, a local weights file, ``None`` (demo weights) or ``"random"``: seeded random weights
        (``seed``) for plumbing runs — the task's ``source`` then says the numbers mean nothing.
    dataset : str
        The task's dataset label (results column ``dataset``).
    cal, evals : DatasetSpec, mapping of str to DatasetSpec
        The calibration split and the evaluation splits (see :func:`dataset_specs`).
    data_root, device, cache_dir
        Image folder (``None``: ``$VLMCAL_DATA``), device (``"auto"``), feature cache folder.
    templates : sequence of str, optional
        Prompt templates (default ``("a photo of a {}.",)``).
    seed : int
        Seed of the image subsets (and of random weights).
    model_loader : callable, optional
        ``(arch, pretrained, device) -> (model, preprocess, tokenizer)`` instead of ``load_model``.
    model_name : str, optional
        The task's model label (default: a description of ``arch``/``pretrained``).

    Returns
    -------
    StudyTask
        Family ``"vlm"``, ``splits`` = the names of ``evals``.
    """
    _check_evals(evals)

    def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        dev = get_device(device, verbose=False)
        if model_loader is None:
            model, preprocess, tokenizer = load_model(arch, pretrained, device=dev, seed=seed)
        else:
            model, preprocess, tokenizer = model_loader(arch, pretrained, dev)
        # seeded random weights are the same every run (the seed is in the id), so they cache too
        mid = model_id(arch, pretrained, seed=seed)
        scale = logit_scale(model)
        bias = getattr(model, "logit_bias", None)  # SigLIP: sigmoid logits carry a bias
        classifiers: dict[tuple[str, ...], Any] = {}
        out = {}
        for split_name, spec, ds in _splits(cal, evals, data_root, preprocess, seed):
            names = tuple(ds.classnames)
            # the cache key names the dataset's transform (features.transform_id), so two
            # preprocessings never share an entry
            feats, labels = extract_features(model, spec.select(ds, seed), mid, spec.ident(seed),
                                             cache_dir=cache_dir, device=dev, progress=False)
            if names not in classifiers:
                classifiers[names] = build_classifier(model, tokenizer, list(names), templates or SINGLE_TEMPLATE,
                                                      device=dev, progress=False)
            z = zeroshot_logits(feats, classifiers[names], scale,
                                None if bias is None else bias.detach().float().cpu())
            out[split_name] = (z.numpy().astype(np.float64), labels.numpy())
        return out

    if pretrained == "random":
        name = model_name or f"{arch} (random weights, seed {seed})"
        source = f"zero-shot {arch}, {RANDOM_WEIGHTS_NOTE}"
    else:
        name = model_name or describe_model(arch, pretrained)
        source = f"zero-shot {arch}/{pretrained}, computed here"
    return StudyTask(name, dataset, load, source=source, family="vlm", splits=tuple(evals),
                     inputs=_inputs(cal, evals, seed, data_root))


def baseline_task(
    name: str,
    pretrained: Any,
    dataset: str,
    cal: DatasetSpec,
    evals: Mapping[str, DatasetSpec],
    data_root: str | os.PathLike | None = None,
    device: str = "auto",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    batch_size: int = 64,
    model_name: str | None = None,
) -> StudyTask:
    """A study task whose ``load()`` computes the logits of a timm ImageNet-1k classifier.

    Only ImageNet-label datasets (:data:`IMAGENET_LABEL_DATASETS`) are accepted; on ImageNet-A/-R
    the 1000 logit columns are restricted to their 200 classes
    (:func:`vlmcal_utils.baselines.imagenet_columns`). Logits are cached like image features and
    optional splits whose images are missing are skipped with a warning.

    Parameters
    ----------
    name : str
        timm model name (:func:`vlmcal_utils.baselines.load_baseline`).
    pretrained : bool, str or path
        ``True`` (timm's weights; internet), a local ``.safetensors`` path, or ``"random"`` (seeded
        random weights: plumbing only). ``"true"``/``"false"`` strings (command line, YAML) are read
        as booleans.
    dataset, cal, evals, data_root, device, cache_dir, seed, model_name
        As in :func:`zeroshot_task`.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    StudyTask
        Family ``"baseline"``.
    """
    _check_evals(evals)
    bad = sorted({s.name for s in (cal, *evals.values())} - set(IMAGENET_LABEL_DATASETS))
    if bad:
        raise ValueError(
            f"baseline {name!r} is an ImageNet-1k classifier: it has no head for {bad}. Use an "
            f"ImageNet-label dataset: {list(IMAGENET_LABEL_DATASETS)}"
        )
    if isinstance(pretrained, str) and pretrained.lower() in ("true", "false"):
        pretrained = pretrained.lower() == "true"  # from a command line / YAML string

    def load() -> dict[str, tuple[np.ndarray, np.ndarray]]:
        dev = get_device(device, verbose=False)
        model, preprocess = load_baseline(name, pretrained, device=dev, seed=seed)
        mid = baseline_id(name, pretrained, model, seed=seed)
        out = {}
        for split_name, spec, ds in _splits(cal, evals, data_root, None, seed):
            z, labels = baseline_logits(model, preprocess, spec.select(ds, seed), mid, spec.ident(seed),
                                        cache_dir=cache_dir, batch_size=batch_size, device=dev, progress=False)
            out[split_name] = (z.numpy().astype(np.float64), labels.numpy())
        return out

    if pretrained == "random":
        label, source = f"{name} (random weights, seed {seed})", f"timm {name}, {RANDOM_WEIGHTS_NOTE}"
    elif pretrained is True:
        label, source = name, f"timm {name} (ImageNet-1k weights), computed here"
    else:
        label, source = f"{name} ({Path(str(pretrained)).name})", f"timm {name}, weights {pretrained}, computed here"
    return StudyTask(model_name or label, dataset, load, source=source, family="baseline", splits=tuple(evals),
                     inputs=_inputs(cal, evals, seed, data_root))


def demo_study_tasks(
    model_names: Sequence[str] | None = None,
    n_val: int = 1000,
    n_test: int = 600,
    device: str = "cpu",
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    model_loader: ModelLoader | None = None,
) -> list[StudyTask]:
    """Zero-shot tasks for the demo world (offline).

    ``T`` is fitted on ``photo`` validation images (all 36 classes) and scored on the ``photo``
    test images (``"test"``) and on the other domains (``"clipart"``, ``"sketch"``,
    ``"painting"``: distribution shifts; the demo models were trained on photo and clipart only).
    Demo numbers are toy numbers, not CLIP's.

    Parameters
    ----------
    model_names : sequence of str, optional
        Demo models (default: all shipped ones, ``vlmcal_utils.demo.DEMO_MODEL_NAMES``).
    n_val, n_test : int
        Calibration images and test images per domain.
    device, cache_dir, seed, model_loader
        As in :func:`zeroshot_task`.

    Returns
    -------
    list of StudyTask
        One per model, dataset ``"demo world"``.
    """
    names = list(model_names) if model_names is not None else list(DEMO_MODEL_NAMES)
    cal, evals = dataset_specs("demo", n_val, n_test)
    return [zeroshot_task(n, None, "demo world", cal, evals, device=device, cache_dir=cache_dir, seed=seed,
                          model_loader=model_loader, model_name=n) for n in names]
