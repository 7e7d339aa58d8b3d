"""Tu et al.'s (ICML 2024) models as data: which ones open_clip / timm load, and why the others not.

Tu et al. evaluate 35 vision-language models "with diverse training data and architectures"
(CLIP, BLIP, ...) and ImageNet-trained baselines (ResNets, ViTs). This module lists them by
the loader that can run them here (``"open_clip"`` architecture + pretrained tag, ``"timm"``
name), with the paper's name beside each, and lists the ones no loader of this package can
run, with the reason.

What was checked, and what is missing (:data:`PAPER_LIST_MISSING`): the paper's list of its 35
models is in its supplementary material (the official repository's README: "details are included
in supplementary of the paper"). The stored copies searched for it — arXiv 2402.07417v2 HTML,
ar5iv, the PMLR PDF (mlresearch/v235 ``tu24a.pdf``), the ICML 2024 poster page and the official
repository's README — hold only the abstract and the start of the introduction, so **no entry is
checked against the paper's list** and :data:`PAPER_LIST_CHECKED` stays ``False``. What the
sources do say: "35 VLMs (including CLIP, BLIP)", baselines "ImageNet-trained CNNs (ResNet) and
vision transformers (ViT)" (the seminar deck's summary of the paper, slide "Paper review (1)");
the official code loads its VLMs with OpenCLIP and Salesforce LAVIS (README, "Prerequisites").

Provenance, stated per entry (:attr:`PaperModel.source`): ``"named in the seminar deck"`` entries
are the families the deck names; ``"chapter 3's earlier paper set"`` entries are the models chapter
3's paper section already ran. :func:`missing_from_paper_list` says how many of the 35 are unlisted.
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcal_utils.papers.tu2024 import TU2024_N_VLMS

__all__ = [
    "PaperModel",
    "PAPER_MODELS",
    "PAPER_BASELINES",
    "UNLOADABLE_MODELS",
    "PAPER_LIST_CHECKED",
    "PAPER_LIST_MISSING",
    "loadable_models",
    "missing_from_paper_list",
]

#: Whether :data:`PAPER_MODELS` has been compared with the paper's own list (not yet: see
#: :data:`PAPER_LIST_MISSING`).
PAPER_LIST_CHECKED = False

PAPER_LIST_MISSING = (
    "Tu et al.'s table of their 35 VLMs (supplementary material of arXiv 2402.07417 / PMLR v235 tu24a): "
    "model names, architectures, pre-training data and the open_clip/LAVIS weights used; also the paper's "
    "calibration-set sizes and number of draws of the few-samples experiment, its DomainNet calibration "
    "domain and split, and its per-model ECE tables. The stored copies of the paper searched (arXiv HTML v2, "
    "ar5iv, PMLR PDF, ICML poster page, the official repository's README) hold only the abstract and the "
    "start of the introduction."
)
"""What this module could not check against the paper, and where it would be."""

_TEXT = ("CLIP family, named in the seminar deck ('35 VLMs (including CLIP, BLIP)'); this size and OpenAI's tag "
         "are this package's choice, not checked against the paper's list")
_CH3 = "chapter 3's earlier paper set (params/paper.yaml); not checked against the paper's list"


@dataclass(frozen=True)
class PaperModel:
    """One model of Tu et al.'s study.

    Parameters
    ----------
    paper_name : str
        The name the paper uses (or the family it names).
    loader : str or None
        ``"open_clip"``, ``"timm"``, or ``None`` where no loader of this package runs it.
    arch : str
        open_clip architecture or timm model name (``""`` when ``loader`` is ``None``).
    pretrained : str or bool
        open_clip pretrained tag; ``True`` for a timm model's pretrained weights.
    source : str
        Why the entry is here (see the module docstring).
    why_not : str
        For ``loader=None``: why it cannot be run here.
    """

    paper_name: str
    loader: str | None
    arch: str = ""
    pretrained: str | bool = ""
    source: str = ""
    why_not: str = ""

    def as_param(self) -> list:
        """``[arch, pretrained]``, the form of chapter 3's ``models`` / ``baselines`` parameters."""
        return [self.arch, self.pretrained]


PAPER_MODELS: tuple[PaperModel, ...] = (
    PaperModel("CLIP RN50", "open_clip", "RN50", "openai", _TEXT),
    PaperModel("CLIP RN101", "open_clip", "RN101", "openai", _TEXT),
    PaperModel("CLIP RN50x4", "open_clip", "RN50x4", "openai", _TEXT),
    PaperModel("CLIP RN50x16", "open_clip", "RN50x16", "openai", _TEXT),
    PaperModel("CLIP RN50x64", "open_clip", "RN50x64", "openai", _TEXT),
    PaperModel("CLIP ViT-B/32", "open_clip", "ViT-B-32", "openai", _TEXT),
    PaperModel("CLIP ViT-B/16", "open_clip", "ViT-B-16", "openai", _TEXT),
    PaperModel("CLIP ViT-L/14", "open_clip", "ViT-L-14", "openai", _TEXT),
    PaperModel("CLIP ViT-L/14@336px", "open_clip", "ViT-L-14-336", "openai", _TEXT),
    PaperModel("OpenCLIP ViT-B/32 (LAION-2B)", "open_clip", "ViT-B-32", "laion2b_s34b_b79k", _CH3),
    PaperModel("OpenCLIP ConvNeXt-B (LAION-400M)", "open_clip", "convnext_base", "laion400m_s13b_b51k", _CH3),
)
"""The paper's VLMs that open_clip loads (``open_clip.list_pretrained()`` has each pair)."""

PAPER_BASELINES: tuple[PaperModel, ...] = (
    PaperModel("ImageNet-trained ResNet-50", "timm", "resnet50.a1_in1k", True, _CH3),
    PaperModel("ImageNet-trained ViT-B/16", "timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k", True, _CH3),
)
"""The paper's non-VLM baselines ("ImageNet-trained CNNs (ResNet) and vision transformers (ViT)")."""

UNLOADABLE_MODELS: tuple[PaperModel, ...] = (
    PaperModel("BLIP", None, source="named in the seminar deck (Li et al. 2022); the official code loads "
                                    "VLMs through OpenCLIP and Salesforce LAVIS (README, Prerequisites)",
               why_not="not an open_clip architecture: BLIP's ITC head needs Salesforce LAVIS or "
                       "Hugging Face BlipForImageTextRetrieval, neither a dependency of this package"),
)
"""Models of the paper no loader of this package can run, with why."""


def loadable_models(loader: str = "open_clip") -> list[list]:
    """``[arch, pretrained]`` pairs of the paper's models one loader runs.

    Parameters
    ----------
    loader : str
        ``"open_clip"`` (:data:`PAPER_MODELS`) or ``"timm"`` (:data:`PAPER_BASELINES`).

    Returns
    -------
    list of [str, str or bool]
    """
    pool = PAPER_BASELINES if loader == "timm" else PAPER_MODELS
    return [m.as_param() for m in pool if m.loader == loader]


def missing_from_paper_list() -> int:
    """How many of the paper's 35 VLMs are in neither :data:`PAPER_MODELS` nor :data:`UNLOADABLE_MODELS`.

    Returns
    -------
    int
        ``TU2024_N_VLMS`` minus the listed VLMs (0 once the list is complete).
    """
    return TU2024_N_VLMS - len(PAPER_MODELS) - len(UNLOADABLE_MODELS)
