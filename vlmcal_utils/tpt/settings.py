"""The settings of one TPT/C-TPT run by the papers' protocol, built in one place.

Chapter 4 and the sweep (:mod:`vlmcal_utils.sweep`) both call :func:`protocol_settings`, so a
run computed by either has the same :func:`~vlmcal_utils.tpt.run_fingerprint` and its rows can be
shared. The per-dataset rules come from :mod:`vlmcal_utils.tpt.protocol`: λ (C-TPT's official
scripts: one value for ImageNet and the fine-grained sets, another for ImageNet's natural shifts)
and AugMix (off on ImageNet itself, on elsewhere).
"""

from __future__ import annotations

from typing import Iterable

from vlmcal_utils.tpt.prompts import ensemble_templates
from vlmcal_utils.tpt.protocol import INIT_NAMES, ctpt_lambda, uses_augmix
from vlmcal_utils.tpt.runner import RunSettings
from vlmcal_utils.tpt.tuning import TPTConfig

__all__ = ["HARD_PROMPT", "init_context", "protocol_settings"]

#: TPT's and C-TPT's hand-written initial prompt (their ``ctx_init``).
HARD_PROMPT = "a photo of a"


def init_context(init: str, ensemble: str | Iterable[str] = "tip7") -> str | list[str]:
    """The ``ctx_init`` of :class:`~vlmcal_utils.tpt.RunSettings` for an initialisation.

    Parameters
    ----------
    init : {"hard", "ensemble"}
        ``"hard"``: :data:`HARD_PROMPT`; ``"ensemble"``: the templates of ``ensemble``.
    ensemble : str or iterable of str
        :func:`~vlmcal_utils.tpt.ensemble_templates`' argument (``"tip7"``: TPT's 7 ImageNet
        templates, ``"clip80"``: CLIP's 80, or a list).

    Returns
    -------
    str or list of str
    """
    if init not in INIT_NAMES:
        raise ValueError(f"init must be one of {sorted(INIT_NAMES)}, got {init!r}")
    return HARD_PROMPT if init == "hard" else ensemble_templates(ensemble)


def protocol_settings(dataset: str, init: str, *, ensemble: str | Iterable[str] = "tip7", n_views: int = 64,
                      augmix: bool | str = "auto", selection: float = 0.1, lr: float = 5e-3, steps: int = 1,
                      lam: float = 50.0, lam_shifts: float = 20.0, seed: int = 0) -> RunSettings:
    """The :class:`~vlmcal_utils.tpt.RunSettings` of a run on ``dataset`` from ``init``.

    The defaults are TPT's and C-TPT's (64 views, 10 % kept, AdamW at 5e-3, one step, λ 50 and
    20 on the natural shifts).

    Parameters
    ----------
    dataset : str
        The dataset name (decides λ and AugMix).
    init : {"hard", "ensemble"}
        The prompt initialisation (:func:`init_context`).
    ensemble : str or iterable of str
        The Ensemble's templates.
    n_views, selection, lr, steps, seed
        As in :class:`~vlmcal_utils.tpt.RunSettings` and :class:`~vlmcal_utils.tpt.TPTConfig`.
    augmix : bool or "auto"
        ``"auto"``: :func:`~vlmcal_utils.tpt.uses_augmix`'s rule for ``dataset``.
    lam, lam_shifts : float
        C-TPT's λ on the fine-grained sets and ImageNet, and on ImageNet's shifts
        (:func:`~vlmcal_utils.tpt.ctpt_lambda`).

    Returns
    -------
    RunSettings
    """
    step = TPTConfig(selection=selection, lr=lr, steps=steps,
                     lam=ctpt_lambda(dataset, fine_grained=lam, shifts=lam_shifts))
    return RunSettings(n_views=n_views, augmix=uses_augmix(dataset, augmix), ctx_init=init_context(init, ensemble),
                       seed=seed, tuning=step)
