"""The ImageNet family (ImageNet-1k val, -V2, -Sketch, -A, -R) and DomainNet from local folders.

None of these can be downloaded by a script (licences, sizes): each loader looks for the folder
layout the dataset is distributed in under a data root and, where it is absent, says where to get
it. Labels index the dataset's own ``classnames``; the 200-class ImageNet-A/-R subsets also carry
``imagenet_indices`` and ``class_mask`` to compare them with 1000-way ImageNet logits.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PurePosixPath
from typing import Callable

import numpy as np

from vlmcal_utils.checks import check_choice
from vlmcal_utils.data.classnames import (
    IMAGENET_A_INDICES,
    IMAGENET_CLASSNAMES,
    IMAGENET_R_INDICES,
    clean_classname,
    imagenet_wnids,
)
from vlmcal_utils.data.images import (
    FileListDataset,
    class_folders,
    first_matching_dir,
    missing_data_error,
    scan_class_folders,
)
from vlmcal_utils.paths import data_root

__all__ = [
    "IMAGENET_LAYOUTS", "IMAGENET_TRAIN_FOLDERS", "DOMAINNET_DOMAINS", "DOMAINNET_N_CLASSES", "imagenet_folder_loader",
    "load_domainnet",
]

IMAGENET_LAYOUTS: dict[str, tuple[list[str], str, str]] = {
    # kind -> (candidate sub-folders of root: CoOp's DATASETS.md layout, then TPT's data/datautils.py
    # ID_to_DIRNAME layout, then other common ones; how class folders are named; how to get it)
    "imagenet": (["imagenet/images/val", "ImageNet/val", "imagenet/val", "val", "."], "wnid",
                 "Get ImageNet-1k val from image-net.org and sort it into one folder per WordNet id."),
    "imagenet-v2": (["imagenetv2/imagenetv2-matched-frequency-format-val", "imagenetv2-matched-frequency-format-val",
                     "imagenet-v2", "imagenetv2", "."], "index",
                    "Get ImageNetV2 matched-frequency from github.com/modestyachts/ImageNetV2."),
    "imagenet-sketch": (["imagenet-sketch/images", "ImageNet-Sketch", "ImageNet-Sketch/sketch",
                         "imagenet-sketch/sketch", "sketch", "."], "wnid",
                        "Get ImageNet-Sketch from github.com/HaohanWang/ImageNet-Sketch."),
    "imagenet-a": (["imagenet-adversarial/imagenet-a", "imagenet-a", "."], "wnid200",
                   "Get ImageNet-A from github.com/hendrycks/natural-adv-examples."),
    "imagenet-r": (["imagenet-rendition/imagenet-r", "imagenet-r", "."], "wnid200",
                   "Get ImageNet-R from github.com/hendrycks/imagenet-r."),
}
"""Where each ImageNet variant's class folders may be and how they are named: ``"wnid"`` (all
1000 WordNet ids), ``"index"`` (folders ``0``..``999``) or ``"wnid200"`` (a subset of the ids)."""

IMAGENET_TRAIN_FOLDERS = ["imagenet/images/train", "ImageNet/train", "imagenet/train", "train"]
"""Where ImageNet-1k's train images may be (CoOp's layout, TPT's, others): the calibration images
of the ImageNet family (disjoint from every test set by construction)."""

DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
"""DomainNet's six domains (Peng et al., 2019)."""


def _root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else data_root()


_NEARLY = 900  # a folder with this many ImageNet class folders is this layout, with some classes missing


def _folder_matches(folder: Path, naming: str, wnid_set: set[str]) -> bool:
    dirs = class_folders(folder)
    if naming == "index":
        return len(dirs) >= _NEARLY and all(d.isdigit() and int(d) < 1000 for d in dirs)
    if naming == "wnid":
        return len(dirs) >= _NEARLY and set(dirs) <= wnid_set
    return 0 < len(dirs) < _NEARLY and set(dirs) <= wnid_set


_SUBSETS = {"imagenet-a": IMAGENET_A_INDICES, "imagenet-r": IMAGENET_R_INDICES}
"""The ImageNet-1k indices of the 200-class variants' classes."""


def _check_class_count(kind: str, folder: Path, naming: str, class_dirs: list[str], wnids: list[str]) -> None:
    """A missing class would silently make another task (999-way, 199-way): an error naming it.

    ImageNet-A/-R must hold exactly their own 200 classes (a folder of another class is named too).
    """
    have = set(class_dirs)
    if naming == "index":
        expected = {str(i): i for i in range(1000)}
    else:
        indices = _SUBSETS[kind] if naming == "wnid200" else range(1000)
        expected = {wnids[i]: i for i in indices}
    missing = [f"{d} ({IMAGENET_CLASSNAMES[i]})" for d, i in expected.items() if d not in have]
    extra = sorted(have - set(expected))
    if not missing and not extra:
        return
    raise ValueError(f"{kind} in {folder}: {len(class_dirs)} class folders, expected {len(expected)}"
                     + (f"; missing: {_few(missing)}" if missing else "")
                     + (f"; not classes of {kind}: {_few(extra)}" if extra else "")
                     + ": a partial copy would be another task")


