"""Image features, extracted once and cached on disk, resumable after an interruption.

``extract_features(model, dataset, model_id, dataset_id, ...) -> (features, labels)``

- ``features``: float32 (N, D) tensor of **raw** image-tower outputs (``model.encode_image``,
  *not* L2-normalised). Raw is what the model produced, so any later use can decide;
  :func:`vlmcal_utils.zeroshot.zeroshot_logits` normalises at use. ``labels``: int64 (N,).
- Cache: ``cache_dir/<model>__<dataset>__<hash>/`` where the hash covers the model id (include
  the pretrained tag or weights file in it: :func:`vlmcal_utils.models.model_id`), the dataset id
  (include the split and any subsampling), the number of items, the preprocessing transform
  (:func:`transform_id`), the mixed-precision dtype and the chunk size. Items are processed in
  chunks of ``chunk_size``; each chunk is written as ``chunk_00000.safetensors`` atomically
  (:func:`vlmcal_utils.storage.atomic_write_bytes`), so a killed run leaves only complete
  chunks, and the next call computes only the missing ones. ``manifest.json`` records the key,
  the SHA-256 of every chunk file (``"checksums"``) and, once all chunks exist, ``"complete": true``.
- Damage: a chunk whose bytes no longer match its recorded checksum (a flipped bit, a file
  overwritten by hand) is recomputed with a warning, never served; an unreadable, emptied or
  foreign ``manifest.json`` is rebuilt from the chunks on disk (their checksums taken afresh,
  and a chunk that cannot be read is recomputed).
- Safe formats only: safetensors and JSON, nothing pickled.

How a transform is named in the key
-----------------------------------
Two different transforms must never share a cache entry (that would serve stale features
silently), and the same transform must give the same key in every process (or every run is a
cache miss). :func:`transform_id` therefore describes a transform by what it does:

- torchvision ``Compose`` and ``Lambda`` are described part by part;
- objects whose ``repr`` names their settings (torchvision and timm transforms) by that ``repr``;
- functions, lambdas and local functions (the demo model's transform holds one) by their
  qualified name and a hash of their code (bytecode, constants, names), default arguments, the
  values in their closure and the literal values (numbers, strings) of the globals they read;
  ``functools.partial`` and bound methods by their function and arguments;
- anything else whose ``repr`` shows a memory address (which changes every run) has no stable
  description: ``ValueError`` asking for ``preprocess_id=`` (a name you choose for that
  preprocessing) or a ``__repr__`` that names the settings.

What the description cannot see: the state of objects whose ``repr`` does not show it (e.g. the
weights of a ``torch.nn.Module`` used as a transform) and non-literal globals a function reads.
For those, pass ``preprocess_id``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import types
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes
from torchvision import transforms as tv_transforms

from vlmcal_utils.device import amp_dtype, autocast, get_device, model_device
from vlmcal_utils.paths import cache_dir as vlmcal_cache_dir
from vlmcal_utils.progress import progress_bar
from vlmcal_utils.storage import atomic_write_bytes, atomic_write_json

__all__ = [
    "FORMAT_VERSION",
    "default_cache_dir",
    "transform_id",
    "cache_key",
    "cache_folder",
    "extract_features",
]

FORMAT_VERSION = 2
"""Cache layout version: 2 keys transforms by :func:`transform_id` and records the AMP dtype."""

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_LITERALS = (bool, int, float, complex, str, bytes, type(None))


def default_cache_dir() -> Path:
    """The feature cache: ``vlmcal_utils.paths.cache_dir("features")``.

    Returns
    -------
    pathlib.Path
        ``$VLMCAL_CACHE/features``, else ``$XDG_CACHE_HOME/vlmcal/features``, else
        ``~/.cache/vlmcal/features``.
    """
    return vlmcal_cache_dir("features")


def _slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_")[:n] or "x"


def _no_stable_description(thing: Any) -> ValueError:
    return ValueError(
        f"{_ADDRESS.sub('', repr(thing))} has no stable description (its repr shows a memory address, "
        "which changes every run), so it cannot key the feature cache: pass preprocess_id='<a name "
        "for this preprocessing>' to extract_features, or give its class a __repr__ that names its settings"
    )


def _code_digest(code: types.CodeType) -> str:
    parts = [code.co_code, repr(code.co_names), repr(code.co_argcount), repr(code.co_flags)]
    for const in code.co_consts:
        if isinstance(const, types.CodeType):  # a nested function or comprehension
            parts.append(_code_digest(const))
        elif isinstance(const, frozenset):  # set-literal constants: order varies with hash seeds
            parts.append(repr(sorted(map(repr, const))))
        else:
            parts.append(repr(const))
    return hashlib.sha256("\0".join(p if isinstance(p, str) else p.hex() for p in parts).encode()).hexdigest()


def _value_id(value: Any, seen: frozenset[int]) -> str:
    """A stable description of a value a transform holds (closure cell, default, partial arg)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        # repr abbreviates large arrays: hash the contents instead
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        digest = hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]
        return f"{type(value).__name__}{tuple(array.shape)}:{array.dtype}:{digest}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_value_id(v, seen) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_value_id(v, seen)}" for k, v in value.items()) + "}"
    if callable(value) and not isinstance(value, type):
        return _transform_id(value, seen)
    text = repr(value)
    if _ADDRESS.search(text):
        raise _no_stable_description(value)
    return text


