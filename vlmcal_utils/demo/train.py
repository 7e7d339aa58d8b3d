"""Contrastive (CLIP InfoNCE) training of the demo models on the demo world, on the CPU.

Training data: ``split="train"``, ``classes="seen"`` (the 12 held-out classes never appear),
domains ``TRAIN_DOMAINS``, ``n_per_domain`` images each; every step
draws a batch of images and a fresh random caption for each (so one image meets many wordings).
Deterministic: seeded numpy/torch, ``torch.use_deterministic_algorithms(True)`` and a fixed
number of threads (float sums depend on the thread split, so change ``threads`` and the weights
change in the last bits).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import safetensors
import safetensors.torch
import torch
import torch.nn.functional as F

from vlmcal_utils.demo.model import WEIGHTS_DIR, create_demo_model, demo_preprocess, save_demo_weights
from vlmcal_utils.demo.world import TRAIN_DOMAINS, make_caption, make_demo_dataset
from vlmcal_utils.paths import cache_dir
from vlmcal_utils.progress import progress_bar
from vlmcal_utils.storage import atomic_write_bytes, atomic_write_text

__all__ = ["TrainConfig", "DEFAULT_STEPS", "build_pool", "clip_loss", "train_demo_model"]

# Steps of the shipped models (chosen so all three train in ~15 min on 2 shared CPU cores).
DEFAULT_STEPS = {"vlmcal-demo": 2500, "vlmcal-demo-small": 1000, "vlmcal-demo-rn": 2000}


@dataclass
class TrainConfig:
    """Settings of one training run.

    Attributes
    ----------
    model : str
        A demo model name (its open_clip config).
    steps, batch_size, lr, weight_decay, warmup : int or float
        AdamW with linear warm-up and cosine decay.
    n_per_domain : int
        Rendered training images per domain.
    seed : int
        Seeds data, captions and initialisation.
    threads : int
        torch threads (part of the result: float sums depend on the thread split).
    """

    model: str = "vlmcal-demo"
    steps: int = 2500
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    n_per_domain: int = 8000
    seed: int = 0
    threads: int = 1  # 1 is faster than 2 on a busy shared machine, and fixes float sums


def build_pool(n_per_domain: int, seed: int = 0, cache: bool = True) -> tuple[torch.Tensor, list[dict], list[str]]:
    """Render the training images once.

    Parameters
    ----------
    n_per_domain : int
        Images per training domain.
    seed : int
        Seed of the demo world's draws.
    cache : bool
        Keep (and reuse) the pool on disk, see below.

    Returns
    -------
    (torch.Tensor, list of dict, list of str)
        ``images`` ``(N, 3, 32, 32)`` float32, each image's render parameters, its domain.

    Notes
    -----
    Images go through :func:`~vlmcal_utils.demo.model.demo_preprocess` (the same transform as evaluation). With
    ``cache=True`` the pool is kept in ``vlmcal_utils.paths.cache_dir("demo")`` (``$VLMCAL_CACHE/demo``,
    default ``~/.cache/vlmcal/demo``), keyed by its arguments, so several models train on it
    without re-rendering (~4 ms per image). The cache is a ``.safetensors`` file (images) with the
    render parameters as JSON: a cache folder may be shared (a team Drive), so nothing in it is
    ever unpickled; a damaged file is rendered again.
    """
    key = hashlib.sha1(json.dumps([n_per_domain, seed, TRAIN_DOMAINS, 1]).encode()).hexdigest()[:12]
    path = cache_dir("demo") / f"demo_pool_{key}.safetensors"
    cached = _read_pool(path) if cache and path.is_file() else None
    if cached is not None:
        return cached
    pre = demo_preprocess()
    images, params, domains = [], [], []
    for domain in TRAIN_DOMAINS:
        ds = make_demo_dataset(domain, "train", n=n_per_domain, seed=seed, classes="seen")
        for i in progress_bar(range(len(ds)), desc=f"render {domain}", mininterval=5):
            p = ds.params(i)
            images.append(pre(ds.image(i)))
            params.append(p)
            domains.append(domain)
    out = torch.stack(images)
    # the same JSON types (lists, not tuples) whether the pool is fresh or read back from the cache
    params = json.loads(json.dumps(params))
    if cache:
        metadata = {"params": json.dumps(params), "domains": json.dumps(domains)}
        atomic_write_bytes(path, safetensors.torch.save({"images": out}, metadata=metadata))
    return out, params, domains


def _read_pool(path: Path) -> tuple[torch.Tensor, list[dict], list[str]] | None:
    """A cached pool (tensors and JSON only: a cache is never unpickled), ``None`` if damaged."""
    try:
        with safetensors.safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            images = handle.get_tensor("images")
        params, domains = json.loads(metadata["params"]), json.loads(metadata["domains"])
    except (OSError, ValueError, KeyError, safetensors.SafetensorError) as err:
        warnings.warn(f"the cached demo pool {path} is damaged ({type(err).__name__}: {err}); rendering it again",
                      stacklevel=3)
        return None
    if not (len(images) == len(params) == len(domains)):
        warnings.warn(f"the cached demo pool {path} is inconsistent; rendering it again", stacklevel=3)
        return None
    return images, params, domains


def clip_loss(img_feat: torch.Tensor, txt_feat: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE of CLIP: pair i ↔ i.

    Parameters
    ----------
    img_feat, txt_feat : torch.Tensor
        ``(B, D)`` features (normalised inside).
    logit_scale : torch.Tensor
        The log of the scale (as ``model.logit_scale``).

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    img = F.normalize(img_feat, dim=-1)
    txt = F.normalize(txt_feat, dim=-1)
    logits = logit_scale.exp() * img @ txt.t()
    target = torch.arange(len(img))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def _batch(step: int, cfg: TrainConfig, pool, tokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    images, params, domains = pool
    rng = np.random.default_rng([cfg.seed, 7, step + 1])  # step -1: the fixed batch
    idx = rng.choice(len(images), size=min(cfg.batch_size, len(images)), replace=False)
    captions = [make_caption(params[i], domains[i], rng) for i in idx]
    return images[torch.as_tensor(idx)], tokenizer(captions)


def train_demo_model(
    cfg: TrainConfig, out: str | Path | None = WEIGHTS_DIR, pool=None, log_every: int = 100
) -> dict[str, Any]:
    """Train one demo model from scratch; write ``out/<model>.safetensors`` (fp16) if ``out``.

    Parameters
    ----------
    cfg : TrainConfig
        Model, steps, optimiser and data settings.
    out : path or None
        Folder for the weights and ``<model>.train.json`` (default: the shipped weights); ``None``
        writes nothing.
    pool : tuple, optional
        A :func:`build_pool` result to train on (default: built from ``cfg``).
    log_every : int
        Steps per point of the loss curve.

    Returns
    -------
    dict
        A record: config, wall time, loss curve, and ``loss_fixed_before/after`` (the loss on
    one fixed batch with the initial and the final weights, a like-for-like check that training
    lowered the loss). Also returns the trained float32 model under ``"model"``.
    """
    torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    if pool is None:
        pool = build_pool(cfg.n_per_domain, cfg.seed)
    t_pool = time.time() - t0
    model = create_demo_model(cfg.model)
    model.train()
    tokenizer = open_clip.get_tokenizer(cfg.model)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6,
    )

    def lr_at(step: int) -> float:  # linear warm-up, cosine decay (as in CLIP)
        if step < cfg.warmup:
            return cfg.lr * (step + 1) / cfg.warmup
        frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * frac))

    fixed = _batch(-1, cfg, pool, tokenizer)

    def fixed_loss() -> float:
        with torch.no_grad():
            return float(clip_loss(model.encode_image(fixed[0]), model.encode_text(fixed[1]),
                                   model.logit_scale))

    loss_before = fixed_loss()
    curve: list[tuple[int, float]] = []
    running = []
    t1 = time.time()
    for step in progress_bar(range(cfg.steps), desc=f"train {cfg.model}", mininterval=10):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        images, tokens = _batch(step, cfg, pool, tokenizer)
        loss = clip_loss(model.encode_image(images), model.encode_text(tokens), model.logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():  # CLIP clamps the temperature at 100
            model.logit_scale.clamp_(0, math.log(100))
        running.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step + 1 == cfg.steps:
            curve.append((step + 1, float(np.mean(running))))
            running = []
    t_train = time.time() - t1
    model.eval()
    record: dict[str, Any] = {
        "config": asdict(cfg),
        "render_seconds": round(t_pool, 1),
        "train_seconds": round(t_train, 1),
        "loss_curve": curve,
        "loss_fixed_before": loss_before,
        "loss_fixed_after": fixed_loss(),
        "logit_scale": float(model.logit_scale.detach().exp()),
        "torch_version": torch.__version__,
        "open_clip_version": open_clip.__version__,
    }
    if out is not None:
        out = Path(out)
        save_demo_weights(model, out / f"{cfg.model}.safetensors",
                          metadata={"train_config": json.dumps(asdict(cfg))})
        record_path = atomic_write_text(out / f"{cfg.model}.train.json", json.dumps(record, indent=1))
        os.chmod(record_path, 0o644)  # atomic writes create the file owner-only; it ships in the package
    record["model"] = model
    return record
