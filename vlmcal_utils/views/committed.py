"""The committed real-data results: what chapters 1–3 show where they cannot recompute them.

A build without the published logits (offline, no shared folder) cannot rerun chapters 1–3 on
real model outputs, but the repository carries the results of the last real run,
``results/published/<stem>/results.json`` (``make publish-results``; the results page reads the
same files). Each chapter's fallback cells show those numbers, and the figures that can be drawn
from them, under a box that says they come from that committed run: its date, its source and the
file. Figures drawn from per-image outputs come from the small records the results file keeps
(:mod:`vlmcal_utils.views.committed_figures`); only a file without such a record (a run older than
the records) leaves a "not drawn" box (:func:`vlmcal_utils.views.boxes.figure_not_drawn`).

Conventions: tables show ECE, accuracy and confidence in percent with two decimals (as the
results page does), temperatures as they are; the results files hold fractions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vlmcal_utils.results import RESULTS_FILENAME, load_results
from vlmcal_utils.scores import ece_key
from vlmcal_utils.views.boxes import Box, figure_not_drawn, said_once
from vlmcal_utils.views.chapter2_plots import language_bars
from vlmcal_utils.views.chapter3 import before_after_figure, shift_figure, verdict_boxes
from vlmcal_utils.views.chapter3_calibrators import calibrator_figure, ece_table_display, ts_answer_box
from vlmcal_utils.views.chapter3_style import ReportFigure, legend_outside, report_style
from vlmcal_utils.views.chapter_results import SCHEMAS
from vlmcal_utils.views.committed_figures import FIGURE_PARTS

__all__ = [
    "PUBLISHED_SUBDIR",
    "CommittedRun",
    "find_committed",
    "committed_box",
    "percent_table",
    "chapter1_table",
    "chapter1_extra_table",
    "chapter1_deferral_table",
    "chapter1_figure",
    "chapter1_imagenet",
    "chapter2_table",
    "chapter2_languages",
    "chapter3_findings_table",
    "chapter3_before_after_rows",
    "chapter3_shift_rows",
    "chapter3_mismatch_table",
    "chapter3_calibrators",
    "chapter3_n_calib_table",
    "SOURCES",
    "PARTS",
    "fallback",
    "fallback_figure",
]

#: Where the committed real-data results live, relative to the repository root (a string: the API
#: page shows the value, and the repr of a path object there would read as a leaked path).
PUBLISHED_SUBDIR = "results/published"


@dataclass(frozen=True)
class CommittedRun:
    """One committed results file of a real run.

    Attributes
    ----------
    stem : str
        The notebook stem, e.g. ``"01_calibration_basics"``.
    path : pathlib.Path
        The file on this machine.
    payload : dict
        :func:`~vlmcal_utils.results.load_results` of it (checked against the chapter's schema).
    """

    stem: str
    path: Path
    payload: dict

    @property
    def results(self) -> dict:
        """The chapter's results (the schema's keys; fractions)."""
        return self.payload["results"]

    @property
    def date(self) -> str:
        """The run's date, ``YYYY-MM-DD`` (``"undated"`` if the file has none)."""
        return str(self.payload.get("created") or "undated")[:10]

    @property
    def where(self) -> str:
        """The file as the repository names it (no machine path)."""
        return f"{PUBLISHED_SUBDIR}/{self.stem}/{RESULTS_FILENAME}"


def _candidates(roots: Sequence[Path] | None) -> list[Path]:
    """The folders that may hold ``results/published``.

    The working folder and its parents (a notebook runs in ``notebooks/``), then the checkout this
    package was imported from.
    """
    if roots is not None:
        return list(roots)
    here = Path.cwd().resolve()
    package_checkout = Path(__file__).resolve().parents[2]
    return [here, *here.parents, package_checkout]


