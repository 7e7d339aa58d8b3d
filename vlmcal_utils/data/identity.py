"""Which images a dataset holds, as a digest that does not depend on where its folder is.

A resumable results file is keyed by each image's index in its base dataset; an index names an
image only together with the dataset it indexes. Two datasets with the same class names and size
(the demo world's sketch and photo domains; a local folder replaced by another under the same
name) would otherwise hand each other their rows. :func:`dataset_identity` names the base
dataset by its content, not by its path:

- the demo world: domain, split, class set, seed and size (the images are a function of them);
- images in memory (``images``/``data`` arrays): a SHA-256 of the pixels and the labels;
- images in files (``paths``, or torchvision's ``samples``): a digest of the file listing relative
  to the files' common folder — relative path, size in bytes and label of each file — so moving
  the folder keeps the identity, and another set of files (or a file replaced by one of another
  size) changes it;
- anything else: its size and class names (stated as such in the description).

Class names always enter the digest. :func:`check_same_dataset` compares a file's rows with the
dataset at hand and refuses, in one line naming both, rows made from other images.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["DatasetIdentity", "dataset_identity", "check_same_dataset"]


@dataclass(frozen=True)
class DatasetIdentity:
    """A dataset's content identity.

    Attributes
    ----------
    digest : str
        12 hex digits; equal for datasets holding the same images with the same labels and classes.
    text : str
        One line for messages, e.g. ``"demo sketch/test, all classes, seed 0, 16 images"``.
    """

    digest: str
    text: str


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else json.dumps(part, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def _labels(dataset: Any) -> list[int]:
    labels = getattr(dataset, "labels", None)
    if labels is None:
        labels = getattr(dataset, "targets", None)
    return [int(y) for y in labels] if labels is not None else []


def _listing(paths: Sequence[Path], labels: Sequence[int]) -> tuple[str, str]:
    """Digest of (path relative to the common folder, size, label) per file, and the folder's name."""
    if not paths:
        return _digest([]), "no files"
    root = Path(os.path.commonpath([str(p.parent) for p in paths]))
    entries = []
    for path, label in zip(paths, labels, strict=True):
        try:
            size = path.stat().st_size
        except OSError:
            size = -1  # a missing file is part of what this listing is
        entries.append([path.relative_to(root).as_posix(), size, int(label)])
    return _digest(entries), root.name


def _demo_text(ds: Any) -> str:
    return f"demo {ds.domain}/{ds.split}, {ds.class_set} classes, seed {ds.seed}, {ds.n} images"


def dataset_identity(dataset: Any) -> DatasetIdentity:
    """The content identity of ``dataset`` (a base dataset: resolve ``Subset`` s first).

    Parameters
    ----------
    dataset : object
        A :class:`~vlmcal_utils.demo.world.DemoDataset`, an
        :class:`~vlmcal_utils.data.images.ArrayImageDataset` or
        :class:`~vlmcal_utils.data.images.FileListDataset`, a torchvision dataset (``data`` array or
        ``samples`` list), or any sized dataset.

    Returns
    -------
    DatasetIdentity
    """
    names = getattr(dataset, "classnames", None)
    names = [str(c) for c in (names if names is not None else getattr(dataset, "classes", None) or [])]
    kind = type(dataset).__name__
    if all(hasattr(dataset, a) for a in ("domain", "split", "class_set", "seed", "n")):
        text = _demo_text(dataset)
        return DatasetIdentity(_digest("demo", text, names)[:12], text)
    pixels = getattr(dataset, "images", None)
    if pixels is None:
        pixels = getattr(dataset, "data", None)
    if isinstance(pixels, np.ndarray):
        h = _digest("pixels", names, _labels(dataset), list(pixels.shape), np.ascontiguousarray(pixels).tobytes())
        return DatasetIdentity(h[:12], f"{len(pixels)} images in memory ({kind}, pixels {h[:8]})")
    files = getattr(dataset, "paths", None)
    labels = _labels(dataset)
    if files is None and getattr(dataset, "samples", None) is not None:
        files, labels = [p for p, _ in dataset.samples], [int(y) for _, y in dataset.samples]
    if files is not None:
        listing, folder = _listing([Path(p) for p in files], labels)
        h = _digest("files", names, listing)
        return DatasetIdentity(h[:12], f"{len(files)} files in '{folder}' (listing {listing[:8]})")
    # not its type: a wrapper (a test's fault injection, a transform) holds the same images
    h = _digest("unidentified", names, len(dataset))
    return DatasetIdentity(h[:12], f"{kind} of {len(dataset)} items (contents not identified)")


def check_same_dataset(rows: Iterable[Mapping[str, Any]], identity: DatasetIdentity, where: str) -> None:
    """Refuse rows made from other images than ``identity`` 's (rows without an identity predate it).

    Parameters
    ----------
    rows : iterable of mapping
        Rows with ``dataset`` (a digest) and ``dataset_text``.
    identity : DatasetIdentity
        The dataset at hand.
    where : str
        The file, for the message.

    Raises
    ------
    ValueError
        One line naming the rows' dataset and this one.
    """
    for row in rows:
        digest = row.get("dataset")
        if digest is not None and digest != identity.digest:
            raise ValueError(
                f"{where} holds rows of other images ({row.get('dataset_text', digest)}), not of this dataset "
                f"({identity.text}): point the results file elsewhere or delete it"
            )
