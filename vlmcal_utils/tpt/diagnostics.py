"""How far one TPT step moves a prompt, its class features and the model's predictions.

Chapter 4 uses this to explain why a model reacts weakly (or strongly) to test-time prompt
tuning: AdamW's first step moves every context coordinate by about ``lr`` whatever the gradient's
size, so what matters is how large ``lr`` is against the context vectors themselves, how much the
text tower turns that move into a move of the L2-normalised class features, and how much the
logit scale ``exp(logit_scale)`` turns a change of cosine into a change of logits.

Conventions: one image at a time, a single prompt (:class:`~vlmcal_utils.tpt.PromptLearner`),
``V`` views with the original image first, ``K`` classes. Confidences are top-label maxima of the
softmax; entropies are in nats. The selected views are TPT's (lowest-entropy ``selection``
fraction under the initial prompt), kept fixed before and after the step, as in the step itself.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn.functional as F

from vlmcal_utils.tpt.losses import atfd, avg_entropy, select_confident
from vlmcal_utils.tpt.prompts import PromptLearner
from vlmcal_utils.tpt.text import text_features
from vlmcal_utils.tpt.tuning import TPTConfig, clip_logits, tpt_predict

__all__ = ["STEP_FIELDS", "step_diagnostics", "step_table"]

#: The keys of :func:`step_diagnostics`, with what each one measures.
STEP_FIELDS = {
    "ctx_rms": "root mean square of the initial context's coordinates",
    "step_rms": "root mean square of the step's change of the context",
    "relative_step": "||context after - before|| / ||context before||",
    "feature_move": "mean over classes of ||t_k after - t_k before|| (L2-normalised class features)",
    "view0_logit_change": "largest |change| of the original view's logits",
    "view0_conf_before": "top-label confidence of the original view, initial prompt",
    "view0_conf_after": "the same after the step",
    "selected_entropy_before": "TPT's loss: entropy of the mean prediction over the selected views",
    "selected_entropy_after": "the same after the step (same views)",
    "atfd_before": "ATFD of the initial class features",
    "atfd_after": "ATFD after the step",
    "logit_scale": "exp(logit_scale) of the model",
}


def _logits(model: torch.nn.Module, learner: PromptLearner, image_feats: torch.Tensor, ctx: torch.Tensor):
    with torch.no_grad():
        txt = text_features(model, learner, ctx.unsqueeze(0).to(image_feats.device)).float()  # (1, K, E)
        return clip_logits(model, image_feats.unsqueeze(0), txt)[0], txt[0]  # (V, K), (K, E)


def step_diagnostics(
    model: torch.nn.Module,
    learner: PromptLearner,
    views: torch.Tensor,
    method: str = "tpt",
    cfg: TPTConfig | None = None,
) -> dict[str, float]:
    """Measure one image's tuning step (:func:`~vlmcal_utils.tpt.tpt_predict`) from the inside.

    Parameters
    ----------
    model : torch.nn.Module
        The frozen open_clip ``CLIP``.
    learner : PromptLearner
        A single prompt (an ensemble has one context per member: not supported).
    views : torch.Tensor
        ``(V, 3, S, S)``, view 0 the original image.
    method : str
        ``"tpt"``, ``"ctpt"``, ... as in :func:`~vlmcal_utils.tpt.tpt_predict`.
    cfg : TPTConfig, optional
        The step (default ``TPTConfig()``: lr 5e-3, one step, 10 % of the views).

    Returns
    -------
    dict
        The floats of :data:`STEP_FIELDS`.
    """
    if not isinstance(learner, PromptLearner):
        raise TypeError("step_diagnostics measures a single prompt (PromptLearner), not an ensemble")
    if views.dim() != 4:
        raise ValueError(f"views must be (V, 3, S, S) for one image, got {tuple(views.shape)}")
    cfg = cfg or TPTConfig()
    device = next(model.parameters()).device
    with torch.no_grad():
        feats = F.normalize(model.encode_image(views.to(device)).float(), dim=-1)  # (V, E)
    ctx0 = learner.ctx_init_state.detach().float()
    z0, t0 = _logits(model, learner, feats, ctx0)
    _, idx = select_confident(z0, cfg.selection)
    ctx1 = tpt_predict(model, learner, views, method, cfg)["ctx"].float().to(ctx0.device)
    z1, t1 = _logits(model, learner, feats, ctx1)
    step = ctx1 - ctx0
    p0, p1 = z0[0].softmax(-1), z1[0].softmax(-1)
    return {
        "ctx_rms": float(ctx0.pow(2).mean().sqrt()),
        "step_rms": float(step.pow(2).mean().sqrt()),
        "relative_step": float(step.norm() / ctx0.norm()),
        "feature_move": float((t1 - t0).norm(dim=-1).mean()),
        "view0_logit_change": float((z1[0] - z0[0]).abs().max()),
        "view0_conf_before": float(p0.max()),
        "view0_conf_after": float(p1.max()),
        "selected_entropy_before": float(avg_entropy(z0[idx])),
        "selected_entropy_after": float(avg_entropy(z1[idx])),
        "atfd_before": float(atfd(t0, normalize=False)),
        "atfd_after": float(atfd(t1, normalize=False)),
        "logit_scale": float(model.logit_scale.detach().exp()),
    }


def step_table(
    model: torch.nn.Module,
    learner: PromptLearner,
    views: Iterable[torch.Tensor],
    method: str = "tpt",
    cfg: TPTConfig | None = None,
) -> list[dict[str, Any]]:
    """:func:`step_diagnostics` for several images: one dict per image (``image``: its position)."""
    return [{"image": i, **step_diagnostics(model, learner, v, method, cfg)} for i, v in enumerate(views)]