def find_committed(stem: str, roots: Sequence[Path] | None = None) -> CommittedRun | None:
    """The committed results of chapter ``stem``, or ``None`` where this is no clone of the repository.

    Parameters
    ----------
    stem : str
        The notebook stem.
    roots : sequence of Path, optional
        Folders to look in for ``results/published/<stem>/results.json`` (default: the working
        folder, its parents, and the checkout of this package).

    Returns
    -------
    CommittedRun or None
    """
    for root in _candidates(roots):
        path = root / PUBLISHED_SUBDIR / stem / RESULTS_FILENAME
        if path.is_file():
            return CommittedRun(stem, path, load_results(path, SCHEMAS))
    return None


def committed_box(run: CommittedRun, reason: str, section: str, source: str) -> Box:
    """The box above a section's committed numbers: where they come from and why they are not recomputed.

    Parameters
    ----------
    run : CommittedRun
        The committed file.
    reason : str
        Why this build cannot recompute them (e.g. the resolver's reason).
    section : str
        What the numbers below are, e.g. ``"DenseNet-40 on CIFAR-10"``.
    source : str
        The real outputs the run read, one line.

    Returns
    -------
    Box
        A note box naming the run's date, its source and the committed file.
    """
    version = run.payload.get("vlmcal_utils_version")
    return Box(f"{section}: real numbers from the committed run of {run.date}", [
        f"This build cannot recompute them: {said_once(reason)}.",
        f"The numbers and figures below come from the last real run, committed in the repository as {run.where} "
        f"(run on {run.date}, vlmcal_utils {version}; source: {source}). The results page shows the same numbers.",
    ], kind="note")


def _pct(x: Any) -> float | None:
    return None if x is None else round(100.0 * float(x), 2)


def percent_table(rows: Sequence[dict], percent: Sequence[str], index: Sequence[str]) -> pd.DataFrame:
    """Rows as a table with the ``percent`` columns turned into percent (two decimals), indexed by ``index``."""
    frame = pd.DataFrame(list(rows))
    for col in percent:
        frame[col] = [_pct(v) for v in frame[col]]
    return frame.set_index(list(index)).rename(columns={c: f"{c} (%)" for c in percent})


# ------------------------------------------------------------------------------------------ chapter 1
def chapter1_table(run: CommittedRun) -> pd.DataFrame:
    """Chapter 1's main model before and after TS: accuracy, ECE with its interval, MCE, NLL, Brier, T."""
    r = run.results
    rows = []
    for stage in ("before", "after"):
        lo, hi = r[f"ece_{stage}_ci"]
        rows.append({"model": r["model"], "stage": f"{stage} TS", "accuracy": r[f"accuracy_{stage}"],
                     "ECE": r[f"ece_{stage}"], "ECE 95 % low": lo, "ECE 95 % high": hi, "MCE": r[f"mce_{stage}"],
                     "NLL": r[f"nll_{stage}"], "Brier": r[f"brier_{stage}"],
                     "T": r["temperature"] if stage == "after" else 1.0})
    return percent_table(rows, ["accuracy", "ECE", "ECE 95 % low", "ECE 95 % high", "MCE"], ["model", "stage"])


def chapter1_extra_table(run: CommittedRun) -> pd.DataFrame:
    """Chapter 1's other published models (DenseNet-BC-100 on CIFAR-100): scores per stage, percent."""
    rows = [{"model": e["model"], "stage": e["stage"].replace("_ts", " TS"), "accuracy": e["accuracy"],
             "mean confidence": e["mean_confidence"], "ECE": e[ece_key(e)], "T": e["temperature"]}
            for e in run.results["extra_models"]]
    return percent_table(rows, ["accuracy", "mean confidence", "ECE"], ["model", "stage"])


def chapter1_deferral_table(run: CommittedRun) -> pd.DataFrame:
    """Chapter 1's deferral table: share accepted, promised and delivered accuracy per threshold and stage, percent."""
    rows = [{key: d[key] for key in ("threshold", "stage", "coverage", "promised", "delivered")}
            for d in run.results["deferral"]]
    return percent_table(rows, ["coverage", "promised", "delivered"], ["threshold", "stage"])


