"""ImageNet-trained classifiers (timm) as non-VLM baselines for the empirical study.

Tu et al. compare zero-shot VLMs with ImageNet-trained ResNets and ViTs. This module loads such a
classifier and computes its 1000-way ImageNet-1k logits on an image dataset, cached on disk.

- ``load_baseline(name, pretrained=True, seed=...)``: a timm model and its *eval* transform, from
  timm's own data config (``timm.data.resolve_data_config`` + ``timm.data.create_transform``:
  the resize, crop, interpolation and normalisation the weights were trained with).
  ``pretrained``: ``True`` (download timm's weights, needs internet), a local ``.safetensors``
  file (weights downloaded elsewhere), ``"random"`` with ``seed=`` (seeded random weights built
  in memory, for plumbing runs: the numbers mean nothing) or ``False`` (unseeded random).
- ``baseline_id(name, pretrained, model, seed=...)``: the cache id of those weights.
- ``baseline_logits(model, preprocess, dataset)``: ``(logits, labels)``: float32 ``(N, 1000)``
  logits over the ImageNet-1k classes (index order = sorted WordNet ids, as timm and
  ``vlmcal_utils.zeroshot.IMAGENET_CLASSNAMES``) and int64 ``(N,)`` labels, cached and
  resumable through :func:`vlmcal_utils.features.extract_features` (the logits are the cached
  "features").
- ``imagenet_columns(dataset)``: which of the 1000 columns a dataset's labels index. ImageNet-A
  and -R hold 200 classes; as is standard (and as Tu et al. do), their logits are restricted to
  those 200 columns, so the softmax is over the dataset's own classes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import timm  # a dependency of open_clip, so always installed
import torch
from timm.data import create_transform, resolve_data_config

from vlmcal_utils.checks import check_int, close_matches
from vlmcal_utils.device import get_device
from vlmcal_utils.features import extract_features, transform_id
from vlmcal_utils.models import RANDOM, read_weights, seeded
from vlmcal_utils.storage import file_digest

__all__ = [
    "N_IMAGENET_CLASSES",
    "check_baseline_name",
    "load_baseline",
    "baseline_id",
    "imagenet_columns",
    "baseline_logits",
]

N_IMAGENET_CLASSES = 1000


def check_baseline_name(name: str, pretrained: Any = True) -> None:
    """``ValueError`` (with close matches) unless timm knows ``name``.

    Parameters
    ----------
    name : str
        A timm model name, optionally with a pretrained tag (``"resnet50.a1_in1k"``).
    pretrained : bool, str or os.PathLike
        With ``True`` a tag must be one timm has weights for (``timm.list_pretrained``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a baseline name must be a timm model name such as 'resnet50', got {name!r}")
    arch = name.split(".", 1)[0]
    if not timm.is_model(arch):
        raise ValueError(
            f"timm has no model {arch!r}. Close matches: {close_matches(arch, timm.list_models())}. "
            "See timm.list_models('pattern*') for all names."
        )
    if "." in name and pretrained is True and name not in timm.list_pretrained(arch + ".*"):
        raise ValueError(
            f"timm has no pretrained weights {name!r}. Tags for {arch}: {timm.list_pretrained(arch + '.*')}; "
            f"close matches: {close_matches(name, timm.list_pretrained())}"
        )


def _random_seed(seed: Any) -> int:
    if seed is None:
        raise ValueError("pretrained='random' needs seed=<int>: the seed makes the weights (and the cache "
                         "entry named by baseline_id) the same in every run")
    return check_int(seed, "seed", minimum=0)


def _is_path(pretrained: Any) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and not isinstance(pretrained, bool) and pretrained != RANDOM


def _from_file(name: str, pretrained: str | os.PathLike) -> torch.nn.Module:
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}: pass an existing .safetensors file, "
                                "pretrained=True to download timm's weights, or 'random' with a seed")
    if path.suffix != ".safetensors":
        raise ValueError(f"{path.name}: baseline weights must be a .safetensors file (safe format, "
                         "nothing unpickled); convert with safetensors.torch.save_file(model.state_dict(), ...)")
    state = read_weights(path)  # ValueError naming the file when it is truncated or damaged
    model = timm.create_model(name, pretrained=False)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise RuntimeError(f"{path} does not hold weights for timm's {name!r}: {err}") from err
    return model


