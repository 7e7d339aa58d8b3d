"""Chapter 3's views: the study of one group of tasks, its tables, figures and boxes, as functions.

The chapter's code cells call these, so each cell stays a line or two. Conventions:

- Tables are :class:`pandas.DataFrame` (ECE as fractions in ``[0, 1]``); figures are new
  :class:`matplotlib.figure.Figure` objects drawn with a readable style (13 pt text, legends
  outside the data), one or two panels per row. They are made without pyplot, so a notebook shows
  each one only where it is displayed (``display(fig)``), never twice, as a PNG
  (:class:`ReportFigure`).
- Boxes (:class:`~vlmcal_utils.boxes.Box`) are admonitions that render as HTML in a notebook and in the book
  (``_repr_html_``), and as plain text elsewhere. :func:`unavailable_box` is the fallback shown
  in every section whose real-data part cannot run, saying why; :func:`verdict_box` shows a
  :func:`~vlmcal_utils.study.finding_verdicts` row.
"""

from __future__ import annotations

import functools
import io
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from vlmcal_utils.boxes import Box
from vlmcal_utils.models import RANDOM_WEIGHTS_NOTE
from vlmcal_utils.paths import shared_dir
from vlmcal_utils.study import paper_models
from vlmcal_utils.study.calibrator_curves import CURVE_METHODS, calibrator_curves, summarise_calibrator_curves
from vlmcal_utils.study.correlation import confidence_accuracy_correlation
from vlmcal_utils.study.findings import curve_from_results, label_mismatch_rows, summarise_findings
from vlmcal_utils.study.grid import StudyTask, run_grid
from vlmcal_utils.study.grid_config import GridConfig
from vlmcal_utils.study.plots import (
    plot_confidence_vs_accuracy,
    plot_ece_across_shifts,
    plot_ece_before_after,
    plot_n_calib_curve,
)
from vlmcal_utils.study.subsets import grid_for, summarise_n_calib_curve
from vlmcal_utils.study.tasks import IMAGENET_LABEL_DATASETS, baseline_task, dataset_specs, zeroshot_task
from vlmcal_utils.study.verdicts import finding_verdicts, shift_cells

__all__ = [
    "ReportFigure",
    "unavailable_box",
    "verdict_box",
    "verdict_boxes",
    "run_study",
    "before_after_table",
    "before_after_figure",
    "shift_table",
    "shift_figure",
    "mismatch_table",
    "correlation_table",
    "mismatch_figure",
    "n_calib_table",
    "n_calib_figure",
    "paper_setup_table",
    "calibrator_study",
    "calibrator_table",
    "ts_at_n",
    "calibrator_figure",
    "ece_table_display",
    "judge",
    "verdict_table",
    "end_to_end_tasks",
    "ts_answer_box",
]

#: The style of every figure here: text that stays readable when the figure is shrunk to a phone.
STYLE = {"font.size": 13, "axes.titlesize": 13, "axes.labelsize": 13, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 11}
METHOD_LABELS = {"none": "no calibration", "ts": "temperature scaling (1 parameter)",
                 "vector_scaling": "vector scaling (2K)", "histogram_binning": "histogram binning (15K)",
                 "isotonic": "isotonic regression (K maps)"}
_KINDS = {"holds": "tip", "partly": "warning", "does not hold here": "danger"}


def unavailable_box(section: str, reason: str) -> Box:
    """The fallback of a section whose real-data part cannot run here: what is missing and why.

    Parameters
    ----------
    section : str
        The section, e.g. ``"Finding 2"``.
    reason : str
        Why the published outputs are not here (e.g. the fetcher's reason for the first missing file).

    Returns
    -------
    Box
        A warning box: the real-model part of the section is not shown, why, and how to get it.
    """
    return Box(f"{section}: real-model outputs not available on this machine", [
        f"The published outputs of real models that this part of the section is computed from "
        f"could not be read here: {reason}.",
        "So this section shows no real-model numbers or verdict in this build. Set VLMCAL_SHARED to a "
        "folder holding data/logits, run with internet access (the files are then downloaded and checked "
        "against their pinned hashes), or point the logits_dir parameter at a folder of the .npz files. "
        "The demo-world section below still runs, and is labelled as such.",
    ], kind="warning")