def _function_id(fn: types.FunctionType, seen: frozenset[int]) -> str:
    name = f"{fn.__module__}.{fn.__qualname__}"
    if id(fn) in seen:  # a recursive closure: described once
        return f"<recursive {name}>"
    seen = seen | {id(fn)}
    cells = []
    for cell in fn.__closure__ or ():
        try:
            cells.append(_value_id(cell.cell_contents, seen))
        except ValueError as err:
            if "cell is empty" not in str(err):
                raise
            cells.append("<empty>")
    globals_read = [f"{g}={fn.__globals__[g]!r}" for g in fn.__code__.co_names
                    if isinstance(fn.__globals__.get(g, ...), _LITERALS)]
    parts = [
        _code_digest(fn.__code__),
        _value_id(fn.__defaults__ or (), seen),
        _value_id(dict(sorted((fn.__kwdefaults__ or {}).items())), seen),
        "(" + ", ".join(cells) + ")",
        "(" + ", ".join(globals_read) + ")",
    ]
    return f"{name}#{hashlib.sha256(chr(0).join(parts).encode()).hexdigest()[:16]}"


def _transform_id(transform: Any, seen: frozenset[int]) -> str:
    if transform is None:
        return "None"
    if isinstance(transform, tv_transforms.Compose):
        return "Compose([" + ", ".join(_transform_id(t, seen) for t in transform.transforms) + "])"
    if isinstance(transform, tv_transforms.Lambda):  # its repr is "Lambda()" whatever it holds
        return f"Lambda({_transform_id(transform.lambd, seen)})"
    if isinstance(transform, tv_transforms.Normalize):  # its repr rounds tensor means to 4 digits
        return (f"Normalize(mean={_value_id(transform.mean, seen)}, std={_value_id(transform.std, seen)}, "
                f"inplace={transform.inplace})")
    if isinstance(transform, functools.partial):
        args = [_value_id(a, seen) for a in transform.args]
        args += [f"{k}={_value_id(v, seen)}" for k, v in sorted(transform.keywords.items())]
        return f"partial({_transform_id(transform.func, seen)}, {', '.join(args)})"
    if isinstance(transform, types.MethodType):
        return f"{_transform_id(transform.__func__, seen)} of {_value_id(transform.__self__, seen)}"
    if isinstance(transform, types.FunctionType):
        return _function_id(transform, seen)
    if isinstance(transform, types.BuiltinFunctionType) and isinstance(
            getattr(transform, "__self__", None), (types.ModuleType, type, type(None))):
        return f"{getattr(transform, '__module__', None) or 'builtins'}.{transform.__qualname__}"
    text = repr(transform)
    if _ADDRESS.search(text):
        raise _no_stable_description(transform)
    return text


