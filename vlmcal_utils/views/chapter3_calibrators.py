"""Which calibrator when labels are few: TS against vector scaling, histogram binning and isotonic.

Chapter 3's study of the four, its tables, figure and answer box.

Every method is fitted on the same random draws of ``n`` calibration images
(:func:`~vlmcal_utils.study.calibrator_curves`), so comparisons between methods are paired.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.study.calibrator_curves import CURVE_METHODS, calibrator_curves, summarise_calibrator_curves
from vlmcal_utils.study.grid import StudyTask
from vlmcal_utils.views.boxes import Box
from vlmcal_utils.views.chapter3_style import METHOD_LABELS, ReportFigure, report_style

__all__ = ["calibrator_study", "calibrator_table", "ts_at_n", "calibrator_figure", "ece_table_display",
           "ts_answer_box"]


def calibrator_study(tasks: Sequence[StudyTask], sizes: Sequence[int], repeats: int = 20, seed: int = 0,
                     n_bins: int = 15, methods: Sequence[str] = CURVE_METHODS) -> pd.DataFrame:
    """:func:`~vlmcal_utils.study.calibrator_curves` for each VLM task: pool ``cal``, scored on ``test``.

    Parameters
    ----------
    tasks : sequence of StudyTask
        Tasks with ``cal`` and ``test`` splits (only ``family == "vlm"`` ones are used).
    sizes, repeats, seed, n_bins, methods
        As :func:`~vlmcal_utils.study.calibrator_curves`.

    Returns
    -------
    pandas.DataFrame
        Its rows with a ``model`` column first.
    """
    parts = []
    for t in tasks:
        if t.family != "vlm":
            continue
        d = t.load()
        rows = calibrator_curves(*d["cal"], *d["test"], sizes=sizes, repeats=repeats, methods=methods, seed=seed,
                                 n_bins=n_bins)
        parts.append(rows.assign(model=t.model)[["model", *rows.columns]])
    if not parts:
        raise ValueError("calibrator_study: no VLM task given")
    return pd.concat(parts, ignore_index=True)


def calibrator_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean ECE over draws with its 2.5/97.5 % range, per model, method and calibration size.

    Returns
    -------
    pandas.DataFrame
        :func:`~vlmcal_utils.study.summarise_calibrator_curves` of ``rows`` (ECE): ``model, method,
        n, mean, low, high, repeats``.
    """
    return summarise_calibrator_curves(rows, "ece")


def ts_at_n(rows: pd.DataFrame, n: int = 50) -> pd.DataFrame:
    """Does TS's single parameter win at ``n`` labels? TS against each other calibrator, per model.

    Parameters
    ----------
    rows : pandas.DataFrame
        :func:`calibrator_study` rows.
    n : int
        The calibration-set size judged.

    Returns
    -------
    pandas.DataFrame
        One row per model: ``model, n, winner`` (lowest mean ECE among the four calibrators),
        ``ts_mean``, ``ts_wins`` (TS is the winner), and per other calibrator ``<method>_mean`` and
        ``ts_better_share_<method>`` (share of the draws on which TS's ECE is lower: the draws are
        the same sets for every method, so this is a paired comparison).
    """
    sub = rows[rows["n"] == n]
    if sub.empty:
        raise ValueError(f"ts_at_n: no rows with n = {n}")
    out = []
    others = [m for m in CURVE_METHODS if m not in ("none", "ts")]
    for model, g in sub.groupby("model", sort=False):
        wide = g.pivot_table(index="repeat", columns="method", values="ece")
        means = wide.mean()
        calibrators = [m for m in ["ts", *others] if m in means.index]
        winner = min(calibrators, key=lambda m: means[m])
        row = {"model": model, "n": n, "winner": winner, "ts_mean": float(means["ts"]), "ts_wins": winner == "ts"}
        for m in others:
            if m in wide.columns:
                row[f"{m}_mean"] = float(means[m])
                row[f"ts_better_share_{m}"] = float((wide["ts"] < wide[m]).mean())
        out.append(row)
    return pd.DataFrame(out)


