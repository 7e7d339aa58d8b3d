"""Tu et al. (ICML 2024), "A Closer Look at the Robustness of Contrastive Language-Image Pre-Training".

The numbers of the paper the book quotes, with where each was read:

- :func:`figure1_points`: every marker of the paper's Figure 1 (VLMs vs ImageNet-trained models,
  ECE before and after temperature scaling on ImageNet, ImageNet-R and ImageNet-Sketch), read from
  the vector figure in the official repository (:data:`FIGURE1_SOURCE`, :data:`FIGURE1_READ`). The
  points ship with the package (``papers/data/tu2024_figure1/``, with its README), so they are
  there without the shared data folder.
- :func:`figure1_summary`: the figure's own numbers per panel and group (mean and median ECE before
  and after TS, how many markers stay above an ECE, on how many TS lowers the ECE), computed from
  the points.
- :func:`openclip_matches`: **an inference, not the paper's list**: the OpenCLIP checkpoints whose
  published zero-shot accuracies on the three targets all lie within 0.15 points of one VLM marker
  (:data:`OPENCLIP_MATCHES_SOURCE`).
- :data:`TU2024_N_VLMS`, :data:`TU2024_AVG_ECE_NOT_QUOTED`: the study's size; why the paper's
  average ECE after TS has no paper column on the results page.

Units: accuracy and ECE are fractions (the CSV's ``accuracy_pct`` is divided by 100 on reading).
Data only: this module imports nothing from the package.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

__all__ = [
    "TU2024_N_VLMS",
    "TU2024_AVG_ECE_NOT_QUOTED",
    "FIGURE1_SOURCE",
    "FIGURE1_READ",
    "FIGURE1_TARGETS",
    "FIGURE1_GROUPS",
    "OPENCLIP_MATCHES_SOURCE",
    "FIGURE1_COLUMNS",
    "figure1_points",
    "openclip_matches",
    "figure1_summary",
    "MATCH_TOLERANCE",
    "match_markers",
    "unidentified_markers",
]

#: How many VLMs Tu et al. evaluate ("Models: 35 VLMs (including CLIP, BLIP)": the seminar deck's
#: slide "Paper review (1)"; not in the abstract).
TU2024_N_VLMS = 35


#: Why the paper's average ECE after TS has no paper column on the results page (the page prints this).
TU2024_AVG_ECE_NOT_QUOTED = (
    "Tu et al. 2024 print no average ECE after temperature scaling: their Figure 1 shows it as markers, and "
    "chapter 3 computes the mean and median per panel from the figure's points (papers.tu2024.figure1_summary) "
    "and shows them beside its verdicts. They are not put in a paper column beside the average here: the "
    "figure is on ImageNet, -R and -Sketch, our VLMs on CIFAR-10, another dataset")


# ------------------------------------------------------------------------------- Figure 1 as data
_DATA = "data/tu2024_figure1"

#: Where Figure 1's points come from (the official repository, at a pinned commit).
FIGURE1_SOURCE = ("Tu et al. 2024, Figure 1 ('Comparing the calibration performance of ImageNet-trained models "
                  "and VLMs'), as committed to the official repository Klaus-Tu/VLM_calibrate at "
                  "e7bd6c5745ff1adf5662991ef27eb12972621397, comparison.pdf (the same figure is Comparison.png at "
                  "5c866048b174f17392926adc98d8dfef09766b3b)")
#: How the points were read, and how far to trust them.
FIGURE1_READ = ("every marker read from the PDF's drawing commands (marker centres, axes calibrated on the grid "
                "lines; about ±0.1 accuracy points and ±0.001 ECE); before/after-TS markers paired by equal "
                "accuracy; ECE with 15 equal-width bins as the official code computes it. The figure names no "
                "model and does not say which calibration split 'after TS' was fitted on")
#: The figure's panels: its target -> our dataset name and the panel's title.
FIGURE1_TARGETS = {"ID": ("imagenet", "ImageNet (ID-Test)"), "R": ("imagenet-r", "ImageNet-R"),
                   "S": ("imagenet-sketch", "ImageNet-Sketch")}
#: The figure's marker groups.
FIGURE1_GROUPS = {"VLM": "VLMs (the figure's blue circles)",
                  "IN": "ImageNet-trained models (the figure's green crosses)"}
#: Where the OpenCLIP matches come from, and what they are.
OPENCLIP_MATCHES_SOURCE = (
    "an inference, not the paper's list: OpenCLIP checkpoints whose published zero-shot accuracies on "
    "ImageNet, ImageNet-R and ImageNet-Sketch (open_clip's docs/openclip_classification_results.csv at 89fb801f) "
    "all lie within 0.15 points of one VLM marker of Figure 1; a null test (every model shifted by 0.5-3 points) "
    "gives about 2 such matches by chance. The official README says the VLMs come from OpenCLIP and LAVIS")
#: The columns of :func:`figure1_points`.
FIGURE1_COLUMNS = ("target", "dataset", "group", "accuracy", "ece_before_ts", "ece_after_ts")


def _read_csv(name: str) -> pd.DataFrame:
    with resources.files(__package__).joinpath(f"{_DATA}/{name}").open("rb") as f:
        return pd.read_csv(f, keep_default_na=False)


def figure1_points() -> pd.DataFrame:
    """Every marker of Tu et al.'s Figure 1, one row per (panel, model).

    Returns
    -------
    pandas.DataFrame
        :data:`FIGURE1_COLUMNS`: ``target`` (``"ID"``, ``"R"``, ``"S"``: ImageNet, ImageNet-R,
        ImageNet-Sketch), ``dataset`` (our name for it), ``group`` (``"VLM"`` or ``"IN"``, the
        ImageNet-trained models), ``accuracy`` (fraction), ``ece_before_ts`` and ``ece_after_ts``
        (fractions, 15 bins). 34 VLMs in ID and S, 35 in R, 23 ImageNet-trained models per panel.
        The models are not named, so rows of different panels are not linked.
    """
    raw = _read_csv("points.csv")
    out = pd.DataFrame({
        "target": raw["target"], "dataset": raw["target"].map(lambda t: FIGURE1_TARGETS[t][0]),
        "group": raw["group"], "accuracy": raw["accuracy_pct"].astype(float) / 100.0,
        "ece_before_ts": raw["ece_before_ts"].astype(float), "ece_after_ts": raw["ece_after_ts"].astype(float)})
    return out[list(FIGURE1_COLUMNS)]


def openclip_matches() -> pd.DataFrame:
    """The OpenCLIP checkpoints inferred behind 23 of Figure 1's VLM markers (an inference).

    Returns
    -------
    pandas.DataFrame
        Columns ``model`` (open_clip architecture), ``pretrained`` (its tag), ``same_weights_as``
        (another open_clip name of the same weights, or ``""``), ``imagenet_accuracy``,
        ``imagenet_r_accuracy``, ``imagenet_sketch_accuracy`` (open_clip's published zero-shot
        accuracies, fractions) and ``max_gap`` (the largest of the three distances to the matched
        marker, fraction: 0.0015 is 0.15 points). See :data:`OPENCLIP_MATCHES_SOURCE`.
    """
    raw = _read_csv("openclip_matches.csv")
    return pd.DataFrame({
        "model": raw["model"], "pretrained": raw["pretrained"], "same_weights_as": raw["same_weights_as"],
        "imagenet_accuracy": raw["imagenet_acc"].astype(float) / 100.0,
        "imagenet_r_accuracy": raw["imagenet_r_acc"].astype(float) / 100.0,
        "imagenet_sketch_accuracy": raw["imagenet_sketch_acc"].astype(float) / 100.0,
        "max_gap": raw["max_gap_to_figure_point"].astype(float) / 100.0})


def figure1_summary(points: pd.DataFrame | None = None, above: float = 0.05) -> pd.DataFrame:
    """Figure 1's own numbers per panel and marker group, computed from its points.

    Parameters
    ----------
    points : pandas.DataFrame, optional
        :func:`figure1_points` (the default) or a subset of it.
    above : float
        The ECE after TS counted in ``n_above_after``.

    Returns
    -------
    pandas.DataFrame
        One row per (``target``, ``group``), panels in :data:`FIGURE1_TARGETS` order, VLMs first:
        ``dataset``, ``n`` (markers), ``ece_before_mean``, ``ece_before_median``, ``ece_after_mean``,
        ``ece_after_median``, ``ece_after_max``, ``n_above_after`` (markers with ECE after TS >
        ``above``), ``above``, ``n_ts_lowers`` (markers whose ECE after TS is below the one before;
        with ±0.001 reading precision, a marker within 0.002 of its pair may be counted on either
        side), ``accuracy_median``.
    """
    pts = figure1_points() if points is None else points
    rows = []
    for target, (dataset, _) in FIGURE1_TARGETS.items():
        for group in FIGURE1_GROUPS:
            g = pts[(pts["target"] == target) & (pts["group"] == group)]
            if g.empty:
                continue
            before, after = g["ece_before_ts"].to_numpy(), g["ece_after_ts"].to_numpy()
            rows.append({"target": target, "group": group, "dataset": dataset, "n": int(len(g)),
                         "ece_before_mean": float(before.mean()), "ece_before_median": float(np.median(before)),
                         "ece_after_mean": float(after.mean()), "ece_after_median": float(np.median(after)),
                         "ece_after_max": float(after.max()), "n_above_after": int((after > above).sum()),
                         "above": float(above), "n_ts_lowers": int((after < before).sum()),
                         "accuracy_median": float(g["accuracy"].median())})
    return pd.DataFrame(rows)


#: A marker farther than this from a checkpoint's published accuracy is not its marker (0.15 points,
#: the matching's own bound, plus the ±0.1-point reading precision of the figure).
MATCH_TOLERANCE = 0.0025
_MATCH_COLUMNS = {"ID": "imagenet_accuracy", "R": "imagenet_r_accuracy", "S": "imagenet_sketch_accuracy"}


def match_markers(points: pd.DataFrame | None = None, matches: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each inferred checkpoint's VLM marker per panel: the nearest in accuracy, within :data:`MATCH_TOLERANCE`.

    Parameters
    ----------
    points, matches : pandas.DataFrame, optional
        :func:`figure1_points` and :func:`openclip_matches` (the defaults).

    Returns
    -------
    pandas.DataFrame
        One row per (checkpoint, panel) with a marker: ``model, pretrained, target, point`` (the
        marker's index in ``points``), ``published_accuracy``, ``gap`` (fraction), and the marker's
        ``accuracy, ece_before_ts, ece_after_ts``. A checkpoint farther than the tolerance from
        every marker of a panel gets no row for it.
    """
    pts = figure1_points() if points is None else points
    found = openclip_matches() if matches is None else matches
    rows = []
    for m in found.itertuples(index=False):
        for target, column in _MATCH_COLUMNS.items():
            vlms = pts[(pts["target"] == target) & (pts["group"] == "VLM")]
            gaps = (vlms["accuracy"] - getattr(m, column)).abs()
            if gaps.empty or gaps.min() > MATCH_TOLERANCE:
                continue
            point = gaps.idxmin()
            rows.append({"model": m.model, "pretrained": m.pretrained, "target": target, "point": point,
                         "published_accuracy": getattr(m, column), "gap": float(gaps[point]),
                         **pts.loc[point, ["accuracy", "ece_before_ts", "ece_after_ts"]].to_dict()})
    return pd.DataFrame(rows, columns=["model", "pretrained", "target", "point", "published_accuracy", "gap",
                                       "accuracy", "ece_before_ts", "ece_after_ts"])


def unidentified_markers(target: str = "R", points: pd.DataFrame | None = None) -> pd.DataFrame:
    """The VLM markers of one panel that no inferred checkpoint matches (:func:`match_markers`).

    Parameters
    ----------
    target : str
        The panel (default ``"R"``: ImageNet-R, the panel with all 35 VLM markers).
    points : pandas.DataFrame, optional
        :func:`figure1_points` (the default).

    Returns
    -------
    pandas.DataFrame
        Those rows of ``points``, by accuracy.
    """
    pts = figure1_points() if points is None else points
    taken = set(match_markers(pts)["point"])
    vlms = pts[(pts["target"] == target) & (pts["group"] == "VLM")]
    return vlms[~vlms.index.isin(taken)].sort_values("accuracy")
