"""The results schema of each chapter: one builder per chapter, with fixed, documented keys.

Each chapter's last cell builds its results with its builder and saves them::

    results = chapter1_results(data=..., before=before, after=after, ...)
    save_results(results_dir, results)  # the runner (vlmcal_book.reproduce) adds the parameters

The results page (``vlmcal_book.report``) and the notebook tests read these keys, never the
column labels of the tables a chapter displays. Chapters 1–3 hand their builders
:class:`vlmcal_utils.scores.Scores` records (and rows keyed as the schema names them), never
display tables: a row of scores is :meth:`~vlmcal_utils.scores.Scores.as_row` (``n, accuracy,
mean_confidence, ece_<bins>, ece_lo, ece_hi, mce, nll, brier, smooth_ece, debiased_ece,
temperature``). Each builder's docstring lists its keys; the schemas themselves are
:data:`SCHEMAS` (``notebook stem -> ResultsSchema``).

Conventions: ECE, accuracy, NLL and Brier are fractions in ``[0, 1]`` in every chapter (chapters
4 and 5 store the scoring record, :mod:`vlmcal_utils.scores`); ``*_ci`` values are ``[low, high]``
bootstrap 95 % intervals; ``None`` means "not measured in this run".
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pandas as pd

from vlmcal_utils.papers.tu2024 import FIGURE1_READ, FIGURE1_SOURCE, figure1_summary
from vlmcal_utils.results.schema import ChapterResults, ResultsSchema, RowSchema, SchemaError
from vlmcal_utils.scores import Scores, ece_key
from vlmcal_utils.views.chapter5_results import CHAPTER5, TPT_SCORE_FIELDS  # chapter 5's schema, and the TPT rows

__all__ = [
    "SCHEMAS",
    "CHAPTER1",
    "CHAPTER2",
    "CHAPTER3",
    "CHAPTER4",
    "chapter1_results",
    "chapter2_results",
    "chapter3_results",
    "chapter4_results",
]

#: The stages of chapter 1's rows.
STAGES = ("before_ts", "after_ts")
#: The keys of a row of scores (:meth:`vlmcal_utils.scores.Scores.as_row`) besides ``ece_<bins>``.
_SCORE_FIELDS = {
    "n": "rows scored", "accuracy": "top-1 accuracy", "mean_confidence": "mean top-label confidence",
    "ece_lo": "bootstrap 95 % interval of the primary ECE, low (None without a bootstrap)",
    "ece_hi": "the same interval, high", "mce": "MCE", "nll": "NLL (None for top-label data)",
    "brier": "Brier score (None for top-label data)", "smooth_ece": "SmoothECE (None when not computed)",
    "debiased_ece": "debiased ECE (None when not computed)", "temperature": "the temperature scored at (1: none)",
}


def _scores_schema(name: str, fields: Mapping[str, str]) -> RowSchema:
    """A row of ``fields`` and one :class:`~vlmcal_utils.scores.Scores` record (``ece_<bins>`` by pattern)."""
    return RowSchema(name, {**fields, **_SCORE_FIELDS}, pattern=r"ece_\d+")

# --------------------------------------------------------------------------------------------- chapter 1
_CH1_EXTRA = _scores_schema("one model, before or after TS: its scores", {
    "model": "short model name", "stage": '"before_ts" or "after_ts"'})
_CH1_BINS = RowSchema("one stage and bin choice", {
    "stage": '"before_ts" or "after_ts"', "binning": '"equal_width" or "equal_mass"', "n_bins": "bins",
    "ece": "plug-in ECE", "debiased_ece": "debiased ECE (Kumar et al. 2019)",
})
_CH1_SUBSAMPLE = RowSchema("one stage and subsample size", {
    "stage": '"before_ts" or "after_ts"', "n": "subsample size", "draws": "random subsamples of that size",
    "ece_mean": "mean plug-in ECE", "ece_sd": "its standard deviation over the draws (0 for one draw)",
    "debiased_ece_mean": "mean debiased ECE", "debiased_ece_sd": "its standard deviation",
    "full_ece": "plug-in ECE of the whole test split",
})
_CH1_DEFERRAL = RowSchema("one stage and confidence threshold (vlmcal_utils.selective.accept_above)", {
    "stage": '"before_ts" or "after_ts"', "threshold": "accept predictions with confidence above it",
    "coverage": "share of the test split accepted", "n_accepted": "test samples accepted",
    "promised": "mean confidence of the accepted", "delivered": "accuracy of the accepted",
})
_CH1_BRIER = RowSchema("Murphy decomposition (vlmcal_utils.brier, top-label)", {
    "brier": "top-label Brier score mean (conf - correct)^2", "reliability": "REL (calibration)",
    "resolution": "RES", "uncertainty": "UNC", "within_bin": "within-bin remainder",
})
_CH1_IMAGENET = _scores_schema("one ImageNet model, top-label outputs: its scores (no NLL, Brier)", {
    "model": "model name in the file"})
CHAPTER1 = ResultsSchema("01_calibration_basics", {
    "source": 'file name of the logits (e.g. "markus93_densenet40_cifar10.npz"), or "synthetic"',
    "is_real": "True when real published logits were used",
    "model": "model and data, short (e.g. \"DenseNet-40, CIFAR-10\")",
    "description": "where the logits come from, one line",
    "n_val": "calibration (validation) samples the temperature was fitted on",
    "n_test": "test samples every number is measured on",
    "n_bins": "equal-width bins of ECE/MCE",
    "temperature": "the fitted temperature T",
    **{f"{m}_{s}": f"{label} on the test split, {s} TS" for m, label in
       [("accuracy", "top-1 accuracy"), ("ece", "ECE"), ("mce", "MCE"), ("nll", "NLL"), ("brier", "Brier score")]
       for s in ("before", "after")},
    "ece_before_ci": "[low, high] bootstrap 95 % interval of ece_before",
    "ece_after_ci": "[low, high] bootstrap 95 % interval of ece_after",
    "toy_mean_confidence": "the five-cat example: model name -> mean confidence",
    "toy_accuracy": "the five-cat example: accuracy",
    "extra_models": "other published models, one row per model and stage (empty without the files)",
    **{f"{m}_{s}": f"{label} on the test split, {s} TS" for m, label in
       [("smooth_ece", "SmoothECE (relplot, Blasiok & Nakkiran 2023)"),
        ("debiased_ece", "debiased ECE (Kumar et al. 2019, p = 1, n_bins equal-width bins)")]
       for s in ("before", "after")},
    "smooth_ece_before_ci": "[low, high] bootstrap 95 % interval of smooth_ece_before",
    "smooth_ece_after_ci": "[low, high] bootstrap 95 % interval of smooth_ece_after",
    "bin_sensitivity": "plug-in and debiased ECE under the literature's bin choices, one row per stage and choice",
    "subsample_ece": "plug-in and debiased ECE of random test subsamples, one row per stage and size",
    "brier_parts": "stage -> Murphy decomposition of the top-label Brier score (n_bins equal-width bins)",
    "bins_beyond_noise": "stage -> bins whose 95 % Wilson interval of accuracy misses the diagonal",
    "deferral": "predictions accepted above a few confidence thresholds, one row per stage and threshold",
    "imagenet_source": "file name of the top-label ImageNet outputs, or None without the file",
    "imagenet_models": "one row per ImageNet model (uncalibrated, top-label only; empty without the file)",
    "imagenet_median_ece": "median ECE over imagenet_models, or None without the file",
}, blocks={"extra_models": _CH1_EXTRA, "bin_sensitivity": _CH1_BINS, "subsample_ece": _CH1_SUBSAMPLE,
           "deferral": _CH1_DEFERRAL, "imagenet_models": _CH1_IMAGENET},
   entries={"brier_parts": _CH1_BRIER},
   optional={"figures": "figure records drawn offline from the committed file (real data only; "
                        "vlmcal_utils.views.committed_figures): imagenet_diagrams"})

# --------------------------------------------------------------------------------------------- chapter 2
_CH2_SUMMARY = _scores_schema("zero-shot scores (15-bin ECE, 200 bootstrap resamples)", {})
_CH2_PUBLISHED = RowSchema("published CLIP CIFAR-10 logits", {
    "source": "the logits file, described", "temperature": "T fitted on the file's val split",
    "best_scale": "100 / T, the logit scale TS picks", "accuracy_test": "test accuracy",
    "ece_test_at_100": "test ECE at CLIP's scale 100", "ece_test_at_best": "test ECE at the fitted scale",
    "n_images_all": "images of the whole file (val + test: all 10 000 CIFAR-10 test images)",
    "accuracy_all": "accuracy on all of them", "ece_all": "ECE on all of them (15 bins)",
    "mean_confidence_all": "mean top-label confidence on all of them",
    "mean_confidence_correct": "mean confidence of the correct predictions",
    "mean_confidence_wrong": "mean confidence of the wrong predictions",
    "scale_with_lowest_ece": "the logit scale with the lowest ECE on all images (sweep of the cosine similarities)",
    "lowest_ece": "the ECE at that scale",
})
_CH2_LANGUAGE = _scores_schema("published CLIP CIFAR-10 logits with class names in one language: scores", {
    "language": '"english", "french", "chinese" or "swahili" (the prompt template stays English)',
    "distinct_names": "distinct class names (Swahili gives airplane and bird one word, ndege)",
})
CHAPTER2 = ResultsSchema("02_zero_shot_clip", {
    "model": "model label (architecture and weights)",
    "dataset": "dataset the images came from",
    "requested_dataset": "dataset asked for (differs from dataset after a fallback)",
    "is_demo": "True for the shipped demo models",
    "is_random_weights": 'True for pretrained = "random" (plumbing only)',
    "n_images": "images classified",
    "n_classes": "classes",
    "logit_scale": "the model's own learned logit scale",
    "single_template": "summary with one prompt template",
    "ensemble_80": "summary with the 80-template ensemble",
    "scale_with_lowest_ece": "the logit scale with the lowest ECE in the sweep",
    "lowest_ece": "the ECE at that scale",
    "published_clip_cifar10": "published CLIP ViT-B/32 CIFAR-10 logits, or None without the file",
    "published_clip_languages": "the same file's class-name languages, one row each, or None without the file",
    "feature_seconds": "seconds spent on image features",
    "total_seconds": "seconds for the whole notebook",
}, blocks={"single_template": _CH2_SUMMARY, "ensemble_80": _CH2_SUMMARY, "published_clip_cifar10": _CH2_PUBLISHED,
           "published_clip_languages": _CH2_LANGUAGE},
   optional={"figures": "figure records of the published CLIP file (vlmcal_utils.views.committed_figures): "
                        "clip_histogram, clip_reliability, clip_scale_sweep"})

# --------------------------------------------------------------------------------------------- chapter 3
_CH3_FINDINGS = RowSchema("findings of one study (vlmcal_utils.study.summarise_findings)", {
    "vlm_ece_before": "model -> test ECE before TS (VLMs)", "vlm_ece_after": "model -> test ECE after TS (VLMs)",
    "vlm_T": "model -> fitted temperature (VLMs)",
    "baseline_ece_before": "model -> test ECE before TS (ImageNet-trained baselines)",
    "baseline_ece_after": "model -> test ECE after TS (baselines)",
    "reference_ece": "uncalibrated ECE of ImageNet-trained classifiers (finding 1a), or None",
    "shift": "rows model, split, none, ts: ECE on each shifted split", "shift_n_helps": "shifted splits TS helps on",
    "shift_n": "shifted splits", "samples_needed": "model -> calibration samples needed (finding 4)",
    "ece_at_50": "model -> mean ECE with 50 calibration samples", "tol": "tolerance of samples_needed",
    "source": "what was measured, one line",
}, optional={
    "mismatch_ece_mean": "method -> mean ECE under label mismatch", "mismatch_n_better": "cells where it helps",
    "mismatch_n": "cells", "correlation": "method -> confidence/accuracy correlation",
    "random_weights": "models run with random weights (plumbing only)",
    "other_task": "rows model, split, none, ts on splits that are another task (DermaMNIST), not a shift",
})
_CH3_VERDICT = RowSchema("one finding's verdict (vlmcal_utils.study.finding_verdicts)", {
    "study": '"published", "demo" or "models"', "finding": 'claim id ("1a" ... "4")', "claim": "the claim",
    "verdict": '"holds", "partly" or "does not hold here"', "quantity": "what estimate measures",
    "estimate": "the number the rule looks at", "low": "95 % interval, low", "high": "95 % interval, high",
    "interval_note": 'why the interval excludes the estimate ("" if it does not)', "rule": "the verdict rule",
    "measured": "what was measured", "why": "why it may differ from the paper",
}, optional={
    "paper_quantity": "the paper's figure-level number: what it is (Tu et al.'s Figure 1; \"\" where it has none)",
    "paper_estimate": "that number, computed on the figure's points by the same rule, or None",
    "paper_verdict": "the verdict the same rule gives on the figure's points (\"\" where it has no number)",
    "paper_detail": "the figure's mean, median and counts behind it",
    "paper_source": "figure, repository@commit, how it was read",
})
_CH3_PAPER_FIGURE = RowSchema("one panel and marker group of Tu et al.'s Figure 1 (vlmcal_utils.papers.tu2024)", {
    "target": '"ID", "R" or "S"', "group": '"VLM" or "IN" (ImageNet-trained)', "dataset": "our dataset name",
    "n": "markers", "ece_before_mean": "mean ECE before TS", "ece_before_median": "median ECE before TS",
    "ece_after_mean": "mean ECE after TS", "ece_after_median": "median ECE after TS",
    "ece_after_max": "largest ECE after TS", "n_above_after": "markers with ECE after TS above `above`",
    "above": "that threshold", "n_ts_lowers": "markers whose ECE TS lowers", "accuracy_median": "median accuracy",
    "source": "figure, repository@commit, how it was read",
})
_CH3_CALIBRATOR = RowSchema("one calibrator at one calibration size (real VLM outputs)", {
    "model": "VLM", "method": '"none", "ts", "vector_scaling", "histogram_binning" or "isotonic"',
    "n": "labelled calibration samples", "mean": "mean test ECE (15 bins) over the draws",
    "low": "2.5 % percentile of the draws", "high": "97.5 % percentile of the draws", "repeats": "draws",
})
_CH3_TS_AT_N = RowSchema("does TS win at n labels (one VLM)", {
    "model": "VLM", "n": "labelled calibration samples", "winner": "calibrator with the lowest mean ECE",
    "ts_mean": "TS mean ECE", "ts_wins": "TS is the winner",
}, pattern=r"(ts_better_share_)?(vector_scaling|histogram_binning|isotonic)(_mean)?")
_CH3_CLAIM = RowSchema("one claim", {
    "claim": "the claim of Tu et al. 2024", "measured": "what this run measured",
    "verdict": "holds / does not hold here, with the rule", "measured_on": "the study the row is from",
})
CHAPTER3 = ResultsSchema("03_empirical_study", {
    "logits_dir": "folder of the published logits used, or None",
    "published": "findings on the published logits, or None",
    "demo": "findings on the demo world, or None",
    "models": "findings on the models run end to end, or None",
    "claims": "the closing claims table, one row per claim and study",
    "verdicts": "one row per finding and study: verdict, estimate and 95 % interval",
    "calibrators": "which calibrator when labels are few: ECE per VLM, method and size (empty without the files)",
    "calibrators_at_50": "TS against the other calibrators at n = 50, one row per VLM (empty without the files)",
    "paper_figure1": "Tu et al.'s Figure 1 per panel and marker group, from its points (package data: always there)",
}, blocks={"published": _CH3_FINDINGS, "demo": _CH3_FINDINGS, "models": _CH3_FINDINGS, "claims": _CH3_CLAIM,
           "verdicts": _CH3_VERDICT, "calibrators": _CH3_CALIBRATOR, "calibrators_at_50": _CH3_TS_AT_N,
           "paper_figure1": _CH3_PAPER_FIGURE},
   optional={"figures": "figure records of the real outputs (vlmcal_utils.views.committed_figures): "
                        "imagenet_a_reliability, mismatch_points, n_calib_curves"})

# --------------------------------------------------------------------------------------------- chapter 4
_CH4_ROW = RowSchema("one method on one dataset and initialisation (vlmcal_utils.tpt.summarise)", {
    "dataset": "dataset name", "init": '"hard" or "ensemble" prompt initialisation',
    "method": 'method key: "zeroshot", "tpt", "ctpt", "ts_official", "ts_fitted"', **TPT_SCORE_FIELDS,
}, pattern=r"ece_\d+")
_CH4_PAPER = RowSchema("ours beside C-TPT's Tables 1–2 (fractions)", {
    "dataset": "dataset name", "init": "prompt initialisation", "method": "method key",
    "paper_accuracy": "paper accuracy", "accuracy": "our accuracy",
    "paper_ece_20": "paper ECE (20 bins)", "ece_20": "our ECE (20 bins)",
})
_CH4_PUBLISHED_CELL = RowSchema("a C-TPT cell recomputed from published real outputs "
                                "(vlmcal_utils.views.imagenet_a.ctpt_zeroshot_cell; fractions)", {
    "table": "the paper's table", "row": "the paper's row", "column": "the paper's column (dataset)",
    "model": "open_clip architecture", "dataset": "dataset name", "init": "prompt initialisation",
    "method": "method key", "n": "images scored", "accuracy": "our accuracy",
    "accuracy_lo": "95 % bootstrap interval over images, low", "accuracy_hi": "95 % bootstrap interval, high",
    "ece_20": "our ECE (20 bins)", "ece_lo": "95 % bootstrap interval of the ECE, low",
    "ece_hi": "95 % bootstrap interval of the ECE, high", "ece_15": "our ECE (15 bins)",
    "top5_accuracy": "true class among the stored top 5", "paper_accuracy": "the paper's accuracy",
    "paper_ece_20": "the paper's ECE (20 bins)", "verdict_accuracy": '"reproduced" or how ours differs',
    "verdict_ece": '"reproduced" or how ours differs',
    "not_computed": "what the file cannot give (top-5 outputs: NLL, Brier score, temperature scaling)",
    "source": "the published file",
})
_CH4_CORRELATION = RowSchema("ATFD-ECE correlation of one dataset", {
    "pearson_r": "Pearson r over prompts near the best accuracy", "n_prompts": "those prompts",
    "pearson_r_all": "Pearson r over all prompts",
}, optional={"pearson_r_confidence": "Pearson r of ATFD and mean confidence over the prompts near the best",
             "atfd_range": "max - min ATFD over those prompts"})
_CH4_TEMPERATURE = RowSchema("temperatures of one dataset/init", {
    "official": "the official TPT temperature", "fitted": "T fitted on labelled calibration images"})
CHAPTER4 = ResultsSchema("04_ctpt", {
    "model": "open_clip architecture or demo model",
    "pretrained": "weights tag or file, or None (demo)",
    "demo": "True on the demo world (never compared with the paper)",
    "prompt_correlation": "dataset -> ATFD/ECE correlation over the 80 prompts",
    "table": "one row per dataset, initialisation and method (the scoring record: fractions)",
    "temperatures": '"<dataset>/<init>" -> temperatures',
    "paper_comparison": "ours beside the paper, empty unless the model and weights are the paper's",
    "published_cells": "C-TPT cells recomputed from published real model outputs, beside the paper's "
                       "(CLIP ViT-B/16 zero-shot on ImageNet-A); empty where the file is not available",
}, blocks={"table": _CH4_ROW, "paper_comparison": _CH4_PAPER, "published_cells": _CH4_PUBLISHED_CELL},
   entries={"prompt_correlation": _CH4_CORRELATION, "temperatures": _CH4_TEMPERATURE})

#: notebook stem -> its schema
SCHEMAS: dict[str, ResultsSchema] = {s.notebook: s for s in (CHAPTER1, CHAPTER2, CHAPTER3, CHAPTER4, CHAPTER5)}


# --------------------------------------------------------------------------------------------- helpers
def _documented(schema: ResultsSchema) -> Callable:
    """Append the schema's key list to the builder's docstring (one source for code and docs)."""
    def wrap(fn: Callable) -> Callable:
        fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n\n    Notes\n    -----\n    Keys of ``results``:\n\n" + \
            "\n".join("    " + line for line in schema.describe().splitlines()) + "\n"
        return fn
    return wrap


def _records(rows: Any) -> list[dict]:
    """A list of plain dicts from a DataFrame (its index becomes columns) or an iterable of mappings."""
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index() if any(name is not None for name in rows.index.names) else rows
        return frame.to_dict(orient="records")
    return [dict(row) for row in (rows or [])]


# --------------------------------------------------------------------------------------------- builders
def _staged(rows: Any, where: str) -> list[dict]:
    """Rows with a ``stage`` of :data:`STAGES` (a display label such as ``"before TS"`` is refused)."""
    rows = _records(rows)
    bad = sorted({str(row.get("stage")) for row in rows} - set(STAGES))
    if bad:
        raise SchemaError(f"chapter1_results: {where} rows have stage {bad}; expected one of {list(STAGES)}")
    return rows


_TRUST_KEYS = ("smooth_ece_before_ci", "smooth_ece_after_ci", "bin_sensitivity", "subsample_ece", "brier_parts",
               "bins_beyond_noise")


def _trust(trust: Mapping[str, Any] | None) -> dict:
    """Chapter 1's "how much to trust an ECE" measurements, stage-keyed; absent ones are ``None``."""
    trust = dict(trust or {})
    unknown = sorted(set(trust) - set(_TRUST_KEYS))
    if unknown:
        raise SchemaError(f"chapter1_results: unknown trust keys {unknown} (known: {list(_TRUST_KEYS)})")
    out = {key: trust.get(key) for key in _TRUST_KEYS}
    for key in ("bin_sensitivity", "subsample_ece"):
        if out[key] is not None:
            out[key] = _staged(out[key], key)
    for key in ("brier_parts", "bins_beyond_noise"):
        if out[key] is not None:
            out[key] = dict(out[key])
            _staged([{"stage": stage} for stage in out[key]], key)
    for key in ("smooth_ece_before_ci", "smooth_ece_after_ci"):
        if out[key] is not None:
            out[key] = [float(v) for v in out[key]]
    return out