def imagenet_folder_loader(kind: str) -> Callable[..., FileListDataset]:
    """The loader of one ImageNet variant (a key of :data:`IMAGENET_LAYOUTS`).

    Parameters
    ----------
    kind : str
        ``"imagenet"``, ``"imagenet-v2"``, ``"imagenet-sketch"``, ``"imagenet-a"`` or ``"imagenet-r"``.

    Returns
    -------
    callable
        ``loader(split="test", root=None, transform=None) -> FileListDataset`` with
        ``imagenet_indices`` (``(C,)`` int64: label -> ImageNet-1k index) and ``class_mask``
        (``(1000,)`` bool: the ImageNet-1k columns this variant uses).
    """
    subs, naming, how = IMAGENET_LAYOUTS[kind]

    def loader(split: str = "test", root: str | os.PathLike | None = None,
               transform: Callable | None = None, download: bool = False) -> FileListDataset:
        # download: accepted for one load_dataset signature; the ImageNet family is never downloaded
        if split not in ("val", "test") and not (kind == "imagenet" and split == "train"):
            raise ValueError(f"{kind}: only the evaluation images are supported (split='test')"
                             + ("; or split='train' for ImageNet-1k's train images" if kind == "imagenet" else ""))
        base = _root(root)
        if split == "train":
            subs_here = IMAGENET_TRAIN_FOLDERS
        else:
            subs_here = subs
        wnids = imagenet_wnids()
        wnid_set = set(wnids)
        candidates = [base / s for s in subs_here]
        folder = first_matching_dir(candidates, lambda f: _folder_matches(f, naming, wnid_set))
        if folder is None:
            raise missing_data_error(kind, candidates, how)
        if naming == "index":
            class_dirs = sorted(class_folders(folder), key=int)
            indices = [int(d) for d in class_dirs]
        else:
            class_dirs = [w for w in wnids if (folder / w).is_dir()]  # ImageNet index order
            indices = [wnids.index(w) for w in class_dirs]
        if split != "train":
            _check_class_count(kind, folder, naming, class_dirs, wnids)
        paths, labels = scan_class_folders(folder, class_dirs)
        ds = FileListDataset(paths, labels, [IMAGENET_CLASSNAMES[i] for i in indices], transform,
                             source=f"{kind} {split} from {folder}")
        # Labels index ds.classnames (200 classes for A/R). imagenet_indices maps them to the
        # 1000-way ImageNet index; class_mask selects those columns of 1000-way logits.
        ds.imagenet_indices = np.asarray(indices, dtype=np.int64)
        ds.class_mask = np.zeros(1000, dtype=bool)
        ds.class_mask[ds.imagenet_indices] = True
        return ds

    loader.__doc__ = f"{kind}: local folder of class folders. {how}"
    return loader


DOMAINNET_N_CLASSES = 345
"""DomainNet's class count (Peng et al., 2019): a layout with fewer is another task, refused."""


def _domainnet_lines(list_file: Path, domain: str) -> list[tuple[str, int, str]]:
    """``(relative path, label, class folder)`` per line of an official ``<domain>_<split>.txt``.

    Each line must be ``<domain>/<class>/<file> <label>``: a path that is absolute, climbs out
    (``..``) or lies in another domain's folder is refused, as is a label that is not a whole number.
    """
    out = []
    for n, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or len(PurePosixPath(parts[0]).parts) < 3 or not parts[1].isdigit():
            raise ValueError(f"{list_file}:{n}: expected '<domain>/<class>/<file> <label>', got {line!r}")
        rel = PurePosixPath(parts[0])
        if rel.is_absolute() or ".." in rel.parts or rel.parts[0] != domain:
            raise ValueError(f"{list_file}:{n}: path {parts[0]!r} is not inside the {domain}/ folder: refused")
        out.append((parts[0], int(parts[1]), rel.parts[1]))
    return out