def _download(name: str) -> torch.nn.Module:
    try:
        return timm.create_model(name, pretrained=True)
    except Exception as err:  # noqa: BLE001 - huggingface_hub/urllib raise many kinds when offline
        raise RuntimeError(
            f"could not fetch timm's pretrained weights for {name!r} (no network, or the hub "
            f"refused): {type(err).__name__}: {err}. On a machine with internet run "
            f"`m = timm.create_model({name!r}, pretrained=True)` and "
            f"`safetensors.torch.save_file(m.state_dict(), '{name}.safetensors')`, copy the file "
            f"here and pass load_baseline({name!r}, pretrained='/path/to/{name}.safetensors')."
        ) from err


def load_baseline(
    name: str,
    pretrained: bool | str | os.PathLike = True,
    device: str | torch.device = "auto",
    *,
    seed: int | None = None,
) -> tuple[torch.nn.Module, Callable]:
    """A timm ImageNet-1k classifier in eval mode on ``device``, and its eval transform.

    Parameters
    ----------
    name : str
        A timm model name (``"resnet50"``, ``"resnet50.a1_in1k"``, ``"test_resnet"``).
    pretrained : bool, str or os.PathLike
        ``True`` downloads timm's weights (internet; cached by huggingface_hub); a path loads a
        local ``.safetensors`` state dict (strictly: every tensor must match ``name``);
        ``"random"`` builds seeded random weights in memory (needs ``seed``; plumbing only);
        ``False`` gives unseeded random weights.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a device.
    seed : int, optional
        Required with ``pretrained="random"``; ignored otherwise.

    Returns
    -------
    model : torch.nn.Module
        ``(B, 3, H, W)`` images -> ``(B, 1000)`` logits.
    preprocess : callable
        PIL image -> ``(3, H, W)`` float tensor, from timm's data config for these weights.

    Raises
    ------
    ValueError
        Unknown name/tag, a model without 1000 ImageNet outputs, a file that is not
        .safetensors or is damaged, ``"random"`` without a seed.
    FileNotFoundError
        A missing weights file.
    RuntimeError
        A failed download, or a file that does not fit the architecture.
    """
    check_baseline_name(name, pretrained)
    dev = device if isinstance(device, torch.device) else get_device(device, verbose=False)
    if pretrained == RANDOM:
        with seeded(_random_seed(seed)):
            model = timm.create_model(name, pretrained=False)
    elif _is_path(pretrained):
        model = _from_file(name, pretrained)
    elif pretrained is True:
        model = _download(name)
    elif pretrained is False:
        model = timm.create_model(name, pretrained=False)
    else:
        raise ValueError(f"pretrained must be True, False, 'random' or a .safetensors path, got {pretrained!r}")
    if getattr(model, "num_classes", None) != N_IMAGENET_CLASSES:
        raise ValueError(
            f"{name!r} has {getattr(model, 'num_classes', '?')} outputs, not the {N_IMAGENET_CLASSES} "
            "ImageNet-1k classes: pick an ImageNet-1k classifier (e.g. a tag ending in _in1k)"
        )
    preprocess = create_transform(**resolve_data_config({}, model=model))
    return model.to(dev).eval(), preprocess


def baseline_id(name: str, pretrained: Any, model: torch.nn.Module | None = None, *, seed: int | None = None) -> str:
    """A stable cache id of a baseline's weights (see :mod:`vlmcal_utils.features`).

    Parameters
    ----------
    name : str
        The timm name.
    pretrained : bool, str or os.PathLike
        As in :func:`load_baseline`.
    model : torch.nn.Module, optional
        The loaded model: for ``pretrained=True`` its ``pretrained_cfg`` names the resolved tag.
    seed : int, optional
        Required with ``pretrained="random"`` (each seed is other weights).

    Returns
    -------
    str
        ``"timm/resnet50.a1_in1k"``, ``"timm/test_resnet/random-seed3"``, or a local file's
        name, size and modification time.

    Raises
    ------
    ValueError
        Unseeded random weights (``False``) have no stable id.
    """
    if pretrained == RANDOM:
        return f"timm/{name}/random-seed{_random_seed(seed)}"
    if pretrained is True:
        tag = (getattr(model, "pretrained_cfg", None) or {}).get("tag") if model is not None else None
        return f"timm/{name}" + (f".{tag}" if tag and "." not in name else "")
    if _is_path(pretrained):
        path = Path(pretrained).expanduser()
        return f"timm/{name}/{path.name}-{file_digest(path)[:16]}"  # content, not modification time
    raise ValueError(f"{name} with unseeded random weights has no stable id: pass pretrained='random' "
                     "with seed=<int> instead")