def _stage_scores(before: Scores, after: Scores) -> dict:
    """The flat ``<metric>_<before|after>`` keys of chapter 1 from its two records."""
    if before.primary_bins != after.primary_bins or before.n != after.n:
        raise SchemaError("chapter1_results: before and after must score the same split with the same bins")
    flat = {}
    for stage, s in (("before", before), ("after", after)):
        if s.nll is None or s.smooth_ece is None or s.ece_interval is None:
            raise SchemaError(f"chapter1_results: the {stage}-TS record needs class probabilities, the estimators "
                              "and a bootstrap interval (score_logits(..., n_boot > 0))")
        flat.update({f"accuracy_{stage}": s.accuracy, f"ece_{stage}": s.primary_ece, f"mce_{stage}": s.mce,
                     f"nll_{stage}": s.nll, f"brier_{stage}": s.brier, f"ece_{stage}_ci": list(s.ece_interval),
                     f"smooth_ece_{stage}": s.smooth_ece, f"debiased_ece_{stage}": s.debiased_ece})
    return flat


def _imagenet(imagenet: Any) -> tuple[list[dict], str | None, float | None]:
    """``toplabel_ece_table`` rows as ``model`` + record (other columns dropped); the file's name; the median ECE."""
    rows = _records(imagenet)
    if not rows:
        return [], None, None
    sources = {row.get("source") for row in rows}
    if len(sources) != 1:
        raise SchemaError(f"chapter1_results: imagenet rows come from {sorted(map(str, sources))}: one file expected")
    ece = ece_key(rows[0])
    median = float(pd.Series([row[ece] for row in rows]).median())
    records = [{"model": row["model"], **Scores.from_row(row).as_row()} for row in rows]
    return records, str(sources.pop()), median


