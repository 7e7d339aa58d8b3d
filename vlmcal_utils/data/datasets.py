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

import functools
import inspect
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torchvision.datasets as tv_datasets

from vlmcal_utils.checks import unknown_name_error
from vlmcal_utils.data.classnames import EUROSAT_CLASSNAMES, clean_classname
from vlmcal_utils.data.coop import (
    AIRCRAFT_FOLDERS,
    COOP_HOW,
    COOP_LAYOUTS,
    coop_candidates,
    find_aircraft,
    find_coop_layout,
    load_aircraft_variants,
    load_coop_split,
)
from vlmcal_utils.data.imagenet import imagenet_folder_loader, load_domainnet
from vlmcal_utils.data.images import FileListDataset, load_image_folder, missing_data_error, subsample
from vlmcal_utils.data.shared import load_cifar10_shared, load_cifar10_shared_761, load_imagenet_shared
from vlmcal_utils.demo.world import make_demo_dataset
from vlmcal_utils.paths import DATA_ENV_VAR, data_root

__all__ = ["DATASETS", "TEST_ONLY", "list_datasets", "load_dataset", "dataset_root_override", "calibration_set",
           "evaluation_subset", "uses_paper_protocol"]

Loader = Callable[..., torch.utils.data.Dataset]
_TV = "Get it with torchvision on a machine with internet (download=True)."


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
    torchvision's class lists differ from CoOp's (SUN397 "bakery/shop" vs "shop bakery",
    Caltech101's 101 classes vs CoOp's 100, Flowers102's names): ``paper_protocol=True`` refuses
    them, otherwise they come with a warning.
    """

    def loader(split: str = "test", root=None, transform=None, download: bool = True,
               paper_protocol: bool = False, **kw):
        base = _root(root)
        if coop is not None:
            found = find_coop_layout(coop, base)
            if found is not None and split != "all":
                return load_coop_split(found[0], found[1], split, transform)
            if paper_protocol:
                tried = sorted({str(f) for _, f in coop_candidates(coop, base)})
                raise FileNotFoundError(
                    f"{coop}: the papers' protocol needs CoOp's {COOP_LAYOUTS[coop][2]} (torchvision's "
                    f"{cls_name} has other class names/lists); looked for: {', '.join(tried)}. {COOP_HOW}")
        if split not in splits:
            raise ValueError(
                f"{cls_name}: split {split!r} not available from torchvision (choose from "
                f"{sorted(splits)})" + (f"; for train/val/test put CoOp's {COOP_LAYOUTS[coop][2]} "
                                        f"under root" if coop else "")
            )
        ds = _torchvision(cls_name, base, transform, download, how, **{**fixed, **splits[split], **kw})
        ds.classnames = names(ds)
        if coop is not None:
            warnings.warn(f"{coop}: torchvision's {cls_name} class list, not CoOp's split (not the papers' "
                          "protocol: names and classes differ)", stacklevel=3)
        return ds

    loader.__doc__ = f"torchvision.datasets.{cls_name}, or CoOp's split when its file is under root."
    return loader


def _aircraft_loader() -> Loader:
    tv = _torchvision_loader("FGVCAircraft", {s: {"split": s} for s in ("train", "val", "trainval", "test")},
                             lambda d: [clean_classname(c) for c in d.classes], how=_TV)

    def loader(split: str = "test", root=None, transform=None, download: bool = True,
               paper_protocol: bool = False):
        # CoOp's and TPT's copy (fgvc_aircraft/) or torchvision's extract first: download=True
        # must not fetch 2.6 GB again when either is there
        folder = find_aircraft(_root(root))
        if folder is not None:
            return load_aircraft_variants(folder, split, transform)
        if paper_protocol and not download:
            raise missing_data_error("fgvc-aircraft", [_root(root) / s for s in AIRCRAFT_FOLDERS], COOP_HOW)
        return tv(split=split, root=root, transform=transform, download=download)

    loader.__doc__ = "FGVC-Aircraft variants from CoOp's/TPT's fgvc_aircraft/ folder, else torchvision."
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
            split_file = COOP_LAYOUTS[name][2]
            tried = list(dict.fromkeys(f for _, f in coop_candidates(name, base)))
            raise missing_data_error(f"{name} ({split_file})", tried, COOP_HOW)
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
    "fgvc-aircraft": _aircraft_loader(),
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


def dataset_root_override(name: str) -> Path | None:
    """The per-dataset root ``$VLMCAL_DATA_<NAME>`` (``-`` as ``_``, upper case), if set.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`, e.g. ``"imagenet-a"`` -> ``$VLMCAL_DATA_IMAGENET_A``.

    Returns
    -------
    pathlib.Path or None
    """
    value = os.environ.get(f"{DATA_ENV_VAR}_{name.upper().replace('-', '_')}")
    return Path(value).expanduser() if value else None


@functools.lru_cache(maxsize=None)
def _accepts(loader: Loader, arg: str) -> bool:
    # a named parameter only: the demo loader's **kw goes on to the renderer, which has no download
    return arg in inspect.signature(loader).parameters


def load_dataset(name: str, split: str = "test", root: str | os.PathLike | None = None,
                 transform: Callable | None = None, *, roots: Mapping[str, str | os.PathLike] | None = None,
                 download: bool | None = None, paper_protocol: bool = False,
                 **kw: Any) -> torch.utils.data.Dataset:
    """A torch Dataset of ``(image, label)`` with ``.classnames``; see :data:`DATASETS`.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`; case-insensitive, ``_`` and ``-`` are interchangeable.
    split : str
        ``"test"`` (default), ``"train"``, ``"val"``, ... as the dataset has them.
    root : path, optional
        Data root; default :func:`vlmcal_utils.paths.data_root` (``$VLMCAL_DATA`` or ``./data``).
        CoOp's layout (``dtd/images``, ``imagenet/images/val``) and TPT's (``DTD/images``,
        ``ImageNet/val``, ``ImageNet-Sketch``) are both probed under it; "not found" errors list
        every place tried.
    transform : callable, optional
        Applied to each PIL image.
    roots : mapping, optional
        Per-dataset overrides ``{name: folder}``, e.g. ``{"imagenet-a": "/big/imagenet-a"}``;
        ``$VLMCAL_DATA_<NAME>`` (:func:`dataset_root_override`) does the same. Order:
        ``roots[name]``, then the environment variable, then ``root``.
    download : bool, optional
        Accepted by every dataset; only the torchvision sets and CIFAR use it (default: their own,
        ``True``); local-only sets ignore it.
    paper_protocol : bool
        Refuse torchvision's class lists where the papers use CoOp's split files (DTD, EuroSAT,
        Flowers102, Food101, Pets, SUN397, Caltech101): the message says which files are missing.
    **kw
        Passed to the loader: ``domain`` for DomainNet, ``n``/``seed``/``classes`` for the demo
        world, ``classnames`` for an image folder.

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
    loader = DATASETS[key]
    override = {str(k).lower().replace("_", "-"): v for k, v in (roots or {}).items()}.get(key)
    if override is not None:
        root = Path(override).expanduser()
    elif dataset_root_override(key) is not None:
        root = dataset_root_override(key)
    if download is not None and _accepts(loader, "download"):
        kw["download"] = download
    if paper_protocol and _accepts(loader, "paper_protocol"):
        kw["paper_protocol"] = True
    elif paper_protocol and key.startswith("demo-"):
        raise ValueError(f"{key} is the demo world, not a paper set")
    return loader(split=split, root=root, transform=transform, **kw)


def uses_paper_protocol(pretrained: str | None) -> bool:
    """Whether a model with these weights is evaluated on the papers' split files.

    Real weights (an open_clip tag or a weights file) are; the demo models (``None``) and
    ``"random"`` plumbing weights are not (``load_dataset``'s ``paper_protocol``).
    """
    return pretrained not in (None, "random")


def evaluation_subset(name: str, n: int | None, *, seed: int = 0, pretrained: str | None = None,
                      root: str | os.PathLike | None = None, transform: Callable | None = None,
                      split: str = "test") -> torch.utils.data.Dataset:
    """The seeded ``n``-image subset of a split that a TPT run evaluates (chapter 4 and the sweep).

    Parameters
    ----------
    name : str
        The dataset (:func:`load_dataset`).
    n : int or None
        Images drawn (``None``: all), by :func:`~vlmcal_utils.data.subsample` with ``seed``.
    seed : int
    pretrained : str or None
        The model's weights: real weights use the papers' split files (:func:`uses_paper_protocol`).
    root, transform, split
        As in :func:`load_dataset`. The same ``seed`` draws the same images with or without a
        ``transform``.

    Returns
    -------
    torch.utils.data.Dataset
        ``(image, label)`` items with ``classnames``.
    """
    ds = load_dataset(name, split=split, root=root, transform=transform,
                      paper_protocol=uses_paper_protocol(pretrained))
    return subsample(ds, n, seed=seed)


#: Sets whose every split is the evaluation list (``split="val"`` returns the test images): their
#: calibration images must come from elsewhere (ImageNet train) or be held out of the test rows.
TEST_ONLY = frozenset({"imagenet", "imagenet-a", "imagenet-r", "imagenet-v2", "imagenet-sketch",
                       "imagenet-shared", "cifar10-shared", "cifar10-shared-761"})
_IMAGENET_FAMILY = frozenset({"imagenet", "imagenet-a", "imagenet-r", "imagenet-v2", "imagenet-sketch"})


def _held_out(name: str, test_set: torch.utils.data.Dataset, n: int | None, seed: int):
    """``n`` seeded items of the test list that ``test_set`` (a seeded subsample) does not evaluate."""
    base = getattr(test_set, "dataset", test_set)
    used = np.asarray(getattr(test_set, "indices_array", np.arange(len(base))), dtype=np.int64)
    pool = np.setdiff1d(np.arange(len(base)), used)
    if len(pool) == 0:
        raise ValueError(
            f"{name}: every test image is evaluated, so none is left to calibrate on without leaking "
            "test data. Evaluate a subset (n_samples < the test size), or, for the ImageNet family, "
            "put ImageNet-1k's train images under the data root (imagenet/images/train or ImageNet/train)")
    rng = np.random.default_rng(seed + 7919)  # another stream than subsample(seed): no reuse of its draw
    idx = np.sort(rng.choice(pool, size=min(len(pool), n or len(pool)), replace=False))
    sub = torch.utils.data.Subset(base, idx.tolist())
    sub.classnames = list(base.classnames)
    sub.indices_array = idx
    sub.source = f"{name}: {len(idx)} held-out test-list images not evaluated (of {len(pool)})"
    return sub


def _imagenet_train_for(name: str, test_set, root, transform, roots):
    """ImageNet-1k train images of ``name``'s classes, labelled in ``name``'s label order, or ``None``."""
    try:  # scans every train class folder once (1.28 M files on a full copy)
        train = load_dataset("imagenet", split="train", root=root, transform=transform, roots=roots)
    except FileNotFoundError:
        return None
    base = getattr(test_set, "dataset", test_set)
    indices = np.asarray(getattr(base, "imagenet_indices", np.arange(1000)), dtype=np.int64)
    position = {int(c): k for k, c in enumerate(indices)}
    keep = [i for i, lab in enumerate(train.labels.tolist()) if lab in position]
    ds = FileListDataset([train.paths[i] for i in keep], [position[int(train.labels[i])] for i in keep],
                         list(base.classnames), transform, source=f"ImageNet-1k train ({name}'s classes)")
    return ds


def calibration_set(name: str, test_set: torch.utils.data.Dataset, n_cal: int | None, *, split: str = "auto",
                    seed: int = 0, root: str | os.PathLike | None = None,
                    transform: Callable | None = None, **kw: Any) -> torch.utils.data.Dataset:
    """Labelled images to fit a temperature on, never among ``test_set``'s images.

    The disjoint rule (``split="auto"``): the dataset's own ``val`` split where it has one that
    is not the test list (CoOp's val, the demo world's val); for the ImageNet family
    (:data:`TEST_ONLY`) ImageNet-1k's train images of the set's classes when they are under the
    data root; otherwise ``n_cal`` seeded images of the test list that ``test_set`` does not evaluate
    (a held-out slice: ``test_set`` must then be a :func:`subsample`). ``split="test"`` asks for
    that held-out slice directly; any other split is loaded as named, except a ``TEST_ONLY`` set's
    ``"val"``, which *is* its test list and so becomes the held-out slice.

    Parameters
    ----------
    name : str
        The dataset (a key of :data:`DATASETS`).
    test_set : torch.utils.data.Dataset
        The evaluated images: the loader's test list or a :func:`subsample` of it (with
        ``indices_array``).
    n_cal : int or None
        How many calibration images (``None``: all available).
    split : str
        ``"auto"`` (the rule above), ``"test"`` (held-out slice) or a split name.
    seed : int
        Seed of the draw.
    root, transform, **kw
        As for :func:`load_dataset`.

    Returns
    -------
    torch.utils.data.Dataset
        With ``classnames`` (those of ``test_set``) and ``source`` (where the images came from).

    Raises
    ------
    ValueError
        No disjoint images are available (the message says what to provide).
    """
    key = str(name).lower().replace("_", "-")
    held_out = split == "test" or (key in TEST_ONLY and split in ("auto", "val"))
    if split == "auto" and key in _IMAGENET_FAMILY:
        train = _imagenet_train_for(key, test_set, root, transform, kw.get("roots"))
        if train is not None:
            out = subsample(train, n_cal, seed=seed)
            out.source = train.source
            return out
    if not held_out:
        try:
            ds = load_dataset(key, split="val" if split == "auto" else split, root=root, transform=transform, **kw)
        except (ValueError, FileNotFoundError):
            if split != "auto":
                raise
            held_out = True  # no val split: hold test-list images out instead
        else:
            out = subsample(ds, n_cal, seed=seed)
            out.source = getattr(ds, "source", f"{key} {split}")
            return out
    return _held_out(key, test_set, n_cal, seed)
