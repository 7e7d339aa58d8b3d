"""Chapter 3's views: the study of one group of tasks, its tables, figures and boxes, as functions.

The chapter's code cells call these, so each cell stays a line or two. Conventions:

- Tables are :class:`pandas.DataFrame` (ECE as fractions in ``[0, 1]``); figures are new
  :class:`matplotlib.figure.Figure` objects drawn with a readable style (13 pt text, legends
  outside the data), one or two panels per row. They are made without pyplot, so a notebook shows
  each one only where it is displayed (``display(fig)``), never twice, as a PNG
  (:class:`~vlmcal_utils.views.chapter3_style.ReportFigure`). The calibrator comparison is in
  :mod:`~vlmcal_utils.views.chapter3_calibrators`.
- Boxes (:class:`~vlmcal_utils.views.boxes.Box`) are admonitions that render as HTML in a notebook and in the book
  (``_repr_html_``), and as plain text elsewhere. :func:`unavailable_box` is the fallback shown
  in every section whose real-data part cannot run, saying why; :func:`verdict_box` shows a
  :func:`~vlmcal_utils.study.finding_verdicts` row.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.models import RANDOM_WEIGHTS_NOTE
from vlmcal_utils.paths import shared_dir
from vlmcal_utils.scores import ece_key
from vlmcal_utils.study import paper_models
from vlmcal_utils.study.correlation import confidence_accuracy_correlation
from vlmcal_utils.study.findings import curve_from_results, label_mismatch_rows, summarise_findings
from vlmcal_utils.study.grid import StudyTask, run_grid
from vlmcal_utils.study.grid_config import GridConfig
from vlmcal_utils.study.paper_numbers import with_paper_numbers
from vlmcal_utils.study.plots import (
    plot_confidence_vs_accuracy,
    plot_ece_across_shifts,
    plot_ece_before_after,
    plot_n_calib_summary,
)
from vlmcal_utils.study.published_logits import OFF_DOMAIN
from vlmcal_utils.study.subsets import grid_for, summarise_n_calib_curve
from vlmcal_utils.study.tasks import IMAGENET_LABEL_DATASETS, baseline_task, dataset_specs, zeroshot_task
from vlmcal_utils.study.verdicts import finding_verdicts, shift_cells, verdict_models
from vlmcal_utils.views.boxes import GET_PUBLISHED_OUTPUTS, Box, said_once
from vlmcal_utils.views.chapter3_paper import paper_number_line
from vlmcal_utils.views.chapter3_style import ReportFigure, legend_outside, report_style

__all__ = [
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
    "mismatch_points",
    "mismatch_figure",
    "n_calib_table",
    "n_calib_curves",
    "n_calib_curves_figure",
    "n_calib_figure",
    "paper_setup_table",
    "judge",
    "verdict_table",
    "end_to_end_tasks",
    "vlm_roster",
    "roster_box",
]

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
        f"could not be read here: {said_once(reason)}.",
        f"So this section shows no real-model numbers or verdict in this build. {GET_PUBLISHED_OUTPUTS} "
        "The logits_dir parameter can also point at a folder of the .npz files. "
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
    paper = paper_number_line(row)
    return Box(f"Claim {row['claim']} — on {study}: {row['verdict']}", [
        interval + ".", f"Measured: {row['measured']}.", f"Rule: {row['rule']}.", *([paper] if paper else []),
        f"Why it may differ from the paper: {row['why']}",
    ], kind=_KINDS.get(row["verdict"], "note"))


def vlm_roster(table: pd.DataFrame, lm: pd.DataFrame | None = None) -> str:
    """``"<n> VLMs: <names>"`` — counted from the models the verdicts' points come from (:func:`verdict_models`).

    The chapter's text names its VLMs with this (and every verdict's caveat counts them the same
    way), so the count a reader sees is the count behind the numbers.
    """
    models = verdict_models(table, lm)
    return f"{len(models)} VLM{'' if len(models) == 1 else 's'}: {', '.join(models)}"


def roster_box(table: pd.DataFrame, lm: pd.DataFrame | None = None) -> Box:
    """The VLMs behind this study's verdicts, with each off-domain one said to be so."""
    models = verdict_models(table, lm)
    off = [f"{m} is {OFF_DOMAIN[m]}: it is counted in every verdict, and its numbers say how a VLM far from "
           "its training domain behaves, not how the in-domain VLMs do." for m in models if m in OFF_DOMAIN]
    return Box(f"The verdicts below are on {vlm_roster(table, lm)}", [
        "Every table, figure and verdict of this section is computed from these models' published outputs "
        "(CIFAR-10 test[5000:], and the same weights on DermaMNIST where published).", *off], "note")


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
        Columns ``model, family, method, accuracy, ece_<bins>, ece_lo, ece_hi, nll, temperature, n,
        source`` (the record's keys), sorted by
        family (baselines after VLMs), model, method.
    """
    full = table[(table["cell"] == "all") & (table["split"] == "test")]
    cols = ["model", "family", "method", "accuracy", ece_key(table.columns), "ece_lo", "ece_hi", "nll", "temperature",
            "n", "source"]
    return full[cols].sort_values(["family", "model", "method"], ascending=[False, True, True]).reset_index(drop=True)


def before_after_figure(table: pd.DataFrame, title: str, reference: tuple[float, str] | None = None) -> Figure:
    """Finding 1's figure: ECE before/after TS per task (:func:`~vlmcal_utils.study.plot_ece_before_after`)."""
    with report_style():
        n = table["model"].nunique()
        fig = ReportFigure(figsize=(max(6.0, 0.9 * n + 3), 4.6), layout="constrained")
        ax = fig.subplots()
        plot_ece_before_after(table[table["cell"] == "all"], ax=ax, reference=reference)
        ax.set_title(title)
        legend_outside(ax)
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
    with report_style():
        fig = ReportFigure(figsize=(8.0, 4.6), layout="constrained")
        ax = fig.subplots()
        plot_ece_across_shifts(full, ax=ax, splits=splits)
        ax.set_title(title)
        legend_outside(ax)
    return fig


def mismatch_table(lm: pd.DataFrame) -> pd.DataFrame:
    """Finding 3's table: ECE of each (model, dataset, held-out half) under none / mismatched / matched TS."""
    return lm.pivot_table(index=["model", "dataset", "split"], columns="method", values=ece_key(lm.columns))


def correlation_table(lm: pd.DataFrame) -> pd.DataFrame | None:
    """Confidence-accuracy agreement across the points, per method (``None`` below 3 points a method)."""
    methods = [m for m in ("none", "ts_mismatched", "ts_matched") if (lm["method"] == m).sum() >= 3]
    if not methods:
        return None
    return pd.DataFrame({m: confidence_accuracy_correlation(lm[lm["method"] == m]) for m in methods}).T


#: the columns of a finding-3 point the figure needs (kept in the results file: no per-image data)
_POINT_COLUMNS = ("model", "dataset", "split", "family", "method", "mean_confidence", "accuracy")


def mismatch_points(lm: pd.DataFrame) -> list[dict]:
    """Finding 3's points as small records: one per (model, dataset, class half) before TS and after mismatched TS.

    Returns
    -------
    list of dict
        ``model, dataset, split, family, method`` (``"none"`` or ``"ts_mismatched"``),
        ``mean_confidence`` and ``accuracy`` (fractions): what :func:`mismatch_figure` draws.
    """
    points = lm[lm["method"].isin(["none", "ts_mismatched"])]
    return points[[c for c in _POINT_COLUMNS if c in points.columns]].to_dict(orient="records")


def mismatch_figure(lm: pd.DataFrame) -> Figure | None:
    """Finding 3's figure: confidence vs accuracy before TS and after label-mismatched TS (2 panels).

    ``lm`` is the study's label-mismatch table or a frame of its :func:`mismatch_points`.
    """
    if (lm["method"] == "none").sum() < 3:
        return None
    with report_style():
        fig = ReportFigure(figsize=(10.0, 5.4), layout="constrained")
        axes = fig.subplots(1, 2)
        plot_confidence_vs_accuracy(lm[lm["method"] == "none"], ax=axes[0], xlabel="mean confidence (%)")
        axes[0].set_title("before TS")
        plot_confidence_vs_accuracy(lm[lm["method"] == "ts_mismatched"], ax=axes[1])
        axes[1].set_title("after label-mismatched TS")
        for ax in axes:
            legend_outside(ax, "below")
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


def n_calib_curves(table: pd.DataFrame) -> list[dict]:
    """Finding 4's curves as small records, one per VLM: what :func:`n_calib_curves_figure` draws.

    Returns
    -------
    list of dict
        ``model``, ``ece_before`` (test ECE before TS) and lists over the calibration sizes:
        ``n_calib, ece_mean, ece_std`` (ECE after TS over the draws, fractions).
    """
    records = []
    for model, dataset in _vlm_pairs(table):
        curve = curve_from_results(table, model, dataset)
        s = summarise_n_calib_curve(curve)
        records.append({"model": model, "ece_before": float(curve["ece_before"].iloc[0]),
                        "n_calib": [int(n) for n in s["n_calib"]],
                        **{col: [float(v) for v in s[col]] for col in ("ece_mean", "ece_std")}})
    return records


def n_calib_curves_figure(curves: Sequence[dict], title: str) -> Figure:
    """Finding 4's figure from :func:`n_calib_curves` records: ECE after TS against calibration samples."""
    with report_style():
        fig = ReportFigure(figsize=(8.0, 4.6), layout="constrained")
        ax = fig.subplots()
        for i, c in enumerate(curves):
            plot_n_calib_summary(pd.DataFrame({k: c[k] for k in ("n_calib", "ece_mean", "ece_std")}), c["ece_before"],
                                 ax=ax, label=c["model"], colour=f"C{i}")
        ax.set_title(title)
        legend_outside(ax)
    return fig


def n_calib_figure(table: pd.DataFrame, title: str) -> Figure:
    """Finding 4's figure: ECE after TS against calibration samples, one line per VLM (mean ± std)."""
    return n_calib_curves_figure(n_calib_curves(table), title)


def paper_setup_table() -> pd.DataFrame:
    """Tu et al.'s models and baselines as :mod:`~vlmcal_utils.study.paper_models` lists them.

    Returns
    -------
    pandas.DataFrame
        One row per listed model: ``role`` (VLM / ImageNet-trained baseline), ``known as``
        (inferred from the figure, not identified, not loadable, our choice), ``paper name``,
        ``loader``, ``runs here as`` (architecture and weights, or why it cannot run), ``source``.
    """
    rows = []
    pools = (("VLM", "inferred from Figure 1", paper_models.PAPER_MODELS),
             ("VLM", "not identified", paper_models.UNIDENTIFIED_MARKERS),
             ("VLM", "not loadable", paper_models.UNLOADABLE_MODELS),
             ("ImageNet-trained baseline", "our choice, not matched", paper_models.PAPER_BASELINES))
    for role, known, pool in pools:
        for m in pool:
            runs = f"{m.arch} ({m.pretrained})" if m.loader else f"not runnable here: {m.why_not}"
            rows.append({"role": role, "known as": known, "paper name": m.paper_name, "loader": m.loader or "—",
                         "runs here as": runs, "source": m.source})
    return pd.DataFrame(rows)


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
        :func:`~vlmcal_utils.study.summarise_findings` and the verdict rows, each with the paper's
        figure-level number beside it (:func:`~vlmcal_utils.study.paper_numbers.with_paper_numbers`).
    """
    summary = summarise_findings(table, lm)
    if reference_ece is None and summary["baseline_ece_before"]:
        reference_ece = float(np.median(list(summary["baseline_ece_before"].values())))
    summary = summarise_findings(table, lm, reference_ece=reference_ece)
    return summary, with_paper_numbers(finding_verdicts(table, lm, reference_ece=reference_ece, n_boot=n_boot,
                                                        seed=seed))


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
