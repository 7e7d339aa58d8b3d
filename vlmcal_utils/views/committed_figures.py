"""Figures of chapters 1–3 kept as small records in the results file, drawn the same way live and offline.

Some figures of chapters 1–3 are drawn from per-image outputs (reliability diagrams, a confidence
histogram, a logit-scale sweep, the finding-3 points, the finding-4 curves) that a build without
the published logits does not have. On real data each chapter stores what such a figure shows —
per-bin counts, accuracies and confidences, histogram heights, the sweep's curve, the 34 points,
the curves' means and spreads; fractions, no per-image arrays — under the optional ``figures`` key
of its ``results.json``, and draws the figure *from that record* with the functions here. An
offline build draws the same picture from the committed record
(``results/published/<stem>/results.json``) through :data:`FIGURE_PARTS`, which
:mod:`vlmcal_utils.views.committed` adds to its parts; the picture then says it comes from the
committed run and its date.

Record names (keys of ``results["figures"]``):

- chapter 1: ``imagenet_diagrams`` (two :func:`vlmcal_utils.plots.reliability_record` with
  ``model`` and ``title``);
- chapter 2: ``clip_histogram``
  (:func:`~vlmcal_utils.views.chapter2_plots.correctness_histogram`), ``clip_reliability``
  (a reliability record), ``clip_scale_sweep`` (lists ``scale, accuracy, ece, mean_confidence``
  and ``marks``, each ``{label, scale}``);
- chapter 3: ``imagenet_a_reliability``
  (:func:`~vlmcal_utils.views.imagenet_a.reliability_record`), ``mismatch_points``
  (:func:`~vlmcal_utils.views.chapter3.mismatch_points`), ``n_calib_curves`` (``title`` and
  :func:`~vlmcal_utils.views.chapter3.n_calib_curves`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.metrics import confidence_and_correct
from vlmcal_utils.plots import reliability_diagram_from_record, reliability_record
from vlmcal_utils.views import chapter2_plots, chapter3, imagenet_a
from vlmcal_utils.views.chapter3_style import ReportFigure, report_style

if TYPE_CHECKING:  # committed.py imports this module: its run type is only named here
    from vlmcal_utils.views.committed import CommittedRun

__all__ = [
    "FIGURES_KEY",
    "imagenet_diagram_records",
    "imagenet_diagrams_figure",
    "clip_figure_records",
    "clip_histogram_figure",
    "clip_reliability_figure",
    "clip_scale_sweep_figure",
    "imagenet_a_figure",
    "mismatch_points_figure",
    "n_calib_curves_record",
    "n_calib_curves_figure",
    "FIGURE_PARTS",
]

#: The optional top-level key of a chapter's results that holds its figure records.
FIGURES_KEY = "figures"

#: record key -> the sweep column the scale figure draws (:func:`vlmcal_utils.views.chapter2.scale_sweep`);
#: records hold keys, not display labels
_SWEEP_COLUMNS = {"scale": "scale", "accuracy": "accuracy", "ece": "ECE", "mean_confidence": "mean confidence"}


def _note(fig: Figure, note: str | None) -> Figure:
    """``fig`` with a line under it saying where its data comes from (the committed run), if any."""
    if note:
        fig.supxlabel(note, fontsize=10, color="0.35")
    return fig


# ------------------------------------------------------------------------------------------ chapter 1
def _library_and_name(model: str) -> tuple[str, str]:
    """``"pytorch-image-models__x"`` -> ``("timm", "x")``: the file's model keys as the chapter names them."""
    library, _, name = model.partition("__")
    return {"pytorch-image-models": "timm"}.get(library, library), name


def imagenet_diagram_records(top_path: str | Path, imagenet: pd.DataFrame, n_bins: int = 15) -> list[dict]:
    """Reliability records of the most overconfident and the most underconfident ImageNet model.

    Parameters
    ----------
    top_path : str or Path
        The top-label outputs file (``<model>__confidence``, ``__y_pred``, ``__y_true``; (N,) each).
    imagenet : pandas.DataFrame
        :func:`vlmcal_utils.study.scoring.toplabel_ece_table` of it (``model``, ``accuracy``,
        ``mean_confidence``).
    n_bins : int
        Equal-width bins.

    Returns
    -------
    list of dict
        Two :func:`~vlmcal_utils.plots.reliability_record` with ``model`` and ``title``: the
        model with the largest mean confidence minus accuracy, then the one with the smallest.
    """
    gap = imagenet["mean_confidence"] - imagenet["accuracy"]
    models = [imagenet.loc[gap.idxmax(), "model"], imagenet.loc[gap.idxmin(), "model"]]
    with np.load(top_path, allow_pickle=False) as arrays:
        records = [reliability_record(arrays[f"{m}__confidence"], arrays[f"{m}__y_pred"] == arrays[f"{m}__y_true"],
                                      n_bins=n_bins) for m in models]
    return [{**r, "model": str(m), "title": "{1} ({0})".format(*_library_and_name(m))}
            for r, m in zip(records, models, strict=True)]


def imagenet_diagrams_figure(records: list[dict], note: str | None = None) -> Figure:
    """Chapter 1's two ImageNet reliability diagrams (overconfident left, underconfident right)."""
    with report_style():
        fig = ReportFigure(figsize=(10.4, 6.4), layout="constrained")
        for ax, record in zip(fig.subplots(1, len(records)), records, strict=True):
            reliability_diagram_from_record(record, ax=ax, title=record["title"])
    return _note(fig, note)