def verdict_box(row: dict, study: str = "published outputs") -> Box:
    """A :func:`~vlmcal_utils.study.finding_verdicts` row as a box.

    Parameters
    ----------
    row : dict
        One verdict row.
    study : str
        What was measured (shown in the title).

    Returns
    -------
    Box
        Green for *holds*, amber for *partly*, red for *does not hold here*.
    """
    interval = f"{row['quantity']}: {row['estimate']:.3f}, 95 % interval [{row['low']:.3f}, {row['high']:.3f}]"
    if row.get("interval_note"):
        interval += f" ({row['interval_note']})"
    return Box(f"Claim {row['claim']} — on {study}: {row['verdict']}", [
        interval + ".", f"Measured: {row['measured']}.", f"Rule: {row['rule']}.",
        f"Why it may differ from the paper: {row['why']}",
    ], kind=_KINDS.get(row["verdict"], "note"))


class ReportFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that renders itself as PNG in a notebook (``_repr_png_``).

    The figures here are made without pyplot, so they are never shown twice; a plain ``Figure``
    made that way has no notebook rendering until pyplot's inline backend has been started by some
    pyplot figure (the chapter's first run showed its first figure only). This one renders with
    the Agg canvas, whatever the backend.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        FigureCanvasAgg(self).print_png(buf)
        return buf.getvalue()


@contextmanager
def _style() -> Iterator[None]:
    with plt.rc_context(STYLE):
        yield


def _legend_outside(ax: Any, where: str = "right") -> None:
    """Move an Axes' legend off the data (right of the panel, or below it)."""
    legend = ax.get_legend()
    if legend is None:
        return
    labels = [t.get_text() for t in legend.get_texts()]
    handles, own = ax.get_legend_handles_labels()  # the plotted artists keep their line styles
    if own != labels:  # proxy handles (patches made for the legend only): reuse the legend's
        handles = legend.legend_handles
    legend.remove()
    if where == "right":
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    else:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.0, -0.18), frameon=False)


