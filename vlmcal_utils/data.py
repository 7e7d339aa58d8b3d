"""Data: published logits files, the shared offline data folder, and image datasets.

Image datasets: :func:`load_dataset` (registry :data:`DATASETS`, :func:`list_datasets`); see the
"Image datasets" section below.

Conventions
-----------
A *logits file* is an ``.npz`` (loaded with ``allow_pickle=False``) holding at least

- ``logits_val``  float (N_val, K)  — the calibration split
- ``labels_val``  int   (N_val,)    — class indices in ``[0, K)``
- ``logits_test`` float (N_test, K) — the evaluation split
- ``labels_test`` int   (N_test,)
- ``meta``        a JSON string: source repo@commit and path, model, prompt, split, licence

and optionally other arrays (``classnames``, ``logits_french``, ...), kept in ``extra``.
Where a source published only probabilities, ``logits = log(probabilities)``: softmax and
temperature scaling behave the same on them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SHARED_ENV_VAR = "VLMCAL_SHARED"
_REQUIRED_LOGITS_KEYS = ("logits_val", "labels_val", "logits_test", "labels_test")


def shared_dir() -> Path | None:
    """The read-only folder of real data for tests and CI, or ``None`` when there is none.

    It is found through the ``VLMCAL_SHARED`` environment variable (``.ci/run`` sets it to the
    absolute path of ``../shared``). A fresh user machine has no such folder: callers must then
    fall back (synthetic data, the demo world) or skip, and say so.
    """
    value = os.environ.get(SHARED_ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def shared_path(*parts: str) -> Path | None:
    """``shared_dir() / parts`` if that file or folder exists, else ``None``."""
    root = shared_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


@dataclass
class LogitsFile:
    """A validated published-logits file (see the module docstring for the format)."""

    logits_val: np.ndarray
    labels_val: np.ndarray
    logits_test: np.ndarray
    labels_test: np.ndarray
    meta: dict
    path: Path
    extra: dict = field(default_factory=dict)

    @property
    def n_classes(self) -> int:
        return int(self.logits_val.shape[1])

    @property
    def classnames(self) -> list[str] | None:
        names = self.extra.get("classnames")
        return None if names is None else [str(n) for n in names]

    def describe(self) -> str:
        """One line naming model and source, for labelling every number that comes from it."""
        model = self.meta.get("model", self.path.stem)
        source = self.meta.get("source", "unknown source")
        return f"{model} — published logits from {source}"


def load_logits(path: str | os.PathLike) -> LogitsFile:
    """Load and validate a published-logits ``.npz`` file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message says where such files live).
    ValueError
        If a required array is missing, shapes disagree, logits are not finite, or labels are
        out of ``[0, K)``.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"no logits file at {path}. Published logits live in $VLMCAL_SHARED/data/logits "
            "on machines that have the shared folder; elsewhere pass logits_path=None to use "
            "the notebook's synthetic fallback."
        )
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    missing = [key for key in _REQUIRED_LOGITS_KEYS if key not in arrays]
    if missing:
        raise ValueError(
            f"{path.name} is not a logits file: missing {missing}; it has {sorted(arrays)}. "
            f"Top-label-only files (…__confidence arrays) are read with numpy directly and "
            "scored with metrics.ece_from_confidence."
        )
    meta = {}
    if "meta" in arrays:
        try:
            meta = json.loads(str(arrays.pop("meta")))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path.name}: 'meta' is not valid JSON ({err})") from err
    for split in ("val", "test"):
        logits, labels = arrays[f"logits_{split}"], arrays[f"labels_{split}"]
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"{path.name}: logits_{split} must be (N, K) with N > 0, got {logits.shape}")
        if labels.shape != (logits.shape[0],):
            raise ValueError(
                f"{path.name}: labels_{split} has shape {labels.shape}, expected ({logits.shape[0]},)"
            )
        if not np.isfinite(logits).all():
            raise ValueError(f"{path.name}: logits_{split} contains NaN or inf")
        if labels.min() < 0 or labels.max() >= logits.shape[1]:
            raise ValueError(
                f"{path.name}: labels_{split} out of range [0, {logits.shape[1]}): "
                f"min {labels.min()}, max {labels.max()}"
            )
    if arrays["logits_val"].shape[1] != arrays["logits_test"].shape[1]:
        raise ValueError(f"{path.name}: val and test have different numbers of classes")
    return LogitsFile(
        logits_val=arrays.pop("logits_val").astype(np.float64),
        labels_val=arrays.pop("labels_val").astype(np.int64),
        logits_test=arrays.pop("logits_test").astype(np.float64),
        labels_test=arrays.pop("labels_test").astype(np.int64),
        meta=meta,
        path=path,
        extra=arrays,
    )