def chapter1_figure(run: CommittedRun) -> Figure:
    """ECE before and after TS of every chapter-1 model of the committed run, with the main model's interval."""
    r = run.results
    models = {r["model"]: (r["ece_before"], r["ece_after"], r["ece_before_ci"], r["ece_after_ci"])}
    for e in r["extra_models"]:
        before, after, _, _ = models.get(e["model"], (None, None, None, None))
        value = e[ece_key(e)]
        before, after = (value, after) if e["stage"] == "before_ts" else (before, value)
        models[e["model"]] = (before, after, None, None)
    with report_style():
        fig = ReportFigure(figsize=(7.0, 4.4), layout="constrained")
        ax = fig.subplots()
        x = np.arange(len(models))
        for off, j, label, kw in ((-0.2, 0, "before TS", dict(alpha=0.45, hatch="//")), (0.2, 1, "after TS", {})):
            values = np.array([v[j] for v in models.values()], dtype=float) * 100
            cis = [v[j + 2] for v in models.values()]
            ax.bar(x + off, values, 0.4, color="tab:orange", edgecolor="k", linewidth=0.5, label=label, **kw)
            for xi, v, c in zip(x + off, values, cis, strict=True):  # the file keeps the main model's interval only
                if c:
                    ax.errorbar(xi, v, yerr=[[v - 100 * c[0]], [100 * c[1] - v]], color="k", capsize=3)
        ax.set_xticks(x, list(models))
        ax.set_ylabel("test ECE (%), 15 bins")
        ax.set_title(f"committed run of {run.date}")
        ax.legend()
        legend_outside(ax)
    return fig


def chapter1_imagenet(run: CommittedRun) -> pd.DataFrame | None:
    """The ImageNet models' top-label scores as chapter 1's ImageNet cells expect them, or ``None`` without them.

    Returns
    -------
    pandas.DataFrame or None
        One row per model: ``model, n, accuracy, mean_confidence, ece_<bins>, ece_lo, ece_hi, source``
        (fractions, as :func:`vlmcal_utils.study.scoring.toplabel_ece_table` gives them).
    """
    rows = run.results.get("imagenet_models") or []
    if not rows:
        return None
    return pd.DataFrame(rows).assign(source=run.results["imagenet_source"])


# ------------------------------------------------------------------------------------------ chapter 2
def chapter2_table(run: CommittedRun) -> pd.DataFrame | None:
    """Chapter 2's published CLIP ViT-B/32 numbers (accuracy, confidence, ECE, T), or ``None`` without them."""
    clip = run.results.get("published_clip_cifar10")
    if not clip:
        return None
    percent = {"accuracy, all images": clip["accuracy_all"], "mean confidence, all images": clip["mean_confidence_all"],
               "ECE (15 bins), scale 100, all images": clip["ece_all"],
               "mean confidence, correct": clip["mean_confidence_correct"],
               "mean confidence, wrong": clip["mean_confidence_wrong"],
               "test[5000:] accuracy": clip["accuracy_test"],
               "test[5000:] ECE at scale 100": clip["ece_test_at_100"],
               "test[5000:] ECE after TS (fitted on test[:5000])": clip["ece_test_at_best"],
               "lowest ECE of the scale sweep": clip["lowest_ece"]}
    plain = {"fitted temperature T": clip["temperature"], "scale TS picks (100 / T)": clip["best_scale"],
             "scale with the lowest ECE": clip["scale_with_lowest_ece"], "images": clip["n_images_all"]}
    rows = [{"quantity": k, "value": f"{_pct(v):.2f} %"} for k, v in percent.items()]
    rows += [{"quantity": k, "value": f"{v:.4g}"} for k, v in plain.items()]
    return pd.DataFrame(rows).set_index("quantity")


def chapter2_languages(run: CommittedRun) -> pd.DataFrame | None:
    """The class-name languages as :func:`vlmcal_utils.views.chapter2_plots.language_bars` draws them, or ``None``.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by ``language``: ``n images, accuracy, ECE, ECE 95% CI, mean confidence, distinct names``
        (fractions, as :func:`vlmcal_utils.views.chapter2.language_table` gives them).
    """
    rows = run.results.get("published_clip_languages") or []
    if not rows:
        return None
    return pd.DataFrame([{"language": r["language"], "n images": r["n"], "accuracy": r["accuracy"],
                          "ECE": r[ece_key(r)], "ECE 95% CI": (r["ece_lo"], r["ece_hi"]),
                          "mean confidence": r["mean_confidence"], "distinct names": r["distinct_names"]}
                         for r in rows]).set_index("language")


