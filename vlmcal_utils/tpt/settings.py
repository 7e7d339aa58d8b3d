"""A TPT run's configuration, one type: :class:`RunSettings`, its defaults the papers' protocol.

Everything besides the model, the data and the method that decides a run's rows is one
:class:`RunSettings`. Its defaults are TPT's and C-TPT's (64 views, the initial prompt "a photo
of a", 10 % of the views kept, one AdamW step at 5e-3) and the per-dataset rules of
:mod:`vlmcal_utils.tpt.protocol` resolve themselves from its ``dataset``: AugMix (``augmix="auto"``,
:func:`~vlmcal_utils.tpt.uses_augmix`). λ (and A-TPT's τ) depend on the method too; they are set
by :meth:`RunSettings.protocol`, the one way chapters 4 and 5, the sweep and the benchmarks build a
run's settings (:meth:`RunSettings.from_params` reads a notebook's parameters into it). So a run
computed by any of them has the same :func:`~vlmcal_utils.tpt.run_fingerprint` and its rows are
shared: the fingerprints are those of the settings built before this type held the rules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from vlmcal_utils.papers.ctpt import INIT_NAMES
from vlmcal_utils.tpt.family import family_hparams
from vlmcal_utils.tpt.prompts import ensemble_templates
from vlmcal_utils.tpt.protocol import ctpt_lambda, uses_augmix
from vlmcal_utils.tpt.tuning import METHODS, TPTConfig

__all__ = ["HARD_PROMPT", "init_context", "RunSettings", "PARAMETER_KEYS"]

#: TPT's and C-TPT's hand-written initial prompt (their ``ctx_init``).
HARD_PROMPT = "a photo of a"

#: The notebook parameters (chapters 4-5, the sweep) that :meth:`RunSettings.from_params` reads.
PARAMETER_KEYS = ("ensemble", "n_views", "augmix", "selection", "lr", "steps", "lam", "lam_shifts", "seed")


def init_context(init: str, ensemble: str | Iterable[str] = "tip7") -> str | list[str]:
    """The ``ctx_init`` of :class:`RunSettings` for an initialisation.

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


def _lam(method: str, dataset: str, lam: float | None, lam_shifts: float | None) -> dict[str, Any]:
    """λ (and τ) of ``method`` on ``dataset``: C-TPT's two λ as given, the family's from its scripts."""
    if method in ("otpt", "atpt"):
        return family_hparams(method, dataset)
    # C-TPT, and the methods without a regulariser (their λ stays out of the fingerprint)
    return {"lam": ctpt_lambda(dataset, fine_grained=50.0 if lam is None else lam,
                               shifts=20.0 if lam_shifts is None else lam_shifts)}


