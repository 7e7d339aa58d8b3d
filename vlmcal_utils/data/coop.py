"""CoOp's split files and the two published folder layouts (CoOp's and TPT's).

CoOp's split files (Zhou et al., 2022) are the train/val/test protocol of the CLIP prompt-learning
papers for the fine-grained datasets. A split file (``split_zhou_<Name>.json``) maps ``"train"``,
``"val"`` and ``"test"`` to lists of ``[relative image path, label, class name]``.

Two layouts are published for the same files: CoOp's ``DATASETS.md`` (:data:`COOP_LAYOUTS`:
``dtd/images`` + ``dtd/split_zhou_DescribableTextures.json``) and TPT's
(``azshue/TPT`` ``data/datautils.py`` ``ID_to_DIRNAME`` and ``data/fewshot_datasets.py``
``path_dict``, :data:`TPT_LAYOUTS`: ``DTD/images`` with the split files in the repository's
``data/data_splits/``). :func:`coop_candidates` lists every place probed under one data root.
FGVC-Aircraft has no split file in either: both read the official ``variants.txt`` and
``images_variant_<split>.txt`` (:func:`load_aircraft_variants`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from vlmcal_utils.data.classnames import clean_classname
from vlmcal_utils.data.images import FileListDataset, missing_data_error

__all__ = ["COOP_LAYOUTS", "TPT_LAYOUTS", "COOP_HOW", "AIRCRAFT_FOLDERS", "load_coop_split", "find_coop_layout",
           "coop_candidates", "load_aircraft_variants", "find_aircraft"]

COOP_LAYOUTS: dict[str, tuple[str, str, str]] = {
    "caltech101": ("caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"),
    "oxford-pets": ("oxford_pets", "images", "split_zhou_OxfordPets.json"),
    "stanford-cars": ("stanford_cars", "", "split_zhou_StanfordCars.json"),
    "flowers102": ("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"),
    "food101": ("food-101", "images", "split_zhou_Food101.json"),
    "sun397": ("sun397", "SUN397", "split_zhou_SUN397.json"),
    "dtd": ("dtd", "images", "split_zhou_DescribableTextures.json"),
    "eurosat": ("eurosat", "2750", "split_zhou_EuroSAT.json"),
    "ucf101": ("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
}
"""dataset name -> (folder under the data root, image folder inside it, split file name)."""

TPT_LAYOUTS: dict[str, tuple[str, str]] = {
    "caltech101": ("Caltech101", ""),
    "oxford-pets": ("OxfordPets", ""),
    "stanford-cars": ("StanfordCars", ""),
    "flowers102": ("Flower102", "jpg"),
    "food101": ("Food101", "images"),
    "sun397": ("SUN397", ""),
    "dtd": ("DTD", "images"),
    "eurosat": ("eurosat", ""),
    "ucf101": ("UCF101", ""),
}
"""dataset name -> (folder under the data root, image folder inside it) in TPT's layout (the split
file is then in ``<root>/data_splits/``, TPT's ``data/data_splits/``, or the dataset folder)."""

COOP_HOW = ("Follow CoOp's DATASETS.md (github.com/KaiyangZhou/CoOp) for the images and the "
            "split_zhou_*.json file.")
"""How to get a CoOp-layout dataset (appended to "not found" errors)."""


def load_coop_split(image_dir: str | os.PathLike, split_file: str | os.PathLike, split: str = "test",
                    transform: Callable | None = None) -> FileListDataset:
    """One split of a CoOp split file ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``.

    Parameters
    ----------
    image_dir : path
        The folder the file's relative paths start from.
    split_file : path
        The ``split_zhou_*.json`` file.
    split : str
        ``"train"``, ``"val"`` or ``"test"`` (any key of the file).
    transform : callable, optional
        Applied to each image.

    Returns
    -------
    FileListDataset
        ``classnames[label]`` from the file, over all its splits (a split may lack a class),
        underscores replaced by spaces.

    Raises
    ------
    FileNotFoundError
        No split file.
    ValueError
        Unknown split, a label with two names, or labels that are not ``0..K-1``; an item that is
        not ``[relative path, integer label, class name]`` (a label ``1.5`` or ``true`` is not an
        integer), or a path that is absolute or climbs out of ``image_dir``.
    """
    image_dir, split_file = Path(image_dir).expanduser(), Path(split_file).expanduser()
    if not split_file.is_file():
        raise missing_data_error("CoOp split file", [split_file], COOP_HOW)
    splits = _read_split_file(split_file)
    if split not in splits:
        raise ValueError(f"{split_file.name} has splits {sorted(splits)}, not {split!r}")
    names: dict[int, str] = {}
    for part in splits.values():  # class names from all splits: a split may lack a class
        for _, label, cname in part:
            if names.setdefault(label, clean_classname(cname)) != clean_classname(cname):
                raise ValueError(f"{split_file.name}: label {label} has two names "
                                 f"{names[label]!r} and {cname!r}")
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{split_file.name}: labels are not 0..{len(names) - 1}")
    items = splits[split]
    return FileListDataset([_inside(image_dir, rel, split_file) for rel, _, _ in items], [lab for _, lab, _ in items],
                           [names[i] for i in range(len(names))], transform,
                           source=f"CoOp split {split_file.name}:{split}")