# ------------------------------------------------------------------------------------------ chapter 2
def clip_figure_records(probs: Any, labels: Any, sweep: pd.DataFrame, marks: Mapping[str, float]) -> dict:
    """Chapter 2's records of the published CLIP file: confidence histogram, reliability diagram, scale sweep.

    Parameters
    ----------
    probs : array-like
        ``(N, K)`` probabilities at CLIP's own scale.
    labels : array-like
        ``(N,)`` true class indices.
    sweep : pandas.DataFrame
        :func:`vlmcal_utils.views.chapter2.scale_sweep` of the file.
    marks : mapping
        ``label -> scale`` drawn as vertical lines on the sweep.

    Returns
    -------
    dict
        ``clip_histogram``, ``clip_reliability`` (15 bins) and ``clip_scale_sweep``.
    """
    conf, correct = confidence_and_correct(probs, labels)
    return {
        "clip_histogram": chapter2_plots.correctness_histogram(probs, labels),
        "clip_reliability": {**reliability_record(conf, correct, n_bins=15), "title": "CLIP ViT-B/32, CIFAR-10"},
        "clip_scale_sweep": {**{key: [float(v) for v in sweep[col]] for key, col in _SWEEP_COLUMNS.items()},
                             "marks": [{"label": str(k), "scale": float(v)} for k, v in marks.items()]},
    }


def clip_histogram_figure(record: Mapping[str, Any], note: str | None = None) -> Figure:
    """Chapter 2's confidence histogram, correct and wrong stacked, from its record."""
    fig = ReportFigure(figsize=(6.0, 3.8), layout="constrained")
    chapter2_plots.confidence_by_correctness_from_record(record, ax=fig.subplots())
    return _note(fig, note)


def clip_reliability_figure(record: Mapping[str, Any], note: str | None = None) -> Figure:
    """Chapter 2's reliability diagram of the published CLIP file, from its record."""
    fig = ReportFigure(figsize=(5.8, 6.6), layout="constrained")  # narrower or shorter: legend or note overlap
    reliability_diagram_from_record(dict(record), ax=fig.subplots(), title=record["title"])
    return _note(fig, note)


def clip_scale_sweep_figure(record: Mapping[str, Any], note: str | None = None) -> Figure:
    """Chapter 2's logit-scale sweep of the published CLIP file, from its record."""
    fig = ReportFigure(figsize=(6.0, 4.6), layout="constrained")
    sweep = pd.DataFrame({col: record[key] for key, col in _SWEEP_COLUMNS.items()})
    marks = {m["label"]: m["scale"] for m in record["marks"]}
    chapter2_plots.scale_sweep_plot(sweep, marks=marks, ax=fig.subplots())
    return _note(fig, note)


# ------------------------------------------------------------------------------------------ chapter 3
def imagenet_a_figure(record: Mapping[str, Any], note: str | None = None) -> Figure:
    """Chapter 3's ImageNet-A reliability diagram, from :func:`~vlmcal_utils.views.imagenet_a.reliability_record`."""
    return _note(imagenet_a.reliability_record_figure(dict(record)), note)


def mismatch_points_figure(points: list[dict], note: str | None = None) -> Figure | None:
    """Chapter 3's finding-3 scatter from :func:`~vlmcal_utils.views.chapter3.mismatch_points`."""
    fig = chapter3.mismatch_figure(pd.DataFrame(points))
    return None if fig is None else _note(fig, note)


def n_calib_curves_record(table: pd.DataFrame, title: str) -> dict:
    """Chapter 3's finding-4 record: ``title`` and ``curves`` (:func:`~vlmcal_utils.views.chapter3.n_calib_curves`)."""
    return {"title": title, "curves": chapter3.n_calib_curves(table)}


def n_calib_curves_figure(record: Mapping[str, Any], note: str | None = None) -> Figure:
    """Chapter 3's finding-4 figure from :func:`n_calib_curves_record`."""
    return _note(chapter3.n_calib_curves_figure(record["curves"], record["title"]), note)


# ------------------------------------------------------------------------- parts for committed.fallback
_DRAWERS: dict[str, tuple[str, Callable[..., Figure | None]]] = {
    "ch1_imagenet_diagrams_figure": ("imagenet_diagrams", imagenet_diagrams_figure),
    "ch2_clip_histogram_figure": ("clip_histogram", clip_histogram_figure),
    "ch2_clip_reliability_figure": ("clip_reliability", clip_reliability_figure),
    "ch2_clip_scale_sweep_figure": ("clip_scale_sweep", clip_scale_sweep_figure),
    "ch3_imagenet_a_figure": ("imagenet_a_reliability", imagenet_a_figure),
    "ch3_mismatch_figure": ("mismatch_points", mismatch_points_figure),
    "ch3_n_calib_figure": ("n_calib_curves", n_calib_curves_figure),
}


def _part(record_name: str, draw: Callable[..., Figure | None]) -> Callable[["CommittedRun", str], Figure | None]:
    """A part of :data:`FIGURE_PARTS`: the figure from the run's record, or ``None`` if the run kept none."""
    def part(run: CommittedRun, _: str) -> Figure | None:
        record = (run.results.get(FIGURES_KEY) or {}).get(record_name)
        note = f"Drawn from the committed run of {run.date}\n({run.where})"  # two lines: fits a narrow figure
        return None if record is None else draw(record, note=note)
    return part


#: part name -> ``f(run, argument)`` returning the figure drawn from the committed record, or ``None``
#: where the committed file has no such record (an older run): :func:`~vlmcal_utils.views.committed.fallback_figure`
#: then shows the "not drawn" box.
FIGURE_PARTS: dict[str, Callable[[CommittedRun, str], Figure | None]] = {
    name: _part(record_name, draw) for name, (record_name, draw) in _DRAWERS.items()}
