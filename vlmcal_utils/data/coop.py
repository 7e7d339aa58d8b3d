"""CoOp's split files and folder layouts (Zhou et al., 2022).

They are the train/val/test protocol of the CLIP prompt-learning papers for the fine-grained datasets.

A split file (``split_zhou_<Name>.json``) maps ``"train"``, ``"val"`` and ``"test"`` to lists of
``[relative image path, label, class name]``. :data:`COOP_LAYOUTS` records where CoOp's
``DATASETS.md`` puts each dataset's images and split file under a data root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from vlmcal_utils.data.classnames import clean_classname
from vlmcal_utils.data.images import FileListDataset, missing_data_error

__all__ = ["COOP_LAYOUTS", "COOP_HOW", "load_coop_split", "find_coop_layout"]

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
        Unknown split, a label with two names, or labels that are not ``0..K-1``.
    """
    image_dir, split_file = Path(image_dir).expanduser(), Path(split_file).expanduser()
    if not split_file.is_file():
        raise missing_data_error("CoOp split file", [split_file], COOP_HOW)
    splits = json.loads(split_file.read_text())
    if split not in splits:
        raise ValueError(f"{split_file.name} has splits {sorted(splits)}, not {split!r}")
    names: dict[int, str] = {}
    for part in splits.values():  # class names from all splits: a split may lack a class
        for _, label, cname in part:
            if names.setdefault(int(label), clean_classname(cname)) != clean_classname(cname):
                raise ValueError(f"{split_file.name}: label {label} has two names "
                                 f"{names[int(label)]!r} and {cname!r}")
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{split_file.name}: labels are not 0..{len(names) - 1}")
    items = splits[split]
    return FileListDataset([image_dir / rel for rel, _, _ in items], [int(lab) for _, lab, _ in items],
                           [names[i] for i in range(len(names))], transform,
                           source=f"CoOp split {split_file.name}:{split}")


def find_coop_layout(name: str, root: Path) -> tuple[Path, Path] | None:
    """Where dataset ``name`` is under ``root`` in CoOp's layout.

    Parameters
    ----------
    name : str
        A key of :data:`COOP_LAYOUTS`.
    root : pathlib.Path
        The data root. The dataset's own sub-folder (``root/<folder>``) is tried first, then ``root``.

    Returns
    -------
    (pathlib.Path, pathlib.Path) or None
        ``(image folder, split file)``, or ``None`` when no split file is there.
    """
    sub, images, split_file = COOP_LAYOUTS[name]
    for base in (root / sub, root):
        if (base / split_file).is_file():
            return base / images, base / split_file
    return None
