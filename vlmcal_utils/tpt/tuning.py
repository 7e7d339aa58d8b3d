"""One test-time tuning step per image, and the prediction with the tuned prompt.

What runs per image (the defaults follow the official code; each is a :class:`TPTConfig` field):

1. Image features of the views (:mod:`vlmcal_utils.tpt.views`), computed once with the frozen
   image tower and reused for the step and the final prediction (``cache_image_features``).
2. Confidence selection (:func:`~vlmcal_utils.tpt.losses.select_confident`): the ``int(V * 0.1)``
   lowest-entropy views, chosen at the first step and kept for later steps.
3. Loss (:func:`~vlmcal_utils.tpt.losses.tuning_loss`): TPT's average-probability entropy, plus
   the method's regulariser (C-TPT: ``-lam * ATFD``).
4. One AdamW step (lr 5e-3, torch's default weight decay 0.01) on a fresh context, then view 0 is
   classified with the tuned prompt. The learner itself is never modified.

Batched tuning: ``B`` images each with its own context in one ``(B, n, D)`` tensor and one text
pass over ``B x K`` prompts. The loss is the SUM of the per-image losses, so each image's context
gets exactly its own gradient; AdamW is elementwise (its decoupled weight decay, its moments and
``eps`` act per element; the step count is shared and equal), so the result equals the per-image
loop.

Mixed precision (CUDA only, :func:`vlmcal_utils.device.autocast`): ``amp="auto"`` is bf16 where
the GPU supports it, else fp16. In fp16 the step scales the loss with a ``GradScaler``
(``init_scale=1000`` as the official code; bf16 has float32's range and needs none).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vlmcal_utils.device import amp_dtype, autocast, model_device
from vlmcal_utils.tpt.losses import (
    ATPT_TAU,
    REGULARISER_PARAMS,
    REGULARISERS,
    atfd,
    min_angle,
    orthogonality,
    select_confident,
    tuning_loss,
)
from vlmcal_utils.tpt.prompts import PromptEnsemble, PromptLearner
from vlmcal_utils.tpt.text import text_features

__all__ = [
    "METHODS",
    "TPTConfig",
    "SPEED_OPTIONS",
    "REGULARISER_FIELDS",
    "result_fields",
    "clip_logits",
    "tpt_predict",
    "official_temperature",
    "OFFICIAL_GRAD_SCALE",
]

#: ``"zeroshot"`` (no tuning), ``"tpt"``, one per calibration regulariser (``"ctpt"``, ``"otpt"``,
#: ``"atpt"``) and
#: ``"tpt+ts"`` (TPT, then the runner divides the logits by a temperature).
METHODS = ("zeroshot", "tpt", *REGULARISERS, "tpt+ts")

#: The official code's ``torch.cuda.amp.GradScaler(init_scale=1000)`` (TPT and C-TPT).
OFFICIAL_GRAD_SCALE = 1000.0


@dataclass
class TPTConfig:
    """Hyper-parameters and speed options of one TPT/C-TPT tuning step (defaults = official runs).

    Parameters
    ----------
    selection : float
        Fraction of lowest-entropy views kept (TPT: 0.1).
    lr : float
        AdamW learning rate (TPT: 5e-3).
    steps : int
        Tuning steps per image (TPT: 1).
    lam : float
        Weight of the method's regulariser (C-TPT's λ, see :func:`vlmcal_utils.tpt.ctpt_lambda`;
        O-TPT's and A-TPT's in :mod:`vlmcal_utils.tpt.family`).
    tau : float
        A-TPT's clamp of the cosine before ``acos`` (``tau_term``; only ``"atpt"`` uses it).
    weight_decay : float
        AdamW weight decay (torch's default 0.01, as the official code).
    truncate, share_prefix, cache_image_features : bool
        Exact speed-ups (same results; see :mod:`vlmcal_utils.tpt.text`).
    amp : {"auto", "bf16", "fp16", None}
        Autocast on CUDA (see :func:`vlmcal_utils.device.amp_dtype`); ``None``: float32.
    """

    selection: float = 0.1
    lr: float = 5e-3
    steps: int = 1
    lam: float = 50.0
    tau: float = ATPT_TAU
    weight_decay: float = 0.01
    truncate: bool = True
    share_prefix: bool = True
    cache_image_features: bool = True
    amp: str | None = "auto"


#: Fields of :class:`TPTConfig` that change speed, not results (left out of run fingerprints).
SPEED_OPTIONS = ("truncate", "share_prefix", "cache_image_features", "amp")

#: Fields of :class:`TPTConfig` that only a regulariser reads (``lam`` and each method's extras).
REGULARISER_FIELDS = ("lam", *sorted({k for ks in REGULARISER_PARAMS.values() for k in ks}))


def result_fields(method: str) -> tuple[str, ...]:
    """The :class:`TPTConfig` fields that change the results of ``method`` (its run fingerprint).

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.

    Returns
    -------
    tuple of str
        ``()`` for ``"zeroshot"`` (no tuning); the optimiser's fields for ``"tpt"``/``"tpt+ts"``;
        plus ``lam`` and the method's extras (A-TPT: ``tau``) for a regularised method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if method == "zeroshot":
        return ()
    base = tuple(f.name for f in dataclasses.fields(TPTConfig)
                 if f.name not in SPEED_OPTIONS and f.name not in REGULARISER_FIELDS)
    if method in REGULARISERS:
        return (*base, "lam", *REGULARISER_PARAMS.get(method, ()))
    return base


def clip_logits(model: nn.Module, image_features: torch.Tensor, class_features: torch.Tensor) -> torch.Tensor:
    """CLIP's logits for each image's own class features.

    Parameters
    ----------
    model : torch.nn.Module
        Supplies ``logit_scale`` (and ``logit_bias`` when it has one).
    image_features : torch.Tensor
        ``(B, V, E)`` L2-normalised view features.
    class_features : torch.Tensor
        ``(B, K, E)`` from :func:`~vlmcal_utils.tpt.text_features`.

    Returns
    -------
    torch.Tensor
        float32 ``(B, V, K)``: ``logit_scale.exp() * cos`` (+ ``logit_bias``).
    """
    out = model.logit_scale.exp() * torch.einsum("bve,bke->bvk", image_features.float(), class_features.float())
    if getattr(model, "logit_bias", None) is not None:
        out = out + model.logit_bias
    return out


def _grad_scaler(device: torch.device, amp: str | None) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 autocast (CUDA only), else ``None``.

    One scaler per call, so an image's result does not depend on the images before it (the
    official code keeps one scaler for the whole run; with its scale of 1000 a step is rarely
    skipped either way).
    """
    if amp_dtype(device, amp) is torch.float16:
        return torch.amp.GradScaler(torch.device(device).type, init_scale=OFFICIAL_GRAD_SCALE)
    return None


def _backward_and_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        opt.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(opt)  # unscales first; skips the step if a gradient overflowed
        scaler.update()


def tpt_predict(
    model: nn.Module,
    learner: PromptLearner | PromptEnsemble,
    views: torch.Tensor,
    method: str = "tpt",
    cfg: TPTConfig | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Tune a fresh context on each image's views and predict its view 0.

    Parameters
    ----------
    model : torch.nn.Module
        The frozen open_clip ``CLIP``.
    learner : PromptLearner or PromptEnsemble
        Supplies the initial context (never modified). With an ensemble the entropy and ATFD
        are those of the ensemble's features and one step updates every member.
    views : torch.Tensor
        ``(V, 3, S, S)`` for one image or ``(B, V, 3, S, S)`` for ``B`` images tuned together
        (each with its own context; the loss is the sum over images).
    method : str
        One of :data:`METHODS`: ``"zeroshot"`` (no tuning), ``"tpt"``, ``"ctpt"``, ``"otpt"``,
        ``"atpt"``; ``"tpt+ts"`` is
        ``"tpt"`` here (the runner divides by the temperature).
    cfg : TPTConfig, optional
        Default ``TPTConfig()``.
    **overrides
        Replace fields of ``cfg``, e.g. ``tpt_predict(model, learner, views, "ctpt", lam=20.0)``.

    Returns
    -------
    dict
        float32 CPU tensors: ``"logits"`` ``(B, K)`` (view 0, tuned prompt), ``"atfd"``,
        ``"orthogonality"``, ``"min_angle"`` ``(B,)`` (of the tuned prompt's features; the angle
        unclamped, ``tau=1``), ``"ctx"`` ``(B, n, D)`` (an ensemble: a list, one per
        member); ``B`` squeezed for a single image.
    """
    cfg = dataclasses.replace(cfg or TPTConfig(), **overrides)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if views.dim() not in (4, 5):
        raise ValueError(f"views must be (V, 3, S, S) or (B, V, 3, S, S), got {tuple(views.shape)}")
    single = views.dim() == 4
    device = model_device(model)
    amp_dtype(device, cfg.amp)  # validates cfg.amp on every device, not only on CUDA
    v = (views.unsqueeze(0) if single else views).to(device)
    tuning = method != "zeroshot" and cfg.steps > 0
    # zero-shot needs only view 0; otherwise all views once (cached) or per forward (straightforward)
    cached = _image_features(model, v, slice(None) if tuning else slice(0, 1), cfg) if cfg.cache_image_features \
        else None
    ensemble = isinstance(learner, PromptEnsemble)
    states = learner.ctx_init_state if ensemble else [learner.ctx_init_state]
    ctxs = [nn.Parameter(s.detach().clone().unsqueeze(0).repeat(v.shape[0], 1, 1)) for s in states]
    if tuning:
        _tune_contexts(model, learner, v, ctxs, cached, method, cfg)
    out = _predict_view0(model, learner, v, ctxs, cached, cfg)
    ctx_out = [c.detach().float().cpu() for c in ctxs]
    if single:
        out = {k: t[0] for k, t in out.items()}
        ctx_out = [c[0] for c in ctx_out]
    out["ctx"] = ctx_out if ensemble else ctx_out[0]
    return out