# ------------------------------------------------------------------------------------------ the study
def run_study(tasks: Sequence[StudyTask], grid_path: str | os.PathLike, n_calib_grid: Sequence[Any],
              n_repeats: int, n_bins: int = 15, n_boot: int = 1000, seed: int = 0,
              pairs: list[dict] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grid table and the label-mismatch rows of one group of tasks.

    Parameters
    ----------
    tasks : sequence of StudyTask
        The tasks (each task's ``load`` is cached in memory: logits are small).
    grid_path : str or os.PathLike
        The resumable JSON-lines file of :func:`~vlmcal_utils.study.run_grid`.
    n_calib_grid, n_repeats, n_bins, n_boot, seed
        The protocol (:class:`~vlmcal_utils.study.GridConfig`). Without ``pairs`` the grid is cut to
        the smallest calibration split (:func:`~vlmcal_utils.study.grid_for`).
    pairs : list of dict, optional
        Label-mismatch pairs (``model, dataset, source, cal, test``); default: each VLM task's
        ``cal`` and ``test`` splits.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        The grid table (:data:`~vlmcal_utils.study.RESULT_COLUMNS`) and the label-mismatch rows
        (:func:`~vlmcal_utils.study.label_mismatch_rows`, bootstrap with ``min(n_boot, 200)``).
    """
    for t in tasks:
        t.load = functools.cache(t.load)
    grid = list(n_calib_grid)
    if pairs is None:
        grid = grid_for(grid, min(len(t.load()["cal"][1]) for t in tasks))
    config = GridConfig(n_calib_grid=grid, n_repeats=n_repeats, n_bins=n_bins, n_boot=n_boot, seed=seed)
    table = run_grid(tasks, Path(grid_path), config, progress=False)
    if pairs is None:
        pairs = [dict(model=t.model, dataset=t.dataset, source=t.source, cal=t.load()["cal"], test=t.load()["test"])
                 for t in tasks if t.family == "vlm"]
    lm = pd.DataFrame([row for p in pairs for row in label_mismatch_rows(
        p["model"], p["dataset"], p["cal"], p["test"], n_bins=n_bins, n_boot=min(n_boot, 200), seed=seed,
        source=p["source"])])
    return table, lm


def before_after_table(table: pd.DataFrame) -> pd.DataFrame:
    """Finding 1's table: every task on its ``test`` split, before (``none``) and after (``ts``) TS.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, family, method, acc, ece, ece_lo, ece_hi, nll, T, n, source``, sorted by
        family (baselines after VLMs), model, method.
    """
    full = table[(table["cell"] == "all") & (table["split"] == "test")]
    cols = ["model", "family", "method", "acc", "ece", "ece_lo", "ece_hi", "nll", "T", "n", "source"]
    return full[cols].sort_values(["family", "model", "method"], ascending=[False, True, True]).reset_index(drop=True)


def before_after_figure(table: pd.DataFrame, title: str, reference: tuple[float, str] | None = None) -> Figure:
    """Finding 1's figure: ECE before/after TS per task (:func:`~vlmcal_utils.study.plot_ece_before_after`)."""
    with _style():
        n = table["model"].nunique()
        fig = ReportFigure(figsize=(max(6.0, 0.9 * n + 3), 4.6), layout="constrained")
        ax = fig.subplots()
        plot_ece_before_after(table[table["cell"] == "all"], ax=ax, reference=reference)
        ax.set_title(title)
        _legend_outside(ax)
    return fig


def shift_table(table: pd.DataFrame) -> pd.DataFrame:
    """Finding 2's table: ECE before/after TS with intervals on each shifted split and each other task.

    Returns
    -------
    pandas.DataFrame
        :func:`~vlmcal_utils.study.verdicts.shift_cells` rows, shifts first, with a ``kind`` column
        (``"shift"`` or ``"other task"``) and ``ts_lower`` (TS lowered the ECE).
    """
    shifts, other = shift_cells(table)
    out = pd.concat([shifts.assign(kind="shift"), other.assign(kind="other task")], ignore_index=True)
    out["ts_lower"] = out["ts"] < out["none"]
    return out[["kind", "model", "split", "none", "none_lo", "none_hi", "ts", "ts_lo", "ts_hi", "ts_lower"]]


def shift_figure(table: pd.DataFrame, title: str, splits: Sequence[str] | None = None) -> Figure:
    """Finding 2's figure: ECE per evaluation split, T fitted once (:func:`~vlmcal_utils.study.plot_ece_across_shifts`).

    Parameters
    ----------
    table : pandas.DataFrame
        A grid table (its VLM ``"all"`` cells are drawn).
    title : str
        The panel's title.
    splits : sequence of str, optional
        The splits on the x axis, in order (others are left out).
    """
    full = table[(table["cell"] == "all") & (table["family"] == "vlm")]
    if splits is not None:
        full = full[full["split"].isin(splits)]
    with _style():
        fig = ReportFigure(figsize=(8.0, 4.6), layout="constrained")
        ax = fig.subplots()
        plot_ece_across_shifts(full, ax=ax, splits=splits)
        ax.set_title(title)
        _legend_outside(ax)
    return fig


def mismatch_table(lm: pd.DataFrame) -> pd.DataFrame:
    """Finding 3's table: ECE of each (model, dataset, held-out half) under none / mismatched / matched TS."""
    return lm.pivot_table(index=["model", "dataset", "split"], columns="method", values="ece")


def correlation_table(lm: pd.DataFrame) -> pd.DataFrame | None:
    """Confidence-accuracy agreement across the points, per method (``None`` below 3 points a method)."""
    methods = [m for m in ("none", "ts_mismatched", "ts_matched") if (lm["method"] == m).sum() >= 3]
    if not methods:
        return None
    return pd.DataFrame({m: confidence_accuracy_correlation(lm[lm["method"] == m]) for m in methods}).T


def mismatch_figure(lm: pd.DataFrame) -> Figure | None:
    """Finding 3's figure: confidence vs accuracy before TS and after label-mismatched TS (2 panels)."""
    if (lm["method"] == "none").sum() < 3:
        return None
    with _style():
        fig = ReportFigure(figsize=(10.0, 5.4), layout="constrained")
        axes = fig.subplots(1, 2)
        plot_confidence_vs_accuracy(lm[lm["method"] == "none"], ax=axes[0], xlabel="mean confidence (%)")
        axes[0].set_title("before TS")
        plot_confidence_vs_accuracy(lm[lm["method"] == "ts_mismatched"], ax=axes[1])
        axes[1].set_title("after label-mismatched TS")
        for ax in axes:
            _legend_outside(ax, "below")
    return fig


def _vlm_pairs(table: pd.DataFrame) -> list[tuple[str, str]]:
    return list(table[table["family"] == "vlm"][["model", "dataset"]].drop_duplicates().itertuples(index=False))


def n_calib_table(table: pd.DataFrame) -> pd.DataFrame:
    """Finding 4's table: per VLM and calibration-set size, the ECE after TS over the draws.

    Returns
    -------
    pandas.DataFrame
        ``model, n_calib, ece_mean, ece_std, ece_q_lo, ece_q_hi, T_median, frac_at_bound``
        (:func:`~vlmcal_utils.study.summarise_n_calib_curve`, 10/90 % quantiles).
    """
    parts = [summarise_n_calib_curve(curve_from_results(table, m, d)).assign(model=m) for m, d in _vlm_pairs(table)]
    cols = ["model", "n_calib", "ece_mean", "ece_std", "ece_q_lo", "ece_q_hi", "T_median", "frac_at_bound"]
    return pd.concat(parts)[cols].reset_index(drop=True) if parts else pd.DataFrame(columns=cols)


def n_calib_figure(table: pd.DataFrame, title: str) -> Figure:
    """Finding 4's figure: ECE after TS against calibration samples, one line per VLM (mean ± std)."""
    with _style():
        fig = ReportFigure(figsize=(8.0, 4.6), layout="constrained")
        ax = fig.subplots()
        for i, (model, dataset) in enumerate(_vlm_pairs(table)):
            plot_n_calib_curve(curve_from_results(table, model, dataset), ax=ax, label=model, colour=f"C{i}")
        ax.set_title(title)
        _legend_outside(ax)
    return fig


def paper_setup_table() -> pd.DataFrame:
    """Tu et al.'s models and baselines as :mod:`~vlmcal_utils.study.paper_models` lists them.

    Returns
    -------
    pandas.DataFrame
        One row per listed model: ``role`` (VLM / ImageNet-trained baseline), ``paper name``,
        ``loader``, ``runs here as`` (architecture and weights, or why it cannot run), ``source``.
    """
    rows = []
    for role, pool in (("VLM", paper_models.PAPER_MODELS), ("ImageNet-trained baseline", paper_models.PAPER_BASELINES),
                       ("VLM", paper_models.UNLOADABLE_MODELS)):
        for m in pool:
            runs = f"{m.arch} ({m.pretrained})" if m.loader else f"not runnable here: {m.why_not}"
            rows.append({"role": role, "paper name": m.paper_name, "loader": m.loader or "—", "runs here as": runs,
                         "source": m.source})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------- calibrators
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
    with _style():
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



# ------------------------------------------------------------------------------- judging a study
def judge(table: pd.DataFrame, lm: pd.DataFrame | None, reference_ece: float | None = None,
          n_boot: int = 1000, seed: int = 0) -> tuple[dict, list[dict]]:
    """The findings' numbers and verdicts of one study.

    Parameters
    ----------
    table, lm : pandas.DataFrame
        :func:`run_study` output (``lm`` may be ``None``: no label-mismatch rows).
    reference_ece : float, optional
        Finding 1a's reference. ``None`` and the table has baseline tasks: the median of their
        uncalibrated test ECEs.
    n_boot, seed : int
        For the intervals of :func:`~vlmcal_utils.study.finding_verdicts`.

    Returns
    -------
    (dict, list of dict)
        :func:`~vlmcal_utils.study.summarise_findings` and the verdict rows.
    """
    summary = summarise_findings(table, lm)
    if reference_ece is None and summary["baseline_ece_before"]:
        reference_ece = float(np.median(list(summary["baseline_ece_before"].values())))
    summary = summarise_findings(table, lm, reference_ece=reference_ece)
    return summary, finding_verdicts(table, lm, reference_ece=reference_ece, n_boot=n_boot, seed=seed)


def verdict_table(verdicts: Sequence[dict]) -> pd.DataFrame:
    """Verdict rows as a compact table: claim, verdict, estimate and its 95 % interval."""
    cols = ["finding", "claim", "verdict", "quantity", "estimate", "low", "high"]
    return pd.DataFrame(list(verdicts), columns=[*cols, "rule", "measured", "why", "interval_note"])[cols]


def end_to_end_tasks(models: Sequence[Sequence[Any]], baselines: Sequence[Sequence[Any]], datasets: Sequence[str],
                     baseline_datasets: Sequence[str] | None, n_images_cal: int | None, n_images_test: int | None,
                     data_root: str | None = None, device: str = "auto",
                     seed: int = 0) -> tuple[list[StudyTask], list[Box], list[str]]:
    """Tasks for real open_clip VLMs and timm baselines run end to end on image datasets.

    Datasets ending in ``-shared`` need ``$VLMCAL_SHARED`` and are skipped (with a note) without it.

    Parameters
    ----------
    models : sequence of [arch, pretrained]
        open_clip VLMs, run zero-shot on ``datasets``.
    baselines : sequence of [timm name, pretrained]
        ImageNet-1k classifiers, run on ``baseline_datasets`` (``None``: the ImageNet-label ones
        among ``datasets``).
    datasets, baseline_datasets : sequence of str
        Names for :func:`~vlmcal_utils.study.dataset_specs`.
    n_images_cal, n_images_test, data_root, device, seed
        As :func:`~vlmcal_utils.study.zeroshot_task`.

    Returns
    -------
    (list of StudyTask, list of Box, list of str)
        The tasks (nothing is computed yet), notes to show (skipped datasets, random weights), and
        the models with random weights.
    """
    notes: list[Box] = []
    have_shared = shared_dir() is not None

    def available(names: Sequence[str]) -> list[str]:
        skipped = [] if have_shared else [d for d in names if d.endswith("-shared")]
        if skipped:
            notes.append(Box("No shared data folder", [f"VLMCAL_SHARED is unset: skipping {skipped}."], "warning"))
        return [d for d in names if d not in skipped]

    tasks = []
    for arch, pretrained in models:
        for name in (available(datasets) if models else []):
            cal, evals = dataset_specs(name, n_images_cal, n_images_test)
            tasks.append(zeroshot_task(arch, pretrained, name, cal, evals, data_root=data_root, device=device,
                                       seed=seed))
    b_datasets = ([d for d in datasets if d in IMAGENET_LABEL_DATASETS] if baseline_datasets is None
                  else list(baseline_datasets))
    if baselines and not b_datasets:
        notes.append(Box("No ImageNet dataset for the baselines", [
            f"The baselines are ImageNet-1k classifiers, but no ImageNet dataset is listed (datasets = "
            f"{list(datasets)}): set baseline_datasets, e.g. [\"imagenet\"]."], "warning"))
    for name, pretrained in baselines:
        for d in available(b_datasets):
            cal, evals = dataset_specs(d, n_images_cal, n_images_test)
            tasks.append(baseline_task(name, pretrained, d, cal, evals, data_root=data_root, device=device, seed=seed))
    random_weights = [t.model for t in tasks if RANDOM_WEIGHTS_NOTE in t.source]
    if random_weights:
        notes.append(Box("Random weights — plumbing only, numbers mean nothing", [
            f"{random_weights} have seeded random weights, so every accuracy, ECE, temperature, figure and verdict "
            "of this section only shows that real architectures and real images go through the study code."],
            "danger"))
    return tasks, notes, random_weights


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


def verdict_boxes(verdicts: Sequence[dict], *claim_ids: str, study: str = "published outputs") -> list[Box]:
    """The boxes of some claims' verdicts, in the order asked; a note for a claim without a verdict.

    Parameters
    ----------
    verdicts : sequence of dict
        :func:`~vlmcal_utils.study.finding_verdicts` rows.
    *claim_ids : str
        Which claims (``"1a"``, ``"2"``, ...).
    study : str
        As :func:`verdict_box`.

    Returns
    -------
    list of Box
    """
    by = {v["finding"]: v for v in verdicts}
    return [verdict_box(by[c], study) if c in by else Box(
        f"Claim {c}: no verdict on {study}", ["These outputs cannot test it (for instance a reference, a shifted "
                                              "split or several calibration sizes is missing)."], "note")
            for c in claim_ids]
