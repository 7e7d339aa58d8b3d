"""The papers' protocol as data: λ per dataset, the AugMix rule, ECE bins, run files.

Sources
-------
- λ: the official C-TPT scripts (``hee-suk-yoon/C-TPT`` at commit ``085e6c2``):
  ``scripts/test_tpt_ctpt_fg.sh`` line 10 ``lambda_term=50`` (fine-grained sets *and* ImageNet,
  the README lists ImageNet among them) and ``scripts/test_tpt_ctpt_ds.sh`` line 10
  ``lambda_term=20`` (the natural distribution shifts ImageNet-A/-V2/-R/-Sketch).
- ECE: ``tpt_classification.py`` line 91, ``Calculator``: ``ECE_Loss(20, ...)``, equal-width bins.
- AugMix: :data:`AUGMIX_RULES`, one row per dataset citing the script and line that decide it.
  ``tpt_classification.py`` lines 266-271: with ``--I_augmix`` every set gets AugMix
  (``augmix=len(set_id)>=1``), without it only the multi-letter (fine-grained) set ids
  (``augmix=len(set_id)>1``; ImageNet is ``I``, the shifts ``A``/``V``/``R``/``K``). The
  fine-grained scripts (``test_tpt_fg.sh`` line 13, ``test_tpt_ctpt_fg.sh`` line 14) do not pass
  ``--I_augmix``; the distribution-shift scripts (``test_tpt_ds.sh`` line 13,
  ``test_tpt_ctpt_ds.sh`` line 14) do.
- TPT+TS in the official code is a *fixed* temperature (``tpt_classification.py``,
  ``temperature_value = {'ViT': 1.16, 'RN': 1.15}``), not one fitted per dataset.
- The papers' *numbers* (C-TPT's Tables 1-2, Fig. 2, their provenance) are not protocol: they
  are in :mod:`vlmcal_utils.papers.ctpt`, with every other number quoted from a paper.

Dataset names are this package's (``vlmcal_utils.data.load_dataset``): ``"imagenet"``,
``"imagenet-a"``, ``"dtd"``, ...; ``"imagenet-shared"`` is ImageNet's validation photos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

__all__ = [
    "NATURAL_SHIFTS",
    "CTPT_LAMBDA",
    "ECE_BINS",
    "dataset_family",
    "ctpt_lambda",
    "uses_augmix",
    "AugMixRule",
    "AUGMIX_RULES",
    "run_file_name",
]

#: ImageNet's natural distribution shifts (C-TPT's Table 2; λ = 20 there).
NATURAL_SHIFTS = frozenset({"imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch"})

#: C-TPT's λ by dataset family (official scripts ``test_tpt_ctpt_fg.sh`` / ``test_tpt_ctpt_ds.sh``).
CTPT_LAMBDA = {"fine-grained": 50.0, "natural-shift": 20.0}

#: Bins of the equal-width ECE C-TPT reports (``ECE_Loss(20, ...)`` in the official code).
ECE_BINS = 20


def dataset_family(dataset: str) -> str:
    """``"natural-shift"`` for ImageNet's shifted test sets, else ``"fine-grained"`` (ImageNet included).

    Parameters
    ----------
    dataset : str
        A dataset name of :func:`vlmcal_utils.data.load_dataset`.

    Returns
    -------
    str
        A key of :data:`CTPT_LAMBDA`.
    """
    return "natural-shift" if dataset in NATURAL_SHIFTS else "fine-grained"


def ctpt_lambda(
    dataset: str,
    fine_grained: float = CTPT_LAMBDA["fine-grained"],
    shifts: float = CTPT_LAMBDA["natural-shift"],
) -> float:
    """C-TPT's λ for ``dataset``: ``shifts`` on ImageNet-A/-V2/-R/-Sketch, ``fine_grained`` elsewhere.

    Parameters
    ----------
    dataset : str
        A dataset name.
    fine_grained, shifts : float
        The two values (default the official 50 and 20; chapter 4's ``lam`` / ``lam_shifts``).

    Returns
    -------
    float
    """
    # not cast: the value enters run fingerprints as given (50 and 50.0 are different JSON)
    return shifts if dataset_family(dataset) == "natural-shift" else fine_grained


@dataclass(frozen=True)
class AugMixRule:
    """Whether the official C-TPT runs put AugMix on one dataset's views, and where that is decided.

    Parameters
    ----------
    dataset : str
        Our dataset name.
    augmix : bool
        AugMix on (``True``) or crops + flips only (``False``).
    source : str
        The official script and line that decide it (``hee-suk-yoon/C-TPT`` at ``085e6c2``).
    """

    dataset: str
    augmix: bool
    source: str


_FG_SOURCE = ("scripts/test_tpt_ctpt_fg.sh line 14 (and test_tpt_fg.sh line 13): no --I_augmix; "
              "tpt_classification.py line 271 augmix=len(set_id)>1 is on for a named set")
_IMAGENET_SOURCE = ("scripts/test_tpt_ctpt_fg.sh line 14 (Table 1 runs ImageNet, set id 'I', with the "
                    "fine-grained script): no --I_augmix; tpt_classification.py line 271 "
                    "augmix=len(set_id)>1 is off for 'I'")
_SHIFT_SOURCE = ("scripts/test_tpt_ctpt_ds.sh line 14 (and test_tpt_ds.sh line 13) pass --I_augmix; "
                 "tpt_classification.py lines 266-268 augmix=len(set_id)>=1 is on for 'A'/'V'/'R'/'K'")
_FINE_GRAINED = ("caltech101", "dtd", "eurosat", "fgvc-aircraft", "flowers102", "food101", "oxford-pets",
                 "stanford-cars", "sun397", "ucf101")

#: The official AugMix rule per dataset: C-TPT's Table 1 sets (10 CoOp fine-grained sets on, ImageNet
#: off) and Table 2's shifts (on). ``"imagenet-shared"`` (ImageNet val photos) follows ImageNet.
AUGMIX_RULES: dict[str, AugMixRule] = {
    **{d: AugMixRule(d, True, _FG_SOURCE) for d in _FINE_GRAINED},
    "imagenet": AugMixRule("imagenet", False, _IMAGENET_SOURCE),
    "imagenet-shared": AugMixRule("imagenet-shared", False, _IMAGENET_SOURCE),
    **{d: AugMixRule(d, True, _SHIFT_SOURCE) for d in sorted(NATURAL_SHIFTS)},
}


def uses_augmix(dataset: str, augmix: bool | str = "auto") -> bool:
    """Whether ``dataset``'s views get TPT's AugMix.

    ``"auto"`` follows the official scripts (:data:`AUGMIX_RULES`): on for the fine-grained sets
    and ImageNet's shifts A/V2/R/Sketch (their script passes ``--I_augmix``), off for ImageNet
    itself (Table 1, run by the fine-grained script). A dataset outside the papers' tables (the
    demo world, CIFAR-10) gets what ``tpt_classification.py`` line 271 gives any multi-letter
    set id without ``--I_augmix``: on.

    Parameters
    ----------
    dataset : str
        A dataset name.
    augmix : bool or "auto"
        ``True``/``False`` force it; ``"auto"`` applies the rule above.

    Returns
    -------
    bool
    """
    if augmix != "auto":
        return bool(augmix)
    rule = AUGMIX_RULES.get(dataset)
    return True if rule is None else rule.augmix


def run_file_name(dataset: str, split: str, method: str, init: str = "hard",
                  ensemble: str | Sequence[str] = "tip7") -> str:
    """The name of one run's results file (``{dataset}__{split}__[{init}-{members}__]{method}.jsonl``).

    Hard-prompt files have no init tag (their names predate the Ensemble runs); ensemble files
    name their member set, so switching ``ensemble`` starts new files instead of meeting the
    resume guard (every other changed setting does meet it).

    Parameters
    ----------
    dataset, split, method : str
        E.g. ``"dtd"``, ``"test"``, ``"ctpt"``.
    init : str
        ``"hard"`` or ``"ensemble"``.
    ensemble : str or sequence of str
        The member set's name (``"tip7"``, ``"clip80"``); a list of templates is ``"custom"``.

    Returns
    -------
    str
    """
    tag = "" if init == "hard" else f"{init}-{ensemble if isinstance(ensemble, str) else 'custom'}__"
    return f"{dataset}__{split}__{tag}{method}.jsonl"