# ---------------------------------------------------------------------------------------------
# Image datasets
# ---------------------------------------------------------------------------------------------
# Every loader returns a torch Dataset of ``(image, label)`` pairs — a PIL image, or
# ``transform(image)`` when a transform is given — with a ``classnames`` attribute (list of str,
# indexed by label). ``load_dataset(name, ...)`` is the one entry point; ``DATASETS`` the registry.

import difflib  # noqa: E402  (kept next to the dataset code that uses them)
from typing import Any, Callable, Sequence  # noqa: E402

import torch  # noqa: E402
from PIL import Image  # noqa: E402

DATA_ENV_VAR = "VLMCAL_DATA"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
CIFAR10_CLASSNAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# CoOp's (Zhou et al., 2022) readable EuroSAT class names, in torchvision's folder order.
EUROSAT_CLASSNAMES = {
    "AnnualCrop": "annual crop land", "Forest": "forest",
    "HerbaceousVegetation": "herbaceous vegetation land", "Highway": "highway or road",
    "Industrial": "industrial buildings", "Pasture": "pasture land",
    "PermanentCrop": "permanent crop land", "Residential": "residential buildings",
    "River": "river", "SeaLake": "sea or lake",
}


def default_data_root() -> Path:
    """``$VLMCAL_DATA`` if set, else ``./data`` (relative to the working directory)."""
    return Path(os.environ.get(DATA_ENV_VAR, "data")).expanduser()


def _clean(name: str) -> str:
    return str(name).replace("_", " ").strip()


class ArrayImageDataset(torch.utils.data.Dataset):
    """Images held in memory as uint8 (N, H, W, 3) RGB; items ``(image, label)``."""

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
    """Images read from files; items ``(image, label)``, images converted to RGB."""

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
        with Image.open(self.paths[i]) as img:
            image = img.convert("RGB")
        return (self.transform(image) if self.transform else image), int(self.labels[i])


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _scan_class_folders(folder: Path, class_dirs: Sequence[str]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for label, name in enumerate(class_dirs):
        files = sorted(p for p in (folder / name).rglob("*") if _is_image(p))
        paths += files
        labels += [label] * len(files)
    return paths, labels


def _missing(what: str, looked: Sequence[Path], how: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what} not found (looked in: {', '.join(str(p) for p in looked)}). {how} "
        f"Then pass root=<the folder that holds it> (or set ${DATA_ENV_VAR})."
    )


def _first_dir(candidates: Sequence[Path], check: Callable[[Path], bool]) -> Path | None:
    for cand in candidates:
        if cand.is_dir() and check(cand):
            return cand
    return None


def _subdirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


# -- shared offline data (never copied: read in place from $VLMCAL_SHARED) --------------------

def _need_shared(*parts: str) -> Path:
    path = shared_path(*parts)
    if path is None:
        raise FileNotFoundError(
            f"{'/'.join(parts)} is in the developers' shared data folder, found through "
            f"${SHARED_ENV_VAR}, which is unset or lacks it here. On a user machine load the full "
            "dataset instead, e.g. load_dataset('cifar10', root=...) (downloads on Colab)."
        )
    return path


def _load_cifar10_shared(split: str = "test", root=None, transform=None) -> ArrayImageDataset:
    """All 10 000 CIFAR-10 test images (slightly lossy JPEG recovery), in test-set order."""
    if split != "test":
        raise ValueError("cifar10-shared holds only the CIFAR-10 test split; pass split='test'")
    folder = _need_shared("data", "cifar10-test-jpeg")
    shards = sorted(folder.glob("shard_*.npz"))
    xs, ys, idx, names = [], [], [], None
    for shard in shards:
        with np.load(shard, allow_pickle=False) as npz:
            xs.append(npz["x"]), ys.append(npz["y"]), idx.append(npz["index"])
            names = [str(c) for c in npz["classnames"]]
    index = np.concatenate(idx)
    order = np.argsort(index, kind="stable")  # shards are in order already; sort defensively
    ds = ArrayImageDataset(np.concatenate(xs)[order], np.concatenate(ys)[order], names, transform,
                           source=f"CIFAR-10 test (JPEG recovery, PSNR≈30.6 dB) from {folder}")
    ds.index = index[order]  # original test-set index: aligns with the published logits files
    return ds


