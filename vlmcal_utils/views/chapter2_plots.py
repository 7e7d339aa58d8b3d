"""Figures of chapter 2 (zero-shot CLIP), sized for a 400 px phone as well as a desktop page.

Every function draws with fonts of at least :data:`MIN_FONT` points at the figure's own size,
keeps legends off the data (above or beside the axes) and puts at most ``ncols`` (default 3)
panels in a row. Functions that draw one panel take an optional ``ax`` and return it; the
multi-panel :func:`top_k_bars` returns its figure. Reliability diagrams come from
:mod:`vlmcal_utils.plots`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from vlmcal_utils import metrics as M

__all__ = [
    "MIN_FONT",
    "similarity_heatmap",
    "top_k_bars",
    "confidence_by_correctness",
    "correctness_histogram",
    "confidence_by_correctness_from_record",
    "scale_sweep_plot",
    "language_bars",
]

MIN_FONT = 10
"""Smallest font (points) any of these figures uses: tick labels, legends, annotations."""

_PALETTE = sns.color_palette("colorblind")
_CORRECT, _WRONG = _PALETTE[2], _PALETTE[3]  # green, vermilion


def _ax(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def similarity_heatmap(
    matrix: Any,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    ax: Axes | None = None,
    title: str | None = None,
    cbar_label: str = "cosine similarity",
) -> Axes:
    """Heatmap of an ``(R, C)`` similarity matrix with one tick label per row and column.

    Parameters
    ----------
    matrix : array-like
        ``(R, C)`` values (cosine similarities).
    row_labels, col_labels : sequence of str
        ``R`` and ``C`` tick labels (columns are written vertically).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure about ``0.32 * C + 2.5`` inches wide.
    title : str, optional
    cbar_label : str
        Label of the colour bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    m = np.asarray(matrix, dtype=float)
    if m.shape != (len(row_labels), len(col_labels)):
        raise ValueError(f"matrix {m.shape} does not match {len(row_labels)} row and {len(col_labels)} column labels")
    ax = _ax(ax, (min(0.32 * m.shape[1] + 2.5, 9.0), min(0.3 * m.shape[0] + 1.8, 9.0)))
    im = ax.imshow(m, cmap="viridis", aspect="auto")
    ax.set_xticks(range(m.shape[1]), list(col_labels), rotation=90, fontsize=MIN_FONT)
    ax.set_yticks(range(m.shape[0]), list(row_labels), fontsize=MIN_FONT)
    if title:
        ax.set_title(title, fontsize=MIN_FONT + 1)
    bar = ax.figure.colorbar(im, ax=ax, shrink=0.85)
    bar.set_label(cbar_label, fontsize=MIN_FONT)
    bar.ax.tick_params(labelsize=MIN_FONT)
    return ax