def _domainnet_names(lists: list[Path], domain: str, folders: list[str]) -> list[str] | None:
    """Class folder names indexed by the split files' own labels (``None`` without split files).

    The labels must be ``0..344`` (:data:`DOMAINNET_N_CLASSES`); a missing one is an error that
    names the class folders on disk which no line lists (the class the lists lost).
    """
    names: dict[int, str] = {}
    for list_file in lists:
        for _, label, folder in _domainnet_lines(list_file, domain):
            if names.setdefault(label, folder) != folder:
                raise ValueError(f"{list_file}: label {label} names both {names[label]!r} and {folder!r}")
    if not names:
        return None
    missing = sorted(set(range(DOMAINNET_N_CLASSES)) - set(names))
    outside = sorted(set(names) - set(range(DOMAINNET_N_CLASSES)))
    if missing or outside:
        unlisted = sorted(set(folders) - set(names.values()))
        raise ValueError(
            f"{', '.join(map(str, lists))}: {len(names)} class labels, expected 0..{DOMAINNET_N_CLASSES - 1}"
            + (f"; missing labels {_few(missing)}" if missing else "")
            + (f"; labels out of range {_few(outside)}" if outside else "")
            + (f"; class folders no line lists: {_few(unlisted)}" if unlisted else "")
            + ": a partial list would be another task"
        )
    return [names[i] for i in range(DOMAINNET_N_CLASSES)]


def _few(items: list, n: int = 5) -> str:
    """The first ``n`` items and how many more: a one-line listing for an error message."""
    return ", ".join(map(str, items[:n])) + (f" and {len(items) - n} more" if len(items) > n else "")


def _domainnet_all(base: Path, domain: str, names: list[str] | None) -> tuple[list[str], list[Path], list[int]]:
    """Every image of a domain, labelled by the split files' names (else sorted folders, all 345)."""
    dirs = class_folders(base / domain)
    if names is None:
        warnings.warn(f"DomainNet {domain}: no official split files under {base}: classes numbered in "
                      "sorted() folder order, not DomainNet's", stacklevel=3)
        if len(dirs) != DOMAINNET_N_CLASSES:
            raise ValueError(f"DomainNet {domain} in {base / domain}: {len(dirs)} class folders, expected "
                             f"{DOMAINNET_N_CLASSES}: a partial copy would be another task")
        names = dirs
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(dirs) - set(index))
    if unknown:
        raise ValueError(f"DomainNet {domain}: class folders {unknown[:5]} are not in the split files")
    paths, labels = scan_class_folders(base / domain, dirs)
    return names, paths, [index[dirs[lab]] for lab in labels]


def load_domainnet(split: str = "test", root: str | os.PathLike | None = None,
                   transform: Callable | None = None, domain: str = "real",
                   download: bool = False) -> FileListDataset:
    """One DomainNet domain (``root/domainnet/<domain>/<class>/*.jpg``, 345 classes).

    Labels and class names come from DomainNet's official split files
    (``<domain>_train.txt``/``<domain>_test.txt``, lines ``clipart/aircraft_carrier/x.jpg 0``):
    they number the classes in their own order (``aircraft_carrier`` = 0 ... ``t-shirt`` = 327),
    which is not Python's ``sorted()`` order of the folders.

    Parameters
    ----------
    split : str
        ``"train"``/``"test"`` read the official ``<domain>_<split>.txt`` next to the domain folder;
        ``"all"`` takes every image of the domain (labels from the split files where present,
        else sorted folder names, with a warning).
    root : path, optional
        Data root (default :func:`vlmcal_utils.paths.data_root`).
    transform : callable, optional
        Applied to each image.
    domain : str
        One of :data:`DOMAINNET_DOMAINS`.
    download : bool
        Accepted for a uniform :func:`~vlmcal_utils.data.load_dataset` signature; DomainNet is
        never downloaded by this package.

    Returns
    -------
    FileListDataset
        ``classnames[label]`` is the split files' class folder name (underscores become spaces).

    Raises
    ------
    ValueError
        A split-file line that is malformed or points outside ``<domain>/``, or a layout with
        other than :data:`DOMAINNET_N_CLASSES` classes (naming the class folders no line lists).
    """
    check_choice(domain, DOMAINNET_DOMAINS, "DomainNet domain")
    base_root = _root(root)
    candidates = [base_root / "domainnet", base_root / "DomainNet", base_root]
    base = first_matching_dir(candidates, lambda p: (p / domain).is_dir())
    if base is None:
        raise missing_data_error(f"DomainNet/{domain}", candidates, "Get it from ai.bu.edu/M3SDA.")
    lists = [base / f"{domain}_{s}.txt" for s in ("train", "test") if (base / f"{domain}_{s}.txt").is_file()]
    names = _domainnet_names(lists, domain, class_folders(base / domain))
    list_file = base / f"{domain}_{split}.txt"
    if list_file.is_file():
        lines = _domainnet_lines(list_file, domain)
        paths, labels = [base / p for p, _, _ in lines], [lab for _, lab, _ in lines]
    elif split == "all":
        names, paths, labels = _domainnet_all(base, domain, names)
    else:
        raise FileNotFoundError(f"{list_file} not found: put DomainNet's split lists there, or pass split='all'")
    assert names is not None  # a split file was read above
    return FileListDataset(paths, labels, [clean_classname(d) for d in names], transform,
                           source=f"DomainNet {domain} ({split}) from {base}")
