"""Learnable prompts: the context vectors TPT tunes, one prompt or an ensemble of them.

A prompt is ``SOS + ctx_1..ctx_n + tokens("{class}{after}") + EOT``; the ``n`` context vectors
start at the token embeddings of the words before the class name (``"a photo of a"``) and are
the only thing optimised. :class:`PromptLearner` holds one such prompt for ``K`` classes;
:class:`PromptEnsemble` holds several (C-TPT's "Ensemble" initialisation).

Shapes: ``K`` classes, ``L`` the model's text context length, ``D`` the text width, ``n``
context tokens, ``B`` images tuned together.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn as nn

from vlmcal_utils.device import model_device
from vlmcal_utils.zeroshot import OPENAI_IMAGENET_TEMPLATES

__all__ = [
    "check_clip_text_tower",
    "PromptLearner",
    "PromptEnsemble",
    "TIP_TEMPLATES",
    "ensemble_templates",
    "make_learner",
]

_TEXT_ATTRS = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection", "attn_mask")


def check_clip_text_tower(model: nn.Module) -> None:
    """Raise ``ValueError`` unless ``model`` has open_clip ``CLIP``'s causal text tower.

    Prompt tuning edits token embeddings in front of the class name and reads the feature at the
    EOT token (the largest BPE id), which needs ``token_embedding``, ``positional_embedding``,
    ``transformer``, ``ln_final``, ``text_projection``, a causal ``attn_mask`` and
    ``text_pool_type == "argmax"``. ``CustomTextCLIP`` (SigLIP, HF text towers, CoCa...) keeps its
    text tower in ``model.text`` with other pooling and is not supported.

    Parameters
    ----------
    model : torch.nn.Module
        The model to check.

    Returns
    -------
    None
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


def _split_template(ctx_init: str | None) -> tuple[str | None, str]:
    """``"a {} in a video game."`` -> ``("a ", " in a video game.")``; plain words -> ``(words, ".")``."""
    if not (ctx_init and "{}" in ctx_init):
        return ctx_init, "."
    if ctx_init.count("{}") != 1:
        raise ValueError(f"ctx_init template {ctx_init!r} must contain exactly one '{{}}' (the class name)")
    before, after = ctx_init.split("{}")
    if not before.strip():
        raise ValueError(
            f"ctx_init template {ctx_init!r} has no words before '{{}}': TPT tunes the words in "
            "front of the class name, so use a template such as 'a photo of a {}.'"
        )
    return before, after.rstrip()