def _read_split_file(split_file: Path) -> dict[str, list]:
    """The split file, each item checked: ``[relative path (str), label (int, not bool/float), class name (str)]``."""
    try:
        splits = json.loads(split_file.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{split_file.name} is not a JSON split file ({err})") from err
    if not isinstance(splits, dict) or not all(isinstance(v, list) for v in splits.values()):
        raise ValueError(f"{split_file.name}: expected {{split: [[path, label, class name], ...]}}")
    for split, items in splits.items():
        for n, item in enumerate(items):
            ok = (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and item[0]
                  and type(item[1]) is int and item[1] >= 0 and isinstance(item[2], str))
            if not ok:
                raise ValueError(f"{split_file.name}: item {n} of {split!r} is {item!r}, expected "
                                 "[relative path, integer label >= 0, class name]")
    return splits


def _inside(image_dir: Path, rel: str, split_file: Path) -> Path:
    """``image_dir / rel``, refused if ``rel`` is absolute or climbs out of ``image_dir`` (``../``)."""
    path = Path(rel)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{split_file.name}: path {rel!r} leaves the image folder {image_dir}: refused")
    return image_dir / path


def coop_candidates(name: str, root: Path) -> list[tuple[Path, Path]]:
    """Every ``(image folder, split file)`` pair probed for ``name`` under ``root``, in order.

    Parameters
    ----------
    name : str
        A key of :data:`COOP_LAYOUTS`.
    root : pathlib.Path
        The data root, or the dataset's own folder (a per-dataset override).

    Returns
    -------
    list of (pathlib.Path, pathlib.Path)
        CoOp's layout first (``root/<folder>``), then TPT's (``root/<Folder>``), then ``root`` itself.
    """
    sub, images, split_file = COOP_LAYOUTS[name]
    tpt_sub, tpt_images = TPT_LAYOUTS[name]
    bases = [(root / sub, [images]), (root / tpt_sub, [tpt_images, images]), (root, [images, tpt_images])]
    split_dirs = [root / "data_splits", root / "data" / "data_splits"]
    out: list[tuple[Path, Path]] = []
    for base, image_subs in bases:
        for folder in [base, *split_dirs]:
            for img in dict.fromkeys(image_subs):  # de-duplicated, in order
                pair = ((base / img) if img else base, folder / split_file)
                if pair not in out:
                    out.append(pair)
    return out


def _first_test_item(split_file: Path) -> str | None:
    try:
        splits = json.loads(split_file.read_text())
    except (OSError, ValueError):
        return None
    items = splits.get("test") or next((v for v in splits.values() if v), [])
    return items[0][0] if items else None


def find_coop_layout(name: str, root: Path) -> tuple[Path, Path] | None:
    """Where dataset ``name`` is under ``root``, in CoOp's or TPT's layout.

    Parameters
    ----------
    name : str
        A key of :data:`COOP_LAYOUTS`.
    root : pathlib.Path
        The data root (or the dataset's own folder). See :func:`coop_candidates` for the order.

    Returns
    -------
    (pathlib.Path, pathlib.Path) or None
        ``(image folder, split file)``: the first pair whose split file exists and whose image
        folder holds the split's first test image (else the first pair with a split file); ``None``
        when no split file is there.
    """
    with_file = [(img, f) for img, f in coop_candidates(name, root) if f.is_file()]
    for img, split_file in with_file:
        first = _first_test_item(split_file)
        if first is not None and (img / first).is_file():
            return img, split_file
    return with_file[0] if with_file else None


AIRCRAFT_FOLDERS = ("fgvc_aircraft", "fgvc-aircraft-2013b/data", "fgvc-aircraft-2013b", ".")
"""Sub-folders of the data root probed for FGVC-Aircraft's ``variants.txt``: CoOp's and TPT's
layout (``fgvc_aircraft``), torchvision's download (``fgvc-aircraft-2013b/data``), the root itself."""


def find_aircraft(root: Path) -> Path | None:
    """The folder holding FGVC-Aircraft's ``variants.txt`` and ``images/`` under ``root``, if any.

    Parameters
    ----------
    root : pathlib.Path

    Returns
    -------
    pathlib.Path or None
    """
    for sub in AIRCRAFT_FOLDERS:
        folder = root / sub
        if (folder / "variants.txt").is_file() and (folder / "images").is_dir():
            return folder
    return None


def load_aircraft_variants(folder: str | os.PathLike, split: str = "test",
                           transform: Callable | None = None) -> FileListDataset:
    """FGVC-Aircraft's variant task from its official files (CoOp's and TPT's protocol).

    Parameters
    ----------
    folder : path
        Holds ``variants.txt`` (class names, index = label), ``images_variant_<split>.txt``
        (lines ``<image id> <variant>``, variants may contain spaces) and ``images/<id>.jpg``.
    split : str
        ``"train"``, ``"val"``, ``"trainval"`` or ``"test"`` (3 333 test images, 100 classes).
    transform : callable, optional
        Applied to each image.

    Returns
    -------
    FileListDataset
    """
    folder = Path(folder).expanduser()
    names = [ln.strip() for ln in (folder / "variants.txt").read_text().splitlines() if ln.strip()]
    list_file = folder / f"images_variant_{split}.txt"
    if not list_file.is_file():
        raise ValueError(f"FGVC-Aircraft: no {list_file.name} in {folder} (splits: train, val, trainval, test)")
    index = {n: i for i, n in enumerate(names)}
    paths, labels = [], []
    for line in list_file.read_text().splitlines():
        if not line.strip():
            continue
        image_id, variant = line.split(" ", 1)
        if variant.strip() not in index:
            raise ValueError(f"{list_file}: variant {variant!r} is not in variants.txt")
        paths.append(folder / "images" / f"{image_id}.jpg")
        labels.append(index[variant.strip()])
    return FileListDataset(paths, labels, names, transform, source=f"FGVC-Aircraft {split} from {folder}")
