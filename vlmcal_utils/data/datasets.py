"""The dataset registry: one name per image dataset the book can evaluate on, and its loader.

:func:`load_dataset` is the one entry point; :data:`DATASETS` maps each name to a loader
``loader(split="test", root=None, transform=None, **kw) -> torch Dataset`` of ``(image, label)``
pairs with ``classnames`` (see :mod:`vlmcal_utils.data.images`). Where the data comes from:

- torchvision (CIFAR, DTD, EuroSAT, Flowers102, Food101, Pets, Aircraft, SUN397, Caltech101),
  downloaded where there is internet; CoOp's split file under ``root`` takes precedence for
  train/val/test (:mod:`vlmcal_utils.data.coop`);
- local folders only (Stanford Cars, UCF101 in CoOp's layout; the ImageNet family and DomainNet,
  :mod:`vlmcal_utils.data.imagenet`; any ``imagefolder``);
- the developers' shared folder (``*-shared``, :mod:`vlmcal_utils.data.shared`);
- the demo world (``demo-*``), rendered on the fly (:mod:`vlmcal_utils.demo.world`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
import torchvision.datasets as tv_datasets

from vlmcal_utils.checks import unknown_name_error
from vlmcal_utils.data.classnames import EUROSAT_CLASSNAMES, clean_classname
from vlmcal_utils.data.coop import COOP_HOW, COOP_LAYOUTS, find_coop_layout, load_coop_split
from vlmcal_utils.data.imagenet import imagenet_folder_loader, load_domainnet
from vlmcal_utils.data.images import load_image_folder, missing_data_error
from vlmcal_utils.data.shared import load_cifar10_shared, load_cifar10_shared_761, load_imagenet_shared
from vlmcal_utils.demo.world import make_demo_dataset
from vlmcal_utils.paths import DATA_ENV_VAR, data_root

__all__ = ["DATASETS", "list_datasets", "load_dataset"]

Loader = Callable[..., torch.utils.data.Dataset]


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else data_root()


def _torchvision(cls_name: str, root: Path, transform: Callable | None, download: bool, how: str,
                 **kw: Any) -> torch.utils.data.Dataset:
    """``torchvision.datasets.<cls_name>`` from ``root``, downloading only if it is not there."""
    cls = getattr(tv_datasets, cls_name)
    try:
        return cls(root=str(root), transform=transform, download=False, **kw)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        first: BaseException = err
    if download:
        try:
            return cls(root=str(root), transform=transform, download=True, **kw)
        except Exception as err:  # noqa: BLE001 - any network/archive failure: say what to do
            first = err
    raise FileNotFoundError(
        f"{cls_name} is not under {root} and could not be downloaded "
        f"({'download=False' if not download else type(first).__name__ + ': ' + str(first)[:200]}). "
        f"{how} Then pass root=<that folder> (or set ${DATA_ENV_VAR}); on Colab download=True fetches it."
    ) from first


def _torchvision_loader(cls_name: str, splits: dict[str, dict], names: Callable[[Any], list[str]],
                        coop: str | None = None, how: str = "", **fixed: Any) -> Loader:
    """Loader for a torchvision dataset; ``splits`` maps our split name -> constructor kwargs.

    Datasets without an official split (EuroSAT, SUN397, Caltech101) accept ``split="all"``; for
    train/val/test they need CoOp's split file under ``root`` (the protocol of the CLIP papers).
    """

    def loader(split: str = "test", root=None, transform=None, download: bool = True, **kw):
        base = _root(root)
        if coop is not None:
            found = find_coop_layout(coop, base)
            if found is not None and split != "all":
                return load_coop_split(found[0], found[1], split, transform)
        if split not in splits:
            raise ValueError(
                f"{cls_name}: split {split!r} not available from torchvision (choose from "
                f"{sorted(splits)})" + (f"; for train/val/test put CoOp's {COOP_LAYOUTS[coop][2]} "
                                        f"under root" if coop else "")
            )
        ds = _torchvision(cls_name, base, transform, download, how, **{**fixed, **splits[split], **kw})
        ds.classnames = names(ds)
        return ds

    loader.__doc__ = f"torchvision.datasets.{cls_name}, or CoOp's split when its file is under root."
    return loader


def _cifar_loader(n_classes: int) -> Loader:
    def loader(split: str = "test", root=None, transform=None, download: bool = True):
        if split not in ("train", "test"):
            raise ValueError(f"CIFAR-{n_classes} has splits 'train' and 'test', not {split!r}")
        ds = _torchvision(f"CIFAR{n_classes}", _root(root), transform, download,
                          "Get it from https://www.cs.toronto.edu/~kriz/cifar.html.",
                          train=(split == "train"))
        ds.classnames = [clean_classname(c) for c in ds.classes]
        return ds

    loader.__doc__ = f"torchvision CIFAR-{n_classes} (downloads where there is internet)."
    return loader


def _coop_only_loader(name: str) -> Loader:
    def loader(split: str = "test", root=None, transform=None):
        base = _root(root)
        found = find_coop_layout(name, base)
        if found is None:
            sub, _, split_file = COOP_LAYOUTS[name]
            raise missing_data_error(f"{name} ({split_file})", [base / sub, base], COOP_HOW)
        return load_coop_split(found[0], found[1], split, transform)

    loader.__doc__ = f"{name} from a local folder in CoOp's layout (images + split file)."
    return loader


def _demo_loader(domain: str) -> Loader:
    def loader(split: str = "test", root=None, transform=None, **kw):
        return make_demo_dataset(domain=domain, split=split, transform=transform, **kw)

    loader.__doc__ = f"The demo world's {domain} domain (rendered, no download); kw: n, seed, classes."
    return loader


def _class_names(ds) -> list[str]:
    return [clean_classname(c) for c in ds.classes]


_TV = "Get it with torchvision on a machine with internet (download=True)."
_SPLITS = {s: {"split": s} for s in ("train", "val", "test")}
DATASETS: dict[str, Loader] = {
    "cifar10": _cifar_loader(10),
    "cifar100": _cifar_loader(100),
    "dtd": _torchvision_loader("DTD", _SPLITS, _class_names, coop="dtd", how=_TV),
    "eurosat": _torchvision_loader(
        "EuroSAT", {"all": {}}, lambda d: [EUROSAT_CLASSNAMES.get(c, clean_classname(c)) for c in d.classes],
        coop="eurosat", how=_TV),
    "flowers102": _torchvision_loader("Flowers102", _SPLITS, _class_names, coop="flowers102", how=_TV),
    "food101": _torchvision_loader("Food101", {s: {"split": s} for s in ("train", "test")}, _class_names,
                                   coop="food101", how=_TV),
    "oxford-pets": _torchvision_loader("OxfordIIITPet", {"trainval": {"split": "trainval"}, "test": {"split": "test"}},
                                       _class_names, coop="oxford-pets", how=_TV),
    "fgvc-aircraft": _torchvision_loader(
        "FGVCAircraft", {s: {"split": s} for s in ("train", "val", "trainval", "test")}, _class_names, how=_TV),
    "sun397": _torchvision_loader("SUN397", {"all": {}}, _class_names, coop="sun397", how=_TV),
    "caltech101": _torchvision_loader("Caltech101", {"all": {}}, lambda d: [clean_classname(c) for c in d.categories],
                                      coop="caltech101", how=_TV),
    "stanford-cars": _coop_only_loader("stanford-cars"),
    "ucf101": _coop_only_loader("ucf101"),
    "imagenet": imagenet_folder_loader("imagenet"),
    "imagenet-v2": imagenet_folder_loader("imagenet-v2"),
    "imagenet-sketch": imagenet_folder_loader("imagenet-sketch"),
    "imagenet-a": imagenet_folder_loader("imagenet-a"),
    "imagenet-r": imagenet_folder_loader("imagenet-r"),
    "domainnet": load_domainnet,
    "imagefolder": load_image_folder,
    "cifar10-shared": load_cifar10_shared,
    "cifar10-shared-761": load_cifar10_shared_761,
    "imagenet-shared": load_imagenet_shared,
    "demo-photo": _demo_loader("photo"),
    "demo-clipart": _demo_loader("clipart"),
    "demo-sketch": _demo_loader("sketch"),
    "demo-painting": _demo_loader("painting"),
}
"""name -> loader ``(split="test", root=None, transform=None, **kw) -> Dataset``."""


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted.

    Returns
    -------
    list of str
    """
    return sorted(DATASETS)


