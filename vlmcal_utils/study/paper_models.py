"""Tu et al.'s (ICML 2024) models as far as they can be known: inferred from the figure, or not identified.

The paper's own list of its 35 VLMs is in its supplementary material, which the stored copies of
the paper do not hold (:data:`PAPER_LIST_MISSING`); :data:`PAPER_LIST_CHECKED` stays ``False``.
What can be known comes from the paper's Figure 1 as data (:mod:`vlmcal_utils.papers.tu2024`):

- :data:`PAPER_MODELS`: the 23 OpenCLIP checkpoints **inferred** from the figure — open_clip's
  published zero-shot accuracies on ImageNet, -R and -Sketch all lie within 0.15 points of one VLM
  marker (:func:`~vlmcal_utils.papers.tu2024.openclip_matches`). Each entry is marked
  ``inferred=True`` with its largest accuracy gap. Inferred, not checked: a null test gives about 2
  such matches by chance among them.
- :data:`UNIDENTIFIED_MARKERS`: the VLM markers of the figure's ImageNet-R panel (the panel with all
  35) that none of those checkpoints lies on: listed as "not identified", never guessed.
- :data:`UNLOADABLE_MODELS`: BLIP and the other Salesforce LAVIS models (the official README loads
  VLMs "from OpenCLIP and LAVIS"), which no loader of this package runs, with why.
- :data:`PAPER_BASELINES`: the ImageNet-trained baselines. **Not matched** to the figure's 23
  ImageNet-trained markers (:data:`BASELINES_NOT_MATCHED` says why): the two timm models are this
  package's choice of "ImageNet-trained CNNs (ResNet) and vision transformers (ViT)".
"""

from __future__ import annotations

from dataclasses import dataclass

from vlmcal_utils.papers.tu2024 import (
    FIGURE1_TARGETS,
    TU2024_N_VLMS,
    match_markers,
    openclip_matches,
    unidentified_markers,
)

__all__ = [
    "PaperModel",
    "PAPER_MODELS",
    "UNIDENTIFIED_MARKERS",
    "PAPER_BASELINES",
    "UNLOADABLE_MODELS",
    "BASELINES_NOT_MATCHED",
    "PAPER_LIST_CHECKED",
    "PAPER_LIST_MISSING",
    "loadable_models",
    "marker_counts",
    "describe_paper_models",
]

#: Whether :data:`PAPER_MODELS` has been compared with the paper's own list (not yet: see
#: :data:`PAPER_LIST_MISSING`; the entries are inferred from the figure instead).
PAPER_LIST_CHECKED = False

PAPER_LIST_MISSING = (
    "Tu et al.'s table of their 35 VLMs (supplementary material of arXiv 2402.07417 / PMLR v235 tu24a): "
    "model names, architectures, pre-training data and the open_clip/LAVIS weights used; also the paper's "
    "calibration-set sizes and number of draws of the few-samples experiment, and its DomainNet calibration "
    "domain and split. The stored copies of the paper searched (arXiv HTML v2, ar5iv, PMLR PDF, ICML poster "
    "page, the official repository's README) hold only the abstract and the start of the introduction; the "
    "models listed here are inferred from the paper's Figure 1 (the official repository's comparison.pdf)."
)
"""What this module could not check against the paper, and where it would be."""

BASELINES_NOT_MATCHED = (
    "The figure's 23 ImageNet-trained markers are not matched to named models: a match needs published "
    "ImageNet, ImageNet-R and ImageNet-Sketch accuracies of many ImageNet classifiers (timm's results tables), "
    "and none is available offline here: the timm wheel (1.0.31, installed) ships no results CSV, and its "
    "repository's results folder could not be fetched on this machine. So the two baselines below are this "
    "package's choice, not the paper's models"
)
"""Why :data:`PAPER_BASELINES` are not the figure's ImageNet-trained models."""

_LAVIS = ("the official code loads VLMs through OpenCLIP and Salesforce LAVIS (README, 'Prerequisites'); the "
          "seminar deck names BLIP ('35 VLMs (including CLIP, BLIP)')")


@dataclass(frozen=True)
class PaperModel:
    """One model of Tu et al.'s study, and how it is known.

    Parameters
    ----------
    paper_name : str
        What the paper shows of it (a marker of Figure 1) or the family it names.
    loader : str or None
        ``"open_clip"``, ``"timm"``, or ``None`` where no loader of this package runs it.
    arch : str
        open_clip architecture or timm model name (``""`` when ``loader`` is ``None``).
    pretrained : str or bool
        open_clip pretrained tag; ``True`` for a timm model's pretrained weights.
    source : str
        How the entry is known (inferred from the figure, named in the seminar deck, ours).
    why_not : str
        For ``loader=None``: why it cannot be run here (or why it is not identified).
    inferred : bool
        Inferred from Figure 1's markers (not from the paper's list).
    accuracy_gap : float or None
        For an inferred entry: the largest distance between its published accuracies and the
        marker's, fraction (0.0015 is 0.15 points).
    """

    paper_name: str
    loader: str | None
    arch: str = ""
    pretrained: str | bool = ""
    source: str = ""
    why_not: str = ""
    inferred: bool = False
    accuracy_gap: float | None = None

    def as_param(self) -> list:
        """``[arch, pretrained]``, the form of chapter 3's ``models`` / ``baselines`` parameters."""
        return [self.arch, self.pretrained]


