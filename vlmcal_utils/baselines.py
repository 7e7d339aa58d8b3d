"""ImageNet-trained classifiers (timm) as non-VLM baselines for the empirical study.

Tu et al. compare zero-shot VLMs with ImageNet-trained ResNets and ViTs. This module loads such a
classifier and computes its 1000-way ImageNet-1k logits on an image dataset, cached on disk.

- ``load_baseline(name, pretrained=True)``: a timm model and its *eval* transform, from timm's
  own data config (``timm.data.resolve_data_config`` + ``timm.data.create_transform``:
  the resize, crop, interpolation and normalisation the weights were trained with).
  ``pretrained``: ``True`` (download timm's weights, needs internet), ``False`` (random, unseeded)
  or a local ``.safetensors`` file (e.g. from :func:`save_random_baseline`, or weights downloaded
  elsewhere).
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

import difflib
import os
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = [
    "N_IMAGENET_CLASSES",
    "check_baseline_name",
    "load_baseline",
    "save_random_baseline",
    "baseline_id",
    "imagenet_columns",
    "baseline_logits",
]

N_IMAGENET_CLASSES = 1000


def _close(word: str, candidates: list[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(word, candidates, n=n, cutoff=0.5)


def check_baseline_name(name: str, pretrained: Any = True) -> None:
    """``ValueError`` (with close matches) unless timm knows ``name``.

    A name may carry a pretrained tag (``"resnet50.a1_in1k"``); with ``pretrained=True`` the tag
    must be one timm has weights for (``timm.list_pretrained``).
    """
    import timm

    if not isinstance(name, str) or not name:
        raise ValueError(f"a baseline name must be a timm model name such as 'resnet50', got {name!r}")
    arch = name.split(".", 1)[0]
    if not timm.is_model(arch):
        raise ValueError(
            f"timm has no model {arch!r}. Close matches: {_close(arch, timm.list_models())}. "
            "See timm.list_models('pattern*') for all names."
        )
    if "." in name and pretrained is True and name not in timm.list_pretrained(arch + ".*"):
        raise ValueError(
            f"timm has no pretrained weights {name!r}. Tags for {arch}: {timm.list_pretrained(arch + '.*')}; "
            f"close matches: {_close(name, timm.list_pretrained())}"
        )


def _is_path(pretrained: Any) -> bool:
    return isinstance(pretrained, (str, os.PathLike)) and not isinstance(pretrained, bool)


def load_baseline(
    name: str,
    pretrained: bool | str | os.PathLike = True,
    device: str | torch.device = "auto",
) -> tuple[torch.nn.Module, Callable]:
    """``(model, preprocess)``: a timm ImageNet-1k classifier in eval mode on ``device`` and its
    eval transform (PIL image -> ``(3, H, W)`` float tensor, from timm's data config).

    ``pretrained``: ``True`` downloads timm's weights (internet; cached by huggingface_hub),
    ``False`` gives random weights, a path loads a local ``.safetensors`` state dict (strictly:
    every tensor must match ``name``'s architecture).

    Raises ``ValueError`` (unknown name/tag, a model without 1000 ImageNet outputs, a file that
    is not .safetensors), ``FileNotFoundError`` (missing file) and ``RuntimeError`` (download
    failed, or the file does not fit the architecture).
    """
    import timm
    from timm.data import create_transform, resolve_data_config

    from vlmcal_utils.device import get_device

    check_baseline_name(name, pretrained)
    dev = device if isinstance(device, torch.device) else get_device(device, verbose=False)
    if _is_path(pretrained):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no weights file at {path}: pass an existing .safetensors file, or "
                                    "pretrained=True to download timm's weights")
        if path.suffix != ".safetensors":
            raise ValueError(f"{path.name}: baseline weights must be a .safetensors file (safe format, "
                             "nothing unpickled); convert with safetensors.torch.save_file(model.state_dict(), ...)")
        from safetensors.torch import load_file

        model = timm.create_model(name, pretrained=False)
        try:
            model.load_state_dict(load_file(str(path)), strict=True)
        except RuntimeError as err:
            raise RuntimeError(f"{path} does not hold weights for timm's {name!r}: {err}") from err
    elif isinstance(pretrained, bool):
        try:
            model = timm.create_model(name, pretrained=pretrained)
        except Exception as err:  # noqa: BLE001 - huggingface_hub/urllib raise many kinds when offline
            if not pretrained:
                raise
            raise RuntimeError(
                f"could not fetch timm's pretrained weights for {name!r} (no network, or the hub "
                f"refused): {type(err).__name__}: {err}. On a machine with internet run "
                f"`m = timm.create_model({name!r}, pretrained=True)` and "
                f"`safetensors.torch.save_file(m.state_dict(), '{name}.safetensors')`, copy the file "
                f"here and pass load_baseline({name!r}, pretrained='/path/to/{name}.safetensors')."
            ) from err
    else:
        raise ValueError(f"pretrained must be True, False or a .safetensors path, got {pretrained!r}")
    if getattr(model, "num_classes", None) != N_IMAGENET_CLASSES:
        raise ValueError(
            f"{name!r} has {getattr(model, 'num_classes', '?')} outputs, not the {N_IMAGENET_CLASSES} "
            "ImageNet-1k classes: pick an ImageNet-1k classifier (e.g. a tag ending in _in1k)"
        )
    preprocess = create_transform(**resolve_data_config({}, model=model))
    return model.to(dev).eval(), preprocess


def save_random_baseline(name: str, path: str | os.PathLike, seed: int = 0) -> Path:
    """Create timm's ``name`` with seeded random weights and save them to ``path`` (.safetensors).

    For plumbing tests and CI: the file then loads through :func:`load_baseline` exactly like a
    user's downloaded weights. A random-weight classifier's predictions are meaningless.
    """
    import timm

    from vlmcal_utils.models import save_weights

    check_baseline_name(name, False)
    torch.manual_seed(seed)
    return save_weights(timm.create_model(name, pretrained=False), path)


def baseline_id(name: str, pretrained: Any, model: torch.nn.Module | None = None) -> str:
    """A cache id for a baseline (see :mod:`vlmcal_utils.features`): timm's resolved weights tag
    for ``pretrained=True`` (from ``model.pretrained_cfg`` if given), a local file's name, size and
    modification time. Unseeded random weights (``False``) have no stable id: ``ValueError``."""
    if pretrained is True:
        tag = (getattr(model, "pretrained_cfg", None) or {}).get("tag") if model is not None else None
        return f"timm/{name}" + (f".{tag}" if tag and "." not in name else "")
    if _is_path(pretrained):
        path = Path(pretrained).expanduser()
        stat = path.stat()
        return f"timm/{name}/{path.name}-{stat.st_size}-{stat.st_mtime_ns}"
    raise ValueError(f"{name} with unseeded random weights has no stable id: save them with "
                     "save_random_baseline and pass the file")


def _attr_through_subsets(dataset, attr: str):
    while not hasattr(dataset, attr) and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return getattr(dataset, attr, None)


def imagenet_columns(dataset) -> np.ndarray | None:
    """The ImageNet-1k columns that ``dataset``'s labels index, or ``None`` for all 1000.

    ImageNet folders from :func:`vlmcal_utils.data.load_dataset` carry ``imagenet_indices``
    (200 entries for ImageNet-A/-R, whose labels run over those 200 classes); a 1000-class
    dataset whose labels are ImageNet indices (``imagenet-shared``) needs no restriction.
    Anything else is not an ImageNet-label dataset: ``ValueError``.
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
    """Presents a classifier to :func:`~vlmcal_utils.features.extract_features`, which calls
    ``encode_image``: its cached "features" are then the logits, with the same chunked,
    resumable, safetensors cache."""

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
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logits, labels)`` of an ImageNet classifier on ``dataset``: float32 ``(N, C)``, int64 ``(N,)``.

    ``dataset`` yields ``(image, label)``; ``preprocess`` is applied to each image (pass ``None``
    if the dataset already applies it). Batched, under ``no_grad``, with a tqdm bar, and cached
    like image features (``model_id``/``dataset_id`` name the cache entry, see
    :func:`baseline_id`). ``C = 1000``, or with ``restrict=True`` the dataset's own classes when
    it is a subset of ImageNet (:func:`imagenet_columns`: 200 for ImageNet-A/-R, labels already
    index those).
    """
    from vlmcal_utils.features import extract_features

    cols = imagenet_columns(dataset) if restrict else None
    ds = dataset if preprocess is None else _Transformed(dataset, preprocess)
    # repr() of a transform holding a lambda contains its memory address: drop it so the cache hits.
    preprocess_id = None if preprocess is None else re.sub(r" at 0x[0-9a-fA-F]+", "", repr(preprocess))
    logits, labels = extract_features(_LogitsAsFeatures(model), ds, model_id, dataset_id, cache_dir=cache_dir,
                                      batch_size=batch_size, device=device, progress=progress,
                                      preprocess_id=preprocess_id)
    if logits.shape[1] != N_IMAGENET_CLASSES:
        raise ValueError(f"{model_id} gave {logits.shape[1]} outputs, not {N_IMAGENET_CLASSES} ImageNet classes")
    if cols is not None:
        logits = logits[:, torch.as_tensor(cols)]
    return logits, labels
