"""Image datasets as torch ``Dataset`` s: images in memory or in files, folder scanning, subsets.

Every dataset of :mod:`vlmcal_utils.data` yields ``(image, label)`` pairs — a PIL RGB image, or
``transform(image)`` when a transform is given — and has a ``classnames`` attribute (list of str,
indexed by label) and a ``source`` string saying where the images came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from vlmcal_utils.checks import check_int
from vlmcal_utils.data.classnames import clean_classname
from vlmcal_utils.paths import DATA_ENV_VAR

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArrayImageDataset",
    "FileListDataset",
    "load_image_folder",
    "subsample",
    "is_image_file",
    "class_folders",
    "scan_class_folders",
    "first_matching_dir",
    "missing_data_error",
    "read_rgb",
    "MAX_IMAGE_PIXELS",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""File suffixes (lower case) counted as images when a folder is scanned."""

MAX_IMAGE_PIXELS = 64_000_000
"""The largest image read (8000 x 8000): every dataset here is far smaller; a bigger file is refused."""

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def _to_eight_bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer greyscale -> 8-bit ("RGB" of such a mode clips to white)."""
    values = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode in _SIXTEEN_BIT or values.max(initial=0) > 255 else 255.0
    return Image.fromarray(np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8), mode="L")


def read_rgb(path: str | os.PathLike) -> Image.Image:
    """The image file ``path`` as an 8-bit RGB PIL image; 16-bit greyscale scaled, not clipped.

    Parameters
    ----------
    path : path
        An image file.

    Returns
    -------
    PIL.Image.Image
        Mode ``"RGB"``.

    Raises
    ------
    ValueError
        The image is larger than :data:`MAX_IMAGE_PIXELS`, cut short, or not an image; the
        message names the file.
    """
    try:
        with Image.open(path) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"{path}: {width} x {height} pixels, over the limit of {MAX_IMAGE_PIXELS}: refused")
            img.load()
            if img.mode in (*_SIXTEEN_BIT, "I"):
                img = _to_eight_bit(img)
            return img.convert("RGB")
    except (OSError, SyntaxError, Image.DecompressionBombError) as err:  # PIL: truncated, unidentified
        raise ValueError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from err


class ArrayImageDataset(torch.utils.data.Dataset):
    """Images held in memory; items ``(image, label)``.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, H, W, 3)`` uint8 RGB.
    labels : sequence of int
        ``(N,)`` class indices into ``classnames``.
    classnames : sequence of str
        The class names, index = label.
    transform : callable, optional
        Applied to each PIL image.
    source : str
        Where the images came from (shown by the chapters).
    """

    def __init__(self, images: np.ndarray, labels: Sequence[int], classnames: Sequence[str],
                 transform: Callable | None = None, source: str = ""):
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.shape != (len(images),):
            raise ValueError(f"{len(images)} images but labels of shape {self.labels.shape}")
        self.classnames = [str(c) for c in classnames]
        self.transform = transform
        self.source = source

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        image = Image.fromarray(self.images[i])
        return (self.transform(image) if self.transform else image), int(self.labels[i])


class FileListDataset(torch.utils.data.Dataset):
    """Images read from files when indexed; items ``(image, label)``, images converted to RGB.

    Parameters
    ----------
    paths : sequence of path
        One image file per item.
    labels : sequence of int
        ``(N,)`` class indices into ``classnames``, one per path.
    classnames : sequence of str
        The class names, index = label.
    transform : callable, optional
        Applied to each PIL image.
    source : str
        Where the images came from.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], labels: Sequence[int],
                 classnames: Sequence[str], transform: Callable | None = None, source: str = ""):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classnames = [str(c) for c in classnames]
        self.transform = transform
        self.source = source

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        image = read_rgb(self.paths[i])
        return (self.transform(image) if self.transform else image), int(self.labels[i])


# -- folder helpers shared by the loaders ----------------------------------------------------------