def _attr_through_subsets(dataset, attr: str):
    while not hasattr(dataset, attr) and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return getattr(dataset, attr, None)


def imagenet_columns(dataset) -> np.ndarray | None:
    """The ImageNet-1k columns that ``dataset``'s labels index, or ``None`` for all 1000.

    ImageNet folders from :func:`vlmcal_utils.data.load_dataset` carry ``imagenet_indices``
    (200 entries for ImageNet-A/-R, whose labels run over those 200 classes); a 1000-class
    dataset whose labels are ImageNet indices (``imagenet-shared``) needs no restriction.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        An image dataset, or a ``Subset`` of one (the attributes are looked up through it).

    Returns
    -------
    numpy.ndarray or None
        int64 ``(C,)`` column indices, or ``None`` for all 1000.

    Raises
    ------
    ValueError
        ``dataset`` is not an ImageNet-label dataset.
    """
    idx = _attr_through_subsets(dataset, "imagenet_indices")
    if idx is not None:
        idx = np.asarray(idx, dtype=np.int64)
        return None if np.array_equal(idx, np.arange(N_IMAGENET_CLASSES)) else idx
    names = _attr_through_subsets(dataset, "classnames")
    if names is not None and len(names) == N_IMAGENET_CLASSES:
        return None
    raise ValueError(
        f"dataset has {None if names is None else len(names)} classes and no imagenet_indices: an "
        "ImageNet-1k classifier can only be scored on ImageNet-label datasets ('imagenet', its "
        "shifts, 'imagenet-shared')"
    )


class _LogitsAsFeatures(torch.nn.Module):
    """A classifier seen by :func:`~vlmcal_utils.features.extract_features` as an image tower.

    ``extract_features`` calls ``encode_image``: its cached "features" are then the logits, with
    the same chunked, resumable, safetensors cache.
    """

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


class _Transformed(torch.utils.data.Dataset):
    def __init__(self, dataset, transform: Callable):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        image, label = self.dataset[i]
        return self.transform(image), label


def baseline_logits(
    model: torch.nn.Module,
    preprocess: Callable | None,
    dataset: torch.utils.data.Dataset,
    model_id: str,
    dataset_id: str,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = True,
    restrict: bool = True,
    preprocess_id: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits of an ImageNet classifier on ``dataset``, batched, cached and resumable.

    Parameters
    ----------
    model : torch.nn.Module
        ``(B, 3, H, W)`` -> ``(B, 1000)`` logits (e.g. from :func:`load_baseline`).
    preprocess : callable or None
        Applied to each image; ``None`` if the dataset already applies it.
    dataset : torch.utils.data.Dataset
        Yields ``(image, label)``; ImageNet-label datasets only (see :func:`imagenet_columns`).
    model_id, dataset_id : str
        Name the cache entry (see :func:`baseline_id` and
        :func:`vlmcal_utils.features.extract_features`).
    cache_dir : str or os.PathLike, optional
        Default: :func:`vlmcal_utils.features.default_cache_dir`.
    batch_size : int
    device : str or torch.device, optional
        Where batches go (default: the model's device).
    progress : bool
        Show a tqdm bar.
    restrict : bool
        Keep only the dataset's own columns when it is a subset of ImageNet (200 for
        ImageNet-A/-R, whose labels already index those).
    preprocess_id : str, optional
        Names ``preprocess`` in the cache key instead of
        :func:`vlmcal_utils.features.transform_id` (for a transform that has no stable
        description).

    Returns
    -------
    logits : torch.Tensor
        float32 ``(N, C)``: ``C = 1000``, or the dataset's classes with ``restrict``.
    labels : torch.Tensor
        int64 ``(N,)``.
    """
    cols = imagenet_columns(dataset) if restrict else None
    ds = dataset if preprocess is None else _Transformed(dataset, preprocess)
    if preprocess_id is None and preprocess is not None:
        preprocess_id = transform_id(preprocess)
    logits, labels = extract_features(_LogitsAsFeatures(model), ds, model_id, dataset_id, cache_dir=cache_dir,
                                      batch_size=batch_size, device=device, progress=progress,
                                      preprocess_id=preprocess_id)
    if logits.shape[1] != N_IMAGENET_CLASSES:
        raise ValueError(f"{model_id} gave {logits.shape[1]} outputs, not {N_IMAGENET_CLASSES} ImageNet classes")
    if cols is not None:
        logits = logits[:, torch.as_tensor(cols)]
    return logits, labels