def _load_cifar10_shared_761(split: str = "test", root=None, transform=None) -> ArrayImageDataset:
    """The first 761 CIFAR-10 test images, lossless."""
    if split != "test":
        raise ValueError("cifar10-shared-761 holds only test images; pass split='test'")
    path = _need_shared("data", "cifar10_test_first761.npz")
    with np.load(path, allow_pickle=False) as npz:
        x, y = npz["x"], npz["y"]
    ds = ArrayImageDataset(x, y, CIFAR10_CLASSNAMES, transform, source=f"first 761 CIFAR-10 test images, {path}")
    ds.index = np.arange(len(x))
    return ds


def _load_imagenet_shared(split: str = "val", root=None, transform=None) -> FileListDataset:
    """1000 ImageNet-1k validation photos, one per class (label = ImageNet-1k index)."""
    if split not in ("val", "test"):
        raise ValueError("imagenet-shared holds ImageNet validation photos; pass split='val'")
    folder = _need_shared("data", "imagenet-samples")
    entries = json.loads((folder / "labels.json").read_text())
    from vlmcal_utils.zeroshot import IMAGENET_CLASSNAMES

    return FileListDataset([folder / e["file"] for e in entries], [int(e["label"]) for e in entries],
                           IMAGENET_CLASSNAMES, transform,
                           source=f"1000 ImageNet val photos (one per class), {folder}")


# -- CoOp split files ---------------------------------------------------------------------------

