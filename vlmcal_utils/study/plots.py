"""The study's four figures, one per finding; each draws on the given Axes and returns it.

ECE is shown in percent. Bars and points are coloured by task family (:data:`FAMILY_COLOURS`).
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from vlmcal_utils.scores import ece_key
from vlmcal_utils.study.correlation import confidence_accuracy_correlation
from vlmcal_utils.study.subsets import summarise_n_calib_curve

__all__ = [
    "FAMILY_COLOURS",
    "plot_ece_before_after",
    "plot_ece_across_shifts",
    "plot_confidence_vs_accuracy",
    "plot_n_calib_curve",
    "plot_n_calib_summary",
]

#: Task family -> colour: zero-shot VLMs and ImageNet/CIFAR-trained baselines.
FAMILY_COLOURS = {"vlm": "tab:blue", "baseline": "tab:orange"}


def _ax(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _yerr(sub: pd.DataFrame) -> np.ndarray | None:
    """``(2, P)`` error-bar lengths (percent) from ``ece_lo/ece_hi``, or ``None`` without intervals."""
    if not {"ece_lo", "ece_hi"} <= set(sub.columns) or sub[["ece_lo", "ece_hi"]].isna().all().all():
        return None
    ece = sub[ece_key(sub.columns)]
    lo = (ece - sub["ece_lo"]).clip(lower=0).fillna(0).to_numpy()
    hi = (sub["ece_hi"] - ece).clip(lower=0).fillna(0).to_numpy()
    return np.vstack([lo, hi]) * 100


def _one_row_each(sub: pd.DataFrame, columns: list[str]) -> None:
    """A figure shows one value per (label, method): refuse tables holding several (e.g. two seeds)."""
    dup = sub[sub.duplicated(columns, keep=False)]
    if len(dup):
        first = dup.iloc[0]
        raise ValueError(
            f"the table has {int((dup[columns] == first[columns]).all(axis=1).sum())} rows for "
            + ", ".join(f"{c}={first[c]!r}" for c in columns)
            + " (several runs or seeds in one table?): plot one run's table, e.g. what run_grid returned"
        )


def plot_ece_before_after(df: pd.DataFrame, ax: Axes | None = None, split: str = "test", label_col: str = "model",
                          reference: tuple[float, str] | None = None) -> Axes:
    """Finding 1: grouped bars of ECE (%) before (light, hatched) and after TS, per model.

    Parameters
    ----------
    df : pandas.DataFrame
        A results table (scores as :meth:`~vlmcal_utils.scores.Scores.as_row`: its ``ece_<bins>``
        column is drawn, ``ece_lo/ece_hi`` as error bars); rows with ``split == split`` of the
        full calibration split (``cell == "all"``) and ``method`` in {none, ts} are used, one per
        (label, method).
    ax : matplotlib Axes, optional
        Where to draw (default: the current Axes).
    split : str
        The evaluation split shown.
    label_col : str
        The column naming the bars (``" / dataset"`` is appended when there are several datasets).
    reference : (float, str), optional
        ``(ece, label)``: a dotted horizontal line (e.g. the median ECE of ImageNet classifiers).

    Returns
    -------
    matplotlib Axes
        ``ax``: bars coloured by ``family`` with the bootstrap interval as error bars, VLMs first.
    """
    ax = _ax(ax)
    sub = df[df["split"] == split]
    if "family" in sub.columns:  # VLMs first, then baselines, each alphabetically
        sub = sub.assign(_fam=(sub["family"] != "vlm")).sort_values(["_fam", label_col], kind="stable")
    if "cell" in sub.columns:
        sub = sub[sub["cell"] == "all"]
    if sub.empty:
        raise ValueError(f"no rows with split={split!r} to plot")
    suffix = " / " + sub["dataset"] if sub["dataset"].nunique() > 1 else ""
    sub = sub.assign(_label=sub[label_col] + suffix)
    _one_row_each(sub, ["_label", "method"])
    labels = list(dict.fromkeys(sub["_label"]))
    x = np.arange(len(labels))
    width = 0.38
    for off, m, kw in ((-width / 2, "none", dict(alpha=0.45, hatch="//")), (width / 2, "ts", {})):
        part = sub[sub["method"] == m].set_index("_label").reindex(labels)
        colours = [FAMILY_COLOURS.get(f, "tab:gray") for f in part.get("family", pd.Series(["vlm"] * len(part)))]
        ax.bar(x + off, part[ece_key(part.columns)] * 100, width, color=colours, yerr=_yerr(part), capsize=2,
               edgecolor="k", linewidth=0.5, **kw)
    ax.set_xticks(x, labels, rotation=30, ha="right")
    ax.set_ylabel("ECE (%)")
    handles = [Patch(facecolor="white", edgecolor="k", hatch="//", label="before TS"),
               Patch(facecolor="white", edgecolor="k", label="after TS")]
    handles += [Patch(color=c, label=f) for f, c in FAMILY_COLOURS.items()
                if "family" in sub.columns and f in set(sub["family"])]
    if reference is not None:
        handles.append(ax.axhline(reference[0] * 100, color="gray", ls=":", label=reference[1]))
    ax.legend(handles=handles, fontsize="small")
    return ax


def plot_ece_across_shifts(df: pd.DataFrame, ax: Axes | None = None, splits: Sequence[str] | None = None) -> Axes:
    """Finding 2: ECE (%) on each evaluation split, one line per (model, dataset).

    Parameters
    ----------
    df : pandas.DataFrame
        A results table (its ``cell == "all"`` rows are used).
    ax : matplotlib Axes, optional
        Where to draw.
    splits : sequence of str, optional
        The splits on the x axis, in order (default: as they appear).

    Returns
    -------
    matplotlib Axes
        ``ax``: solid lines after TS (T fitted on the in-distribution calibration split), dashed before.
    """
    ax = _ax(ax)
    sub = df[df["cell"] == "all"] if "cell" in df.columns else df
    _one_row_each(sub, ["model", "dataset", "split", "method"])
    splits = list(splits) if splits is not None else list(dict.fromkeys(sub["split"]))
    x = np.arange(len(splits))
    for i, ((model, _), g) in enumerate(sub.groupby(["model", "dataset"], sort=False)):
        colour = f"C{i}"
        for m, ls in (("none", "--"), ("ts", "-")):
            part = g[g["method"] == m].set_index("split").reindex(splits)
            ax.errorbar(x, part[ece_key(part.columns)] * 100, yerr=_yerr(part), ls=ls, marker="o", color=colour,
                        capsize=2, label=f"{model} ({'after' if m == 'ts' else 'before'} TS)")
    ax.set_xticks(x, splits, rotation=20, ha="right")
    ax.set_ylabel("ECE (%)")
    ax.legend(fontsize="x-small")
    return ax


def plot_confidence_vs_accuracy(points: pd.DataFrame, ax: Axes | None = None, conf_col: str = "mean_confidence",
                                acc_col: str = "accuracy", xlabel: str = "mean confidence after TS (%)") -> Axes:
    """Finding 3: mean calibrated confidence (x) against accuracy (y), one point per row.

    Parameters
    ----------
    points : pandas.DataFrame
        At least 3 rows with columns ``conf_col`` and ``acc_col`` (fractions), optionally ``family``.
    ax : matplotlib Axes, optional
        Where to draw.
    conf_col, acc_col, xlabel : str
        Column names and the x-axis label.

    Returns
    -------
    matplotlib Axes
        ``ax``, with the identity line and R²/Spearman
        (:func:`~vlmcal_utils.study.confidence_accuracy_correlation`) in the legend.
    """
    ax = _ax(ax)
    stats = confidence_accuracy_correlation(points, conf_col=conf_col, acc_col=acc_col)
    colours = [FAMILY_COLOURS.get(f, "tab:blue") for f in points.get("family", ["vlm"] * len(points))]
    ax.scatter(points[conf_col] * 100, points[acc_col] * 100, c=colours, edgecolor="k", zorder=3,
               label=f"R² = {stats['r2']:.3f}, Spearman = {stats['spearman']:.3f} (n = {stats['n']})")
    lo = float(min(points[conf_col].min(), points[acc_col].min())) * 100 - 2
    hi = float(max(points[conf_col].max(), points[acc_col].max())) * 100 + 2
    ax.plot([lo, hi], [lo, hi], "k:", lw=1, label="confidence = accuracy")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_n_calib_curve(curve: pd.DataFrame, ax: Axes | None = None, band: str = "std", label: str | None = None,
                       colour: str | None = None, log_x: bool = True) -> Axes:
    """Finding 4: ECE after TS (%) against the calibration-set size, with a band over the draws.

    Parameters
    ----------
    curve : pandas.DataFrame
        An n_calib curve (:func:`~vlmcal_utils.study.n_calib_curve` or
        :func:`~vlmcal_utils.study.curve_from_results`).
    ax : matplotlib Axes, optional
        Where to draw.
    band : str
        ``"std"``: mean ± std; ``"percentile"``: the 10–90 % range around the median.
    label, colour : str, optional
        Legend label and line colour.
    log_x : bool
        Logarithmic x axis.

    Returns
    -------
    matplotlib Axes
        ``ax``, with the ECE before TS as a dashed line when ``curve`` has ``ece_before``.
    """
    ece_before = float(curve["ece_before"].iloc[0]) if "ece_before" in curve.columns else None
    return plot_n_calib_summary(summarise_n_calib_curve(curve), ece_before, ax=ax, band=band, label=label,
                                colour=colour, log_x=log_x)


def plot_n_calib_summary(summary: pd.DataFrame, ece_before: float | None = None, ax: Axes | None = None,
                         band: str = "std", label: str | None = None, colour: str | None = None,
                         log_x: bool = True) -> Axes:
    """:func:`plot_n_calib_curve` drawn from the curve's summary (what a results file can keep).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`~vlmcal_utils.study.summarise_n_calib_curve` rows: ``n_calib`` and ``ece_mean,
        ece_std`` (``band="std"``) or ``ece_median, ece_q_lo, ece_q_hi`` (``"percentile"``), fractions.
    ece_before : float, optional
        The ECE before TS, drawn as a dashed line.
    ax, band, label, colour, log_x
        As :func:`plot_n_calib_curve`.

    Returns
    -------
    matplotlib Axes
    """
    if band not in ("std", "percentile"):
        raise ValueError(f"band must be 'std' or 'percentile', got {band!r}")
    ax = _ax(ax)
    s = summary
    n = s["n_calib"].to_numpy()
    if band == "std":
        mid, lo, hi = s["ece_mean"], s["ece_mean"] - s["ece_std"], s["ece_mean"] + s["ece_std"]
    else:
        mid, lo, hi = s["ece_median"], s["ece_q_lo"], s["ece_q_hi"]
    line, = ax.plot(n, mid * 100, marker="o", color=colour, label=f"{label or 'after TS'}")
    ax.fill_between(n, lo.clip(lower=0) * 100, hi * 100, color=line.get_color(), alpha=0.2)
    if ece_before is not None:
        ax.axhline(ece_before * 100, color=line.get_color(), ls="--", lw=1,
                   label=f"{label + ': ' if label else ''}before TS")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("calibration samples")
    ax.set_ylabel("ECE after TS (%)")
    ax.legend(fontsize="small")
    return ax
