"""Zero-shot classification with CLIP-style models: prompts, class embeddings, logits.

The five steps of zero-shot CLIP:

1. prompts: each class name is put into one or more templates (``"a photo of a {}."``);
2. text features: the text tower embeds each prompt; per class, the L2-normalised embeddings
   of all templates are averaged and renormalised -> the classifier, a (K, D) matrix;
3. image features: the image tower embeds each image -> (N, D), L2-normalised;
4. cosine similarities (N, K) = image features @ classifierᵀ;
5. logits = ``logit_scale`` · similarities; softmax gives the decision and its confidence.

The logit scale is the model's learned temperature, ``model.logit_scale.exp()`` (100 for
OpenAI's CLIP, where it hit its clamp) — always read it from the model, never assume 100.

Truncated text pass (for TPT too)
---------------------------------
CLIP's text tower is a *causal* transformer, and a prompt's feature is read at its
end-of-text (EOT) token. Tokens after the EOT cannot influence anything at or before it, so
running the transformer on only the first ``max(EOT) + 1`` positions gives the same features
as the full 77-position pass, several times faster for short prompts. The helpers, stable API
(the TPT module imports them)::

    eot_positions(tokens: LongTensor (B, L), model=None) -> LongTensor (B,)
    text_transformer_forward(model, token_embeddings: (B, L', W), eot_idx: LongTensor (B,)) -> (B, D)
        # token_embeddings: the token embeddings of the first L' <= context_length positions
        # (e.g. with learned context vectors spliced in); adds positional_embedding[:L'],
        # runs the transformer with the causal mask cropped to (L', L'), gathers the rows at
        # eot_idx, applies ln_final and text_projection. Unnormalised output; keeps autograd.
    encode_text_truncated(model, tokens, normalize=False) -> (B, D)
    supports_truncation(model) -> bool

Text towers that are not CLIP's causal transformer (``CustomTextCLIP``, Hugging Face towers,
SigLIP's non-causal tower) are not truncated: :func:`encode_text_truncated` falls back to
``model.encode_text`` with a warning, and :func:`text_transformer_forward` raises ``ValueError``.

Chapter 2's analyses of published zero-shot outputs (the logit-scale sweep, the class-name
languages) are views on this method, in :mod:`vlmcal_utils.views.chapter2`.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

# The 80 OpenAI ImageNet templates (callables) and the 1000 class names ship with open_clip.
from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES, OPENAI_IMAGENET_TEMPLATES

from vlmcal_utils.device import autocast, model_device
from vlmcal_utils.progress import progress_bar

SINGLE_TEMPLATE: tuple[str, ...] = ("a photo of a {}.",)
IMAGENET_CLASSNAMES = tuple(IMAGENET_CLASSNAMES)
OPENAI_IMAGENET_TEMPLATES = tuple(OPENAI_IMAGENET_TEMPLATES)

Template = str | Callable[[str], str]

__all__ = [
    "SINGLE_TEMPLATE",
    "OPENAI_IMAGENET_TEMPLATES",
    "IMAGENET_CLASSNAMES",
    "format_prompt",
    "logit_scale",
    "supports_truncation",
    "eot_positions",
    "text_transformer_forward",
    "encode_text_truncated",
    "build_classifier",
    "zeroshot_logits",
]


def format_prompt(template: Template, classname: str) -> str:
    """Fill one template with a class name.

    Parameters
    ----------
    template : str or callable
        A format string with one ``{}`` (``"a photo of a {}."``) or a callable ``classname -> str``
        (open_clip's OpenAI templates are callables).
    classname : str

    Returns
    -------
    str
        The prompt.
    """
    if callable(template):
        return template(classname)
    if not isinstance(template, str) or "{}" not in template:
        raise ValueError(
            f"template {template!r} must be a string containing '{{}}' (e.g. 'a photo of a {{}}.') "
            "or a callable taking the class name"
        )
    return template.format(classname)


def logit_scale(model: torch.nn.Module) -> torch.Tensor:
    """The model's learned logit scale ``exp(model.logit_scale)``.

    Parameters
    ----------
    model : torch.nn.Module
        A CLIP-style model with a ``logit_scale`` parameter (stored as a log).

    Returns
    -------
    torch.Tensor
        0-d float32 on the CPU (100 for OpenAI's CLIP).
    """
    if not hasattr(model, "logit_scale"):
        raise ValueError(f"{type(model).__name__} has no logit_scale; pass the scale explicitly")
    return model.logit_scale.detach().float().exp().reshape(-1)[0].cpu()


def supports_truncation(model: torch.nn.Module) -> bool:
    """Whether the truncated text pass is exact for ``model``.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    bool
        True for open_clip's ``CLIP`` text tower: causal mask + pooling at the EOT token.
    """
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "attn_mask")
    if not all(hasattr(model, name) for name in needed):
        return False
    if model.attn_mask is None:  # no causal mask: later tokens influence earlier ones
        return False
    return getattr(model, "text_pool_type", "argmax") in ("argmax", "eos")


def _require_truncatable(model: torch.nn.Module) -> None:
    if not supports_truncation(model):
        raise ValueError(
            f"{type(model).__name__} does not have CLIP's causal text transformer with EOT "
            "pooling (e.g. CustomTextCLIP, a Hugging Face text tower, or SigLIP); the truncated "
            "text pass would not be exact. Use model.encode_text instead."
        )


def eot_positions(tokens: torch.Tensor, model: torch.nn.Module | None = None) -> torch.Tensor:
    """(B,) index of each prompt's end-of-text token, where the text tower reads its feature.

    CLIP's tokenizer gives EOT the largest token id, so open_clip pools at ``argmax``; with
    ``text_pool_type == "eos"`` it pools at the first ``text_eos_id``.

    Parameters
    ----------
    tokens : torch.Tensor
        int64 ``(B, L)`` token ids.
    model : torch.nn.Module, optional
        Gives the pooling convention; without it, the argmax convention is used.

    Returns
    -------
    torch.Tensor
        int64 ``(B,)``.
    """
    if tokens.ndim != 2:
        raise ValueError(f"tokens must be (B, L), got shape {tuple(tokens.shape)}")
    pool = getattr(model, "text_pool_type", "argmax") if model is not None else "argmax"
    if pool == "eos":
        return (tokens == model.text_eos_id).int().argmax(dim=-1)
    if pool == "argmax":
        return tokens.argmax(dim=-1)
    raise ValueError(f"text_pool_type {pool!r} has no single EOT position; cannot truncate")


def text_transformer_forward(
    model: torch.nn.Module, token_embeddings: torch.Tensor, eot_idx: torch.Tensor
) -> torch.Tensor:
    """Run CLIP's text tower on token EMBEDDINGS (B, L', W), L' <= context length -> (B, D).

    Adds ``positional_embedding[:L']`` (absolute positions are kept), runs the transformer with
    the causal mask cropped to (L', L'), gathers the rows at ``eot_idx`` (B,), then
    ``ln_final`` (per token, so gathering first is exact and cheaper) and ``text_projection``.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip ``CLIP`` (see :func:`supports_truncation`).
    token_embeddings : torch.Tensor
        ``(B, L', W)`` embeddings of the first ``L'`` positions (e.g. with learned context
        vectors spliced in).
    eot_idx : torch.Tensor
        ``(B,)`` end-of-text positions, each ``< L'``.

    Returns
    -------
    torch.Tensor
        ``(B, D)`` unnormalised text features; gradients flow to ``token_embeddings`` (for
        prompt tuning).
    """
    _require_truncatable(model)
    if token_embeddings.ndim != 3:
        raise ValueError(f"token_embeddings must be (B, L, W), got {tuple(token_embeddings.shape)}")
    length = token_embeddings.shape[1]
    ctx = model.positional_embedding.shape[0]
    if length > ctx:
        raise ValueError(f"{length} positions exceed the model's context length {ctx}")
    eot_idx = eot_idx.to(token_embeddings.device).long()
    if eot_idx.shape != (token_embeddings.shape[0],) or int(eot_idx.max()) >= length:
        raise ValueError(
            f"eot_idx must be (B,) with values < L={length}; got shape {tuple(eot_idx.shape)}, "
            f"max {int(eot_idx.max())}. Crop the embeddings to at least max(eot_idx) + 1 positions."
        )
    cast_dtype = model.transformer.get_cast_dtype()
    x = token_embeddings.to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = x[torch.arange(x.shape[0], device=x.device), eot_idx]
    x = model.ln_final(x)
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
    return x


def encode_text_truncated(
    model: torch.nn.Module, tokens: torch.Tensor, normalize: bool = False
) -> torch.Tensor:
    """``model.encode_text(tokens)`` computed on only the first ``max(EOT) + 1`` positions.

    Exact for CLIP's causal text tower (see the module docstring). For other towers it warns
    once and calls ``model.encode_text``.

    Parameters
    ----------
    model : torch.nn.Module
    tokens : torch.Tensor
        int64 ``(B, context_length)`` from the model's tokenizer.
    normalize : bool
        L2-normalise the output.

    Returns
    -------
    torch.Tensor
        ``(B, D)`` text features.
    """
    if not supports_truncation(model):
        warnings.warn(
            f"{type(model).__name__}: text tower is not CLIP's causal transformer; "
            "using the full model.encode_text (no truncation)",
            stacklevel=2,
        )
        return model.encode_text(tokens, normalize=normalize)
    eot = eot_positions(tokens, model)
    length = int(eot.max()) + 1
    emb = model.token_embedding(tokens[:, :length])
    x = text_transformer_forward(model, emb, eot)
    return F.normalize(x, dim=-1) if normalize else x


def build_classifier(
    model: torch.nn.Module,
    tokenizer: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    templates: Iterable[Template] = SINGLE_TEMPLATE,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = True,
    truncate: bool = True,
    amp: str | None = "auto",
) -> torch.Tensor:
    """The zero-shot classifier: one L2-normalised text embedding per class.

    Per class: embed every template's prompt, L2-normalise each, average over templates,
    renormalise (the "prompt ensemble" of Radford et al., 2021).

    Parameters
    ----------
    model : torch.nn.Module
        A CLIP-style model (``encode_text``).
    tokenizer : callable
        A list of strings -> ``(B, context_length)`` int64 tokens.
    classnames : sequence of str
        ``K`` class names.
    templates : iterable of str or callable
        Prompt templates (see :func:`format_prompt`).
    batch_size : int
        Prompts per text-tower pass.
    device : str or torch.device, optional
        Where tokens go (default: the model's device).
    progress : bool
        Show a tqdm bar.
    truncate : bool
        Use the exact truncated text pass (:func:`encode_text_truncated`) where the model allows it.
    amp : {"auto", "bf16", "fp16", None}
        Mixed precision on CUDA (:func:`vlmcal_utils.device.autocast`: ``"auto"`` is bf16 where
        the GPU supports it, else fp16; this module used fp16 before); none on the CPU.

    Returns
    -------
    torch.Tensor
        float32 ``(K, D)`` on the CPU, rows in ``classnames`` order, each of unit norm.

    Notes
    -----
    **Orientation.** open_clip's ``open_clip.build_zero_shot_classifier`` returns the transpose,
    ``(D, K)`` (one *column* per class, used as ``features @ classifier``). Here each class is a
    row, ``(K, D)``, like the ``(N, D)`` image features and the ``(N, K)`` logits
    (:func:`zeroshot_logits` computes ``features @ classifier.T``). Pass open_clip's classifier
    here as ``classifier.T``, and this one to open_clip code as ``.T``.

    Examples
    --------
    >>> import open_clip
    >>> from vlmcal_utils.demo import CLASSNAMES
    >>> from vlmcal_utils.models import load_model
    >>> model, _, tokenizer = load_model("vlmcal-demo", device="cpu")
    >>> W = build_classifier(model, tokenizer, CLASSNAMES, progress=False)  # one prompt per class
    >>> W.shape == (len(CLASSNAMES), model.text_projection.shape[1])  # (K, D)
    True
    >>> bool(torch.allclose(W.norm(dim=1), torch.ones(len(CLASSNAMES))))
    True
    >>> theirs = open_clip.build_zero_shot_classifier(model, tokenizer, CLASSNAMES, templates=["a photo of a {}."],
    ...                                               num_classes_per_batch=None, device="cpu", use_tqdm=False)
    >>> theirs.shape == W.T.shape and bool(torch.allclose(W, theirs.T, atol=1e-5))  # open_clip's is (D, K)
    True
    """
    templates = list(templates)
    classnames = [str(c) for c in classnames]
    if not classnames or not templates:
        raise ValueError("need at least one class name and one template")
    dev = torch.device(device) if device is not None else model_device(model)
    prompts = [format_prompt(t, c) for c in classnames for t in templates]  # class-major
    feats = []
    encode = encode_text_truncated if truncate else (lambda m, t, normalize: m.encode_text(t, normalize=normalize))
    with torch.no_grad(), autocast(dev, amp):
        starts = range(0, len(prompts), batch_size)
        for start in progress_bar(starts, desc="text features", progress=progress, leave=False):
            tokens = tokenizer(prompts[start : start + batch_size]).to(dev)
            feats.append(encode(model, tokens, normalize=True).float().cpu())
    emb = torch.cat(feats).reshape(len(classnames), len(templates), -1)
    return F.normalize(F.normalize(emb, dim=-1).mean(dim=1), dim=-1)


def zeroshot_logits(
    image_features: torch.Tensor | np.ndarray,
    classifier: torch.Tensor | np.ndarray,
    scale: float | torch.Tensor,
    bias: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Zero-shot logits ``scale · normalise(image_features) @ normalise(classifier)ᵀ (+ bias)``.

    Parameters
    ----------
    image_features : torch.Tensor or numpy.ndarray
        ``(N, D)``, raw (unnormalised) features are fine, as cached by :mod:`vlmcal_utils.features`.
    classifier : torch.Tensor or numpy.ndarray
        ``(K, D)`` class embeddings (:func:`build_classifier`).
    scale : float or torch.Tensor
        :func:`logit_scale` of the same model.
    bias : float or torch.Tensor, optional
        SigLIP's ``logit_bias`` (``None`` for CLIP).

    Returns
    -------
    torch.Tensor
        float32 ``(N, K)`` logits.
    """
    img = torch.as_tensor(image_features).float()
    cls = torch.as_tensor(classifier).float().to(img.device)
    if img.ndim != 2 or cls.ndim != 2 or img.shape[1] != cls.shape[1]:
        raise ValueError(
            f"need image_features (N, D) and classifier (K, D) with the same D; got "
            f"{tuple(img.shape)} and {tuple(cls.shape)} — were they made by the same model?"
        )
    logits = torch.as_tensor(scale, dtype=torch.float32) * (F.normalize(img, dim=-1) @ F.normalize(cls, dim=-1).T)
    if bias is not None:
        logits = logits + torch.as_tensor(bias, dtype=torch.float32)
    return logits
