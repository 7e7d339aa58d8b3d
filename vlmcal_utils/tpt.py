"""Test-time prompt tuning: TPT (Shu et al., 2022) and C-TPT (Yoon et al., 2024) for open_clip CLIPs.

What runs, per test image (the defaults follow the official code, each is a parameter)
--------------------------------------------------------------------------------------
1. **Views** (:func:`make_views`): view 0 is the image resized (bicubic, short side) and centre
   cropped to the model's resolution; views 1..63 are random-resized crops + horizontal flips of
   the raw image, optionally passed through TPT's own AugMix (``augmix=True``: fine-grained sets;
   the official ImageNet runs use crops + flips only). All views are normalised with the model's
   mean/std. The random numbers come from ``numpy.random.default_rng([seed, index])``, so a view
   set depends only on ``(seed, sample index)``: runs are reproducible and resumable.
2. **Prompt**: ``SOS + ctx_1..ctx_n + tokens("{class}.") + EOT``; the ``n`` context vectors start at
   the token embeddings of ``"a photo of a"`` and are the only thing optimised
   (:class:`PromptLearner`). The text tower runs exactly as ``open_clip.CLIP.encode_text``
   (causal mask, absolute positions, features at the EOT token, then ``text_projection``).
   C-TPT's second initialisation, "Ensemble", is :class:`PromptEnsemble`: several such
   learners (default: CLIP's 80 ImageNet templates, :func:`ensemble_templates`) whose
   normalised class features are averaged; loss and ATFD are computed on that average and one
   step tunes every member (see the class for what the official code does and what is unconfirmed).
3. **Confidence selection** (:func:`select_confident`): keep the ``int(V * 0.1)`` views with the
   lowest prediction entropy (6 of 64), chosen at the first step and kept for later steps.
4. **Loss**: TPT = entropy of the *average probability* of the kept views (:func:`avg_entropy`);
   C-TPT adds ``-lam * ATFD`` (:func:`atfd`, average text feature dispersion of the L2-normalised
   class features; official ``lam``: 50 fine-grained/ImageNet, 20 ImageNet shifts).
5. One AdamW step (lr 5e-3, torch's default weight decay 0.01), then predict view 0 with the
   tuned prompt. Context and optimiser state are reset before every image.

Shapes and conventions
----------------------
``K`` classes, ``V`` views, ``E`` joint embedding width, ``D`` text width, ``n`` context tokens,
``B`` images tuned together. Context tensors are ``(n, D)`` (one image) or ``(B, n, D)``;
text features come back as ``(K, E)`` or ``(B, K, E)``; logits as ``(V, K)`` or ``(B, V, K)``
(``logit_scale.exp() * cos``, plus ``logit_bias`` when the model has one).

Speed-ups (each tested for equivalence against the straightforward computation)
----------------------------------------------------------------------------
- ``truncate``: run the text tower only up to the longest EOT among the prompts. Exact: under the
  causal mask a position never sees later positions, and positional embeddings stay absolute.
  (The pass itself is :func:`vlmcal_utils.zeroshot.text_transformer_forward`.)
- ``share_prefix``: ``SOS + ctx`` is the same for every class and, under the causal mask, its
  hidden states do not depend on the class tokens, so each layer computes them once per image and
  the class tokens attend to that shared key/value prefix.
- image features of the views are computed once per image (frozen image tower) and reused for the
  tuning step and the final prediction; autocast (bf16 by default) on CUDA only.
- batched tuning: ``B`` images each with its own context in one ``(B, n, D)`` tensor and one text
  pass over ``B x K`` prompts. The loss is the SUM of the per-image losses, so each image's
  context gets exactly its own gradient; AdamW is elementwise (its decoupled weight decay
  ``p -= lr * wd * p``, its moments and ``eps`` act per element; the step count is shared and
  equal), so the result equals the per-image loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image, ImageOps

from vlmcal_utils.zeroshot import text_transformer_forward

__all__ = [
    "METHODS",
    "TPTConfig",
    "check_clip_text_tower",
    "PromptLearner",
    "PromptEnsemble",
    "ensemble_templates",
    "TIP_TEMPLATES",
    "make_learner",
    "encode_prompts",
    "text_features",
    "atfd",
    "avg_entropy",
    "entropy",
    "select_confident",
    "preprocess_config",
    "make_views",
    "tpt_predict",
    "official_temperature",
    "run_tpt",
    "read_results",
    "summarize",
]

METHODS = ("zeroshot", "tpt", "ctpt", "tpt+ts")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


# --------------------------------------------------------------------------------------------
# Model checks
# --------------------------------------------------------------------------------------------

_TEXT_ATTRS = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "attn_mask")


def check_clip_text_tower(model: nn.Module) -> None:
    """Raise ``ValueError`` unless ``model`` has open_clip ``CLIP``'s causal text tower.

    Prompt tuning here edits token embeddings in front of the class name and reads the feature at
    the EOT token (the largest BPE id), which needs: ``token_embedding``, ``positional_embedding``,
    ``transformer``, ``ln_final``, ``text_projection``, a causal ``attn_mask`` and
    ``text_pool_type == "argmax"``. ``CustomTextCLIP`` (SigLIP, HF text towers, CoCa...) keeps its
    text tower in ``model.text`` with other pooling and is not supported.
    """
    missing = [a for a in _TEXT_ATTRS if not hasattr(model, a)]
    if missing:
        kind = type(model).__name__
        raise ValueError(
            f"TPT/C-TPT here need an open_clip CLIP with the causal text tower; {kind} lacks "
            f"{missing}. Load a CLIP architecture (e.g. open_clip.create_model('ViT-B-32')); "
            "CustomTextCLIP models such as SigLIP or HF-text towers are not supported."
        )
    if model.attn_mask is None:
        raise ValueError("this CLIP's text tower has no causal attention mask; TPT's prompt layout needs one")
    pool = getattr(model, "text_pool_type", "argmax")
    if pool != "argmax":
        raise ValueError(
            f"text_pool_type is {pool!r}; TPT reads the feature at the EOT token (pool type 'argmax'). "
            "Use a CLIP model with OpenAI-style text pooling."
        )


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# --------------------------------------------------------------------------------------------
# Prompt learner
# --------------------------------------------------------------------------------------------


class PromptLearner(nn.Module):
    """Learnable context ``ctx`` (the only parameter) + frozen token embeddings of the prompts.

    Parameters
    ----------
    model
        An open_clip ``CLIP`` (see :func:`check_clip_text_tower`).
    tokenizer
        The model's tokenizer (``open_clip.get_tokenizer(arch)``), returning ``(N, L)`` ids.
    classnames
        ``K`` class names; underscores become spaces, as in the official code.
    n_ctx
        Number of context tokens when ``ctx_init`` is None (random normal init, std 0.02); with
        ``ctx_init`` it is the number of BPE tokens of ``ctx_init`` (4 for "a photo of a").
    ctx_init
        Words whose token embeddings initialise the context (default ``"a photo of a"``; the
        prompt is then ``"<ctx> {class}."``), or a template with one ``{}`` such as
        ``"a {} in a video game."``: the words before ``{}`` become the learnable context and the
        text after it stays fixed after the class name (``"<ctx> {class} in a video game."``).
        The template form lets every one of CLIP's 80 ImageNet templates be a member of a
        :class:`PromptEnsemble`; ``"a photo of a {}."`` gives exactly the plain ``"a photo of a"``.

    Notes
    -----
    Buffers: ``tokens`` ``(K, L)``, ``sos`` ``(D,)``, ``suffix`` ``(K, L-1-n, D)`` (class tokens,
    the fixed text after them, EOT, padding), ``eot`` ``(K,)`` EOT positions,
    ``ctx_init_state`` ``(n, D)``.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable,
        classnames: Sequence[str],
        n_ctx: int = 4,
        ctx_init: str | None = "a photo of a",
    ) -> None:
        super().__init__()
        check_clip_text_tower(model)
        if len(classnames) == 0:
            raise ValueError("classnames is empty: pass one name per class")
        device = _model_device(model)
        emb = model.token_embedding
        after = "."  # fixed text after the class name
        if ctx_init and "{}" in ctx_init:
            if ctx_init.count("{}") != 1:
                raise ValueError(f"ctx_init template {ctx_init!r} must contain exactly one '{{}}' (the class name)")
            ctx_init, after = ctx_init.split("{}")
            if not ctx_init.strip():
                raise ValueError(
                    f"ctx_init template {ctx_init + '{}' + after!r} has no words before '{{}}': TPT tunes the "
                    "words in front of the class name, so use a template such as 'a photo of a {}.'"
                )
            after = after.rstrip()
        with torch.no_grad():
            if ctx_init:
                ctx_init = ctx_init.replace("_", " ").strip()
                init_tokens = tokenizer([ctx_init]).to(device)
                # one context vector per BPE token of ctx_init (between SOS and EOT)
                n_ctx = int(init_tokens[0].argmax()) - 1
                ctx_vectors = emb(init_tokens)[0, 1 : 1 + n_ctx].float().clone()
                prefix_text = ctx_init
            else:
                if n_ctx < 1:
                    raise ValueError(f"n_ctx must be >= 1, got {n_ctx}")
                g = torch.Generator().manual_seed(0)
                ctx_vectors = (torch.randn(n_ctx, emb.weight.shape[1], generator=g) * 0.02).to(device)
                prefix_text = " ".join(["X"] * n_ctx)
            names = [c.replace("_", " ") for c in classnames]
            self.prompt_texts = [f"{prefix_text} {n}{after}" for n in names]
            n_after = int(tokenizer([after.strip()])[0].argmax()) - 1 if after.strip() else 0
            tokens = tokenizer(self.prompt_texts).to(device)
            embedded = emb(tokens).float()
        eot = tokens.argmax(dim=-1)
        if ctx_init and not torch.equal(tokens[:, 1 : 1 + n_ctx], init_tokens[:, 1 : 1 + n_ctx].expand(len(tokens), -1)):
            raise ValueError(f"the tokens of {ctx_init!r} change when a class name follows; use another ctx_init")
        if int(eot.min()) < n_ctx + 2 + n_after:  # SOS + ctx + >= 1 class token + fixed text + EOT
            raise ValueError("a prompt has no class tokens after the context: some class name is empty")
        if int(eot.max()) >= tokens.shape[1] - 1 and (tokens[:, -1] != 0).any():
            raise ValueError(
                f"a prompt was truncated by the tokenizer (context length {tokens.shape[1]}): shorten "
                "the longest class names or use a model with a longer text context"
            )
        self.n_ctx = n_ctx
        self.classnames = list(classnames)
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("eot", eot, persistent=False)
        self.register_buffer("sos", embedded[0, 0].clone(), persistent=False)
        self.register_buffer("suffix", embedded[:, 1 + n_ctx :].clone(), persistent=False)
        self.register_buffer("ctx_init_state", ctx_vectors.detach().clone(), persistent=False)
        self.ctx = nn.Parameter(ctx_vectors.detach().clone())

    @property
    def n_classes(self) -> int:
        return self.tokens.shape[0]

    @torch.no_grad()
    def reset(self) -> None:
        """Restore the context to its initial value (done before every test image)."""
        self.ctx.copy_(self.ctx_init_state)

    def prompts(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Full prompt embeddings ``(K, L, D)`` for ctx ``(n, D)``, or ``(B, K, L, D)`` for ``(B, n, D)``."""
        ctx = self.ctx if ctx is None else ctx
        single = ctx.dim() == 2
        c = ctx.unsqueeze(0) if single else ctx
        B, K = c.shape[0], self.n_classes
        sos = self.sos.to(c.dtype).expand(B, K, 1, -1)
        out = torch.cat([sos, c.unsqueeze(1).expand(B, K, -1, -1), self.suffix.to(c.dtype).expand(B, -1, -1, -1)], dim=2)
        return out[0] if single else out


class PromptEnsemble(nn.Module):
    """Several prompt learners tuned together; the class features are their average ("Ensemble").

    C-TPT's Tables 1-2 report every model twice: ``HardPrompt`` (context initialised from
    "a photo of a") and ``Ensemble``. What the official code does, as far as it is public:

    - ``hee-suk-yoon/C-TPT``, ``clip/custom_clip.py``, ``ClipTestTimeTuning.get_text_features``
      (inherited unchanged from TPT, ``azshue/TPT``, same file) collects the L2-normalised class
      features of each prompt learner in a list, stacks them and returns their **plain mean —
      not renormalised**. ``inference`` uses that mean both for the logits
      (``logit_scale.exp() * image_features @ text_features.t()``) and for C-TPT's ATFD
      (``text_features - text_features.mean(0)``, L2 norm, mean over classes). TPT's
      entropy and ``-lambda * ATFD`` are therefore computed on the *ensemble's* features and one
      AdamW step updates every member's context from that single loss
      (``tpt_classification.py``, ``test_time_tuning``: one optimiser over
      ``model.prompt_learner.parameters()``).
    - The released code builds that list from **one** learner only; the code that built the
      Ensemble members is not released, and neither the README nor the scripts say which
      prompts they were. Not confirmed, therefore: the member prompts. The paper's Ensemble
      zero-shot accuracies on ImageNet (ViT-B/16 68.2, RN50 59.7) are close to those CLIP's
      80 ImageNet templates give, so the default members here
      (:func:`ensemble_templates`) are those 80 templates, each with its words before the class
      name as a learnable context (:class:`PromptLearner`'s template form).

    ``renormalize=True`` L2-normalises the mean again (CLIP's own zero-shot prompt ensemble
    does); the default ``False`` follows the official function above. Only the confidence
    changes (the mean's norm is below 1, a lower effective logit scale), not the argmax.

    Context tensors are a list with one ``(n_m, D)`` (or ``(B, n_m, D)``) tensor per member;
    members may have different ``n_m``.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Callable,
        classnames: Sequence[str],
        ctx_inits: Sequence[str],
        renormalize: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(ctx_inits, str) or len(ctx_inits) == 0 or not all(isinstance(c, str) and c.strip() for c in ctx_inits):
            raise ValueError(
                "ctx_inits must be a non-empty list of context words or templates, e.g. "
                "['a photo of a', 'a bad photo of the {}.']; for one prompt use PromptLearner"
            )
        self.members = nn.ModuleList(PromptLearner(model, tokenizer, classnames, ctx_init=c) for c in ctx_inits)
        self.ctx_inits = list(ctx_inits)
        self.renormalize = bool(renormalize)
        self.classnames = list(classnames)

    @property
    def n_classes(self) -> int:
        return self.members[0].n_classes

    @property
    def ctx_init_state(self) -> list[torch.Tensor]:
        return [m.ctx_init_state for m in self.members]

    @property
    def ctx(self) -> list[torch.Tensor]:
        return [m.ctx for m in self.members]

    @torch.no_grad()
    def reset(self) -> None:
        for m in self.members:
            m.reset()


#: The 7 templates TPT's ``data/imagnet_prompts.py`` (``tip_imagenet_templates``, from Tip-Adapter)
#: ships next to CLIP's 80; C-TPT imports its class names from that file. A cheaper candidate for
#: the paper's unconfirmed Ensemble members (7x the text-tower cost of one prompt instead of 80x).
TIP_TEMPLATES = (
    "a bad photo of the {}.", "a {} in a video game.", "a origami {}.", "a photo of the small {}.",
    "art of the {}.", "a photo of the large {}.", "itap of a {}.",
)


def ensemble_templates(templates: Iterable[Any] | str | None = None) -> list[str]:
    """Prompt templates as ``"... {} ..."`` strings.

    ``None`` or ``"clip80"``: CLIP's 80 ImageNet templates (the default Ensemble); ``"tip7"``:
    :data:`TIP_TEMPLATES`; or your own iterable of strings/callables. open_clip stores CLIP's
    templates as callables ``classname -> str``; they become strings by calling them with
    ``"{}"``. Each string can be a :class:`PromptLearner` ``ctx_init``. Cost: every member is a
    full set of ``K`` prompts through the text tower, with gradients, in one graph — 80 members
    on 1000 ImageNet classes need about 80x the memory and time of one prompt.
    """
    from vlmcal_utils.zeroshot import OPENAI_IMAGENET_TEMPLATES

    named = {"clip80": OPENAI_IMAGENET_TEMPLATES, "tip7": TIP_TEMPLATES}
    if templates is None:
        templates = "clip80"
    if isinstance(templates, str):
        if templates not in named:
            raise ValueError(f"unknown template set {templates!r}; choose one of {sorted(named)} or pass a list of templates")
        templates = named[templates]
    out = [t if isinstance(t, str) else t("{}") for t in templates]
    bad = [t for t in out if t.count("{}") != 1]
    if bad:
        raise ValueError(f"templates must contain exactly one '{{}}' for the class name; these do not: {bad}")
    return out


def make_learner(
    model: nn.Module,
    tokenizer: Callable,
    classnames: Sequence[str],
    ctx_init: str | Sequence[str] | None = "a photo of a",
    n_ctx: int = 4,
    renormalize: bool = False,
) -> "PromptLearner | PromptEnsemble":
    """A :class:`PromptLearner` for a string (or None: random context), a :class:`PromptEnsemble` for a list."""
    if ctx_init is None or isinstance(ctx_init, str):
        return PromptLearner(model, tokenizer, classnames, n_ctx=n_ctx, ctx_init=ctx_init)
    return PromptEnsemble(model, tokenizer, classnames, list(ctx_init), renormalize=renormalize)


# --------------------------------------------------------------------------------------------
# Text encoding
# --------------------------------------------------------------------------------------------


def _run_block(block: nn.Module, x: torch.Tensor, mask: torch.Tensor, batch_first: bool) -> torch.Tensor:
    if batch_first:
        return block(x, attn_mask=mask)
    return block(x.transpose(0, 1), attn_mask=mask).transpose(0, 1)


def _can_share_prefix(model: nn.Module) -> bool:
    """The prefix path re-implements the attention of open_clip's ``ResidualAttentionBlock``."""
    for blk in model.transformer.resblocks:
        attn = getattr(blk, "attn", None)
        if not isinstance(attn, nn.MultiheadAttention) or hasattr(blk, "ln_1_kv"):
            return False
        if not attn._qkv_same_embed_dim or attn.in_proj_bias is None or attn.bias_k is not None:
            return False
        if not all(hasattr(blk, a) for a in ("ln_1", "ln_2", "mlp", "ls_1", "ls_2")):
            return False
    return True


def _suffix_block(blk: nn.Module, pre: torch.Tensor, suf: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One residual block for the class tokens attending to ``[prefix; class tokens]``.

    ``pre``: ``(B, P, D)`` layer input of each image's shared prefix; ``suf``: ``(B * K, S, D)``
    class-token states, image-major; ``mask``: the ``(S, P + S)`` rows of the causal mask.
    The prefix keys/values are projected once per image and only then repeated over the classes.
    """
    attn: nn.MultiheadAttention = blk.attn
    H = attn.num_heads
    M, S, D = suf.shape
    B, P = pre.shape[:2]
    K = M // B
    dh = D // H
    w, b = attn.in_proj_weight, attn.in_proj_bias
    q, k_s, v_s = F.linear(blk.ln_1(suf), w, b).chunk(3, dim=-1)
    k_p, v_p = F.linear(blk.ln_1(pre), w[D:], b[D:]).chunk(2, dim=-1)  # keys/values only

    def rep(t: torch.Tensor) -> torch.Tensor:  # (B, P, D) -> (B * K, P, D)
        return t.unsqueeze(1).expand(B, K, P, D).reshape(M, P, D)

    k = torch.cat([rep(k_p), k_s], dim=1)
    v = torch.cat([rep(v_p), v_s], dim=1)

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(M, t.shape[1], H, dh).transpose(1, 2)

    o = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask.to(q.dtype))
    o = F.linear(o.transpose(1, 2).reshape(M, S, D), attn.out_proj.weight, attn.out_proj.bias)
    x = suf + blk.ls_1(o)
    return x + blk.ls_2(blk.mlp(blk.ln_2(x)))


def encode_prompts(
    model: nn.Module,
    learner: PromptLearner,
    ctx: torch.Tensor | None = None,
    truncate: bool = True,
    share_prefix: bool = True,
) -> torch.Tensor:
    """Unnormalised text features of the learner's prompts: ``(K, E)`` or ``(B, K, E)``.

    ``truncate=False, share_prefix=False`` is the straightforward computation (77-token passes,
    identical to ``model.encode_text`` on the prompt tokens when ``ctx`` is the init).
    """
    ctx = learner.ctx if ctx is None else ctx
    single = ctx.dim() == 2
    c = ctx.unsqueeze(0) if single else ctx
    B, K = c.shape[0], learner.n_classes
    cast = model.transformer.get_cast_dtype()
    batch_first = getattr(model.transformer, "batch_first", True)
    L = int(learner.eot.max()) + 1 if truncate else learner.tokens.shape[1]
    eot = learner.eot
    if share_prefix and _can_share_prefix(model):
        pos = model.positional_embedding[:L].to(cast)
        mask = model.attn_mask[:L, :L]
        proj = model.text_projection
        P = 1 + learner.n_ctx
        pre = torch.cat([learner.sos.to(cast).expand(B, 1, -1), c.to(cast)], dim=1) + pos[:P]  # (B, P, D)
        suf = learner.suffix[:, : L - P].to(cast) + pos[P:]  # (K, S, D), same for every image
        suf = suf.unsqueeze(0).expand(B, -1, -1, -1).reshape(B * K, L - P, -1)
        pre_mask = mask[:P, :P]
        suf_mask = mask[P:L, :L]
        for blk in model.transformer.resblocks:
            suf = _suffix_block(blk, pre, suf, suf_mask)  # uses this layer's input prefix
            pre = _run_block(blk, pre, pre_mask, batch_first)
        # ln_final acts per token: gather the EOT rows first
        feats = model.ln_final(suf[torch.arange(B * K, device=suf.device), (eot - P).repeat(B)])
        feats = proj(feats) if isinstance(proj, nn.Linear) else feats @ proj
    else:
        # the zero-shot module's (optionally cropped) text pass on embeddings: L = 77 is the full pass
        feats = text_transformer_forward(model, learner.prompts(c)[:, :, :L].reshape(B * K, L, -1), eot.repeat(B))
    feats = feats.reshape(B, K, -1)
    return feats[0] if single else feats


def text_features(model, learner, ctx=None, truncate=True, share_prefix=True) -> torch.Tensor:
    """The class features the logits use, float32 ``(K, E)`` or ``(B, K, E)``.

    :class:`PromptLearner`: the L2-normalised :func:`encode_prompts`. :class:`PromptEnsemble`:
    the mean over members of their L2-normalised features (``ctx`` then is a list with one
    context per member, default the members' own), renormalised only if the ensemble says so.
    """
    if isinstance(learner, PromptEnsemble):
        ctxs = learner.ctx if ctx is None else list(ctx)
        if len(ctxs) != len(learner.members):
            raise ValueError(f"the ensemble has {len(learner.members)} members but {len(ctxs)} contexts were passed")
        feats = torch.stack(
            [text_features(model, m, c, truncate, share_prefix) for m, c in zip(learner.members, ctxs)]
        ).mean(0)
        return F.normalize(feats, dim=-1) if learner.renormalize else feats
    return F.normalize(encode_prompts(model, learner, ctx, truncate, share_prefix).float(), dim=-1)


# --------------------------------------------------------------------------------------------
# Losses and selection
# --------------------------------------------------------------------------------------------


def atfd(text_features: torch.Tensor, squared: bool = False, normalize: bool = True) -> torch.Tensor:
    """Average text feature dispersion (C-TPT): mean over classes of ``||t_k - mean_j t_j||``.

    ``text_features``: ``(K, E)`` (returns a differentiable 0-d tensor) or ``(..., K, E)``
    (returns ``(...)``). Rows are L2-normalised first (``normalize=True``), as the official
    code's features are for one prompt; ``normalize=False`` takes the features as they are,
    which is what the official code does for a prompt ensemble (the not renormalised mean, see
    :class:`PromptEnsemble`). ``squared=True`` averages squared distances (some slides' form).
    """
    if text_features.dim() < 2 or text_features.shape[-2] < 1:
        raise ValueError(f"text_features must be (..., K, E), got shape {tuple(text_features.shape)}")
    t = F.normalize(text_features.float(), dim=-1) if normalize else text_features.float()
    d = t - t.mean(dim=-2, keepdim=True)
    dist2 = (d * d).sum(-1)
    return dist2.mean(-1) if squared else torch.linalg.vector_norm(d, dim=-1).mean(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` along the last axis."""
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def avg_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the average probability over views: ``(V, K) -> ()`` or ``(B, V, K) -> (B,)``.

    Averaging happens in probability space (``logsumexp`` of log-probs minus ``log V``).
    """
    logp = logits.float().log_softmax(-1)
    avg = torch.logsumexp(logp, dim=-2) - math.log(logp.shape[-2])
    avg = avg.clamp(min=torch.finfo(avg.dtype).min)
    return -(avg.exp() * avg).sum(-1)


def select_confident(logits: torch.Tensor, top: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``int(V * top)`` lowest-entropy views: ``(V, K) -> ((m, K), (m,))``; batched over a leading ``B``."""
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top}")
    V = logits.shape[-2]
    m = int(V * top)
    if m < 1:
        raise ValueError(f"int({V} views * {top}) = 0 views kept: use more views or a larger top")
    idx = torch.argsort(entropy(logits), dim=-1)[..., :m]
    sel = torch.gather(logits, -2, idx.unsqueeze(-1).expand(*idx.shape, logits.shape[-1]))
    return sel, idx


# --------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------


def preprocess_config(model: nn.Module) -> dict:
    """``{"size": int, "mean": (3,), "std": (3,)}`` from the model's open_clip preprocess config."""
    import open_clip

    cfg = dict(open_clip.get_model_preprocess_cfg(model) or {})
    size = cfg.get("size", getattr(getattr(model, "visual", None), "image_size", 224))
    if isinstance(size, (tuple, list)):
        if len(set(size)) != 1:
            raise ValueError(f"non-square model input {size} is not supported by make_views")
        size = size[0]
    return {"size": int(size), "mean": tuple(cfg.get("mean", OPENAI_MEAN)), "std": tuple(cfg.get("std", OPENAI_STD))}


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


def _rrc_params(w: int, h: int, rng: np.random.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params, drawing from ``rng``."""
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


# TPT's AugMix operations (those not overlapping ImageNet-C), with its parameter ranges.
def _level(rng, n):
    return rng.uniform(0.1, n)


def _sign(rng, v):
    return -v if rng.uniform() > 0.5 else v


def _affine(img, size, coeffs):
    return img.transform((size, size), Image.AFFINE, coeffs, resample=Image.BILINEAR)


_AUGMIX_OPS = {
    "autocontrast": lambda im, s, r, n: ImageOps.autocontrast(im),
    "equalize": lambda im, s, r, n: ImageOps.equalize(im),
    "posterize": lambda im, s, r, n: ImageOps.posterize(im, 4 - int(_level(r, s) * 4 / 10)),
    "rotate": lambda im, s, r, n: im.rotate(_sign(r, int(_level(r, s) * 30 / 10)), resample=Image.BILINEAR),
    "solarize": lambda im, s, r, n: ImageOps.solarize(im, 256 - int(_level(r, s) * 256 / 10)),
    "shear_x": lambda im, s, r, n: _affine(im, n, (1, _sign(r, _level(r, s) * 0.3 / 10), 0, 0, 1, 0)),
    "shear_y": lambda im, s, r, n: _affine(im, n, (1, 0, 0, _sign(r, _level(r, s) * 0.3 / 10), 1, 0)),
    "translate_x": lambda im, s, r, n: _affine(im, n, (1, 0, _sign(r, int(_level(r, s) * (n / 3) / 10)), 0, 1, 0)),
    "translate_y": lambda im, s, r, n: _affine(im, n, (1, 0, 0, 0, 1, _sign(r, int(_level(r, s) * (n / 3) / 10)))),
}
_AUGMIX_NAMES = tuple(_AUGMIX_OPS)


def make_views(
    image: Any,
    preprocess_cfg: dict,
    n_views: int = 64,
    augmix: bool = False,
    seed: int = 0,
    index: int = 0,
    severity: int = 1,
) -> torch.Tensor:
    """``(n_views, 3, S, S)`` float tensor: view 0 = resize + centre crop, the rest augmented.

    ``image``: PIL image or ``(H, W, 3)`` uint8 array. ``preprocess_cfg``: from
    :func:`preprocess_config`. Augmented view = random resized crop (scale 0.08-1, bilinear) +
    horizontal flip; with ``augmix`` it is mixed as in TPT: 3 chains of 1-3 random ops (severity
    ``severity``), chain weights ~ Dirichlet(1,1,1), mixed with the crop by m ~ Beta(1,1), all after
    normalisation. The random stream is ``default_rng([seed, index])``.
    """
    import torchvision.transforms.functional as TF

    if n_views < 1:
        raise ValueError(f"n_views must be >= 1, got {n_views}")
    S = int(preprocess_cfg["size"])
    mean, std = list(preprocess_cfg["mean"]), list(preprocess_cfg["std"])
    img = _to_pil(image)
    rng = np.random.default_rng([int(seed), int(index)])

    def prep(im: Image.Image) -> torch.Tensor:
        return TF.normalize(TF.to_tensor(im), mean, std)

    base = TF.center_crop(TF.resize(img, S, interpolation=TF.InterpolationMode.BICUBIC), [S, S])
    views = [prep(base)]
    W, H = img.size
    for _ in range(n_views - 1):
        i, j, h, w = _rrc_params(W, H, rng)
        x = TF.resized_crop(img, i, j, h, w, [S, S], interpolation=TF.InterpolationMode.BILINEAR)
        if rng.uniform() < 0.5:
            x = TF.hflip(x)
        xp = prep(x)
        if augmix:
            ws = rng.dirichlet([1.0, 1.0, 1.0]).astype(np.float32)
            m = np.float32(rng.beta(1.0, 1.0))
            mix = torch.zeros_like(xp)
            for c in range(3):
                xa = x.copy()
                for _ in range(int(rng.integers(1, 4))):
                    op = _AUGMIX_OPS[_AUGMIX_NAMES[int(rng.integers(len(_AUGMIX_NAMES)))]]
                    xa = op(xa, severity, rng, S)
                mix += float(ws[c]) * prep(xa)
            xp = float(m) * xp + (1 - float(m)) * mix
        views.append(xp)
    return torch.stack(views)


# --------------------------------------------------------------------------------------------
# Tuning
# --------------------------------------------------------------------------------------------


@dataclass
class TPTConfig:
    """Hyper-parameters and speed options of one TPT/C-TPT step (defaults = official runs)."""

    selection: float = 0.1
    lr: float = 5e-3
    steps: int = 1
    lam: float = 50.0
    weight_decay: float = 0.01  # torch.optim.AdamW default, as the official code
    truncate: bool = True
    share_prefix: bool = True
    cache_image_features: bool = True
    amp: str | None = "auto"  # "auto"/"bf16": bf16 autocast on CUDA (no loss scaling needed); None: fp32


def _autocast(device: torch.device, amp: str | None):
    if device.type != "cuda" or amp is None:
        return torch.autocast(device_type=device.type, enabled=False)
    if amp not in ("auto", "bf16"):
        raise ValueError(f"amp must be 'auto', 'bf16' or None, got {amp!r}")
    return torch.autocast(device_type="cuda", dtype=torch.bfloat16)


def _logits(model, img_feats: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """``(B, V, E) x (B, K, E) -> (B, V, K)`` with the model's scale (and bias); ``txt`` from :func:`text_features`."""
    out = model.logit_scale.exp() * torch.einsum("bve,bke->bvk", img_feats.float(), txt.float())
    if getattr(model, "logit_bias", None) is not None:
        out = out + model.logit_bias
    return out


def tpt_predict(
    model: nn.Module,
    learner: PromptLearner,
    views: torch.Tensor,
    method: str = "tpt",
    cfg: TPTConfig | None = None,
    **overrides: Any,
) -> dict[str, torch.Tensor]:
    """Tune a fresh context on each image's views and predict its view 0.

    ``views``: ``(V, 3, S, S)`` for one image or ``(B, V, 3, S, S)`` for ``B`` images tuned
    together (each with its own context; the loss is the sum over images). ``method``:
    ``"zeroshot"`` (no tuning), ``"tpt"``, ``"ctpt"`` (``"tpt+ts"`` is ``"tpt"`` here; the runner
    divides by the temperature). Returns float32 CPU tensors: ``logits (B, K)`` (view 0, tuned
    prompt), ``atfd (B,)`` (of the tuned prompt's features), ``ctx (B, n, D)`` (a
    :class:`PromptEnsemble`: a list, one per member); ``B`` squeezed for a single image.
    With an ensemble the entropy and ATFD are those of the ensemble's features
    (:func:`text_features`) and the step updates every member. The learner's own ``ctx`` is
    not modified. ``overrides`` replace fields of ``cfg``, e.g. ``tpt_predict(model, learner, views, "ctpt", lam=20.0, steps=2)``.
    """
    cfg = dataclasses.replace(cfg or TPTConfig(), **overrides)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    single = views.dim() == 4
    if views.dim() not in (4, 5):
        raise ValueError(f"views must be (V, 3, S, S) or (B, V, 3, S, S), got {tuple(views.shape)}")
    v = views.unsqueeze(0) if single else views
    B, V = v.shape[:2]
    device = _model_device(model)
    v = v.to(device)
    enc = dict(truncate=cfg.truncate, share_prefix=cfg.share_prefix)

    def image_feats(which: slice) -> torch.Tensor:
        x = v[:, which]
        with torch.no_grad(), _autocast(device, cfg.amp):
            f = model.encode_image(x.reshape(-1, *x.shape[2:]))
        return F.normalize(f.float(), dim=-1).reshape(x.shape[0], x.shape[1], -1)

    tuning = method != "zeroshot" and cfg.steps > 0
    # zero-shot needs only view 0; otherwise all views once (cached) or per forward (straightforward)
    cached = image_feats(slice(None) if tuning else slice(0, 1)) if cfg.cache_image_features else None
    ensemble = isinstance(learner, PromptEnsemble)
    states = learner.ctx_init_state if ensemble else [learner.ctx_init_state]
    ctxs = [nn.Parameter(s.detach().clone().unsqueeze(0).repeat(B, 1, 1)) for s in states]

    def class_feats(cs: list[torch.Tensor]) -> torch.Tensor:
        return text_features(model, learner, cs if ensemble else cs[0], **enc)

    if tuning:
        # one optimiser over all members: AdamW acts per element, as per-member optimisers would
        opt = torch.optim.AdamW(ctxs, lr=cfg.lr, weight_decay=cfg.weight_decay)
        idx = None
        for _ in range(cfg.steps):
            feats = cached if cached is not None else image_feats(slice(None))
            with _autocast(device, cfg.amp):
                txt = class_feats(ctxs)
            logits = _logits(model, feats, txt)
            if idx is None:
                sel, idx = select_confident(logits.detach(), cfg.selection)
            sel = torch.gather(logits, 1, idx.unsqueeze(-1).expand(*idx.shape, logits.shape[-1]))
            loss = avg_entropy(sel)
            if method == "ctpt":
                loss = loss - cfg.lam * atfd(txt, normalize=False)  # txt: the final class features
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
    with torch.no_grad():
        f0 = cached[:, :1] if cached is not None else image_feats(slice(0, 1))
        with _autocast(device, cfg.amp):
            txt = class_feats([c.detach() for c in ctxs])
        logits = _logits(model, f0, txt)[:, 0]
        ctx_out = [c.detach().float().cpu() for c in ctxs]
        if single:
            ctx_out = [c[0] for c in ctx_out]
        out = {"logits": logits.float().cpu(), "atfd": atfd(txt, normalize=False).float().cpu()}
    out = {k: t[0] for k, t in out.items()} if single else out
    out["ctx"] = ctx_out if ensemble else ctx_out[0]
    return out


def official_temperature(model: nn.Module) -> float:
    """The fixed TPT+TS temperature of the C-TPT code: 1.15 for ResNet CLIPs, 1.16 for ViTs."""
    return 1.15 if type(getattr(model, "visual", None)).__name__ == "ModifiedResNet" else 1.16


# --------------------------------------------------------------------------------------------
# Resumable runner
# --------------------------------------------------------------------------------------------


def read_results(out_path: str | os.PathLike, repair: bool = False) -> list[dict]:
    """Rows of a JSONL results file; a truncated last line (a killed write) is dropped.

    With ``repair=True`` the file is rewritten without the bad line (temp file + atomic rename).
    A bad line anywhere but last raises ``ValueError``.
    """
    path = Path(out_path)
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    rows, bad = [], False
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if i != len(lines) - 1:
                raise ValueError(f"{path}: line {i + 1} is not valid JSON; the file is damaged, move it away") from None
            bad = True
    if bad and repair:
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "w") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return rows


def run_fingerprint(model: nn.Module, classnames: Sequence[str], settings: dict) -> str:
    """A short hash of what determines a run's per-sample results: the model's weights, the class
    names and the settings (views, augmentation, context, hyper-parameters, temperature, seed).

    Speed options and the batch size are left out: they give the same results (tested). The
    weights enter through each tensor's name, shape and sum of absolute values — cheap, and enough
    to tell two checkpoints (or a random init from trained weights) apart.
    """
    import hashlib

    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            summary = f"{name}:{tuple(tensor.shape)}:{float(tensor.double().abs().sum()):.6e}"
            digest.update(summary.encode())
    digest.update(json.dumps(list(classnames)).encode())
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def run_tpt(
    model: nn.Module,
    tokenizer: Callable,
    dataset: Sequence,
    classnames: Sequence[str],
    method: str,
    out_path: str | os.PathLike,
    *,
    indices: Iterable[int] | None = None,
    n_views: int = 64,
    augmix: bool = False,
    ctx_init: str | Sequence[str] | None = "a photo of a",
    n_ctx: int = 4,
    renormalize: bool = False,
    cfg: TPTConfig | None = None,
    temperature: float | None = None,
    batch_size: int = 1,
    seed: int = 0,
    progress: bool = True,
    _fail_after: int | None = None,
) -> list[dict]:
    """Run ``method`` on ``dataset[i]`` (an ``(image, label)`` pair) for each index; resumable.

    Each finished image appends one JSON line to ``out_path`` (``flush`` + ``fsync`` after every
    batch): ``index, label, pred, confidence, entropy, atfd, seconds, logits, method``. On restart
    the rows already there are kept, their indices skipped, and a truncated last line is dropped,
    so a killed run resumes without losing or double-counting a sample. ``"tpt+ts"`` runs TPT and
    divides the stored logits by ``temperature`` (default :func:`official_temperature`); fit your
    own with :func:`vlmcal_utils.temperature.fit_temperature` on TPT logits of labelled images.
    ``ctx_init``: a string (one prompt; see :class:`PromptLearner`) or a list of them (a
    :class:`PromptEnsemble`, e.g. ``ensemble_templates()``; ``renormalize`` is its option);
    both enter the run's fingerprint. Returns all rows, sorted by index.
    """
    from tqdm.auto import tqdm

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    cfg = cfg or TPTConfig()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    learner = make_learner(model, tokenizer, classnames, ctx_init, n_ctx=n_ctx, renormalize=renormalize)
    pp = preprocess_config(model)
    T = 1.0
    if method == "tpt+ts":
        T = float(temperature) if temperature is not None else official_temperature(model)
        if not T > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done_rows = read_results(out_path, repair=True)
    other = {r.get("method") for r in done_rows} - {method}
    if other:
        raise ValueError(f"{out_path} holds results of method {sorted(other)}; use a separate file per method")
    # Resuming must never mix rows of another model or other settings into this run's results.
    speed_options = {"truncate", "share_prefix", "cache_image_features", "amp"}
    settings = {
        "method": method, "n_views": n_views, "augmix": augmix, "ctx_init": ctx_init,
        "n_ctx": n_ctx, "temperature": T, "seed": seed,
        **{k: v for k, v in dataclasses.asdict(cfg).items() if k not in speed_options},
    }
    if isinstance(learner, PromptEnsemble):  # (kept out for one prompt: older runs stay resumable)
        settings.update(ctx_init=list(ctx_init), ensemble_renormalize=learner.renormalize)
    fingerprint = run_fingerprint(model, classnames, settings)
    foreign = {r.get("run") for r in done_rows} - {fingerprint}
    if foreign:
        raise ValueError(
            f"{out_path} holds results of another model or other settings (run {sorted(map(str, foreign))}, "
            f"this run {fingerprint}); point out_path (the notebook's results_dir) elsewhere or delete the file"
        )
    done = {int(r["index"]) for r in done_rows}
    todo = [int(i) for i in (range(len(dataset)) if indices is None else indices) if int(i) not in done]
    tune_method = "tpt" if method == "tpt+ts" else method
    n_written = 0
    with open(out_path, "a") as fh, tqdm(total=len(todo), disable=not progress, desc=method) as bar:
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            t0 = time.perf_counter()
            items = [dataset[i] for i in chunk]
            nv = 1 if method == "zeroshot" else n_views  # zero-shot looks at view 0 only
            views = torch.stack(
                [make_views(img, pp, n_views=nv, augmix=augmix, seed=seed, index=i) for i, (img, _) in zip(chunk, items)]
            )
            res = tpt_predict(model, learner, views, tune_method, cfg)
            secs = (time.perf_counter() - t0) / len(chunk)
            logits = res["logits"] / T
            for b, (i, (_, label)) in enumerate(zip(chunk, items)):
                if _fail_after is not None and n_written >= _fail_after:
                    raise RuntimeError(f"simulated kill after {n_written} samples")
                lg = logits[b]
                p = lg.softmax(-1)
                row = {
                    "index": i,
                    "label": int(label),
                    "pred": int(lg.argmax()),
                    "confidence": float(p.max()),
                    "entropy": float(entropy(lg)),
                    "atfd": float(res["atfd"][b]),
                    "seconds": secs,
                    "method": method,
                    "run": fingerprint,
                    "temperature": T,
                    "logits": [round(float(z), 6) for z in lg],
                }
                fh.write(json.dumps(row) + "\n")
                n_written += 1
            fh.flush()
            os.fsync(fh.fileno())
            bar.update(len(chunk))
    return sorted(read_results(out_path), key=lambda r: r["index"])


def summarize(rows: Sequence[dict], ece_bins: Sequence[int] = (15, 20)) -> dict[str, float]:
    """Accuracy, ECE for each bin count (equal width, top label), mean ATFD and seconds, ``n``."""
    from vlmcal_utils.metrics import accuracy, ece, softmax

    if not rows:
        raise ValueError("no rows to summarise: run run_tpt first")
    logits = np.array([r["logits"] for r in rows], dtype=np.float64)
    labels = np.array([r["label"] for r in rows])
    probs = softmax(logits)
    out = {"n": len(rows), "accuracy": accuracy(probs, labels)}
    for nb in ece_bins:
        out[f"ece_{nb}"] = ece(probs, labels, n_bins=nb)
    out["atfd"] = float(np.mean([r["atfd"] for r in rows]))
    out["seconds"] = float(np.mean([r["seconds"] for r in rows]))
    return out
