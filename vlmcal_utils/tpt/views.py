"""The test image's views: view 0 as the model sees it, the others random crops (+ TPT's AugMix).

View 0 is the image resized (bicubic, short side) and centre cropped to the model's resolution;
views 1.. are random-resized crops + horizontal flips of the raw image, optionally mixed by
TPT's own AugMix (only the operations that do not overlap ImageNet-C). Every view is normalised
with the model's mean/std. The random numbers come from ``numpy.random.default_rng([seed,
index])``, so a view set depends only on ``(seed, sample index)``: runs are reproducible and
resumable in any order and batch size.

:func:`view_batches` makes the views of a run batch by batch, in the calling process
(``num_workers=0``) or in ``torch.utils.data.DataLoader`` worker processes that work ahead of
the model (``num_workers > 0``); both give the same views bit for bit (tested), since a view set
depends only on ``(seed, index)``, never on the process or the order that made it.

TPT's image tower is frozen, so an image's views are the same for every method, initialisation
and lambda of a run: :data:`VIEW_CACHE` keeps the view sets that :func:`view_batches` made (in
memory, bounded in bytes, least recently used out first), keyed by the dataset object, the
image's position and the view settings, and a later run over the same images reuses them.
"""

from __future__ import annotations

import math
import os
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import open_clip
import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from PIL import Image

__all__ = ["preprocess_config", "make_views", "AUGMIX_OPS", "ViewSet", "ViewCache", "VIEW_CACHE", "view_batches",
           "default_num_workers"]


def preprocess_config(model: nn.Module) -> dict:
    """The model's input size and normalisation, from its open_clip preprocess config.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip model; without a preprocess config the visual tower's ``image_size`` and
        CLIP's (OpenAI) mean/std are used.

    Returns
    -------
    dict
        ``{"size": int, "mean": (3,) tuple, "std": (3,) tuple}``.
    """
    cfg = dict(open_clip.get_model_preprocess_cfg(model) or {})
    size = cfg.get("size", getattr(getattr(model, "visual", None), "image_size", 224))
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ValueError(f"non-square model input {size} is not supported by make_views")
        size = size[0]
    mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
    std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
    return {"size": int(size), "mean": tuple(mean), "std": tuple(std)}


def _to_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[-1] != 3:
        arr = arr.transpose(1, 2, 0)
    if arr.dtype != np.uint8:
        if arr.min() < 0:
            raise ValueError(
                "image has negative values (already normalised?): pass raw images, i.e. a dataset "
                "without a transform; make_views does its own resizing and normalisation"
            )
        if arr.max() <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.round(arr), 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, -1)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"image must be a PIL image or an (H, W, 3) array, got shape {arr.shape}")
    return Image.fromarray(arr, "RGB")