def transform_id(transform: Any) -> str:
    """A description of ``transform`` that is the same in every process and differs between transforms.

    See "How a transform is named in the key" in the module docstring.

    Parameters
    ----------
    transform : callable or None
        A torchvision/timm transform, a ``Compose``, a function or lambda, a ``functools.partial``,
        a bound method, or ``None``.

    Returns
    -------
    str
        E.g. ``"Compose([Resize(...), vlmcal_utils.demo.model.demo_preprocess.<locals>.<lambda>#1f0c…,
        ToTensor()])"``.

    Raises
    ------
    ValueError
        ``transform`` (or something it holds) has no stable description: pass ``preprocess_id``.
    """
    return _transform_id(transform, frozenset())


def _dataset_transform(dataset: Any) -> Any:
    # A Subset has no transform of its own: use the wrapped dataset's.
    while not hasattr(dataset, "transform") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    return getattr(dataset, "transform", None)


def cache_key(model_id: str, dataset_id: str, n: int, preprocess: str, chunk_size: int,
              amp: str | None = None) -> dict:
    """The dictionary that identifies one extraction (hashed into the folder name).

    Parameters
    ----------
    model_id, dataset_id : str
        What is computed (see :func:`extract_features`).
    n : int
        Number of items.
    preprocess : str
        The transform's :func:`transform_id` (or a ``preprocess_id``).
    chunk_size : int
    amp : str or None
        The autocast dtype (``"torch.bfloat16"``), ``None`` for full precision.

    Returns
    -------
    dict
    """
    return {"format": FORMAT_VERSION, "model_id": str(model_id), "dataset_id": str(dataset_id),
            "n": int(n), "preprocess": preprocess, "chunk_size": int(chunk_size), "amp": amp}


def cache_folder(cache_dir: str | os.PathLike, key: dict) -> Path:
    """The folder of one extraction: ``<model>__<dataset>__<16 hex digits of the key's hash>``.

    Parameters
    ----------
    cache_dir : str or os.PathLike
    key : dict
        From :func:`cache_key`.

    Returns
    -------
    pathlib.Path
    """
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{_slug(key['model_id'])}__{_slug(key['dataset_id'])}__{digest}"


def _chunk_path(folder: Path, c: int) -> Path:
    return folder / f"chunk_{c:05d}.safetensors"


def _read_chunk(path: Path, expected: int, checksum: str | None) -> tuple[dict | None, str | None]:
    """``(chunk, sha256 of its bytes)``, or ``(None, None)`` if absent, damaged or short (recomputed).

    A chunk whose digest differs from ``checksum`` (its manifest entry; ``None`` when the manifest
    does not have one) is refused with a warning: safetensors checks the header, not the numbers.
    """
    if not path.is_file():
        return None, None
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if checksum is not None and digest != checksum:
        warnings.warn(f"feature cache: {path} does not match its checksum in manifest.json (damaged "
                      "on disk); recomputing it", RuntimeWarning, stacklevel=3)
        return None, None
    try:
        data = safetensors_load(raw)
    except Exception:  # noqa: BLE001 - a damaged file is simply recomputed
        warnings.warn(f"feature cache: {path} is not a readable safetensors file; recomputing it",
                      RuntimeWarning, stacklevel=3)
        return None, None
    if set(data) != {"features", "labels"} or data["features"].shape[0] != expected \
            or data["labels"].shape != (expected,):
        return None, None
    return data, digest


def _read_manifest(path: Path, key: dict, n_chunks: int) -> dict:
    """The folder's manifest, or a fresh one (with a warning) if it is missing, unreadable or foreign."""
    fresh = {"key": key, "n_chunks": n_chunks, "complete": False, "checksums": {}}
    if not path.is_file():
        return fresh
    try:
        manifest = json.loads(path.read_text())
        ok = (isinstance(manifest, dict) and manifest.get("key") == key and manifest.get("n_chunks") == n_chunks
              and isinstance(manifest.get("checksums", {}), dict))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        ok = False
    if not ok:
        warnings.warn(f"feature cache: {path} is damaged or belongs to another extraction; rebuilding it "
                      "from the chunks on disk", RuntimeWarning, stacklevel=3)
        return fresh
    manifest.setdefault("checksums", {})
    return manifest


