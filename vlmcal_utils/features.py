"""Image features, extracted once and cached on disk, resumable after an interruption.

``extract_features(model, dataset, model_id, dataset_id, ...) -> (features, labels)``

- ``features``: float32 (N, D) tensor of **raw** image-tower outputs (``model.encode_image``,
  *not* L2-normalised). Raw is what the model produced, so any later use can decide;
  :func:`vlmcal_utils.zeroshot.zeroshot_logits` normalises at use. ``labels``: int64 (N,).
- Cache: ``cache_dir/<model>__<dataset>__<hash>/`` where the hash covers the model id (include
  the pretrained tag or weights file in it!), the dataset id (include the split and any
  subsampling), the number of items, the preprocessing transform's ``repr`` and the chunk
  size. Items are processed in chunks of ``chunk_size``; each chunk is written as
  ``chunk_00000.safetensors`` via a temporary file and an atomic rename, so a killed run leaves
  only complete chunks, and the next call computes only the missing ones. ``manifest.json``
  records the key and, once all chunks exist, ``"complete": true``.
- Safe formats only: safetensors and JSON, nothing pickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

CACHE_ENV_VAR = "VLMCAL_CACHE"
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$VLMCAL_CACHE/features`` if set, else ``~/.cache/vlmcal/features``."""
    base = os.environ.get(CACHE_ENV_VAR)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "vlmcal") / "features"


def _slug(text: str, n: int = 40) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", str(text)).strip("_")[:n] or "x"


def _transform_repr(dataset) -> str:
    # A Subset has no transform of its own: use the wrapped dataset's.
    while not hasattr(dataset, "transform") and hasattr(dataset, "dataset"):
        dataset = dataset.dataset
    # Drop memory addresses ("<function <lambda> at 0x7f...>"): they change every process and
    # would turn every run into a cache miss.
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(getattr(dataset, "transform", None)))


def cache_key(model_id: str, dataset_id: str, n: int, preprocess: str, chunk_size: int) -> dict:
    """The dictionary that identifies one extraction (hashed into the folder name)."""
    return {"format": FORMAT_VERSION, "model_id": str(model_id), "dataset_id": str(dataset_id),
            "n": int(n), "preprocess": preprocess, "chunk_size": int(chunk_size)}


def cache_folder(cache_dir: str | os.PathLike, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{_slug(key['model_id'])}__{_slug(key['dataset_id'])}__{digest}"


def _chunk_path(folder: Path, c: int) -> Path:
    return folder / f"chunk_{c:05d}.safetensors"


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _read_chunk(path: Path, expected: int) -> dict | None:
    """A complete chunk, or ``None`` if absent or unreadable/short (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        data = load_file(str(path))
    except Exception:  # noqa: BLE001 - a damaged file is simply recomputed
        return None
    if data["features"].shape[0] != expected or data["labels"].shape != (expected,):
        return None
    return data


def _model_device(model: torch.nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


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
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw image features (N, D) float32 and labels (N,) int64, cached and resumable.

    ``dataset`` yields ``(image_tensor, label)`` (give it the model's ``preprocess`` as its
    transform). ``model_id``/``dataset_id`` name what is computed: e.g.
    ``"ViT-B-32/openai"`` and ``"cifar10/test"`` — two different models must never share an
    id. ``preprocess_id`` overrides the transform's ``repr`` in the cache key.
    ``cache_dir=None`` uses :func:`default_cache_dir`. The model is used as it is (not moved);
    ``device`` is where batches are sent (default: the model's device).
    """
    if chunk_size <= 0 or batch_size <= 0:
        raise ValueError(f"chunk_size and batch_size must be positive, got {chunk_size}, {batch_size}")
    n = len(dataset)
    if n == 0:
        raise ValueError("the dataset is empty: nothing to extract")
    dev = torch.device(device) if device is not None else _model_device(model)
    key = cache_key(model_id, dataset_id, n, preprocess_id or _transform_repr(dataset), chunk_size)
    folder = cache_folder(cache_dir if cache_dir is not None else default_cache_dir(), key)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    n_chunks = (n + chunk_size - 1) // chunk_size
    if not manifest_path.is_file():
        _write_json_atomic(manifest_path, {"key": key, "n_chunks": n_chunks, "complete": False})

    sizes = [min(chunk_size, n - c * chunk_size) for c in range(n_chunks)]
    chunks: list[dict | None] = [_read_chunk(_chunk_path(folder, c), sizes[c]) for c in range(n_chunks)]
    todo = [c for c in range(n_chunks) if chunks[c] is None]
    def amp():  # a fresh context per chunk; AMP only on CUDA
        return torch.autocast("cuda", dtype=torch.float16) if dev.type == "cuda" else contextlib.nullcontext()

    bar = tqdm(total=n, initial=n - sum(sizes[c] for c in todo), desc=f"image features {dataset_id}",
               disable=not progress or not todo, unit="img")
    params = list(model.parameters())
    dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
    was_training = model.training
    model.eval()
    try:
        for c in todo:
            start = c * chunk_size
            subset = torch.utils.data.Subset(dataset, range(start, start + sizes[c]))
            loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, shuffle=False,
                                                 num_workers=num_workers)
            feats, labels = [], []
            with torch.no_grad(), amp():
                for images, targets in loader:
                    # match the model's dtype (bf16/fp16 models reject float32 images)
                    feats.append(model.encode_image(images.to(dev, dtype=dtype)).float().cpu())
                    labels.append(torch.as_tensor(targets, dtype=torch.int64))
                    bar.update(len(targets))
            data = {"features": torch.cat(feats).contiguous(), "labels": torch.cat(labels).contiguous()}
            tmp = folder / f"chunk_{c:05d}.safetensors.tmp"
            save_file(data, str(tmp))
            tmp.replace(_chunk_path(folder, c))  # atomic: a chunk file is always complete
            chunks[c] = data
    finally:
        bar.close()
        model.train(was_training)
    features = torch.cat([ch["features"] for ch in chunks])
    labels = torch.cat([ch["labels"] for ch in chunks])
    if todo or not json.loads(manifest_path.read_text()).get("complete"):
        _write_json_atomic(manifest_path, {"key": key, "n_chunks": n_chunks, "complete": True,
                                           "dim": int(features.shape[1])})
    return features, labels