def is_image_file(path: Path) -> bool:
    """Whether ``path`` is an image to read.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    bool
        True for an existing file whose suffix is one of :data:`IMAGE_EXTENSIONS`.
    """
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def class_folders(folder: Path) -> list[str]:
    """The class folders of ``folder``.

    Parameters
    ----------
    folder : pathlib.Path

    Returns
    -------
    list of str
        Names of the visible (not dot-) sub-folders, sorted: index = label.
    """
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_class_folders(folder: Path, class_dirs: Sequence[str]) -> tuple[list[Path], list[int]]:
    """Every image under ``folder/<class_dirs[i]>`` (recursively, sorted), labelled ``i``.

    Parameters
    ----------
    folder : pathlib.Path
        The folder of class folders.
    class_dirs : sequence of str
        Class folder names in label order.

    Returns
    -------
    (list of pathlib.Path, list of int)
        The image paths and their labels, class by class.
    """
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_dirs):
        found = sorted(p for p in (folder / name).rglob("*") if is_image_file(p))
        paths += found
        labels += [label] * len(found)
    return paths, labels


def first_matching_dir(candidates: Sequence[Path], check: Callable[[Path], bool]) -> Path | None:
    """The first of ``candidates`` that is a folder and passes ``check``.

    Parameters
    ----------
    candidates : sequence of pathlib.Path
        In order of preference.
    check : callable
        ``check(folder) -> bool``.

    Returns
    -------
    pathlib.Path or None
    """
    for candidate in candidates:
        if candidate.is_dir() and check(candidate):
            return candidate
    return None


def missing_data_error(what: str, looked: Sequence[Path], how: str) -> FileNotFoundError:
    """The error of a loader whose data is absent.

    Parameters
    ----------
    what : str
        The data, e.g. ``"imagenet-a"``.
    looked : sequence of pathlib.Path
        Where the loader looked.
    how : str
        How to get the data.

    Returns
    -------
    FileNotFoundError
        Its message names the places, the way to get the data and the ``root=`` to pass.
    """
    return FileNotFoundError(
        f"{what} not found (looked in: {', '.join(str(p) for p in looked)}). {how} "
        f"Then pass root=<the folder that holds it> (or set ${DATA_ENV_VAR})."
    )


def load_image_folder(split: str = "test", root: str | os.PathLike | None = None,
                      transform: Callable | None = None,
                      classnames: Sequence[str] | None = None) -> FileListDataset:
    """Any folder with one sub-folder of images per class (sorted folder names = labels).

    Parameters
    ----------
    split : str
        Ignored (a plain folder has no splits); kept so every loader has the same signature.
    root : path
        The folder of class folders (required).
    transform : callable, optional
        Applied to each image.
    classnames : sequence of str, optional
        Overrides the folder names (which otherwise lose underscores).

    Returns
    -------
    FileListDataset
    """
    if root is None:
        raise ValueError("imagefolder needs root=<folder with one sub-folder per class>")
    folder = Path(root).expanduser()
    if not folder.is_dir() or not class_folders(folder):
        raise missing_data_error("a folder of class folders", [folder], "Make one sub-folder of images per class.")
    dirs = class_folders(folder)
    names = list(classnames) if classnames is not None else [clean_classname(d) for d in dirs]
    if len(names) != len(dirs):
        raise ValueError(f"{len(names)} classnames for {len(dirs)} class folders in {folder}")
    paths, labels = scan_class_folders(folder, dirs)
    return FileListDataset(paths, labels, names, transform, source=f"image folder {folder}")


def subsample(dataset: torch.utils.data.Dataset, n: int | None, seed: int = 0) -> torch.utils.data.Dataset:
    """A seeded random subset of ``n`` items, kept in dataset order.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Any dataset with a ``classnames`` attribute.
    n : int or None
        How many items; ``None``, or ``n >= len(dataset)``, returns ``dataset`` itself.
    seed : int
        Seed of the draw (``numpy.random.default_rng``).

    Returns
    -------
    torch.utils.data.Dataset
        A ``Subset`` with ``classnames`` and ``indices_array`` (the sorted ``(n,)`` indices drawn).
    """
    if n is None or n >= len(dataset):
        return dataset
    n = check_int(n, "n", minimum=1)
    idx = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
    sub = torch.utils.data.Subset(dataset, idx.tolist())
    sub.classnames = list(dataset.classnames)
    sub.indices_array = idx
    return sub
