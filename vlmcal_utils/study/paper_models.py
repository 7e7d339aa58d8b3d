"""Tu et al.'s (ICML 2024) models as data: which ones open_clip / timm load, and why the others not.

Tu et al. evaluate 35 vision-language models "with diverse training data and architectures"
(CLIP, BLIP, ...) and ImageNet-trained baselines (ResNets, ViTs). This module lists them by
the loader that can run them here (``"open_clip"`` architecture + pretrained tag, ``"timm"``
name), with the paper's name beside each, and lists the ones no loader of this package can
run, with the reason.

Provenance, stated per entry (:attr:`PaperModel.source`): the paper's appendix table of the 35
models was **not** available to the session that wrote this list, so no entry claims to be
checked against it. ``"named in the paper's text"`` entries are the families the paper (and the
seminar notes' summary of it) names; ``"chapter 3's earlier paper set"`` entries are the
models chapter 3's paper section already ran. :data:`PAPER_LIST_CHECKED` is ``False`` until the
list is compared with the appendix; :func:`missing_from_paper_list` says how many are unlisted.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PaperModel",
    "PAPER_MODELS",
    "PAPER_BASELINES",
    "UNLOADABLE_MODELS",
    "PAPER_LIST_CHECKED",
    "PAPER_N_VLMS",
    "loadable_models",
    "missing_from_paper_list",
]

#: How many VLMs Tu et al. evaluate (abstract / Section 3: "35 VLMs").
PAPER_N_VLMS = 35

#: Whether :data:`PAPER_MODELS` has been compared with the paper's appendix table (not yet).
PAPER_LIST_CHECKED = False

_TEXT = "named in the paper's text (CLIP family, Radford et al. 2021); tag: OpenAI's release"
_CH3 = "chapter 3's earlier paper set (params/paper.yaml); not checked against the paper's appendix"


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
    PaperModel("BLIP", None, source="named in the paper's text (Li et al. 2022)",
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
        ``PAPER_N_VLMS`` minus the listed VLMs (0 once the list is complete).
    """
    return PAPER_N_VLMS - len(PAPER_MODELS) - len(UNLOADABLE_MODELS)