@_documented(CHAPTER1)
def chapter1_results(
    *, data: Mapping[str, Any], before: Scores, after: Scores, toy: Mapping[str, Any], extra_models: Any = (),
    trust: Mapping[str, Any] | None = None, imagenet: Any = None, deferral: Any = (),
    figures: Mapping[str, Any] | None = None,
) -> ChapterResults:
    """Chapter 1 (calibration basics): temperature scaling on one set of logits, and how far to trust an ECE.

    Parameters
    ----------
    data : mapping
        The logits: ``source, is_real, model, description, n_val`` (as listed under Notes).
    before, after : Scores
        :func:`vlmcal_utils.scores.score_logits` of the test split at ``T = 1`` and at the fitted
        ``T``, with the estimators and a bootstrap interval: they give ``n_test, n_bins,
        temperature`` and every ``<metric>_<before|after>`` key.
    toy : mapping
        The five-cat example: ``mean_confidence`` (model name -> mean confidence) and ``accuracy``.
    extra_models : DataFrame or list of mapping
        One row per model and stage: ``model``, ``stage`` (``"before_ts"``/``"after_ts"``) and
        :meth:`~vlmcal_utils.scores.Scores.as_row`.
    trust : mapping, optional
        The "How much to trust an ECE" measurements: ``smooth_ece_{before,after}_ci``,
        ``bin_sensitivity`` and ``subsample_ece`` (rows or DataFrames with a ``stage`` column),
        ``brier_parts`` and ``bins_beyond_noise`` (stage -> value). Missing keys are stored as
        ``None`` ("not measured in this run").
    imagenet : DataFrame or list of mapping, optional
        :func:`vlmcal_utils.study.scoring.toplabel_ece_table` rows (``model``, the scores,
        ``source``); ``None`` or empty without the file.
    deferral : DataFrame or list of mapping
        :func:`vlmcal_utils.selective.accept_above` rows with their ``stage``.
    figures : mapping, optional
        Figure records (:mod:`vlmcal_utils.views.committed_figures`), real data only; ``None``
        stores none.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    imagenet_rows, imagenet_source, median = _imagenet(imagenet)
    return CHAPTER1.build(
        **{key: data[key] for key in ("source", "is_real", "model", "description", "n_val")},
        n_test=before.n, n_bins=before.primary_bins, temperature=after.temperature, **_stage_scores(before, after),
        toy_mean_confidence=dict(toy["mean_confidence"]), toy_accuracy=float(toy["accuracy"]),
        extra_models=_staged(extra_models, "extra_models"), **_trust(trust), imagenet_source=imagenet_source,
        imagenet_models=imagenet_rows, imagenet_median_ece=median, deferral=_staged(deferral, "deferral"),
        figures=_figures(figures),
    )


@_documented(CHAPTER2)
def chapter2_results(
    *, model: str, dataset: str, requested_dataset: str, is_demo: bool, is_random_weights: bool, n_images: int,
    n_classes: int, logit_scale: float, single_template: Scores, ensemble_80: Scores,
    scale_with_lowest_ece: float, lowest_ece: float, published_clip_cifar10: Mapping[str, Any] | None,
    feature_seconds: float, total_seconds: float,
    published_clip_languages: Mapping[str, tuple[Scores, int]] | None = None,
    figures: Mapping[str, Any] | None = None,
) -> ChapterResults:
    """Chapter 2 (zero-shot CLIP): one template vs the ensemble, the logit scale, published CLIP.

    Parameters
    ----------
    single_template, ensemble_80 : Scores
        :func:`vlmcal_utils.scores.score_logits` of the two classifiers (stored as
        :meth:`~vlmcal_utils.scores.Scores.as_row`).
    published_clip_cifar10 : mapping or None
        The published CLIP logits block, or None where the file is absent.
    published_clip_languages : mapping or None
        ``language -> (Scores, distinct class names)`` of the published file's class-name
        languages, or None where the file is absent.
    figures : mapping, optional
        Figure records of the published file (:mod:`vlmcal_utils.views.committed_figures`), or None.
    model, dataset, requested_dataset, is_demo, is_random_weights
        As listed under Notes.
    n_images, n_classes, logit_scale, scale_with_lowest_ece, lowest_ece
        As listed under Notes.
    feature_seconds, total_seconds
        As listed under Notes.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    return CHAPTER2.build(
        model=model, dataset=dataset, requested_dataset=requested_dataset, is_demo=is_demo,
        is_random_weights=is_random_weights, n_images=n_images, n_classes=n_classes, logit_scale=logit_scale,
        single_template=single_template.as_row(), ensemble_80=ensemble_80.as_row(),
        scale_with_lowest_ece=scale_with_lowest_ece, lowest_ece=lowest_ece,
        published_clip_cifar10=None if published_clip_cifar10 is None else dict(published_clip_cifar10),
        published_clip_languages=None if published_clip_languages is None else [
            {"language": lang, **scores.as_row(), "distinct_names": int(distinct)}
            for lang, (scores, distinct) in published_clip_languages.items()],
        feature_seconds=feature_seconds, total_seconds=total_seconds, figures=_figures(figures),
    )