def top_k_bars(
    probs: Any,
    labels: Any,
    classnames: Sequence[str],
    rows: Sequence[int],
    k: int = 5,
    ncols: int = 3,
    panel_size: tuple[float, float] = (3.2, 2.4),
) -> Figure:
    """One small bar chart per image: its ``k`` most probable classes, the true class in green.

    Parameters
    ----------
    probs : array-like
        ``(N, K)`` probabilities.
    labels : array-like
        ``(N,)`` true class indices.
    classnames : sequence of str
        ``K`` class names (the bars' labels).
    rows : sequence of int
        Which images (row indices of ``probs``) get a panel.
    k : int
        Bars per panel (at most ``K``).
    ncols : int
        Panels per row (the figure wraps onto further rows).
    panel_size : tuple of float
        Width and height of one panel, inches.

    Returns
    -------
    matplotlib.figure.Figure
        Panels titled with the true class and the top-label confidence; unused grid cells hidden.
    """
    p = np.asarray(probs, dtype=float)
    y = np.asarray(labels)
    k = min(int(k), p.shape[1])
    n = len(rows)
    ncols = max(1, min(int(ncols), n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows),
                             layout="constrained", squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    for ax, i in zip(axes.flat, rows, strict=False):
        top = np.argsort(-p[i])[:k]
        colours = [_CORRECT if c == y[i] else "0.6" for c in top]
        ax.barh(range(k)[::-1], p[i, top], color=colours)
        ax.set_yticks(range(k)[::-1], [classnames[c] for c in top], fontsize=MIN_FONT)
        ax.set_xlim(0, 1)
        ax.tick_params(axis="x", labelsize=MIN_FONT)
        ax.set_title(f"true: {classnames[y[i]]}, conf {p[i].max():.2f}", fontsize=MIN_FONT)
    for ax in axes[-1]:
        if ax.get_visible():
            ax.set_xlabel("probability", fontsize=MIN_FONT)
    return fig


def confidence_by_correctness(
    probs: Any,
    labels: Any,
    n_bins: int = 20,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Histogram of top-label confidence, correct and wrong predictions stacked.

    Bar heights are fractions of *all* images, so the green part sums to the accuracy and the
    red part to the error rate. Dashed lines mark the mean confidence of each group; the legend
    sits above the axes.

    Parameters
    ----------
    probs : array-like
        ``(N, K)`` probabilities.
    labels : array-like
        ``(N,)`` true class indices.
    n_bins : int
        Equal-width confidence bins on ``[0, 1]``.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    return confidence_by_correctness_from_record(correctness_histogram(probs, labels, n_bins), ax=ax, title=title)


def correctness_histogram(probs: Any, labels: Any, n_bins: int = 20) -> dict:
    """The numbers :func:`confidence_by_correctness` draws, as a small JSON-ready record.

    Parameters
    ----------
    probs : array-like
        ``(N, K)`` probabilities.
    labels : array-like
        ``(N,)`` true class indices.
    n_bins : int
        Equal-width confidence bins on ``[0, 1]``.

    Returns
    -------
    dict
        ``n``, ``edges`` (``n_bins + 1``), ``correct`` and ``wrong`` (per bin, fractions of all
        ``n`` images), ``accuracy``, ``mean_confidence_correct`` and ``mean_confidence_wrong``
        (``None`` for an empty group).
    """
    conf, correct = M.confidence_and_correct(probs, labels)
    correct = correct.astype(bool)
    edges = np.linspace(0, 1, int(n_bins) + 1)
    n = conf.shape[0]
    record = {"n": int(n), "edges": edges.tolist(), "accuracy": float(correct.mean())}
    for name, mask in (("correct", correct), ("wrong", ~correct)):
        # np.histogram's last bin is closed like plt.hist's, so the bars are the ones ax.hist drew
        record[name] = (np.histogram(conf[mask], bins=edges)[0] / n).tolist()
        record[f"mean_confidence_{name}"] = float(conf[mask].mean()) if mask.any() else None
    return record


def confidence_by_correctness_from_record(record: Mapping[str, Any], ax: Axes | None = None,
                                          title: str | None = None) -> Axes:
    """:func:`confidence_by_correctness` drawn from its :func:`correctness_histogram` record."""
    ax = _ax(ax, (6.0, 3.8))
    edges = np.asarray(record["edges"], dtype=float)
    correct, wrong = np.asarray(record["correct"]), np.asarray(record["wrong"])
    accuracy = record["accuracy"]
    ax.bar(edges[:-1], correct, width=np.diff(edges), align="edge", color=_CORRECT, edgecolor="black",
           linewidth=0.5, label=f"correct ({accuracy:.1%})")
    ax.bar(edges[:-1], wrong, bottom=correct, width=np.diff(edges), align="edge", color=_WRONG, edgecolor="black",
           linewidth=0.5, label=f"wrong ({1 - accuracy:.1%})")
    for colour, name in ((_CORRECT, "correct"), (_WRONG, "wrong")):
        mean = record[f"mean_confidence_{name}"]
        if mean is not None:
            ax.axvline(mean, color=colour, linestyle="--", linewidth=2, label=f"mean confidence, {name}: {mean:.2f}")
    ax.set_xlim(0, 1)
    ax.set_xlabel("top-label confidence", fontsize=MIN_FONT + 1)
    ax.set_ylabel("fraction of images", fontsize=MIN_FONT + 1)
    ax.tick_params(labelsize=MIN_FONT)
    ax.grid(True, axis="y", linestyle=":", linewidth=0.6)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=2, fontsize=MIN_FONT, frameon=False)
    if title:
        ax.text(1.0, 1.0, title, transform=ax.transAxes, ha="right", va="bottom", fontsize=MIN_FONT)
    return ax


def scale_sweep_plot(
    sweep: pd.DataFrame,
    marks: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Mean confidence, accuracy and ECE against the logit scale (log axis).

    Parameters
    ----------
    sweep : pandas.DataFrame
        :func:`vlmcal_utils.views.chapter2.scale_sweep` output (``scale``, ``accuracy``, ``ECE``,
        ``mean confidence``).
    marks : mapping of str to float, optional
        ``label -> scale`` drawn as vertical lines (e.g. the model's own scale, the lowest ECE);
        their labels join the legend.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        The legend is below the x axis, off the lines.
    """
    ax = _ax(ax, (6.0, 4.6))
    ax.plot(sweep["scale"], sweep["mean confidence"], label="mean confidence", color=_PALETTE[1], linewidth=2)
    ax.plot(sweep["scale"], sweep["accuracy"], label="accuracy", color=_PALETTE[2], linestyle="--", linewidth=2)
    ax.plot(sweep["scale"], sweep["ECE"], label="ECE", color=_PALETTE[0], linewidth=2)
    styles = [("k", "-"), ("tab:red", ":"), ("tab:purple", "-."), ("0.4", "--")]
    for (name, s), (colour, ls) in zip((marks or {}).items(), styles, strict=False):
        ax.axvline(s, color=colour, linestyle=ls, linewidth=1.2, label=f"{name}: s = {s:.1f}")
    ax.set_xscale("log")
    ax.set_xlabel("logit scale s", fontsize=MIN_FONT + 1)
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=MIN_FONT)
    ax.grid(True, linestyle=":", linewidth=0.6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2, fontsize=MIN_FONT, frameon=False)
    if title:
        ax.set_title(title, fontsize=MIN_FONT + 1)
    return ax


def language_bars(table: pd.DataFrame, chance: float | None = None, ax: Axes | None = None) -> Axes:
    """Grouped bars per class-name language: accuracy, mean confidence and ECE (with its interval).

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`vlmcal_utils.views.chapter2.language_table` output (index: language).
    chance : float, optional
        ``1 / K``, drawn as a dotted line (accuracy of guessing).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Values are printed on the bars; the legend is above the axes.
    """
    ax = _ax(ax, (6.4, 4.2))
    x = np.arange(len(table))
    width = 0.27
    series = [("accuracy", _PALETTE[2]), ("mean confidence", _PALETTE[1]), ("ECE", _PALETTE[0])]
    for j, (col, colour) in enumerate(series):
        vals = table[col].to_numpy(dtype=float)
        err = None
        if col == "ECE" and "ECE 95% CI" in table:
            ci = np.array([list(c) for c in table["ECE 95% CI"]], dtype=float)
            err = np.abs(ci.T - vals)
        bars = ax.bar(x + (j - 1) * width, vals, width, color=colour, edgecolor="black", linewidth=0.5,
                      yerr=err, capsize=3, label=col)
        tops = vals if err is None else vals + err[1]  # the value sits above its error bar
        for bar, v, top in zip(bars, vals, tops, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, top + 0.015, f"{v:.2f}", rotation=90, ha="center",
                    va="bottom", fontsize=MIN_FONT)
    if chance is not None:
        ax.axhline(chance, color="0.3", linestyle=":", linewidth=1.2, label=f"chance accuracy {chance:.2f}")
    ax.set_xticks(x, list(table.index), fontsize=MIN_FONT + 1)
    ax.set_ylim(0, 1.15)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.tick_params(axis="y", labelsize=MIN_FONT)
    ax.grid(True, axis="y", linestyle=":", linewidth=0.6)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncols=2, fontsize=MIN_FONT, frameon=False)
    return ax