def _image_features(model: nn.Module, v: torch.Tensor, which: slice, cfg: TPTConfig) -> torch.Tensor:
    """``(B, V', E)`` L2-normalised features of the views ``v[:, which]`` (frozen image tower)."""
    x = v[:, which]
    device = model_device(model)
    with torch.no_grad(), autocast(device, cfg.amp):
        f = model.encode_image(x.reshape(-1, *x.shape[2:]))
    return F.normalize(f.float(), dim=-1).reshape(x.shape[0], x.shape[1], -1)


def _class_features(model: nn.Module, learner: PromptLearner | PromptEnsemble, ctxs: list[torch.Tensor],
                    cfg: TPTConfig) -> torch.Tensor:
    """The class features under the contexts (one per ensemble member), in autocast."""
    with autocast(model_device(model), cfg.amp):
        return text_features(model, learner, ctxs if isinstance(learner, PromptEnsemble) else ctxs[0],
                             truncate=cfg.truncate, share_prefix=cfg.share_prefix)


def _tune_contexts(model: nn.Module, learner: PromptLearner | PromptEnsemble, v: torch.Tensor,
                   ctxs: list[nn.Parameter], cached: torch.Tensor | None, method: str, cfg: TPTConfig) -> None:
    """``cfg.steps`` AdamW steps on ``ctxs`` (in place): the confident views' entropy plus the regulariser."""
    # one optimiser over all members: AdamW acts per element, as per-member optimisers would
    opt = torch.optim.AdamW(ctxs, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scaler = _grad_scaler(model_device(model), cfg.amp)
    extra = {k: getattr(cfg, k) for k in REGULARISER_PARAMS.get(method, ())}
    idx = None
    for _ in range(cfg.steps):
        feats = cached if cached is not None else _image_features(model, v, slice(None), cfg)
        txt = _class_features(model, learner, ctxs, cfg)
        logits = clip_logits(model, feats, txt)
        if idx is None:  # chosen at the first step, kept for later steps
            _, idx = select_confident(logits.detach(), cfg.selection)
        sel = torch.gather(logits, 1, idx.unsqueeze(-1).expand(*idx.shape, logits.shape[-1]))
        loss = tuning_loss(sel, txt, method, cfg.lam, **extra)  # "tpt+ts" has no regulariser: plain TPT
        _backward_and_step(loss.sum(), opt, scaler)


def _predict_view0(model: nn.Module, learner: PromptLearner | PromptEnsemble, v: torch.Tensor,
                   ctxs: list[torch.Tensor], cached: torch.Tensor | None, cfg: TPTConfig) -> dict[str, torch.Tensor]:
    """View 0's logits under the (tuned) contexts and the geometry of their class features, ``(B, ...)``."""
    with torch.no_grad():
        f0 = cached[:, :1] if cached is not None else _image_features(model, v, slice(0, 1), cfg)
        txt = _class_features(model, learner, [c.detach() for c in ctxs], cfg)
        logits = clip_logits(model, f0, txt)[:, 0]
        angle = min_angle(txt, tau=1.0).cpu() if txt.shape[-2] > 1 else torch.full((v.shape[0],), float("nan"))
        return {"logits": logits.float().cpu(), "atfd": atfd(txt, normalize=False).float().cpu(),
                "orthogonality": orthogonality(txt).cpu(), "min_angle": angle}


def official_temperature(model: nn.Module) -> float:
    """The fixed TPT+TS temperature of the C-TPT code.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip ``CLIP``.

    Returns
    -------
    float
        1.15 for ResNet image towers (``ModifiedResNet``), 1.16 otherwise (ViTs).
    """
    return 1.15 if type(getattr(model, "visual", None)).__name__ == "ModifiedResNet" else 1.16