# ------------------------------------------------------------------------------------------ chapter 3
def _published(run: CommittedRun) -> dict:
    findings = run.results.get("published")
    if not findings:
        raise ValueError(f"{run.where} has no published-logits study: rerun make publish-results")
    return findings


def chapter3_findings_table(run: CommittedRun) -> pd.DataFrame:
    """Finding 1 of the committed study: each model's test ECE before and after TS (percent) and its T."""
    f = _published(run)
    rows = [{"model": m, "family": family, "ECE before TS": f[f"{key}_ece_before"][m],
             "ECE after TS": f[f"{key}_ece_after"][m], "T": (f.get("vlm_T") or {}).get(m) if key == "vlm" else None}
            for key, family in (("vlm", "vlm"), ("baseline", "baseline")) for m in sorted(f[f"{key}_ece_after"])]
    after = f["vlm_ece_after"]
    rows.append({"model": f"average of the {len(after)} VLMs", "family": "vlm", "ECE before TS": None,
                 "ECE after TS": sum(after.values()) / len(after), "T": None})
    return percent_table(rows, ["ECE before TS", "ECE after TS"], ["model", "family"])


def chapter3_before_after_rows(run: CommittedRun) -> pd.DataFrame:
    """The committed finding-1 numbers as grid-table rows, for :func:`~vlmcal_utils.views.chapter3.before_after_figure`.

    Returns
    -------
    pandas.DataFrame
        ``model, family, dataset, split="test", cell="all", method ("none"/"ts"), ece_15, ece_lo, ece_hi``;
        the intervals are NaN (the results file keeps none per model), so no error bars are drawn.
    """
    f = _published(run)
    rows = [{"model": m, "family": family, "method": method, "ece_15": f[f"{key}_ece_{stage}"][m]}
            for key, family in (("vlm", "vlm"), ("baseline", "baseline"))
            for stage, method in (("before", "none"), ("after", "ts")) for m in f[f"{key}_ece_{stage}"]]
    return pd.DataFrame(rows).assign(dataset="CIFAR-10", split="test", cell="all", ece_lo=np.nan, ece_hi=np.nan)


def chapter3_shift_rows(run: CommittedRun) -> pd.DataFrame:
    """The committed finding-2 numbers (each VLM's ECE on each split, before/after TS) as grid-table rows.

    Returns
    -------
    pandas.DataFrame
        For :func:`~vlmcal_utils.views.chapter3.shift_figure`: ``model, family="vlm", dataset, split,
        cell="all", method, ece_15`` and NaN intervals; the ``test`` split comes from finding 1.
    """
    f = _published(run)
    cells = [{"model": m, "split": "test", "none": f["vlm_ece_before"][m], "ts": f["vlm_ece_after"][m]}
             for m in f["vlm_ece_after"]] + list(f["shift"]) + list(f.get("other_task") or [])
    rows = [{"model": c["model"], "split": c["split"], "method": method, "ece_15": c[method]}
            for c in cells for method in ("none", "ts")]
    return pd.DataFrame(rows).assign(family="vlm", dataset="CIFAR-10", cell="all", ece_lo=np.nan, ece_hi=np.nan)


def chapter3_mismatch_table(run: CommittedRun) -> pd.DataFrame:
    """Finding 3 of the committed study: mean ECE per method (percent) and the confidence–accuracy agreement."""
    f = _published(run)
    correlation = f.get("correlation") or {}
    rows = [{"method": m, "mean ECE": ece, **{k: correlation.get(m, {}).get(k) for k in ("r2", "spearman", "pearson")}}
            for m, ece in (f.get("mismatch_ece_mean") or {}).items()]
    return percent_table(rows, ["mean ECE"], ["method"])