def _inferred_models() -> tuple[PaperModel, ...]:
    """One entry per row of :func:`~vlmcal_utils.papers.tu2024.openclip_matches`."""
    out = []
    for m in openclip_matches().itertuples(index=False):
        same = f"; the same weights as {m.same_weights_as}" if m.same_weights_as else ""
        out.append(PaperModel(
            f"Figure 1 VLM marker at ImageNet accuracy ≈ {m.imagenet_accuracy:.1%}", "open_clip", m.model,
            m.pretrained, f"inferred from Tu et al.'s Figure 1, not the paper's list: open_clip's published zero-shot "
                          f"accuracies on ImageNet, -R and -Sketch within {100 * m.max_gap:.2f} points of one "
                          f"marker{same} (papers.tu2024.openclip_matches)", inferred=True, accuracy_gap=m.max_gap))
    return tuple(out)


def _unidentified(target: str = "R") -> tuple[PaperModel, ...]:
    """One entry per VLM marker of ``target``'s panel that no inferred checkpoint lies on."""
    title = FIGURE1_TARGETS[target][1]
    return tuple(PaperModel(
        f"Figure 1 VLM marker at {title} accuracy {p.accuracy:.1%} (ECE {p.ece_before_ts:.3f} → {p.ece_after_ts:.3f})",
        None, source=f"Tu et al.'s Figure 1, {title} panel (papers.tu2024.figure1_points)",
        why_not="not identified: none of the inferred OpenCLIP checkpoints lies on this marker, and the figure "
                "names no model (it may be a LAVIS model such as BLIP, or an OpenCLIP checkpoint whose "
                "accuracies are not all within the matching's 0.15 points)")
        for p in unidentified_markers(target).itertuples(index=False))


PAPER_MODELS: tuple[PaperModel, ...] = _inferred_models()
"""The paper's VLMs as far as they can be known: OpenCLIP checkpoints inferred from Figure 1."""

UNIDENTIFIED_MARKERS: tuple[PaperModel, ...] = _unidentified()
"""The VLM markers of Figure 1's ImageNet-R panel that no inferred checkpoint lies on: not identified."""

PAPER_BASELINES: tuple[PaperModel, ...] = (
    PaperModel("ImageNet-trained ResNet-50", "timm", "resnet50.a1_in1k", True,
               "this package's choice (not matched to the figure: see BASELINES_NOT_MATCHED)"),
    PaperModel("ImageNet-trained ViT-B/16", "timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k", True,
               "this package's choice (not matched to the figure: see BASELINES_NOT_MATCHED)"),
)
"""Non-VLM baselines ("ImageNet-trained CNNs (ResNet) and vision transformers (ViT)"), not the figure's."""

UNLOADABLE_MODELS: tuple[PaperModel, ...] = (
    PaperModel("BLIP and the other Salesforce LAVIS models", None, source=_LAVIS,
               why_not="not loadable here: not open_clip architectures; BLIP's image-text contrastive head needs "
                       "Salesforce LAVIS (or Hugging Face's BlipForImageTextRetrieval), neither a dependency of "
                       "this package, and which LAVIS models the paper ran is not known"),
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


def marker_counts(target: str = "R") -> dict[str, int]:
    """How many VLM markers of one panel the inferred checkpoints identify, and how many they do not.

    Parameters
    ----------
    target : str
        The panel (default ``"R"``, ImageNet-R: all 35 VLMs).

    Returns
    -------
    dict
        ``identified`` (markers some inferred checkpoint lies on; two checkpoints may share one),
        ``not_identified``, ``markers`` (their sum) and ``paper_n_vlms`` (:data:`TU2024_N_VLMS`).
    """
    matched = match_markers()
    identified = int(matched[matched["target"] == target]["point"].nunique())
    missing = len(unidentified_markers(target))
    return {"identified": identified, "not_identified": missing, "markers": identified + missing,
            "paper_n_vlms": TU2024_N_VLMS}


def describe_paper_models() -> list[str]:
    """One line per model of the study, as the paper-set dry run lists them: how each is known.

    Returns
    -------
    list of str
    """
    lines = [f"  {m.arch} {m.pretrained}: INFERRED from Figure 1 (accuracy gap {100 * m.accuracy_gap:.2f} points)"
             for m in PAPER_MODELS]
    lines += [f"  {m.paper_name}: NOT IDENTIFIED" for m in UNIDENTIFIED_MARKERS]
    lines += [f"  {m.paper_name}: NOT LOADABLE ({m.why_not})" for m in UNLOADABLE_MODELS]
    lines += [f"  baseline {m.arch}: {m.source}" for m in PAPER_BASELINES]
    return lines + [f"  {BASELINES_NOT_MATCHED}."]