def calibrator_figure(summary: pd.DataFrame) -> Figure:
    """ECE against calibration-set size for each method, one panel per model stacked (shared axes).

    Lines are the mean over draws, bands the 2.5–97.5 % range of the draws; the y axis is
    logarithmic (ECE %) because the small-n fits of the many-parameter methods are far worse.
    """
    models = list(dict.fromkeys(summary["model"]))
    with report_style():
        fig = ReportFigure(figsize=(7.5, 3.2 * len(models) + 1.2), layout="constrained")
        axes = fig.subplots(len(models), 1, sharex=True, sharey=True, squeeze=False)
        for ax, model in zip(axes[:, 0], models, strict=True):
            for i, m in enumerate(CURVE_METHODS):
                g = summary[(summary["model"] == model) & (summary["method"] == m)].sort_values("n")
                if g.empty:
                    continue
                style = dict(color="gray", ls="--") if m == "none" else dict(color=f"C{i}", marker="o", ms=4)
                ax.plot(g["n"], g["mean"] * 100, label=METHOD_LABELS[m], **style)
                if m != "none":
                    ax.fill_between(g["n"], g["low"] * 100, g["high"] * 100, color=f"C{i}", alpha=0.15)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(model)
            ax.set_ylabel("ECE (%)")
        axes[-1, 0].set_xlabel("labelled calibration samples n")
        handles, labels = axes[0, 0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center", ncol=2, frameon=False)
    return fig


def ece_table_display(rows: pd.DataFrame, sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """The calibrator table laid out for reading: ``mean [low, high]`` (ECE %), sizes as columns.

    Parameters
    ----------
    rows : pandas.DataFrame
        :func:`calibrator_table` output.
    sizes : sequence of int, optional
        The columns shown (default: all sizes).

    Returns
    -------
    pandas.DataFrame
        Index ``(model, method)``, one string column per size.
    """
    t = rows if sizes is None else rows[rows["n"].isin(list(sizes))]
    cell = t.assign(text=[f"{m * 100:.1f} [{lo * 100:.1f}, {hi * 100:.1f}]"
                          for m, lo, hi in zip(t["mean"], t["low"], t["high"], strict=True)])
    out = cell.pivot_table(index=["model", "method"], columns="n", values="text", aggfunc="first")
    models = list(dict.fromkeys(t["model"]))
    wanted = [(mo, me) for mo in models for me in CURVE_METHODS if (mo, me) in out.index]
    return out.reindex(pd.MultiIndex.from_tuples(wanted, names=["model", "method"]))


def ts_answer_box(at_n: pd.DataFrame) -> Box:
    """The answer to "does TS's one parameter win at n labels?", written from :func:`ts_at_n`.

    Parameters
    ----------
    at_n : pandas.DataFrame
        :func:`ts_at_n` output (one row per VLM, a single ``n``).

    Returns
    -------
    Box
        Green when TS has the lowest mean ECE for every VLM, amber when for some, red for none.
    """
    n = int(at_n["n"].iloc[0])
    wins = int(at_n["ts_wins"].sum())
    lines = []
    for r in at_n.to_dict(orient="records"):
        others = [m for m in CURVE_METHODS if m not in ("none", "ts") and f"{m}_mean" in r]
        vs = "; ".join(f"{METHOD_LABELS[m].split(' (')[0]} {r[f'{m}_mean'] * 100:.1f} % (TS lower on "
                       f"{r[f'ts_better_share_{m}'] * 100:.0f} % of draws)" for m in others)
        lines.append(f"{r['model']}: TS {r['ts_mean'] * 100:.1f} %; {vs}; lowest: {METHOD_LABELS[r['winner']]}.")
    kind = "tip" if wins == len(at_n) else ("warning" if wins else "danger")
    return Box(f"At n = {n} labels, temperature scaling has the lowest mean ECE for {wins} of {len(at_n)} VLMs",
               lines, kind)