def _check_dataset(dataset: Any) -> None:
    """Refuse a dataset whose first item is not ``(image tensor, label)`` (e.g. a PIL image)."""
    item = dataset[0]
    if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], torch.Tensor)):
        got = type(item[0]).__name__ if isinstance(item, (tuple, list)) and item else type(item).__name__
        raise TypeError(
            f"dataset items must be (image tensor, label) pairs, got a {got} first: give the dataset the "
            "model's preprocess as its transform, e.g. load_dataset(name, split, transform=preprocess) "
            "with preprocess from vlmcal_utils.models.load_model"
        )


def extract_features(
    model: torch.nn.Module,
    dataset: torch.utils.data.Dataset,
    model_id: str,
    dataset_id: str,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = True,
    chunk_size: int = 1024,
    preprocess_id: str | None = None,
    amp: str | None = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw image features and labels of ``dataset``, cached on disk and resumable.

    Parameters
    ----------
    model : torch.nn.Module
        Has ``encode_image((B, 3, H, W)) -> (B, D)``; used as it is (not moved), in eval mode.
    dataset : torch.utils.data.Dataset
        Yields ``(image_tensor, label)`` (give it the model's ``preprocess`` as its transform).
    model_id, dataset_id : str
        Name what is computed, e.g. ``"ViT-B-32/openai"`` and ``"cifar10/test"``: two different
        models (or subsets) must never share an id (see :func:`vlmcal_utils.models.model_id`).
    cache_dir : str or os.PathLike, optional
        Default :func:`default_cache_dir`.
    batch_size : int
    device : str or torch.device, optional
        Where batches are sent (default: the model's device). Strings go through
        :func:`vlmcal_utils.device.get_device` (``"cuda"`` without CUDA: its message, not torch's).
    num_workers : int
        DataLoader workers.
    progress : bool
        Show a tqdm bar.
    chunk_size : int
        Items per cached chunk (the unit of resumption).
    preprocess_id : str, optional
        Names the preprocessing in the cache key instead of :func:`transform_id` of the
        dataset's transform (needed for a transform without a stable description).
    amp : {"auto", "bf16", "fp16", None}
        Mixed precision on CUDA (:func:`vlmcal_utils.device.autocast`: ``"auto"`` is bf16 where
        the GPU supports it, else fp16); none on the CPU. The dtype is part of the cache key.

    Returns
    -------
    features : torch.Tensor
        float32 ``(N, D)``, not normalised.
    labels : torch.Tensor
        int64 ``(N,)``.

    Raises
    ------
    ValueError
        An empty dataset, non-positive sizes, or a transform without a stable description.
    TypeError
        Dataset items that are not ``(image tensor, label)`` (a dataset without a transform).
    RuntimeError
        ``device="cuda"`` where CUDA is not available.
    """
    if chunk_size <= 0 or batch_size <= 0:
        raise ValueError(f"chunk_size and batch_size must be positive, got {chunk_size}, {batch_size}")
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty: nothing to extract")
    dev = _device(model, device)
    dtype_amp = amp_dtype(dev, amp)
    preprocess = preprocess_id if preprocess_id is not None else transform_id(_dataset_transform(dataset))
    key = cache_key(model_id, dataset_id, n, preprocess, chunk_size, None if dtype_amp is None else str(dtype_amp))
    cache = _Cache(cache_folder(cache_dir if cache_dir is not None else default_cache_dir(), key), key, n, chunk_size)
    if cache.todo:
        _check_dataset(dataset)  # before a DataLoader's collate error
    bar = progress_bar(total=n, initial=n - sum(cache.sizes[c] for c in cache.todo),
                       desc=f"image features {dataset_id}", progress=progress and bool(cache.todo), unit="img")
    was_training = model.training
    model.eval()
    try:
        for c in list(cache.todo):
            start = c * chunk_size
            subset = torch.utils.data.Subset(dataset, range(start, start + cache.sizes[c]))
            loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
            cache.write(c, _encode(model, loader, dev, amp, bar))
    finally:
        bar.close()
        model.train(was_training)
    return cache.finish()


def _device(model: torch.nn.Module, device: str | torch.device | None) -> torch.device:
    """Where batches go: a named device through :func:`get_device`, else the model's."""
    if isinstance(device, str):
        return get_device(device, verbose=False)
    return torch.device(device) if device is not None else model_device(model)


def _encode(model: torch.nn.Module, loader: Any, dev: torch.device, amp: str | None, bar: Any) -> dict:
    """One chunk's features (float32, CPU) and int64 labels."""
    params = list(model.parameters())
    dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
    feats, labels = [], []
    with torch.no_grad(), autocast(dev, amp):  # a fresh context per chunk
        for images, targets in loader:
            # match the model's dtype (bf16/fp16 models reject float32 images)
            feats.append(model.encode_image(images.to(dev, dtype=dtype)).float().cpu())
            labels.append(torch.as_tensor(targets, dtype=torch.int64))
            bar.update(len(targets))
    return {"features": torch.cat(feats).contiguous(), "labels": torch.cat(labels).contiguous()}


class _Cache:
    """One extraction's cache folder: the chunks on disk (checked), those still to do, the manifest."""

    def __init__(self, folder: Path, key: str, n: int, chunk_size: int):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.key = folder, key
        self.manifest_path = folder / "manifest.json"
        self.n_chunks = (n + chunk_size - 1) // chunk_size
        self.manifest = _read_manifest(self.manifest_path, key, self.n_chunks)
        self.checksums: dict[str, str] = dict(self.manifest["checksums"])
        self.sizes = [min(chunk_size, n - c * chunk_size) for c in range(self.n_chunks)]
        self.chunks: list[dict | None] = []
        for c in range(self.n_chunks):
            data, digest = _read_chunk(_chunk_path(folder, c), self.sizes[c], self.checksums.get(str(c)))
            self.chunks.append(data)
            if digest is None:
                self.checksums.pop(str(c), None)
            else:
                self.checksums[str(c)] = digest
        self.todo = [c for c in range(self.n_chunks) if self.chunks[c] is None]
        self.had_todo = bool(self.todo)
        if self.checksums != self.manifest["checksums"] or not self.manifest_path.is_file():
            # record what is on disk now, so a chunk damaged later is caught even if this run is killed
            atomic_write_json(self.manifest_path, {**self.manifest, "key": key, "n_chunks": self.n_chunks,
                                                   "checksums": self.checksums,
                                                   "complete": bool(self.manifest.get("complete")) and not self.todo})

    def write(self, c: int, data: dict) -> None:
        """Store chunk ``c`` (always complete on disk), then its checksum in the manifest."""
        raw = safetensors_bytes(data)
        atomic_write_bytes(_chunk_path(self.folder, c), raw)
        # The checksum goes in after the chunk: a kill between the two leaves a chunk without a
        # checksum, which the next call reads (and records) like any other.
        self.checksums[str(c)] = hashlib.sha256(raw).hexdigest()
        atomic_write_json(self.manifest_path, {"key": self.key, "n_chunks": self.n_chunks, "complete": False,
                                               "checksums": self.checksums})
        self.chunks[c] = data
        self.todo.remove(c)

    def finish(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every chunk's features and labels; the manifest marked complete."""
        features = torch.cat([ch["features"] for ch in self.chunks])
        labels = torch.cat([ch["labels"] for ch in self.chunks])
        if self.had_todo or not self.manifest.get("complete"):
            atomic_write_json(self.manifest_path, {"key": self.key, "n_chunks": self.n_chunks, "complete": True,
                                                   "dim": int(features.shape[1]), "checksums": self.checksums})
        return features, labels