def chapter3_calibrators(run: CommittedRun) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The committed calibrator table and TS-at-50 rows, as :mod:`.chapter3_calibrators` makes them."""
    return pd.DataFrame(run.results.get("calibrators") or []), pd.DataFrame(run.results.get("calibrators_at_50") or [])


def chapter3_n_calib_table(run: CommittedRun) -> pd.DataFrame:
    """Finding 4 of the committed study: per VLM, mean ECE after TS with 50 labels, with all, and the labels needed."""
    f = _published(run)
    rows = [{"model": m, "ECE after TS, 50 labels": f["ece_at_50"].get(m), "ECE after TS, all labels": after,
             f"labels needed (within {100 * f['tol']:.0f} pp of all)": f["samples_needed"].get(m)}
            for m, after in f["vlm_ece_after"].items()]
    return percent_table(rows, ["ECE after TS, 50 labels", "ECE after TS, all labels"], ["model"])


# ------------------------------------------------------------------- what the chapters' fallback cells call
SOURCES = {
    "01_calibration_basics": "published logits of DenseNet-40 (CIFAR-10), DenseNet-BC-100 (CIFAR-100) and "
                             "14 ImageNet classifiers' top-label outputs",
    "02_zero_shot_clip": "OpenAI CLIP ViT-B/32's published zero-shot logits on the 10 000 CIFAR-10 test images",
    "03_empirical_study": "published logits of BiomedCLIP, CLIP ViT-B/32, SigLIP ViT-B/16, SigLIP2 ViT-B/16 and "
                          "four CIFAR-10 CNNs: DenseNet-40, LeNet-5, VGG16, WRN-16-4 (CIFAR-10 test[5000:], "
                          "translated class names, DermaMNIST)",
}


_EXPLAINED: set[str] = set()  # stems whose provenance box was shown in full in this process (this chapter)


def fallback(stem: str, reason: str, section: str, *parts: str) -> list:
    """What a chapter section shows where it cannot recompute its real numbers: the committed ones.

    Parameters
    ----------
    stem : str
        The chapter's notebook stem (a key of :data:`SOURCES`).
    reason : str
        Why this build cannot recompute them.
    section : str
        The section's name, for the box title.
    *parts : str
        Which tables and boxes, in order: keys of :data:`PARTS` with an optional ``:argument``
        (e.g. ``"ch1_table"``, ``"ch3_verdicts:1a,1b"``, ``"ch3_calibrator_table:10,50,200"``).

    Returns
    -------
    list
        Objects to ``display``: the provenance box (in full the first time in a chapter, then one
        line), then each part. Without a committed file (a copy of the package outside a clone)
        one warning box saying the section shows no real numbers here.
    """
    run = find_committed(stem)
    if run is None:
        return [Box(f"{section}: real-model numbers not available in this build", [
            f"This build cannot compute them ({said_once(reason)}) and has no committed results "
            f"({PUBLISHED_SUBDIR}/{stem}/{RESULTS_FILENAME}: a clone of the repository has them)."],
            kind="warning")]
    if stem in _EXPLAINED:
        out: list = [Box(f"{section}: real numbers from the committed run of {run.date}", [
            f"From {run.where}, as explained in the first such box of this page."], kind="note")]
    else:
        _EXPLAINED.add(stem)
        out = [committed_box(run, reason, section, SOURCES[stem])]
    for part in parts:
        name, _, arg = part.partition(":")
        shown = PARTS[name](run, arg)
        out.extend(shown if isinstance(shown, list) else [shown])
    return out


def fallback_figure(stem: str, reason: str, part: str, needs: str) -> Figure | Box:
    """A numbered figure drawn from the committed results, or the "not drawn" box without them.

    Parameters
    ----------
    stem, reason : str
        As :func:`fallback`.
    part : str
        A figure of :data:`PARTS` (``"ch1_figure"``, ``"ch3_shift_figure:test,test_french"``,
        ``"ch2_clip_reliability_figure"``...).
    needs : str
        What the figure is drawn from, for the box when there is no committed file.

    Returns
    -------
    matplotlib.figure.Figure or Box
        The figure; the "not drawn" box without a committed file, or where the committed file
        keeps no record of this figure (a run older than :mod:`.committed_figures`).
    """
    run = find_committed(stem)
    if run is None:
        return figure_not_drawn(needs, reason)
    name, _, arg = part.partition(":")
    drawn = PARTS[name](run, arg)
    if drawn is None:
        return figure_not_drawn(needs, f"{reason}; the committed run of {run.date} kept no record of this figure")
    return drawn


def _verdicts(run: CommittedRun, claims: str) -> Any:
    rows = [v for v in run.results.get("verdicts") or [] if v.get("study") == "published"]
    return list(verdict_boxes(rows, *claims.split(","), study=f"published outputs, committed run of {run.date}"))


def _before_after_figure(run: CommittedRun, _: str) -> Figure:
    reference = _published(run).get("reference_ece")
    return before_after_figure(
        chapter3_before_after_rows(run), f"committed run of {run.date} (no intervals in the file)",
        reference=None if reference is None else (reference, "ImageNet classifiers: median ECE (no TS)"))


def _shift_figure(run: CommittedRun, splits: str) -> Figure:
    return shift_figure(chapter3_shift_rows(run), f"committed run of {run.date} (no intervals in the file)",
                        splits=splits.split(",") if splits else None)


def _shift_table(run: CommittedRun, _: str) -> pd.DataFrame:
    rows = chapter3_shift_rows(run).pivot_table(index=["model", "split"], columns="method", values="ece_15")
    return percent_table(rows.reset_index().to_dict(orient="records"), ["none", "ts"], ["model", "split"])


def _calibrator_table(run: CommittedRun, sizes: str) -> pd.DataFrame:
    summary, _ = chapter3_calibrators(run)
    return ece_table_display(summary, [int(s) for s in sizes.split(",")] if sizes else None)


def _calibrator_figure(run: CommittedRun, _: str) -> Figure:
    return calibrator_figure(chapter3_calibrators(run)[0])


def _ts_answer(run: CommittedRun, _: str) -> Any:
    at_50 = chapter3_calibrators(run)[1]
    return [at_50, ts_answer_box(at_50)]


def _language_figure(run: CommittedRun, _: str) -> Figure:
    with report_style():
        fig = ReportFigure(figsize=(6.4, 4.6), layout="constrained")
        language_bars(chapter2_languages(run), chance=1 / 10, ax=fig.subplots())  # CIFAR-10: 10 classes
    return fig


def _language_table(run: CommittedRun, _: str) -> pd.DataFrame:
    table = chapter2_languages(run).copy()
    table["ECE 95% CI"] = [f"[{100 * lo:.2f}, {100 * hi:.2f}]" for lo, hi in table["ECE 95% CI"]]
    for col in ("accuracy", "ECE", "mean confidence"):
        table[col] = [_pct(v) for v in table[col]]
    return table.rename(columns={c: f"{c} (%)" for c in ("accuracy", "ECE", "ECE 95% CI", "mean confidence")})


#: The parts :func:`fallback` can show: name -> ``f(run, argument)``.
PARTS = {
    "ch1_table": lambda run, _: chapter1_table(run),
    "ch1_extra_table": lambda run, _: chapter1_extra_table(run),
    "ch1_deferral_table": lambda run, _: chapter1_deferral_table(run),
    "ch1_figure": lambda run, _: chapter1_figure(run),
    "ch2_table": lambda run, _: chapter2_table(run),
    "ch2_language_table": _language_table,
    "ch2_language_figure": _language_figure,
    "ch3_findings_table": lambda run, _: chapter3_findings_table(run),
    "ch3_before_after_figure": _before_after_figure,
    "ch3_shift_table": _shift_table,
    "ch3_shift_figure": _shift_figure,
    "ch3_mismatch_table": lambda run, _: chapter3_mismatch_table(run),
    "ch3_n_calib_table": lambda run, _: chapter3_n_calib_table(run),
    "ch3_verdicts": _verdicts,
    "ch3_calibrator_table": _calibrator_table,
    "ch3_calibrator_figure": _calibrator_figure,
    "ch3_ts_answer": _ts_answer,
    **FIGURE_PARTS,  # figures drawn from the records the results file keeps (committed_figures)
}
