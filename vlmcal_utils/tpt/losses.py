"""TPT's objective and its calibration regularisers: pure functions on tensors.

The tuning loss of one image is ``avg_entropy(selected views) + regulariser(class features)``:

- TPT (Shu et al. 2022): no regulariser; the entropy of the *average probability* over the
  most confident views (:func:`select_confident`, :func:`avg_entropy`).
- C-TPT (Yoon et al. 2024): ``-lam * ATFD`` (:func:`atfd`), which spreads the class features.
- O-TPT (Sharifdeen et al. 2025): ``+lam * orthogonality`` (:func:`orthogonality`), which pushes
  the normalised class features towards an orthonormal set (Gram matrix towards the identity).
- A-TPT (Ahamed et al. 2026): ``-lam * min_angle`` (:func:`min_angle`), which opens the angle of
  each class feature to its nearest neighbour.

Sign convention: every regulariser is a term *added* to the loss that is minimised, so each is
``lam * (a penalty)`` or ``-lam * (a quantity to increase)``; one AdamW step on it increases
dispersion (C-TPT), orthogonality (O-TPT) and the minimum angle (A-TPT) (tested).

A calibration method is one entry of :data:`REGULARISERS`: a name and a function
``(text_features (..., K, E), lam, **extra) -> (...)``; :data:`REGULARISER_PARAMS` names the
extra hyper-parameters (A-TPT's ``tau``) that :func:`tuning_loss` passes on.
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
    "orthogonality",
    "otpt_regulariser",
    "min_angle",
    "atpt_regulariser",
    "ATPT_TAU",
    "REGULARISERS",
    "REGULARISER_PARAMS",
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


#: ``(text_features (..., K, E), lam, **extra) -> (...)``: the term a method adds to TPT's loss.
Regulariser = Callable[..., torch.Tensor]


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


def _check_features(text_features: torch.Tensor, min_classes: int = 1) -> None:
    if text_features.dim() < 2 or text_features.shape[-2] < min_classes:
        raise ValueError(
            f"text_features must be (..., K, E) with K >= {min_classes}, got shape {tuple(text_features.shape)}"
        )


def orthogonality(text_features: torch.Tensor) -> torch.Tensor:
    """O-TPT's orthogonality penalty: how far the Gram matrix of the normalised class features is from ``I``.

    With rows ``t_k`` L2-normalised and ``G = T T^T`` (so ``G_kk = 1``), the penalty is
    ``mean_k (||G_k||_2 - 1)``, ``G_k`` the ``k``-th row: zero exactly when the features are
    orthonormal (``G = I``), positive otherwise, at most ``sqrt(K) - 1`` (all features equal).

    This is the official expression in closed form. O-TPT's code (the ``'otpt' in
    args.run_type`` block of ``test_time_tuning``, "Householder Transform") reflects each row
    ``x = G_k`` with ``H_k = I - 2 v v^T``, ``v = (x - ||G_{:,k}|| e_k) / ||...||``, and penalises
    ``mean_k ||H_k x - e_k||``. A Householder reflection with that ``v`` maps ``x`` onto
    ``||x|| e_k`` (``G`` is symmetric, so the column norm is the row norm), hence
    ``||H_k x - e_k|| = | ||G_k|| - 1 |`` identically — value and gradient; the test compares
    with a literal transcription on random features. Unlike the transcription, the closed form
    is finite when a row is already orthogonal (there ``v`` is ``0/0``).

    Source: ``ashshaksharifdeen/O-TPT@a09933f54d9da4cc2549a9b2d5a6ad4d183b51a1``
    ``otpt_classification.py`` lines 225-288 (``Wwt = torch.matmul(text_feature,text_feature.T)``
    line 236 to ``loss += (+(lambda_ * Ht_ortho_norm_val))`` line 288; unchanged since commit
    ``a41fb7a``). ``text_feature`` is ``model.textfeatures_`` (line 233), stored by
    ``clip/custom_clip_iptp_bas.py`` line 341 (``l2_norm_cal`` is set for ``otpt`` runs,
    ``otpt_classification.py`` lines 560-561): the features of the one prompt, rows
    L2-normalised at line 323. The official code has no prompt ensemble; for one (the members'
    mean, not unit rows) this function renormalises the rows, our choice.

    Parameters
    ----------
    text_features : torch.Tensor
        ``(K, E)`` or ``(B, K, E)`` class features; rows are L2-normalised here.

    Returns
    -------
    torch.Tensor
        float32 ``()`` or ``(B,)``; lower is more orthogonal.
    """
    _check_features(text_features)
    t = F.normalize(text_features.float(), dim=-1)
    gram = t @ t.transpose(-1, -2)
    return (torch.linalg.vector_norm(gram, dim=-1) - 1.0).mean(-1)


def otpt_regulariser(text_features: torch.Tensor, lam: float) -> torch.Tensor:
    """O-TPT's term ``+lam * orthogonality`` (official: ``loss += (+(lambda_ * Ht_ortho_norm_val))``).

    Parameters
    ----------
    text_features : torch.Tensor
        ``(..., K, E)`` class features (normalised again here; for one prompt they already are).
    lam : float
        The weight λ (official scripts, see :mod:`vlmcal_utils.tpt.family`).

    Returns
    -------
    torch.Tensor
        ``(...)``.
    """
    return lam * orthogonality(text_features)


#: A-TPT's default clamp of the cosine before ``acos`` (official scripts: ``tau_term=0.99999``).
ATPT_TAU = 0.99999


def min_angle(text_features: torch.Tensor, tau: float = ATPT_TAU) -> torch.Tensor:
    """A-TPT's angular term: the mean over classes of the angle (radians) to the nearest other class.

    ``cos_k = max_{j != k} <t_k, t_j>`` of the L2-normalised rows, clamped to ``[-tau, tau]``
    (``acos`` has an infinite slope at ±1), and ``mean_k acos(cos_k)``. The official code
    computes ``min_ang_norm_mean = mean(-acos(clamp(max cos)))``, i.e. ``-min_angle``. It
    excludes the diagonal by subtracting ``2 * diag`` (self-similarity 1 becomes -1, never the
    maximum); here the diagonal is masked to ``-inf`` before the max, the same for normalised rows.

    The sign of the loss term differs between A-TPT's two official scripts (at
    ``MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61692f1355b7e27e0ea5b54add279ffb67``):

    - ``tpt_classification.py`` (run by ``scripts/test_tpt_atpt_ds.sh``), line 255:
      ``loss += ((lambda_) * model.min_ang_norm_mean_training)``, the quantity computed in
      ``clip/custom_clip.py`` lines 319-338 — i.e. ``-lambda_ * min_angle``. Since
      ``d(-acos c)/dc = 1/sqrt(1 - c^2) > 0``, descent lowers each nearest-neighbour cosine:
      it **opens** the angle (maximises the minimum angle).
    - ``atpt_classification.py`` (run by ``scripts/test_tpt_atpt_fg.sh``), lines 258-269,
      line 269: ``loss += ((-lambda_) * min_ang_norm_mean)`` — i.e. ``+lambda_ * min_angle``:
      descent raises the cosines, it **closes** the angle.

    :func:`atpt_regulariser` is ``-lam * min_angle``, the opening sign: the one the README states
    ("maximizing the minimum pairwise angular distance"), that of ``tpt_classification.py`` at
    the current commit and of ``atpt_classification.py`` from commit ``0009c735`` to ``8e8f0fd``
    (``loss += (lambda_* min_ang_norm_mean)``; commit ``64afa8a`` flipped it). Both scripts'
    signs have flipped back and forth in the repository's history; the test transcribes both
    current lines and checks which way one step moves the angle.

    Parameters
    ----------
    text_features : torch.Tensor
        ``(K, E)`` or ``(B, K, E)``, ``K >= 2``; rows are L2-normalised here.
    tau : float
        Clamp of the cosine, in ``(0, 1]`` (official 0.99999).

    Returns
    -------
    torch.Tensor
        float32 ``()`` or ``(B,)``, in ``[acos(tau), pi - acos(tau)]``; higher is more spread.
    """
    _check_features(text_features, min_classes=2)
    if not 0 < tau <= 1:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    t = F.normalize(text_features.float(), dim=-1)
    cos = t @ t.transpose(-1, -2)
    eye = torch.eye(cos.shape[-1], dtype=torch.bool, device=cos.device)
    nearest = cos.masked_fill(eye, float("-inf")).amax(dim=-1)
    return torch.acos(nearest.clamp(-tau, tau)).mean(-1)


def atpt_regulariser(text_features: torch.Tensor, lam: float, tau: float = ATPT_TAU) -> torch.Tensor:
    """A-TPT's term ``-lam * min_angle(tau)``: it opens the angles (see :func:`min_angle` for the official sign).

    Parameters
    ----------
    text_features : torch.Tensor
        ``(..., K, E)`` class features.
    lam : float
        ``lambda_term`` (official scripts: 80 fine-grained, 10 natural shifts).
    tau : float
        ``tau_term`` (official 0.99999).

    Returns
    -------
    torch.Tensor
        ``(...)``.
    """
    return -lam * min_angle(text_features, tau)


#: Calibration regularisers by method name; a method not listed here is plain TPT.
REGULARISERS: dict[str, Regulariser] = {"ctpt": ctpt_regulariser, "otpt": otpt_regulariser, "atpt": atpt_regulariser}

#: Hyper-parameters besides ``lam`` that a regulariser takes (fields of ``TPTConfig``).
REGULARISER_PARAMS: dict[str, tuple[str, ...]] = {"ctpt": (), "otpt": (), "atpt": ("tau",)}


def tuning_loss(selected_logits: torch.Tensor, text_features: torch.Tensor, method: str, lam: float,
                **extra: float) -> torch.Tensor:
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
    **extra
        The method's other hyper-parameters (:data:`REGULARISER_PARAMS`, e.g. ``tau=0.99999``).

    Returns
    -------
    torch.Tensor
        ``(B,)``: sum it for one backward pass (each image's context gets its own gradient).
    """
    loss = avg_entropy(selected_logits)
    regulariser = REGULARISERS.get(method)
    return loss if regulariser is None else loss + regulariser(text_features, lam, **extra)