def load_dataset(name: str, split: str = "test", root: str | os.PathLike | None = None,
                 transform: Callable | None = None, **kw: Any) -> torch.utils.data.Dataset:
    """A torch Dataset of ``(image, label)`` with ``.classnames``; see :data:`DATASETS`.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`; case-insensitive, ``_`` and ``-`` are interchangeable.
    split : str
        ``"test"`` (default), ``"train"``, ``"val"``, ... as the dataset has them.
    root : path, optional
        Data root; default :func:`vlmcal_utils.paths.data_root` (``$VLMCAL_DATA`` or ``./data``).
    transform : callable, optional
        Applied to each PIL image.
    **kw
        Passed to the loader: ``download`` for torchvision sets, ``domain`` for DomainNet,
        ``n``/``seed``/``classes`` for the demo world, ``classnames`` for an image folder.

    Returns
    -------
    torch.utils.data.Dataset
        Items ``(image, label)``; ``classnames[label]`` names the class.

    Raises
    ------
    ValueError
        Unknown ``name`` (the message lists close matches).
    FileNotFoundError
        The data is missing: the message says where to get it and which ``root`` to pass.
    """
    key = str(name).lower().replace("_", "-")
    if key not in DATASETS:
        # matched after normalising, so "CIFAR_100" still finds "cifar100"
        raise unknown_name_error("dataset", key, list(DATASETS), hint="list_datasets() names them all")
    return DATASETS[key](split=split, root=root, transform=transform, **kw)
