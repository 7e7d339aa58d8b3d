"""TPT's objective and its calibration regularisers: pure functions on tensors.

The tuning loss of one image is ``avg_entropy(selected views) + regulariser(class features)``:

- TPT (Shu et al. 2022): no regulariser; the entropy of the *average probability* over the
  most confident views (:func:`select_confident`, :func:`avg_entropy`).
- C-TPT (Yoon et al. 2024): ``-lam * ATFD`` (:func:`atfd`), which spreads the class features.

A calibration method is one entry of :data:`REGULARISERS`: a name and a function
``(text_features (..., K, E), lam) -> (...)``. :func:`tuning_loss` adds it to the entropy, so a
new method (an orthogonality or angular-diversity penalty) is one function and one entry here.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "atfd",
    "entropy",
    "avg_entropy",
    "select_confident",
    "Regulariser",
    "ctpt_regulariser",
    "REGULARISERS",
    "tuning_loss",
]


def atfd(text_features: torch.Tensor, squared: bool = False, normalize: bool = True) -> torch.Tensor:
    """Average text feature dispersion (C-TPT): mean over classes of ``||t_k - mean_j t_j||``.

    Parameters
    ----------
    text_features : torch.Tensor
        ``(K, E)`` or ``(..., K, E)`` class features.
    squared : bool
        Average squared distances instead (some slides' form).
    normalize : bool
        L2-normalise the rows first, as the official code's features are for one prompt.
        ``False`` takes the features as they are, which is what the official code does for a
        prompt ensemble (the not renormalised mean, see :class:`~vlmcal_utils.tpt.PromptEnsemble`).

    Returns
    -------
    torch.Tensor
        float32, shape ``(...)`` (a differentiable 0-d tensor for ``(K, E)`` input).
    """
    if text_features.dim() < 2 or text_features.shape[-2] < 1:
        raise ValueError(f"text_features must be (..., K, E), got shape {tuple(text_features.shape)}")
    t = F.normalize(text_features.float(), dim=-1) if normalize else text_features.float()
    d = t - t.mean(dim=-2, keepdim=True)
    dist2 = (d * d).sum(-1)
    return dist2.mean(-1) if squared else torch.linalg.vector_norm(d, dim=-1).mean(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` along the last axis.

    Parameters
    ----------
    logits : torch.Tensor
        ``(..., K)``.

    Returns
    -------
    torch.Tensor
        float32 ``(...)``.
    """
    logp = logits.float().log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def avg_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the average probability over views (TPT's loss).

    Averaging happens in probability space (``logsumexp`` of log-probs minus ``log V``), as in
    the official code; this is *not* the mean of the per-view entropies.

    Parameters
    ----------
    logits : torch.Tensor
        ``(V, K)`` or ``(B, V, K)``.

    Returns
    -------
    torch.Tensor
        float32 ``()`` or ``(B,)``.
    """
    logp = logits.float().log_softmax(-1)
    avg = torch.logsumexp(logp, dim=-2) - math.log(logp.shape[-2])
    avg = avg.clamp(min=torch.finfo(avg.dtype).min)
    return -(avg.exp() * avg).sum(-1)


def select_confident(logits: torch.Tensor, top: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the ``int(V * top)`` lowest-entropy views (TPT's confidence selection).

    Parameters
    ----------
    logits : torch.Tensor
        ``(V, K)`` or ``(B, V, K)``.
    top : float
        Fraction of views kept, in ``(0, 1]`` (TPT: 0.1, i.e. 6 of 64).

    Returns
    -------
    selected : torch.Tensor
        ``(m, K)`` or ``(B, m, K)``, ``m = int(V * top)``.
    index : torch.Tensor
        ``(m,)`` or ``(B, m)`` view indices, lowest entropy first.
    """
    if not 0 < top <= 1:
        raise ValueError(f"top must be in (0, 1], got {top}")
    V = logits.shape[-2]
    m = int(V * top)
    if m < 1:
        raise ValueError(f"int({V} views * {top}) = 0 views kept: use more views or a larger top")
    idx = torch.argsort(entropy(logits), dim=-1)[..., :m]
    sel = torch.gather(logits, -2, idx.unsqueeze(-1).expand(*idx.shape, logits.shape[-1]))
    return sel, idx


#: ``(text_features (..., K, E), lam) -> (...)``: the term a calibration method adds to TPT's loss.
Regulariser = Callable[[torch.Tensor, float], torch.Tensor]


def ctpt_regulariser(text_features: torch.Tensor, lam: float) -> torch.Tensor:
    """C-TPT's term ``-lam * ATFD`` on the features the logits use (not normalised again).

    Parameters
    ----------
    text_features : torch.Tensor
        ``(..., K, E)`` final class features (for an ensemble: the members' mean).
    lam : float
        The weight λ (C-TPT: 50 fine-grained and ImageNet, 20 ImageNet shifts).

    Returns
    -------
    torch.Tensor
        ``(...)``.
    """
    return -lam * atfd(text_features, normalize=False)


#: Calibration regularisers by method name; a method not listed here is plain TPT.
REGULARISERS: dict[str, Regulariser] = {"ctpt": ctpt_regulariser}


def tuning_loss(selected_logits: torch.Tensor, text_features: torch.Tensor, method: str, lam: float) -> torch.Tensor:
    """The per-image loss of one tuning step.

    Parameters
    ----------
    selected_logits : torch.Tensor
        ``(B, m, K)`` logits of the confident views.
    text_features : torch.Tensor
        ``(B, K, E)`` the class features those logits were computed with.
    method : str
        ``"tpt"`` (entropy only) or a key of :data:`REGULARISERS`.
    lam : float
        The regulariser's weight.

    Returns
    -------
    torch.Tensor
        ``(B,)``: sum it for one backward pass (each image's context gets its own gradient).
    """
    loss = avg_entropy(selected_logits)
    regulariser = REGULARISERS.get(method)
    return loss if regulariser is None else loss + regulariser(text_features, lam)