def _figures(figures: Mapping[str, Any] | None) -> dict | None:
    """The figure records to store: ``None`` (stored as no key) where there are none."""
    return {str(k): v for k, v in figures.items() if v is not None} or None if figures else None


def _claims(tables: Any) -> list[dict]:
    """Rows of ``study.claims_table`` frames (claim / ``measured: <study>`` / verdict) as schema rows."""
    if isinstance(tables, pd.DataFrame):
        tables = [tables]
    rows = []
    for table in tables or []:
        if isinstance(table, Mapping):  # already a schema row
            rows.append(dict(table))
            continue
        if not isinstance(table, pd.DataFrame) or table.shape[1] != 3:
            raise SchemaError("chapter3_results: claims must be claims_table() frames (claim, measured, verdict)")
        measured_column = str(table.columns[1])
        measured_on = measured_column.split(":", 1)[1].strip() if ":" in measured_column else measured_column
        for claim, measured, verdict in table.itertuples(index=False, name=None):
            rows.append({"claim": claim, "measured": measured, "verdict": verdict, "measured_on": measured_on})
    return rows


@_documented(CHAPTER3)
def chapter3_results(
    *, logits_dir: str | None, published: Mapping[str, Any] | None = None, demo: Mapping[str, Any] | None = None,
    models: Mapping[str, Any] | None = None, claims: Any = (), verdicts: Any = (), calibrators: Any = (),
    calibrators_at_50: Any = (), figures: Mapping[str, Any] | None = None,
) -> ChapterResults:
    """Chapter 3 (the empirical study of Tu et al. 2024): the findings of each study and the claims.

    Parameters
    ----------
    logits_dir : str or None
        The published-logits folder used.
    published, demo, models : mapping or None
        ``summarise_findings`` of each study run (plus ``source``, and ``random_weights`` for
        ``models``); None when the study did not run.
    claims : list of DataFrame or of mapping
        The ``claims_table`` frames of the run (or rows already in the schema's form).
    verdicts : list of mapping
        ``finding_verdicts`` rows, each with a ``study`` key added.
    calibrators, calibrators_at_50 : DataFrame or list of mapping
        ``chapter3_calibrators.calibrator_table`` and ``chapter3_calibrators.ts_at_n`` of the real VLM outputs.
    figures : mapping, optional
        Figure records of the real outputs (:mod:`vlmcal_utils.views.committed_figures`), or None.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    return CHAPTER3.build(
        logits_dir=None if logits_dir is None else str(logits_dir),
        published=None if published is None else dict(published), demo=None if demo is None else dict(demo),
        models=None if models is None else dict(models), claims=_claims(claims),
        verdicts=[dict(v) for v in verdicts], calibrators=_records(calibrators),
        calibrators_at_50=_records(calibrators_at_50),
        paper_figure1=[{**r, "source": f"{FIGURE1_SOURCE}; {FIGURE1_READ}"} for r in _records(figure1_summary())],
        figures=_figures(figures),
    )


@_documented(CHAPTER4)
def chapter4_results(
    *, model: str, pretrained: str | None, demo: bool, prompt_correlation: Mapping[str, Mapping[str, Any]],
    table: Any, temperatures: Mapping[str, Mapping[str, float]], paper_comparison: Any = (),
    published_cells: Any = (),
) -> ChapterResults:
    """Chapter 4 (C-TPT): every method on every dataset and initialisation, beside the paper.

    Parameters
    ----------
    model, pretrained, demo
        As listed under Notes.
    prompt_correlation : mapping
        ``dataset -> {pearson_r, n_prompts, pearson_r_all, ...}``.
    table : DataFrame or list of mapping
        The scoring records (:func:`vlmcal_utils.views.chapter4.results_table`; its ``dataset,
        init, method`` index is turned into columns), fractions.
    temperatures : mapping
        ``"<dataset>/<init>" -> {official, fitted}``.
    paper_comparison : DataFrame or list of mapping
        Rows beside the paper's numbers, fractions.
    published_cells : list of mapping
        :func:`vlmcal_utils.views.imagenet_a.ctpt_zeroshot_cell` records (real published outputs).

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    return CHAPTER4.build(
        model=model, pretrained=pretrained, demo=demo,
        prompt_correlation={str(k): dict(v) for k, v in prompt_correlation.items()}, table=_records(table),
        temperatures={str(k): dict(v) for k, v in temperatures.items()}, paper_comparison=_records(paper_comparison),
        published_cells=_records(published_cells),
    )
