"""Reliability diagrams (plain and with per-bin intervals) and confidence histograms (matplotlib, seaborn colours).

Every function draws on the ``ax`` it is given (or a new figure's axes) and returns that ``ax``.
Binning and the ECE in the titles come from :mod:`vlmcal_utils.metrics`, so a diagram always
shows the same numbers as the metric functions.
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes

from vlmcal_utils import metrics as M
from vlmcal_utils.checks import check_n_bins, probs_array
from vlmcal_utils.ece_sampling import bin_accuracy_band

__all__ = [
    "reliability_record",
    "reliability_diagram",
    "reliability_diagram_from_confidence",
    "reliability_diagram_from_record",
    "reliability_band_diagram",
    "reliability_band_diagram_from_confidence",
    "subsample_ece_plot",
    "confidence_histogram",
    "legend_overlaps",
]

_PALETTE = sns.color_palette("colorblind")
_BAR_COLOR = _PALETTE[0]  # blue
_GAP_COLOR = sns.color_palette("deep")[3]  # red
_CONF_COLOR = _PALETTE[1]  # orange
_ACC_COLOR = _PALETTE[2]  # green


def _new_ax(
    ax: Axes | None, size: tuple[float, float] = (4.2, 4.6), bottom: float | None = None
) -> Axes:
    """``ax``, or the axes of a new figure (with ``bottom`` room for a strip under the axes)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=size)
        if bottom is not None:
            fig.subplots_adjust(bottom=bottom, top=0.88)
    return ax


def reliability_record(
    confidence: Any, correct: Any, n_bins: int = 15, binning: str = "equal_width"
) -> dict:
    """What a reliability diagram shows, as a small JSON-ready record (no per-sample arrays).

    Parameters
    ----------
    confidence, correct : array-like
        ``(N,)`` top-label confidences and 0/1 correctness.
    n_bins : int
        Bins.
    binning : str
        ``"equal_width"`` or ``"equal_mass"`` (``vlmcal_utils.metrics.BINNINGS``).

    Returns
    -------
    dict
        ``n`` (samples), ``ece`` (fraction, :func:`~vlmcal_utils.metrics.ece_from_confidence`),
        ``binning`` and per-bin lists ``bin_lower, bin_upper, count, accuracy, confidence``
        (fractions; ``None`` for an empty bin's accuracy and confidence).
    """
    table = M.reliability_bins_from_confidence(confidence, correct, n_bins=n_bins, binning=binning)
    lists = {col: [None if np.isnan(v) else float(v) for v in table[col].to_numpy(dtype=float)]
             for col in ("bin_lower", "bin_upper", "accuracy", "confidence")}
    return {"n": int(table["count"].sum()), "binning": binning,
            "ece": float(M.ece_from_confidence(confidence, correct, n_bins=n_bins, binning=binning)),
            "count": [int(c) for c in table["count"]], **lists}


def reliability_diagram_from_confidence(
    confidence: Any,
    correct: Any,
    n_bins: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    binning: str = "equal_width",
    show_counts: bool = True,
) -> Axes:
    """Reliability diagram from top-label data: (N,) confidences and (N,) correctness.

    Blue bars: accuracy per bin (empty bins have no bar, drawn at height 0). Red hatched bars:
    the gap between accuracy and mean confidence (above the blue bar when the model is
    under-confident, inside it when over-confident). Dashed diagonal: perfect calibration.
    The title ends with the ECE in percent. With ``show_counts`` a strip below the diagram shows
    how many samples fall in each bin (most bins of a good classifier are nearly empty, so the
    strip uses a log scale), and ``ax.counts_ax`` holds that strip. The strip is an inset *below*
    ``ax``: on a figure you made yourself, leave room for it (``constrained_layout`` or
    ``savefig(..., bbox_inches="tight")``, which Jupyter's inline backend uses anyway).
    Drawn by :func:`reliability_diagram_from_record` from :func:`reliability_record`.
    """
    return reliability_diagram_from_record(reliability_record(confidence, correct, n_bins=n_bins, binning=binning),
                                           ax=ax, title=title, show_counts=show_counts)