def rrc_params(
    width: int,
    height: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop.get_params``, drawing from ``rng`` instead of torch's stream.

    Parameters
    ----------
    width, height : int
        The image size.
    rng : numpy.random.Generator
        The view set's random stream.
    scale, ratio : tuple of float
        Crop area fraction and aspect-ratio range (torchvision's defaults).

    Returns
    -------
    tuple of int
        ``(top, left, crop_height, crop_width)``.
    """
    w, h = width, height
    area = w * h
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        ar = math.exp(rng.uniform(*log_r))
        cw, ch = int(round(math.sqrt(target * ar))), int(round(math.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    in_ratio = w / h
    if in_ratio < ratio[0]:
        cw, ch = w, int(round(w / ratio[0]))
    elif in_ratio > ratio[1]:
        ch, cw = h, int(round(h * ratio[1]))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


# TPT's AugMix operations (those not overlapping ImageNet-C), with its parameter ranges, on
# (H, W, 3) uint8 arrays. The four tone operations are PIL's ImageOps ones bit for bit (tested against
# them) in numpy: PIL builds each lookup table in Python (768 round() calls per operation), which
# made them, with one to_tensor per chain, most of the time of a view set. The geometric ones are
# PIL's C transforms. Each op is (image, severity, rng, size) -> image.
def _level(rng: np.random.Generator, n: float) -> float:
    return rng.uniform(0.1, n)


def _sign(rng: np.random.Generator, v: float) -> float:
    return -v if rng.uniform() > 0.5 else v


def _per_channel(a: np.ndarray, luts: list[np.ndarray]) -> np.ndarray:
    """``a`` (H, W, 3) uint8 through one 256-entry table per channel (PIL's ``point``: clipped to 0-255)."""
    table = np.clip(np.stack(luts), 0, 255).astype(np.uint8)
    return np.stack([table[c][a[..., c]] for c in range(3)], axis=-1)


def _autocontrast_lut(channel: np.ndarray) -> np.ndarray:
    """PIL's ``autocontrast`` table (no cutoff): the channel's range stretched to 0-255, truncated."""
    lo, hi = int(channel.min()), int(channel.max())
    if hi <= lo:
        return np.arange(256)
    scale = 255.0 / (hi - lo)
    return (np.arange(256) * scale + -lo * scale).astype(np.int64)  # int() truncates toward 0, as astype


def _equalize_lut(channel: np.ndarray) -> np.ndarray:
    """PIL's ``equalize`` table: integer cumulative histogram over ``step``, the same integer arithmetic."""
    h = np.bincount(channel.ravel(), minlength=256).astype(np.int64)
    used = h[h > 0]
    step = int(used.sum() - used[-1]) // 255 if len(used) > 1 else 0
    if not step:
        return np.arange(256)
    before = np.concatenate([[0], np.cumsum(h)[:-1]])  # pixels below each value
    return (step // 2 + before) // step


def _autocontrast(a: np.ndarray) -> np.ndarray:
    return _per_channel(a, [_autocontrast_lut(a[..., c]) for c in range(3)])


def _equalize(a: np.ndarray) -> np.ndarray:
    return _per_channel(a, [_equalize_lut(a[..., c]) for c in range(3)])


def _posterize(a: np.ndarray, bits: int) -> np.ndarray:
    return a & np.uint8(~(2 ** (8 - bits) - 1) & 0xFF)


def _solarize(a: np.ndarray, threshold: int) -> np.ndarray:
    values = np.arange(256)
    return np.where(values < threshold, values, 255 - values).astype(np.uint8)[a]


def _rotate(a: np.ndarray, degrees: float) -> np.ndarray:
    return np.asarray(Image.fromarray(a, "RGB").rotate(degrees, resample=Image.BILINEAR))


def _affine(a: np.ndarray, size: int, coeffs: tuple) -> np.ndarray:
    return np.asarray(Image.fromarray(a, "RGB").transform((size, size), Image.AFFINE, coeffs,
                                                            resample=Image.BILINEAR))


AugMixOp = Callable[[np.ndarray, int, np.random.Generator, int], np.ndarray]

#: TPT's AugMix operations by name (order matters: ops are drawn by index from this table), on
#: ``(H, W, 3)`` uint8 arrays; each equals its PIL ``ImageOps`` / ``Image`` operation bit for bit.
AUGMIX_OPS: dict[str, AugMixOp] = {
    "autocontrast": lambda im, s, r, n: _autocontrast(im),
    "equalize": lambda im, s, r, n: _equalize(im),
    "posterize": lambda im, s, r, n: _posterize(im, 4 - int(_level(r, s) * 4 / 10)),
    "rotate": lambda im, s, r, n: _rotate(im, _sign(r, int(_level(r, s) * 30 / 10))),
    "solarize": lambda im, s, r, n: _solarize(im, 256 - int(_level(r, s) * 256 / 10)),
    "shear_x": lambda im, s, r, n: _affine(im, n, (1, _sign(r, _level(r, s) * 0.3 / 10), 0, 0, 1, 0)),
    "shear_y": lambda im, s, r, n: _affine(im, n, (1, 0, 0, _sign(r, _level(r, s) * 0.3 / 10), 1, 0)),
    "translate_x": lambda im, s, r, n: _affine(im, n, (1, 0, _sign(r, int(_level(r, s) * (n / 3) / 10)), 0, 1, 0)),
    "translate_y": lambda im, s, r, n: _affine(im, n, (1, 0, 0, 0, 1, _sign(r, int(_level(r, s) * (n / 3) / 10)))),
}
_AUGMIX_NAMES = tuple(AUGMIX_OPS)


def _augmix_chains(crop: np.ndarray, rng: np.random.Generator, severity: int,
                   size: int) -> tuple[np.ndarray, np.ndarray, np.float32]:
    """TPT's mix, drawn: 3 chains of 1-3 random ops, chain weights ~ Dirichlet(1,1,1), m ~ Beta(1,1).

    Returns the chains ``(3, S, S, 3)`` uint8, their weights ``(3,)`` float32 and ``m``; the mix
    itself is :func:`_mix` (batched over views).
    """
    ws = rng.dirichlet([1.0, 1.0, 1.0]).astype(np.float32)
    m = np.float32(rng.beta(1.0, 1.0))
    chains = []
    for _ in range(3):
        xa = crop
        for _ in range(int(rng.integers(1, 4))):
            xa = AUGMIX_OPS[_AUGMIX_NAMES[int(rng.integers(len(_AUGMIX_NAMES)))]](xa, severity, rng, size)
        chains.append(xa)
    return np.stack(chains), ws, m


def _byte_table(mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(3, 256)`` float32: each channel's normalised value of each byte, by torchvision's float32 steps.

    A pixel's value after ``to_tensor`` and ``normalize`` depends only on its byte and channel:
    divided by 255, minus the mean, over the std, each rounded to float32 as torch does. Looking
    the values up gives the same result bit for bit at a fraction of the cost.
    """
    m, s = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)
    return ((np.arange(256, dtype=np.float32) / np.float32(255))[None] - m[:, None]) / s[:, None]


def _normalised(images: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``(..., S, S, 3)`` uint8 -> ``(..., 3, S, S)`` float32 through :func:`_byte_table` 's ``table``."""
    return np.stack([table[c][images[..., c]] for c in range(3)], axis=-3)


def _view(crop: np.ndarray, table: np.ndarray, mix: tuple | None) -> np.ndarray:
    """One view ``(3, S, S)``: the normalised crop or, with AugMix's draws, TPT's mix of it.

    ``m * crop + (1 - m) * sum_c w_c chain_c`` with the operations and order of TPT's loop
    (``1 - m`` taken in double, rounded once to float32, as torch does with a Python scalar), so
    equal bit for bit to the per-op torchvision loop. One view at a time: its 4 images stay in the
    CPU's cache (all 63 views' chains at 224 px would be 114 MB).
    """
    if mix is None:
        return _normalised(crop, table)
    chains, ws, m = mix
    x = _normalised(np.concatenate([crop[None], chains]), table)
    acc = np.zeros_like(x[0])
    for c in range(3):
        acc += ws[c] * x[c + 1]
    return m * x[0] + np.float32(1.0 - float(m)) * acc


def make_views(
    image: Any,
    preprocess_cfg: dict,
    n_views: int = 64,
    augmix: bool = False,
    seed: int = 0,
    index: int = 0,
    severity: int = 1,
) -> torch.Tensor:
    """View 0 = resize + centre crop, the rest random crops + flips (optionally AugMix).

    Parameters
    ----------
    image : PIL image or array
        The raw image: PIL, ``(H, W, 3)`` uint8 (or float in [0, 1] / [0, 255]), or ``(3, H, W)``.
    preprocess_cfg : dict
        From :func:`preprocess_config`.
    n_views : int
        Views including view 0 (TPT: 64).
    augmix : bool
        Mix each crop as in TPT: 3 chains of 1-3 random ops (severity ``severity``), chain weights
        ~ Dirichlet(1,1,1), mixed with the crop by m ~ Beta(1,1), all after normalisation.
    seed, index : int
        The random stream is ``default_rng([seed, index])``.
    severity : int
        AugMix severity (TPT: 1).

    Returns
    -------
    torch.Tensor
        float32 ``(n_views, 3, S, S)``, normalised; crops are bilinear, scale 0.08-1.
    """
    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    S = int(preprocess_cfg["size"])
    table = _byte_table(preprocess_cfg["mean"], preprocess_cfg["std"])
    img = _to_pil(image)
    rng = np.random.default_rng([int(seed), int(index)])
    base = TF.center_crop(TF.resize(img, S, interpolation=TF.InterpolationMode.BICUBIC), [S, S])
    views = [_view(np.asarray(base), table, None)]
    W, H = img.size
    for _ in range(n_views - 1):
        i, j, h, w = rrc_params(W, H, rng)
        x = TF.resized_crop(img, i, j, h, w, [S, S], interpolation=TF.InterpolationMode.BILINEAR)
        if rng.uniform() < 0.5:
            x = TF.hflip(x)
        crop = np.asarray(x)
        views.append(_view(crop, table, _augmix_chains(crop, rng, severity, S) if augmix else None))
    return torch.from_numpy(np.stack(views))


class ViewCache:
    """View sets kept in memory for reuse, least recently used out first, at most ``max_bytes``.

    Parameters
    ----------
    max_bytes : int
        The bound on the tensors held (0: keep nothing).

    Notes
    -----
    A key starts with ``id(dataset)``; each entry also holds a weak reference to its dataset, so
    it is found only while that very object lives (a new object at a reused ``id`` misses), and
    the entries of a dataset go when it does. A dataset that takes no weak reference (a plain
    list) is not cached.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[tuple, tuple[weakref.ref, torch.Tensor, Any]] = OrderedDict()
        self._refs: dict[int, weakref.ref] = {}
        self._bytes = 0

    def _ref(self, dataset: Any) -> weakref.ref:
        key = id(dataset)
        ref = self._refs.get(key)
        if ref is None or ref() is not dataset:
            ref = self._refs[key] = weakref.ref(dataset, lambda _: self._forget(key))
        return ref

    def _forget(self, key: int) -> None:
        """Drop the entries of the dataset that was at ``id`` ``key`` (it is gone)."""
        self._refs.pop(key, None)
        for full in [k for k in self._items if k[0] == key]:
            self._bytes -= self._items.pop(full)[1].nbytes

    def get(self, dataset: Any, key: tuple) -> tuple[torch.Tensor, Any] | None:
        """The ``(views, label)`` stored under ``(dataset, key)``, or ``None``."""
        full = (id(dataset), *key)
        entry = self._items.get(full)
        if entry is None or entry[0]() is not dataset:
            return None
        self._items.move_to_end(full)
        return entry[1], entry[2]

    def put(self, dataset: Any, key: tuple, views: torch.Tensor, label: Any) -> None:
        """Store ``views`` and ``label`` under ``(dataset, key)``, dropping the least recently used beyond the bound."""
        try:
            ref = self._ref(dataset)
        except TypeError:
            return
        if views.nbytes > self.max_bytes:
            return
        full = (id(dataset), *key)
        if full in self._items:
            self._bytes -= self._items.pop(full)[1].nbytes
        self._items[full] = (ref, views, label)
        self._bytes += views.nbytes
        while self._bytes > self.max_bytes:
            self._bytes -= self._items.popitem(last=False)[1][1].nbytes

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Drop every view set."""
        self._items.clear()
        self._refs.clear()
        self._bytes = 0


#: The view sets of this process's runs (:func:`view_batches` with ``cache=VIEW_CACHE``, as
#: :func:`~vlmcal_utils.tpt.run_tpt` calls it): 512 MiB hold all of chapter 4's book run (400 test
#: and 200 calibration images of 64 views at 32 px), or 13 images of 64 views at 224 px.
#: ``VIEW_CACHE.max_bytes = 0`` keeps none.
VIEW_CACHE = ViewCache(512 << 20)


class ViewSet(torch.utils.data.Dataset):
    """The views of some images of a dataset, one item per image (a map-style torch dataset).

    Parameters
    ----------
    dataset : sequence
        Raw images: ``dataset[p] -> (image, label)`` (see :func:`make_views` for the image types).
    positions : sequence of int
        Positions in ``dataset``, in the order the items come.
    keys : sequence of int
        The random-stream index of each position (the runner: its index in the base dataset).
    preprocess_cfg : dict
        From :func:`preprocess_config`.
    n_views, augmix, seed, severity
        As for :func:`make_views`.

    Notes
    -----
    Item ``k`` is ``(position, views, label, seconds)``: ``views`` float32 ``(n_views, 3, S, S)``
    from ``make_views(dataset[positions[k]][0], ..., seed=seed, index=keys[k])``, ``seconds`` the
    wall time of loading the image and making its views in the process that did it.
    """

    def __init__(self, dataset: Sequence, positions: Sequence[int], keys: Sequence[int], preprocess_cfg: dict,
                 n_views: int = 64, augmix: bool = False, seed: int = 0, severity: int = 1) -> None:
        if len(positions) != len(keys):
            raise ValueError(f"{len(positions)} positions but {len(keys)} keys: pass one key per position")
        self.dataset, self.positions, self.keys = dataset, [int(p) for p in positions], [int(k) for k in keys]
        self.preprocess_cfg, self.n_views, self.augmix = preprocess_cfg, int(n_views), bool(augmix)
        self.seed, self.severity = int(seed), int(severity)

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, k: int) -> tuple[int, torch.Tensor, Any, float]:
        t0 = time.perf_counter()
        image, label = self.dataset[self.positions[k]]
        views = make_views(image, self.preprocess_cfg, n_views=self.n_views, augmix=self.augmix, seed=self.seed,
                           index=self.keys[k], severity=self.severity)
        return self.positions[k], views, label, time.perf_counter() - t0


def _collate(items: list) -> tuple[list[int], torch.Tensor, list, list[float]]:
    positions, views, labels, seconds = zip(*items, strict=True)
    return list(positions), torch.stack(views), list(labels), list(seconds)


def default_num_workers(device: torch.device | str) -> int:
    """View worker processes for a model on ``device``: 0 on CPU, else ``min(8, usable CPUs - 1)``.

    On CPU the model's own threads use every core, so workers would only compete with them. On a
    GPU the views are the slow part (on one core of a 2-core CPU: 0.2 s per image of 64 views
    without AugMix, 0.9 s with it; a GPU tunes an image in far less), each worker makes one
    image's views at a time and one CPU is left to the main process; 8 bounds the memory of the
    batches held ready (2 per worker, 38 MB per image of 64 views at 224 px).

    Parameters
    ----------
    device : torch.device or str
        The model's device.

    Returns
    -------
    int
    """
    if torch.device(device).type == "cpu":
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(8, cpus - 1))


def view_batches(
    dataset: Sequence,
    positions: Sequence[int],
    keys: Sequence[int],
    preprocess_cfg: dict,
    *,
    n_views: int = 64,
    augmix: bool = False,
    seed: int = 0,
    batch_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
    cache: ViewCache | None = None,
) -> Iterator[tuple[list[int], torch.Tensor, list, list[float]]]:
    """The views of ``positions``, ``batch_size`` images at a time, in order.

    Parameters
    ----------
    dataset, positions, keys, preprocess_cfg, n_views, augmix, seed
        As for :class:`ViewSet`.
    batch_size : int
        Images per batch (the last one may be smaller).
    num_workers : int
        0: each batch is made when it is asked for, in this process (an image is loaded only then,
        so a failing ``dataset[p]`` fails before any later batch). ``> 0``: a ``DataLoader`` with
        that many worker processes, each holding up to ``prefetch_factor`` batches ready.
    pin_memory : bool
        Page-locked batches (faster copies to a GPU); only with workers.
    prefetch_factor : int
        Batches prepared ahead per worker.
    cache : ViewCache, optional
        Take the view sets it holds for ``(dataset, position, seed index, view settings)`` and
        store those made here (e.g. :data:`VIEW_CACHE`); with workers, only when it holds them
        all is no worker started. ``None``: make every view set.

    Yields
    ------
    positions : list of int
        The batch's positions (``B`` of them).
    views : torch.Tensor
        float32 ``(B, n_views, 3, S, S)``, the same bit for bit whatever ``num_workers``.
    labels : list
        The dataset's labels, as it returns them.
    seconds : list of float
        Per image: the wall time of loading it and making its views (in a worker: overlapped
        with the caller's work; from the cache: the look-up's).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 0:
        raise ValueError(f"num_workers must be >= 0, got {num_workers}")
    views = ViewSet(dataset, positions, keys, preprocess_cfg, n_views=n_views, augmix=augmix, seed=seed)
    cached = _Cached(cache, views)
    if num_workers == 0 or cached.all_stored():  # (no workers started, e.g. a finished run resumed)
        for start in range(0, len(views), batch_size):
            yield _collate([cached.item(k) for k in range(start, min(start + batch_size, len(views)))])
        return
    loader = torch.utils.data.DataLoader(views, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                                         collate_fn=_collate, pin_memory=pin_memory,
                                         prefetch_factor=prefetch_factor)
    batches = iter(loader)
    try:
        for batch in batches:
            cached.store(batch)
            yield batch
    finally:
        del batches  # shuts the workers down now, also when the caller stops early or fails


class _Cached:
    """A :class:`ViewSet` 's items through a :class:`ViewCache` (``None``: straight through)."""

    def __init__(self, cache: ViewCache | None, views: ViewSet) -> None:
        self.cache, self.views, self.stored = cache, views, 0
        cfg = views.preprocess_cfg
        self.settings = (int(cfg["size"]), tuple(cfg["mean"]), tuple(cfg["std"]), views.n_views, views.augmix,
                         views.seed, views.severity)

    def _key(self, k: int) -> tuple:
        return (self.views.positions[k], self.views.keys[k], *self.settings)

    def all_stored(self) -> bool:
        return self.cache is not None and all(
            self.cache.get(self.views.dataset, self._key(k)) is not None for k in range(len(self.views)))

    def item(self, k: int) -> tuple[int, torch.Tensor, Any, float]:
        """Item ``k``, from the cache (its seconds: the look-up's) or made and stored."""
        t0 = time.perf_counter()
        hit = None if self.cache is None else self.cache.get(self.views.dataset, self._key(k))
        if hit is not None:
            return self.views.positions[k], hit[0], hit[1], time.perf_counter() - t0
        item = self.views[k]
        if self.cache is not None:
            self.cache.put(self.views.dataset, self._key(k), item[1], item[2])
        return item

    def store(self, batch: tuple[list[int], torch.Tensor, list, list[float]]) -> None:
        """Store the next batch made by workers (they come in the view set's order)."""
        first, self.stored = self.stored, self.stored + len(batch[0])
        if self.cache is None:
            return
        for b in range(len(batch[0])):  # a copy: a view of the batch would hold the whole batch's memory
            self.cache.put(self.views.dataset, self._key(first + b), batch[1][b].clone(), batch[2][b])
