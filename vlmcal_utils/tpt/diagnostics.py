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

import copy
import math
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from vlmcal_utils.tpt.losses import atfd, avg_entropy, select_confident
from vlmcal_utils.tpt.prompts import PromptLearner
from vlmcal_utils.tpt.text import text_features
from vlmcal_utils.tpt.tuning import TPTConfig, clip_logits, tpt_predict

__all__ = ["STEP_FIELDS", "step_diagnostics", "step_table", "step_report", "embedding_spread",
           "prediction_changes", "describe_step"]

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


def _with_logit_scale(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    """A copy of ``model`` whose ``exp(logit_scale)`` is ``scale`` (the original is untouched)."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.logit_scale.fill_(math.log(scale))
    return other


def step_report(
    model: torch.nn.Module,
    learner: PromptLearner,
    views: Sequence[torch.Tensor],
    configs: Mapping[str, TPTConfig],
    what_if_scale: float | None = None,
) -> pd.DataFrame:
    """The mean of :func:`step_table` over the images, one column per method.

    Parameters
    ----------
    model, learner, views
        As in :func:`step_table` (one ``(V, 3, S, S)`` tensor per image).
    configs : mapping of str to TPTConfig
        Method (``"tpt"``, ``"ctpt"``, ...) -> its step.
    what_if_scale : float, optional
        Also measure each method on a copy of ``model`` whose logit scale is this value (columns
        ``"<method> (s=<scale>)"``): a probe of how much the scale alone changes the step's effect.

    Returns
    -------
    pandas.DataFrame
        Rows: the keys of :data:`STEP_FIELDS`; columns: the methods (then the what-if columns).
    """
    def mean(m: torch.nn.Module, method: str, cfg: TPTConfig) -> pd.Series:
        return pd.DataFrame(step_table(m, learner, views, method, cfg)).mean().drop("image")

    report = pd.DataFrame({method: mean(model, method, cfg) for method, cfg in configs.items()})
    if what_if_scale is not None:
        scaled = _with_logit_scale(model, what_if_scale)
        for method, cfg in configs.items():
            report[f"{method} (s={what_if_scale:g})"] = mean(scaled, method, cfg)
    return report


def embedding_spread(model: torch.nn.Module, tokenizer: Callable, texts: Sequence[str]) -> dict[str, float]:
    """Per-coordinate standard deviation of the token embedding: all rows, and the rows ``texts`` use.

    The scale that AdamW's first step (about ``lr`` per coordinate) is to be compared with.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip ``CLIP`` (``token_embedding``).
    tokenizer : callable
        Its tokenizer (token 0 is padding and is left out).
    texts : sequence of str
        E.g. the class names and the initial prompt.

    Returns
    -------
    dict
        ``{"all rows": float, "rows of the words in the prompts": float}``.
    """
    emb = model.token_embedding.weight.detach()
    used = torch.unique(tokenizer(list(texts)))
    used = used[used != 0]
    return {"all rows": float(emb.std()), "rows of the words in the prompts": float(emb[used].std())}


def prediction_changes(runs: Mapping[str, Sequence[Mapping[str, Any]]], base: str = "zeroshot") -> dict[str, float]:
    """The share of images whose predicted class differs from ``base``'s, per other method.

    Parameters
    ----------
    runs : mapping of str to rows
        Method -> :func:`~vlmcal_utils.tpt.run_tpt` rows (``index``, ``logits``) of the same images.
    base : str
        The method compared against.

    Returns
    -------
    dict
        Method -> fraction in ``[0, 1]``.
    """
    pred = {m: {r["index"]: int(np.argmax(r["logits"])) for r in rows} for m, rows in runs.items()}
    if base not in pred:
        raise ValueError(f"runs has no {base!r} rows to compare with (methods: {sorted(pred)})")
    out = {}
    for method, p in pred.items():
        if method == base:
            continue
        if set(p) != set(pred[base]):
            raise ValueError(f"{method} and {base} rows cover different images")
        out[method] = float(np.mean([p[i] != pred[base][i] for i in pred[base]]))
    return out


def describe_step(report: pd.DataFrame, spread: Mapping[str, float], label: str) -> str:
    """What :func:`step_report`'s ``"tpt"`` column (and ``"ctpt"``, the what-if columns) says, in words.

    Parameters
    ----------
    report : pandas.DataFrame
        :func:`step_report` with at least a ``"tpt"`` column (``"ctpt"`` and what-if columns optional).
    spread : mapping
        :func:`embedding_spread`.
    label : str
        What was measured, e.g. ``"DEMO demo-photo, 16 images"``.

    Returns
    -------
    str
        A few lines: the step against the context, the features and logits it moves, TPT's loss,
        ATFD; then the what-if scale's logits and confidences where measured.
    """
    d = report["tpt"]
    drop = 1 - d.selected_entropy_after / d.selected_entropy_before
    lines = [
        f"{label}, mean of one TPT step:",
        f"- the context's coordinates have RMS {d.ctx_rms:.4f}; the step moves them by RMS {d.step_rms:.4f}, "
        f"{d.relative_step:.1%} of the context's norm (token embedding per-coordinate std: "
        f"{spread['all rows']:.4f} over all rows, {spread['rows of the words in the prompts']:.4f} over the "
        "prompt's words);",
        f"- the class features (unit vectors) move by {d.feature_move:.4f}; the original view's logits by at most "
        f"{d.view0_logit_change:.3f}, at logit scale s = {d.logit_scale:.1f} (OpenAI's CLIP: 100, so the same move "
        f"of the features would change CLIP's logits {100 / d.logit_scale:.1f} times as much);",
        f"- TPT's loss on the selected views drops by {drop:.1%} ({d.selected_entropy_before:.3f} -> "
        f"{d.selected_entropy_after:.3f} nats); the original view's confidence goes {d.view0_conf_before:.3f} -> "
        f"{d.view0_conf_after:.3f};",
        f"- ATFD goes {d.atfd_before:.4f} -> {d.atfd_after:.4f} under TPT"
        + (f" and -> {report.loc['atfd_after', 'ctpt']:.4f} under C-TPT." if "ctpt" in report else "."),
    ]
    for column in (c for c in report if c.startswith("tpt (s=")):
        w = report[column]
        scale = column[len("tpt (s="):-1]
        ctpt = report.get(f"ctpt (s={scale})")
        drop_w = 1 - w.selected_entropy_after / w.selected_entropy_before
        lines.append(
            f"What-if, logit scale {scale}: the logits move by up to {w.view0_logit_change:.3f}; the original "
            f"view's confidence goes {w.view0_conf_before:.3f} -> {w.view0_conf_after:.3f} under TPT"
            + (f" and -> {ctpt.view0_conf_after:.3f} under C-TPT" if ctpt is not None else "")
            + f" (at the model's own scale: -> {d.view0_conf_after:.3f}); TPT's loss on the selected views drops "
            f"by {drop_w:.1%} (at the model's own scale: {drop:.1%}).")
    return "\n".join(lines)