@dataclass
class RunSettings:
    """Everything besides the model, the data and the method that determines a run's results.

    Build it with :meth:`protocol` (the papers' per-dataset and per-method rules) or
    :meth:`from_params` (a notebook's parameters); the bare constructor keeps every default
    and resolves AugMix from ``dataset``.

    Parameters
    ----------
    dataset : str, optional
        The dataset's name: decides AugMix when ``augmix="auto"`` (not part of the fingerprint:
        the rows carry the images' identity themselves).
    n_views : int
        Views per image, including the original (TPT: 64). Zero-shot looks at view 0 only.
    augmix : bool or "auto"
        TPT's AugMix on the views; ``"auto"``: :func:`vlmcal_utils.tpt.uses_augmix`'s rule for
        ``dataset`` (which must then be named).
    ctx_init : str, None or sequence of str
        A string: one prompt (see :class:`~vlmcal_utils.tpt.PromptLearner`); a list: a
        :class:`~vlmcal_utils.tpt.PromptEnsemble` (e.g. ``ensemble_templates()``); ``None``: a
        random context of ``n_ctx`` tokens.
    n_ctx : int
        Context length of a random context (``ctx_init=None``).
    renormalize : bool
        The ensemble's option (ignored for one prompt).
    temperature : float, optional
        ``"tpt+ts"`` divides the logits by it; default :func:`~vlmcal_utils.tpt.official_temperature`.
        Fit your own with :func:`vlmcal_utils.temperature.fit_temperature` on TPT logits of
        labelled images. Ignored by the other methods.
    seed : int
        The views' random stream is ``(seed, index in the base dataset)``.
    tuning : TPTConfig
        The tuning step (λ, lr, steps, selection, speed options); :meth:`protocol` sets λ/τ.
    num_workers : int, optional
        Processes making the views ahead of the model (:func:`~vlmcal_utils.tpt.views.view_batches`);
        default :func:`~vlmcal_utils.tpt.views.default_num_workers`: 0 for a model on CPU (views
        made in line), ``min(8, CPUs - 1)`` on a GPU. A speed option: the rows are the same for
        any value (tested) and it is not part of the fingerprint. With workers the dataset must
        be usable from another process (always with Linux's ``fork``; picklable elsewhere).

    Examples
    --------
    >>> s = RunSettings.protocol("imagenet-a", "hard", "ctpt")
    >>> s.use_augmix, s.tuning.lam, s.ctx_init, s.n_views
    (True, 20.0, 'a photo of a', 64)
    >>> RunSettings.protocol("imagenet", "hard", "atpt").tuning.lam, RunSettings(dataset="imagenet").use_augmix
    (80.0, False)
    """

    dataset: str | None = None
    n_views: int = 64
    augmix: bool | str = "auto"
    ctx_init: str | Sequence[str] | None = HARD_PROMPT
    n_ctx: int = 4
    renormalize: bool = False
    temperature: float | None = None
    seed: int = 0
    tuning: TPTConfig = field(default_factory=TPTConfig)
    num_workers: int | None = None

    @property
    def use_augmix(self) -> bool:
        """AugMix resolved: ``augmix`` itself, or the protocol's rule for ``dataset``."""
        if self.augmix == "auto" and self.dataset is None:
            raise ValueError('augmix="auto" follows the dataset: name it (RunSettings(dataset=...)) or set augmix')
        return uses_augmix(self.dataset, self.augmix)

    @classmethod
    def protocol(cls, dataset: str, init: str = "hard", method: str = "ctpt", *,
                 ensemble: str | Iterable[str] = "tip7", n_views: int = 64, augmix: bool | str = "auto",
                 selection: float = 0.1, lr: float = 5e-3, steps: int = 1, lam: float | None = None,
                 lam_shifts: float | None = None, seed: int = 0, **options: Any) -> RunSettings:
        """The settings of ``method`` on ``dataset`` from ``init`` by the papers' rules.

        Parameters
        ----------
        dataset : str
            The dataset name (decides λ and AugMix).
        init : {"hard", "ensemble"}
            The prompt initialisation (:func:`init_context`).
        method : str
            One of :data:`~vlmcal_utils.tpt.METHODS`: decides λ (and A-TPT's τ).
        ensemble : str or iterable of str
            The Ensemble's templates.
        n_views, augmix, seed
            As the fields.
        selection, lr, steps
            The step's (:class:`~vlmcal_utils.tpt.TPTConfig`).
        lam, lam_shifts : float, optional
            C-TPT's λ on the fine-grained sets and ImageNet, and on ImageNet's shifts
            (:func:`~vlmcal_utils.tpt.ctpt_lambda`; default 50 and 20, the official scripts').
            O-TPT's and A-TPT's λ/τ are their scripts' (:data:`~vlmcal_utils.tpt.FAMILY_HPARAMS`).
        **options
            Other fields (``temperature``, ``num_workers``, ``n_ctx``, ``renormalize``).

        Returns
        -------
        RunSettings
        """
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
        step = TPTConfig(selection=selection, lr=lr, steps=steps, **_lam(method, dataset, lam, lam_shifts))
        return cls(dataset=dataset, n_views=n_views, augmix=augmix, ctx_init=init_context(init, ensemble), seed=seed,
                   tuning=step, **options)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], dataset: str, init: str = "hard", method: str = "ctpt",
                    **options: Any) -> RunSettings:
        """:meth:`protocol` with a notebook's parameters (those of :data:`PARAMETER_KEYS` it has).

        Parameters
        ----------
        params : mapping
            A notebook's parameters (chapter 4's or 5's cell, or the sweep's values).
        dataset, init, method
            As for :meth:`protocol`.
        **options
            Other fields (``num_workers``, ``temperature``).

        Returns
        -------
        RunSettings
        """
        return cls.protocol(dataset, init, method, **{k: params[k] for k in PARAMETER_KEYS if k in params},
                            **options)

    def replace(self, **changes: Any) -> RunSettings:
        """A copy with ``changes`` (fields, or fields of ``tuning``: ``lr=...``, ``lam=...``).

        Parameters
        ----------
        **changes
            Field names of :class:`RunSettings` or :class:`~vlmcal_utils.tpt.TPTConfig`.

        Returns
        -------
        RunSettings
        """
        step_names = {f.name for f in dataclasses.fields(TPTConfig)}
        step = {k: changes.pop(k) for k in list(changes) if k in step_names}
        return dataclasses.replace(self, tuning=dataclasses.replace(self.tuning, **step), **changes)