# name -> (folder under root, image folder inside it, split file): the layout of CoOp's DATASETS.md
COOP_LAYOUTS = {
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
_COOP_HOW = ("Follow CoOp's DATASETS.md (github.com/KaiyangZhou/CoOp) for the images and the "
             "split_zhou_*.json file.")


def load_coop_split(image_dir: str | os.PathLike, split_file: str | os.PathLike, split: str = "test",
                    transform: Callable | None = None) -> FileListDataset:
    """A CoOp split file ``{"train"|"val"|"test": [[relpath, label, classname], ...]}``.

    Paths are relative to ``image_dir``; ``classnames[label]`` comes from the file (underscores
    become spaces). Raises ``ValueError`` if a label maps to two names or labels have gaps.
    """
    image_dir, split_file = Path(image_dir).expanduser(), Path(split_file).expanduser()
    if not split_file.is_file():
        raise _missing("CoOp split file", [split_file], _COOP_HOW)
    splits = json.loads(split_file.read_text())
    if split not in splits:
        raise ValueError(f"{split_file.name} has splits {sorted(splits)}, not {split!r}")
    names: dict[int, str] = {}
    for part in splits.values():  # class names from all splits: a split may lack a class
        for _, label, cname in part:
            if names.setdefault(int(label), _clean(cname)) != _clean(cname):
                raise ValueError(f"{split_file.name}: label {label} has two names "
                                 f"{names[int(label)]!r} and {cname!r}")
    if sorted(names) != list(range(len(names))):
        raise ValueError(f"{split_file.name}: labels are not 0..{len(names) - 1}")
    items = splits[split]
    return FileListDataset([image_dir / rel for rel, _, _ in items], [int(lab) for _, lab, _ in items],
                           [names[i] for i in range(len(names))], transform,
                           source=f"CoOp split {split_file.name}:{split}")


def _coop_layout(name: str, root: Path) -> tuple[Path, Path] | None:
    sub, images, split_file = COOP_LAYOUTS[name]
    for base in (root / sub, root):
        if (base / split_file).is_file():
            return base / images, base / split_file
    return None


# -- torchvision datasets ---------------------------------------------------------------------

def _torchvision(cls_name: str, root: Path, transform, download: bool, how: str, **kw):
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    try:
        return cls(root=str(root), transform=transform, download=False, **kw)
    except (RuntimeError, FileNotFoundError, OSError) as err:
        first = err
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


def _make_tv_loader(cls_name: str, splits: dict[str, dict], names: Callable[[Any], list[str]],
                    coop: str | None = None, how: str = "", **fixed):
    """Loader for a torchvision dataset; ``splits`` maps our split name -> constructor kwargs.

    Datasets without an official split (EuroSAT, SUN397, Caltech101) accept ``split="all"``; for
    train/val/test they need CoOp's split file under ``root`` (the protocol of the CLIP papers).
    """

    def loader(split: str = "test", root=None, transform=None, download: bool = True, **kw):
        root = Path(root).expanduser() if root is not None else default_data_root()
        if coop is not None:
            found = _coop_layout(coop, root)
            if found is not None and split != "all":
                return load_coop_split(found[0], found[1], split, transform)
        if split not in splits:
            raise ValueError(
                f"{cls_name}: split {split!r} not available from torchvision (choose from "
                f"{sorted(splits)})" + (f"; for train/val/test put CoOp's {COOP_LAYOUTS[coop][2]} "
                                        f"under root" if coop else "")
            )
        ds = _torchvision(cls_name, root, transform, download, how, **{**fixed, **splits[split], **kw})
        ds.classnames = names(ds)
        return ds

    loader.__doc__ = f"torchvision.datasets.{cls_name}, or CoOp's split when its file is under root."
    return loader


def _load_cifar(n_classes: int):
    def loader(split: str = "test", root=None, transform=None, download: bool = True):
        if split not in ("train", "test"):
            raise ValueError(f"CIFAR-{n_classes} has splits 'train' and 'test', not {split!r}")
        root = Path(root).expanduser() if root is not None else default_data_root()
        ds = _torchvision(f"CIFAR{n_classes}", root, transform, download,
                          "Get it from https://www.cs.toronto.edu/~kriz/cifar.html.",
                          train=(split == "train"))
        ds.classnames = [_clean(c) for c in ds.classes]
        return ds

    loader.__doc__ = f"torchvision CIFAR-{n_classes} (downloads where there is internet)."
    return loader


def _load_coop_only(name: str):
    def loader(split: str = "test", root=None, transform=None):
        root = Path(root).expanduser() if root is not None else default_data_root()
        found = _coop_layout(name, root)
        if found is None:
            sub, _, split_file = COOP_LAYOUTS[name]
            raise _missing(f"{name} ({split_file})", [root / sub, root], _COOP_HOW)
        return load_coop_split(found[0], found[1], split, transform)

    loader.__doc__ = f"{name} from a local folder in CoOp's layout (images + split file)."
    return loader


# -- ImageNet family and folders ----------------------------------------------------------------

def imagenet_wnids() -> list[str]:
    """The 1000 ImageNet-1k WordNet ids in class-index order (shipped with timm)."""
    from importlib.resources import files

    return files("timm.data").joinpath("_info", "imagenet_synsets.txt").read_text().split()


def _load_imagenet_folder(kind: str):
    layouts = {  # kind -> (candidate sub-folders of root, folder naming, how to get it)
        "imagenet": (["imagenet/val", "imagenet/images/val", "val", "."], "wnid",
                     "Get ImageNet-1k val from image-net.org and sort it into one folder per WordNet id."),
        "imagenet-v2": (["imagenetv2-matched-frequency-format-val", "imagenet-v2", "imagenetv2", "."], "index",
                        "Get ImageNetV2 matched-frequency from github.com/modestyachts/ImageNetV2."),
        "imagenet-sketch": (["imagenet-sketch/sketch", "imagenet-sketch/images", "sketch", "."], "wnid",
                            "Get ImageNet-Sketch from github.com/HaohanWang/ImageNet-Sketch."),
        "imagenet-a": (["imagenet-a", "."], "wnid200", "Get ImageNet-A from github.com/hendrycks/natural-adv-examples."),
        "imagenet-r": (["imagenet-r", "."], "wnid200", "Get ImageNet-R from github.com/hendrycks/imagenet-r."),
    }
    subs, naming, how = layouts[kind]

    def loader(split: str = "test", root=None, transform=None):
        from vlmcal_utils.zeroshot import IMAGENET_CLASSNAMES

        if split not in ("val", "test"):
            raise ValueError(f"{kind}: only the evaluation images are supported (split='test')")
        root = Path(root).expanduser() if root is not None else default_data_root()
        wnids = imagenet_wnids()
        wnid_set = set(wnids)

        def ok(folder: Path) -> bool:
            dirs = _subdirs(folder)
            if naming == "index":
                return len(dirs) == 1000 and all(d.isdigit() for d in dirs)
            if naming == "wnid":
                return len(dirs) == 1000 and set(dirs) == wnid_set
            return 0 < len(dirs) < 1000 and set(dirs) <= wnid_set

        candidates = [root / s for s in subs]
        folder = _first_dir(candidates, ok)
        if folder is None:
            raise _missing(kind, candidates, how)
        if naming == "index":
            class_dirs = sorted(_subdirs(folder), key=int)
            indices = [int(d) for d in class_dirs]
        else:
            class_dirs = [w for w in wnids if (folder / w).is_dir()]  # ImageNet index order
            indices = [wnids.index(w) for w in class_dirs]
        paths, labels = _scan_class_folders(folder, class_dirs)
        ds = FileListDataset(paths, labels, [IMAGENET_CLASSNAMES[i] for i in indices], transform,
                             source=f"{kind} from {folder}")
        # Labels index ds.classnames (200 classes for A/R). imagenet_indices maps them to the
        # 1000-way ImageNet index; class_mask selects those columns of 1000-way logits.
        ds.imagenet_indices = np.asarray(indices, dtype=np.int64)
        ds.class_mask = np.zeros(1000, dtype=bool)
        ds.class_mask[ds.imagenet_indices] = True
        return ds

    loader.__doc__ = f"{kind}: local folder of class folders. {how}"
    return loader


def load_image_folder(split: str = "test", root=None, transform=None, classnames=None) -> FileListDataset:
    """Any folder with one sub-folder of images per class (sorted folder names = labels).

    ``classnames`` overrides the folder names (which otherwise lose underscores).
    """
    if root is None:
        raise ValueError("imagefolder needs root=<folder with one sub-folder per class>")
    folder = Path(root).expanduser()
    if not folder.is_dir() or not _subdirs(folder):
        raise _missing("a folder of class folders", [folder], "Make one sub-folder of images per class.")
    dirs = _subdirs(folder)
    names = list(classnames) if classnames is not None else [_clean(d) for d in dirs]
    if len(names) != len(dirs):
        raise ValueError(f"{len(names)} classnames for {len(dirs)} class folders in {folder}")
    paths, labels = _scan_class_folders(folder, dirs)
    return FileListDataset(paths, labels, names, transform, source=f"image folder {folder}")


DOMAINNET_DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")


def load_domainnet(split: str = "test", root=None, transform=None, domain: str = "real") -> FileListDataset:
    """One DomainNet domain (``root/domainnet/<domain>/<class>/*.jpg``, 345 classes).

    Uses ``<domain>_<split>.txt`` (DomainNet's official lists) when present next to the domain
    folder; otherwise every image of the domain (``split='all'``).
    """
    if domain not in DOMAINNET_DOMAINS:
        raise ValueError(f"unknown DomainNet domain {domain!r}; choose from {DOMAINNET_DOMAINS}")
    root = Path(root).expanduser() if root is not None else default_data_root()
    candidates = [root / "domainnet", root]
    base = _first_dir(candidates, lambda p: (p / domain).is_dir())
    if base is None:
        raise _missing(f"DomainNet/{domain}", candidates, "Get it from ai.bu.edu/M3SDA.")
    dirs = _subdirs(base / domain)
    list_file = base / f"{domain}_{split}.txt"
    if list_file.is_file():
        lines = [ln.split() for ln in list_file.read_text().splitlines() if ln.strip()]
        paths, labels = [base / p for p, _ in lines], [int(lab) for _, lab in lines]
    elif split == "all":
        paths, labels = _scan_class_folders(base / domain, dirs)
    else:
        raise FileNotFoundError(f"{list_file} not found: put DomainNet's split lists there, or pass split='all'")
    return FileListDataset(paths, labels, [_clean(d) for d in dirs], transform,
                           source=f"DomainNet {domain} ({split}) from {base}")


def _load_demo(domain: str):
    def loader(split: str = "test", root=None, transform=None, **kw):
        from vlmcal_utils.demo import make_demo_dataset  # lazy: optional at import time

        return make_demo_dataset(domain=domain, split=split, transform=transform, **kw)

    loader.__doc__ = f"The demo world's {domain} domain (rendered, no download); kw: n, seed, classes."
    return loader


_TV = "Get it with torchvision on a machine with internet (download=True)."
DATASETS: dict[str, Callable[..., torch.utils.data.Dataset]] = {
    "cifar10": _load_cifar(10),
    "cifar100": _load_cifar(100),
    "dtd": _make_tv_loader("DTD", {s: {"split": s} for s in ("train", "val", "test")},
                           lambda d: [_clean(c) for c in d.classes], coop="dtd", how=_TV),
    "eurosat": _make_tv_loader("EuroSAT", {"all": {}}, lambda d: [EUROSAT_CLASSNAMES.get(c, _clean(c)) for c in d.classes],
                               coop="eurosat", how=_TV),
    "flowers102": _make_tv_loader("Flowers102", {s: {"split": s} for s in ("train", "val", "test")},
                                  lambda d: [_clean(c) for c in d.classes], coop="flowers102", how=_TV),
    "food101": _make_tv_loader("Food101", {s: {"split": s} for s in ("train", "test")},
                               lambda d: [_clean(c) for c in d.classes], coop="food101", how=_TV),
    "oxford-pets": _make_tv_loader("OxfordIIITPet", {"trainval": {"split": "trainval"}, "test": {"split": "test"}},
                                   lambda d: [_clean(c) for c in d.classes], coop="oxford-pets", how=_TV),
    "fgvc-aircraft": _make_tv_loader("FGVCAircraft", {s: {"split": s} for s in ("train", "val", "trainval", "test")},
                                     lambda d: [_clean(c) for c in d.classes], how=_TV),
    "sun397": _make_tv_loader("SUN397", {"all": {}}, lambda d: [_clean(c) for c in d.classes], coop="sun397", how=_TV),
    "caltech101": _make_tv_loader("Caltech101", {"all": {}}, lambda d: [_clean(c) for c in d.categories],
                                  coop="caltech101", how=_TV),
    "stanford-cars": _load_coop_only("stanford-cars"),
    "ucf101": _load_coop_only("ucf101"),
    "imagenet": _load_imagenet_folder("imagenet"),
    "imagenet-v2": _load_imagenet_folder("imagenet-v2"),
    "imagenet-sketch": _load_imagenet_folder("imagenet-sketch"),
    "imagenet-a": _load_imagenet_folder("imagenet-a"),
    "imagenet-r": _load_imagenet_folder("imagenet-r"),
    "domainnet": load_domainnet,
    "imagefolder": load_image_folder,
    "cifar10-shared": _load_cifar10_shared,
    "cifar10-shared-761": _load_cifar10_shared_761,
    "imagenet-shared": _load_imagenet_shared,
    "demo-photo": _load_demo("photo"),
    "demo-clipart": _load_demo("clipart"),
    "demo-sketch": _load_demo("sketch"),
    "demo-painting": _load_demo("painting"),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`load_dataset`."""
    return sorted(DATASETS)


def load_dataset(name: str, split: str = "test", root: str | os.PathLike | None = None,
                 transform: Callable | None = None, **kw) -> torch.utils.data.Dataset:
    """A torch Dataset of ``(image, label)`` with ``.classnames``; see :data:`DATASETS`.

    ``name`` is case-insensitive, ``_`` and ``-`` are interchangeable. ``root`` defaults to
    ``$VLMCAL_DATA`` or ``./data``. Extra keyword arguments go to the loader (``download`` for
    torchvision sets, ``domain`` for DomainNet, ``n``/``seed``/``classes`` for the demo world,
    ``classnames`` for an image folder). Missing data raises ``FileNotFoundError`` saying where
    to get it and which ``root`` to pass; an unknown name raises ``ValueError`` with close matches.
    """
    key = str(name).lower().replace("_", "-")
    if key not in DATASETS:
        close = difflib.get_close_matches(key, list(DATASETS), n=5, cutoff=0.5)
        raise ValueError(f"unknown dataset {name!r}. Close matches: {close}; all: {list_datasets()}")
    return DATASETS[key](split=split, root=root, transform=transform, **kw)


def subsample(dataset: torch.utils.data.Dataset, n: int | None, seed: int = 0) -> torch.utils.data.Dataset:
    """A seeded random subset of ``n`` items (kept in dataset order), or the dataset if ``n`` is None
    or not smaller. The subset keeps ``classnames`` and records ``indices``."""
    if n is None or n >= len(dataset):
        return dataset
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    idx = np.sort(np.random.default_rng(seed).choice(len(dataset), size=n, replace=False))
    sub = torch.utils.data.Subset(dataset, idx.tolist())
    sub.classnames = list(dataset.classnames)
    sub.indices_array = idx
    return sub

# Published logits: the shared copy offline, a pinned, hash-checked download online. Imported last
# because vlmcal_utils.published reads files through this module.
from vlmcal_utils.published import PUBLISHED_LOGITS, fetch_published_logits  # noqa: E402,F401