class PromptLearner(nn.Module):
    """Learnable context ``ctx`` (the only parameter) + frozen token embeddings of the prompts.

    Parameters
    ----------
    model : torch.nn.Module
        An open_clip ``CLIP`` (see :func:`check_clip_text_tower`).
    tokenizer : callable
        The model's tokenizer (``open_clip.get_tokenizer(arch)``), returning ``(N, L)`` ids.
    classnames : sequence of str
        ``K`` class names; underscores become spaces, as in the official code.
    n_ctx : int
        Number of context tokens when ``ctx_init`` is None (random normal init, std 0.02); with
        ``ctx_init`` it is the number of BPE tokens of ``ctx_init`` (4 for "a photo of a").
    ctx_init : str or None
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
        device = model_device(model)
        emb = model.token_embedding
        ctx_init, after = _split_template(ctx_init)
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
        init_ids = init_tokens[:, 1 : 1 + n_ctx].expand(len(tokens), -1) if ctx_init else None
        if ctx_init and not torch.equal(tokens[:, 1 : 1 + n_ctx], init_ids):
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
        """``K``, the number of classes (prompts)."""
        return self.tokens.shape[0]

    @torch.no_grad()
    def reset(self) -> None:
        """Restore the context to its initial value (done before every test image)."""
        self.ctx.copy_(self.ctx_init_state)

    def prompts(self, ctx: torch.Tensor | None = None) -> torch.Tensor:
        """Full prompt embeddings.

        Parameters
        ----------
        ctx : torch.Tensor, optional
            ``(n, D)`` or ``(B, n, D)``; default the learner's own ``ctx``.

        Returns
        -------
        torch.Tensor
            ``(K, L, D)`` for a ``(n, D)`` context, ``(B, K, L, D)`` for ``(B, n, D)``.
        """
        ctx = self.ctx if ctx is None else ctx
        single = ctx.dim() == 2
        c = ctx.unsqueeze(0) if single else ctx
        B, K = c.shape[0], self.n_classes
        sos = self.sos.to(c.dtype).expand(B, K, 1, -1)
        suffix = self.suffix.to(c.dtype).expand(B, -1, -1, -1)
        out = torch.cat([sos, c.unsqueeze(1).expand(B, K, -1, -1), suffix], dim=2)
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

    Parameters
    ----------
    model, tokenizer, classnames
        As for :class:`PromptLearner`.
    ctx_inits : sequence of str
        One ``ctx_init`` (words or template) per member.
    renormalize : bool
        L2-normalise the members' mean feature again.

    Notes
    -----
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
        valid = not isinstance(ctx_inits, str) and len(ctx_inits) > 0
        if not (valid and all(isinstance(c, str) and c.strip() for c in ctx_inits)):
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
        """``K``, the number of classes."""
        return self.members[0].n_classes

    @property
    def ctx_init_state(self) -> list[torch.Tensor]:
        """The members' initial contexts, one ``(n_m, D)`` tensor each."""
        return [m.ctx_init_state for m in self.members]

    @property
    def ctx(self) -> list[torch.Tensor]:
        """The members' current contexts (parameters), one ``(n_m, D)`` tensor each."""
        return [m.ctx for m in self.members]

    @torch.no_grad()
    def reset(self) -> None:
        """Restore every member's context to its initial value."""
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
    """Prompt templates as ``"... {} ..."`` strings, each usable as a :class:`PromptLearner` ``ctx_init``.

    open_clip stores CLIP's templates as callables ``classname -> str``; they become strings by
    calling them with ``"{}"``. Cost: every member is a full set of ``K`` prompts through the text
    tower, with gradients, in one graph — 80 members on 1000 ImageNet classes need about 80x the
    memory and time of one prompt.

    Parameters
    ----------
    templates : None, str or iterable
        ``None`` or ``"clip80"``: CLIP's 80 ImageNet templates (the default Ensemble); ``"tip7"``:
        :data:`TIP_TEMPLATES`; or your own iterable of strings/callables.

    Returns
    -------
    list of str
        One template per member, each with exactly one ``{}``.
    """
    named = {"clip80": OPENAI_IMAGENET_TEMPLATES, "tip7": TIP_TEMPLATES}
    if templates is None:
        templates = "clip80"
    if isinstance(templates, str):
        if templates not in named:
            raise ValueError(
                f"unknown template set {templates!r}; choose one of {sorted(named)} or pass a list of templates"
            )
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
) -> PromptLearner | PromptEnsemble:
    """The learner for a ``ctx_init``: one prompt for a string (or None), an ensemble for a list.

    Parameters
    ----------
    model, tokenizer, classnames
        As for :class:`PromptLearner`.
    ctx_init : str, None or sequence of str
        A string (or None: random context of ``n_ctx`` tokens) gives a :class:`PromptLearner`;
        a list gives a :class:`PromptEnsemble` with one member per entry.
    n_ctx : int
        Context length of a random context.
    renormalize : bool
        The ensemble's option (ignored for one prompt).

    Returns
    -------
    PromptLearner or PromptEnsemble
    """
    if ctx_init is None or isinstance(ctx_init, str):
        return PromptLearner(model, tokenizer, classnames, n_ctx=n_ctx, ctx_init=ctx_init)
    return PromptEnsemble(model, tokenizer, classnames, list(ctx_init), renormalize=renormalize)
