"""Chapter 3's view of the paper's own data: Tu et al.'s Figure 1 redrawn, our outputs in a panel apart.

The paper's points are :func:`vlmcal_utils.papers.tu2024.figure1_points` (package data: drawn also
offline, without the shared data folder). Our outputs are another dataset (CIFAR-10, not ImageNet),
so they get a panel of their own with other markers and colours, never the paper's axes.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.papers.tu2024 import FIGURE1_GROUPS, FIGURE1_TARGETS, figure1_points, figure1_summary
from vlmcal_utils.scores import ece_key
from vlmcal_utils.study.paper_numbers import PAPER_KEYS, compare_with_paper
from vlmcal_utils.views.boxes import Box
from vlmcal_utils.views.chapter3_style import ReportFigure, report_style

__all__ = ["PAPER_STYLE", "OURS_STYLE", "figure1_figure", "figure1_table", "paper_number_line", "paper_table",
           "beside_figure1"]

#: The paper's markers as the figure draws them: VLMs blue circles, ImageNet-trained models green crosses.
PAPER_STYLE = {"VLM": {"marker": "o", "color": "#1f77b4", "s": 30, "alpha": 0.8},
               "IN": {"marker": "x", "color": "#2ca02c", "s": 34, "alpha": 0.9}}
#: Our markers: other shapes and colours, so no reader takes them for points of the paper.
OURS_STYLE = {"vlm": {"marker": "D", "color": "#6a3d9a", "s": 46, "label": "our VLMs (zero-shot)"},
              "baseline": {"marker": "s", "color": "#ff7f0e", "s": 46, "label": "our CIFAR-10 CNNs"}}
_STAGES = (("ece_before_ts", "none", "before TS"), ("ece_after_ts", "ts", "after TS"))


def _our_points(table: pd.DataFrame, split: str = "test") -> pd.DataFrame:
    """Our full-calibration rows of one split: model, family, method, accuracy, ECE."""
    rows = table[(table["cell"] == "all") & (table["split"] == split)]
    return rows.assign(ece=rows[ece_key(rows.columns)])[["model", "family", "method", "accuracy", "ece"]]


def _paper_panel(ax, pts: pd.DataFrame, target: str, column: str) -> None:
    for group, label in FIGURE1_GROUPS.items():
        g = pts[(pts["target"] == target) & (pts["group"] == group)]
        ax.scatter(100 * g["accuracy"], g[column], label=f"paper: {label}", **PAPER_STYLE[group])


def _ours_panel(ax, ours: pd.DataFrame, method: str) -> None:
    for family, style in OURS_STYLE.items():
        g = ours[(ours["family"] == family) & (ours["method"] == method)]
        if len(g):
            ax.scatter(100 * g["accuracy"], g["ece"], edgecolor="black", linewidth=0.6, **style)
    ax.set_facecolor("#f3eefa")


def figure1_figure(ours: pd.DataFrame | None = None, ours_label: str = "CIFAR-10 test[5000:]",
                   points: pd.DataFrame | None = None) -> Figure:
    """Tu et al.'s Figure 1 from its points (rows: before / after TS; columns: its three targets), ours apart.

    Parameters
    ----------
    ours : pandas.DataFrame, optional
        A :func:`~vlmcal_utils.study.run_grid` table of our outputs: its ``"all"`` cells on split
        ``"test"`` are drawn in a fourth column of their own, with other markers (:data:`OURS_STYLE`);
        ``None``: the paper's three columns only.
    ours_label : str
        What our outputs are (the fourth column's title).
    points : pandas.DataFrame, optional
        :func:`~vlmcal_utils.papers.tu2024.figure1_points` (the default).

    Returns
    -------
    matplotlib.figure.Figure
        Accuracy (percent) on x, ECE (fraction, 15 bins) on y; every panel of a row shares its y axis.
    """
    pts = figure1_points() if points is None else points
    ncols = len(FIGURE1_TARGETS) + (ours is not None)
    with report_style():
        fig = ReportFigure(figsize=(4.2 * ncols, 7.6), layout="constrained")
        axes = fig.subplots(2, ncols, squeeze=False)
        for row, (column, method, stage) in enumerate(_STAGES):
            for col, (target, (_, title)) in enumerate(FIGURE1_TARGETS.items()):
                ax = axes[row, col]
                _paper_panel(ax, pts, target, column)
                ax.set_title(f"paper: {title}, {stage}")
                if col:
                    ax.sharey(axes[row, 0])
            if ours is not None:  # the paper's ECE scale, so that heights compare by eye
                _ours_panel(axes[row, -1], _our_points(ours), method)
                axes[row, -1].sharey(axes[row, 0])
                axes[row, -1].set_title(f"OURS, another dataset:\n{ours_label}, {stage}")
            axes[row, 0].set_ylabel("ECE (15 bins)")
        for ax in axes[-1]:
            ax.set_xlabel("accuracy (%)")
        handles = [h for ax in (axes[0, 0], axes[0, -1]) for h in ax.get_legend_handles_labels()[0]]
        labels = [lab for ax in (axes[0, 0], axes[0, -1]) for lab in ax.get_legend_handles_labels()[1]]
        seen = dict(zip(labels, handles, strict=True))
        fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=2, frameon=False)
    return fig


def figure1_table(points: pd.DataFrame | None = None) -> pd.DataFrame:
    """The figure's numbers per panel and group (:func:`~vlmcal_utils.papers.tu2024.figure1_summary`), for display."""
    summary = figure1_summary(points)
    summary.insert(0, "panel", summary["target"].map(lambda t: FIGURE1_TARGETS[t][1]))
    return summary.drop(columns=["target", "dataset", "above"]).set_index(["panel", "group"])


def paper_number_line(row: dict) -> str:
    """One sentence: the paper's figure-level number of a verdict row (keys of ``PAPER_KEYS``), or ``""``."""
    if not row.get("paper_detail"):
        return ""
    if row.get("paper_estimate") is None:
        return f"The paper: {row['paper_detail']}."
    return (f"The paper's own number (Tu et al.'s Figure 1, read as data): {row['paper_quantity']}: "
            f"{row['paper_estimate']:.3f}; by the same rule there: {row['paper_verdict']}. {row['paper_detail']}.")


def paper_table(verdicts: Sequence[dict]) -> pd.DataFrame:
    """Our estimate and verdict beside the paper's figure-level number and verdict, one row per claim."""
    cols = ["finding", "verdict", "quantity", "estimate", "paper_verdict", "paper_quantity", "paper_estimate"]
    rows = [{k: v.get(k) for k in cols} for v in verdicts if set(PAPER_KEYS) <= set(v)]
    return pd.DataFrame(rows, columns=cols)


def beside_figure1(table: pd.DataFrame) -> pd.DataFrame | Box:
    """Our models that are checkpoints inferred from Figure 1, beside the figure's marker, cell by cell.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table of models run end to end.

    Returns
    -------
    pandas.DataFrame or Box
        :func:`~vlmcal_utils.study.paper_numbers.compare_with_paper` rows where both sides have a
        number; a note box when no model of the run is one of them on ImageNet.
    """
    if "ece_15" not in table.columns:  # the figure's ECE has 15 bins: another bin count is not comparable
        return Box("No comparison with the paper's Figure 1", [
            "The figure's ECE has 15 equal-width bins; this run used another bin count (n_bins)."], "note")
    both = compare_with_paper(table).dropna(subset=["ours", "paper"]).reset_index(drop=True)
    if len(both):
        return both
    return Box("No model of this run lines up with the paper's Figure 1", [
        "Only OpenCLIP checkpoints inferred from the figure (study.paper_models.PAPER_MODELS), run on ImageNet "
        "(dataset imagenet: its test half, ImageNet-R and ImageNet-Sketch), have a marker of the paper beside them."],
        "note")