def reliability_diagram_from_record(
    record: dict, ax: Axes | None = None, title: str | None = None, show_counts: bool = True
) -> Axes:
    """The diagram of :func:`reliability_diagram_from_confidence`, drawn from its :func:`reliability_record`.

    A record kept in a results file (no per-sample outputs) gives the same picture as the live data.
    """
    ax = _new_ax(ax, size=(4.2, 5.8), bottom=0.33 if show_counts else 0.2)
    left = np.asarray(record["bin_lower"], dtype=float)
    width = np.asarray(record["bin_upper"], dtype=float) - left
    acc = np.nan_to_num(np.asarray(record["accuracy"], dtype=float))  # None (empty bin) -> nan -> 0
    conf = np.asarray(record["confidence"], dtype=float)
    counts = np.asarray(record["count"])
    nonempty = counts > 0

    ax.bar(left, acc, width=width, align="edge", color=_BAR_COLOR, edgecolor="black",
           linewidth=0.6, label="Accuracy", zorder=2)
    gap_bottom = np.where(nonempty, np.minimum(acc, np.nan_to_num(conf)), 0.0)
    gap_height = np.where(nonempty, np.abs(acc - np.nan_to_num(conf)), 0.0)
    # Translucent face but opaque hatch lines (hatches take the edge colour), so the gap stays
    # readable where it lies on top of a blue bar (under-confident bins). Two bars, face then hatch:
    # in one bar an SVG (the book's figures: vlmcal_utils.figures) gives the hatch lines the face's alpha.
    ax.bar(left, gap_height, bottom=gap_bottom, width=width, align="edge", color=(*_GAP_COLOR, 0.25),
           linewidth=0, zorder=3)
    ax.bar(left, gap_height, bottom=gap_bottom, width=width, align="edge", facecolor="none",
           edgecolor=(*_GAP_COLOR, 1.0), hatch="///", linewidth=0.8, label="Gap", zorder=3)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1.0, label="Perfect calibration",
            zorder=4)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_ylabel("Accuracy")
    ax.grid(True, linestyle=":", linewidth=0.6, zorder=0)
    ece_text = f"ECE = {100 * record['ece']:.2f}%"
    ax.set_title(f"{title}\n{ece_text}" if title else ece_text)

    if show_counts:
        # A strip under the diagram (an inset in axes coordinates, so any layout of subplots
        # keeps working): one bar per bin, log scale, so a handful of samples stays visible.
        counts_ax = ax.inset_axes([0.0, -0.34, 1.0, 0.22])
        counts_ax.bar(left, counts, width=width, align="edge", color="0.55", edgecolor="black",
                      linewidth=0.4)
        counts_ax.set_xlim(0, 1)
        if counts.max() > 0:
            counts_ax.set_yscale("log")
            counts_ax.set_ylim(0.8, counts.max() * 3)
        counts_ax.set_ylabel("count", fontsize=9)
        counts_ax.tick_params(labelsize=9)
        counts_ax.set_xlabel("Confidence")
        ax.tick_params(labelbottom=False)
        ax.counts_ax = counts_ax  # type: ignore[attr-defined]
    else:
        ax.set_xlabel("Confidence")
    # below the diagram (and its count strip), never on the bars: an under-confident model's bars
    # reach the top left, where the legend used to sit (legend_overlaps checks it)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.56 if show_counts else -0.14), ncol=3, fontsize=9,
              frameon=False, handlelength=1.5, columnspacing=1.0)
    return ax


def reliability_diagram(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    binning: str = "equal_width",
    show_counts: bool = True,
) -> Axes:
    """Reliability diagram of (N, K) probabilities: see :func:`reliability_diagram_from_confidence`."""
    conf, correct = M.confidence_and_correct(probs, labels)
    return reliability_diagram_from_confidence(
        conf, correct, n_bins=n_bins, ax=ax, title=title, binning=binning, show_counts=show_counts
    )


