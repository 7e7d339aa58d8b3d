"""Image datasets read in place from the developers' shared data folder (``$VLMCAL_SHARED``).

These are the real images CI and the developers' machines use without any download; they are
never copied into the repository. A user machine has no shared folder: the loaders then raise
``FileNotFoundError`` naming the full dataset to load instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from vlmcal_utils.data.classnames import CIFAR10_CLASSNAMES, IMAGENET_CLASSNAMES
from vlmcal_utils.data.images import ArrayImageDataset, FileListDataset
from vlmcal_utils.paths import SHARED_ENV_VAR, shared_path

__all__ = ["load_cifar10_shared", "load_cifar10_shared_761", "load_imagenet_shared"]


def _need_shared(*parts: str) -> Path:
    path = shared_path(*parts)
    if path is None:
        raise FileNotFoundError(
            f"{'/'.join(parts)} is in the developers' shared data folder, found through "
            f"${SHARED_ENV_VAR}, which is unset or lacks it here. On a user machine load the full "
            "dataset instead, e.g. load_dataset('cifar10', root=...) (downloads on Colab)."
        )
    return path


def load_cifar10_shared(split: str = "test", root: str | os.PathLike | None = None,
                        transform: Callable | None = None) -> ArrayImageDataset:
    """All 10 000 CIFAR-10 test images (a slightly lossy JPEG recovery), in test-set order.

    Parameters
    ----------
    split : str
        Only ``"test"``.
    root : path, optional
        Ignored: the images are found through ``$VLMCAL_SHARED``.
    transform : callable, optional
        Applied to each image.

    Returns
    -------
    ArrayImageDataset
        With ``index`` (``(10000,)`` int: the original test-set index of each item), which aligns
        the images with the published CIFAR-10 logits files.
    """
    if split != "test":
        raise ValueError("cifar10-shared holds only the CIFAR-10 test split; pass split='test'")
    folder = _need_shared("data", "cifar10-test-jpeg")
    xs, ys, idx, names = [], [], [], None
    for shard in sorted(folder.glob("shard_*.npz")):
        with np.load(shard, allow_pickle=False) as npz:
            xs.append(npz["x"])
            ys.append(npz["y"])
            idx.append(npz["index"])
            names = [str(c) for c in npz["classnames"]]
    index = np.concatenate(idx)
    order = np.argsort(index, kind="stable")  # shards are in order already; sort defensively
    ds = ArrayImageDataset(np.concatenate(xs)[order], np.concatenate(ys)[order], names, transform,
                           source=f"CIFAR-10 test (JPEG recovery, PSNR≈30.6 dB) from {folder}")
    ds.index = index[order]
    return ds


def load_cifar10_shared_761(split: str = "test", root: str | os.PathLike | None = None,
                            transform: Callable | None = None) -> ArrayImageDataset:
    """The first 761 CIFAR-10 test images, lossless.

    Parameters
    ----------
    split : str
        Only ``"test"``.
    root : path, optional
        Ignored: the images are found through ``$VLMCAL_SHARED``.
    transform : callable, optional
        Applied to each image.

    Returns
    -------
    ArrayImageDataset
        With ``index`` = ``0..760``.
    """
    if split != "test":
        raise ValueError("cifar10-shared-761 holds only test images; pass split='test'")
    path = _need_shared("data", "cifar10_test_first761.npz")
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["x"], npz["y"]
    ds = ArrayImageDataset(x, y, CIFAR10_CLASSNAMES, transform, source=f"first 761 CIFAR-10 test images, {path}")
    ds.index = np.arange(len(x))
    return ds


def load_imagenet_shared(split: str = "val", root: str | os.PathLike | None = None,
                         transform: Callable | None = None) -> FileListDataset:
    """1000 ImageNet-1k validation photos, one per class.

    Parameters
    ----------
    split : str
        ``"val"`` or ``"test"`` (the same photos).
    root : path, optional
        Ignored: the images are found through ``$VLMCAL_SHARED``.
    transform : callable, optional
        Applied to each image.

    Returns
    -------
    FileListDataset
        Label = ImageNet-1k class index; ``classnames`` are the 1000 ImageNet names.
    """
    if split not in ("val", "test"):
        raise ValueError("imagenet-shared holds ImageNet validation photos; pass split='val'")
    folder = _need_shared("data", "imagenet-samples")
    entries = json.loads((folder / "labels.json").read_text())
    return FileListDataset([folder / e["file"] for e in entries], [int(e["label"]) for e in entries],
                           IMAGENET_CLASSNAMES, transform,
                           source=f"1000 ImageNet val photos (one per class), {folder}")