def reliability_band_diagram_from_confidence(
    confidence: Any,
    correct: Any,
    n_bins: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    binning: str = "equal_width",
    method: str = "wilson",
    alpha: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
) -> Axes:
    """Reliability diagram with a ``(1 - alpha)`` interval of every bin's accuracy.

    One shaded box per non-empty bin spans the bin's width and its accuracy interval
    (:func:`vlmcal_utils.ece_sampling.bin_accuracy_band`, ``method`` ``"wilson"`` or
    ``"bootstrap"``); a dot marks (mean confidence, accuracy) of the bin. Where the diagonal lies
    outside a bin's interval at the bin's mean confidence, the dot is drawn as a red square
    ("gap beyond sampling noise"); otherwise a blue circle. The title ends with the ECE in percent.
    ``ax.band_table`` holds the table the diagram shows, and ``ax.n_beyond_noise`` the number of
    red bins.

    Parameters
    ----------
    confidence : array-like, shape (N,)
        Confidences in [0, 1].
    correct : array-like, shape (N,)
        Bool or 0/1 correctness.
    n_bins, binning
        The bins of :mod:`vlmcal_utils.metrics`.
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        First title line.
    method, alpha, n_boot, seed
        As in :func:`vlmcal_utils.ece_sampling.bin_accuracy_band`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = bin_accuracy_band(confidence, correct, n_bins=n_bins, binning=binning, method=method, alpha=alpha,
                              n_boot=n_boot, seed=seed)
    ece_value = M.ece_from_confidence(confidence, correct, n_bins=n_bins, binning=binning)
    ax = _new_ax(ax, size=(4.2, 4.4))
    filled = table[table["count"] > 0]
    beyond = ((filled["confidence"] < filled["acc_lo"]) | (filled["confidence"] > filled["acc_hi"])).to_numpy()
    for (_, row), out in zip(filled.iterrows(), beyond, strict=True):
        ax.fill_between([row["bin_lower"], row["bin_upper"]], row["acc_lo"], row["acc_hi"],
                        color=_GAP_COLOR if out else _BAR_COLOR, alpha=0.25, linewidth=0, zorder=2)
    level = f"{100 * (1 - alpha):g} %"
    ax.plot([], [], linestyle="none", marker="s", markersize=9, color=(*_BAR_COLOR, 0.35),
            label=f"{level} interval of bin accuracy")
    ax.plot(filled["confidence"][~beyond], filled["accuracy"][~beyond], "o", color=_BAR_COLOR,
            markeredgecolor="black", markeredgewidth=0.5, label="bin accuracy", zorder=4)
    ax.plot(filled["confidence"][beyond], filled["accuracy"][beyond], "s", color=_GAP_COLOR,
            markeredgecolor="black", markeredgewidth=0.5, label="gap beyond noise", zorder=4)
    ax.plot([0, 1], [0, 1], linestyle="--", color="0.3", linewidth=1.0, label="Perfect calibration", zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Accuracy")
    ax.grid(True, linestyle=":", linewidth=0.6, zorder=0)
    # below the axes, never on the data (leave room: constrained layout or a tight bounding box)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9, frameon=False)
    ece_text = f"ECE = {100 * ece_value:.2f}%"
    ax.set_title(f"{title}\n{ece_text}" if title else ece_text)
    ax.band_table = table  # type: ignore[attr-defined]
    ax.n_beyond_noise = int(beyond.sum())  # type: ignore[attr-defined]
    return ax


def reliability_band_diagram(
    probs: Any,
    labels: Any,
    n_bins: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> Axes:
    """:func:`reliability_band_diagram_from_confidence` of (N, K) probabilities and (N,) labels."""
    conf, correct = M.confidence_and_correct(probs, labels)
    return reliability_band_diagram_from_confidence(conf, correct, n_bins=n_bins, ax=ax, title=title, **kwargs)


def subsample_ece_plot(draws: Any, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Mean +- one standard deviation of the plug-in and debiased ECE against the subsample size.

    Parameters
    ----------
    draws : pandas.DataFrame
        :func:`vlmcal_utils.ece_sampling.subsample_ece`'s rows (``n, ece, debiased_ece, full_ece``).
    ax : matplotlib Axes, optional
        Where to draw; default a new figure.
    title : str, optional
        The axes title.

    Returns
    -------
    matplotlib.axes.Axes
        Log-scaled size axis; a dotted line marks the ECE of the full set. The two estimators'
        markers are offset by 4 % in ``n`` so their error bars do not overlap.
    """
    ax = _new_ax(ax, size=(4.6, 3.6))
    stats = draws.groupby("n")[["ece", "debiased_ece"]].agg(["mean", "std"]).fillna(0.0)
    n = stats.index.to_numpy(dtype=np.float64)
    for column, label, marker, color, shift in [("ece", "plug-in ECE", "o", _BAR_COLOR, 0.96),
                                                ("debiased_ece", "debiased ECE", "s", _CONF_COLOR, 1.04)]:
        ax.errorbar(n * shift, stats[(column, "mean")], yerr=stats[(column, "std")], marker=marker, color=color,
                    capsize=3, linewidth=1.2, label=label)
    ax.axhline(float(draws["full_ece"].iloc[0]), color="0.3", linestyle=":", linewidth=1.2,
               label=f"plug-in ECE, all {int(n.max())}")
    ax.set_xscale("log")
    ax.set_xlabel("subsample size $n$")
    ax.set_ylabel("ECE (mean $\\pm$ 1 sd)")
    ax.grid(True, linestyle=":", linewidth=0.6)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=9, frameon=False)  # off the data
    if title:
        ax.set_title(title)
    return ax


def confidence_histogram(
    probs: Any,
    labels: Any = None,
    n_bins: int = 15,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Histogram of top-label confidences (fraction of samples per equal-width bin).

    A vertical line marks the mean confidence and, when ``labels`` are given, another marks the
    accuracy: confidence to the right of accuracy means over-confidence on average.
    """
    if labels is None:
        p = probs_array(probs)
        conf = p.max(axis=1).clip(0.0, 1.0)
        acc = None
    else:
        conf, correct = M.confidence_and_correct(probs, labels)
        acc = float(correct.mean())
    n_bins = check_n_bins(n_bins)
    ax = _new_ax(ax, size=(4.2, 3.2))
    edges = np.arange(n_bins + 1) / n_bins
    weights = np.full(conf.shape[0], 1.0 / conf.shape[0])
    ax.hist(conf, bins=edges, weights=weights, color=_BAR_COLOR, edgecolor="black", linewidth=0.6,
            zorder=2)
    mean_conf = float(conf.mean())
    ax.axvline(mean_conf, color=_CONF_COLOR, linestyle="--", linewidth=2,
               label=f"Avg. confidence {100 * mean_conf:.1f}%", zorder=3)
    if acc is not None:
        ax.axvline(acc, color=_ACC_COLOR, linestyle="-", linewidth=2,
                   label=f"Accuracy {100 * acc:.1f}%", zorder=3)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Confidence")
    ax.set_ylabel("Fraction of samples")
    ax.grid(True, axis="y", linestyle=":", linewidth=0.6, zorder=0)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=9, frameon=False)  # off the bars
    if title:
        ax.set_title(title)
    return ax


def legend_overlaps(ax: Axes) -> list[str]:
    """What an Axes' legend covers of its drawn data (empty: the legend hides nothing).

    Bars and other patches count where their drawn box meets the legend's box; lines where one
    of 200 points along each segment falls inside it. Use it to check ``loc="best"`` or a
    placement on the data it was drawn for.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        A drawn Axes (its figure is drawn once here to place the legend).

    Returns
    -------
    list of str
        One entry per covered artist: its label (or kind) and where, in data coordinates.
    """
    legend = ax.get_legend()
    if legend is None:
        return []
    fig = ax.figure
    fig.canvas.draw()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    covered = []
    for patch in ax.patches:
        extent = patch.get_window_extent()
        if extent.width > 0 and extent.height > 0 and box.overlaps(extent):
            name = patch.get_label() if not patch.get_label().startswith("_") else type(patch).__name__.lower()
            covered.append(f"{name} at x = {patch.get_x():.3g}" if hasattr(patch, "get_x") else name)
    for line in ax.lines:
        xy = np.asarray(line.get_xydata(), dtype=float)
        if len(xy) == 0:
            continue
        dense = np.concatenate([np.linspace(a, b, 200) for a, b in zip(xy[:-1], xy[1:], strict=True)]) \
            if len(xy) > 1 else xy
        shown = line.get_transform().transform(dense)
        if box.count_contains(shown) > 0:
            covered.append(f"line {line.get_label()}")
    return covered
