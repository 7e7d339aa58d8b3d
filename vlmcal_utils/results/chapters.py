"""The results schema of each chapter: one builder per chapter, with fixed, documented keys.

Each chapter's last cell builds its results with its builder and saves them::

    results = chapter1_results(source=source, is_real=is_real, ...)
    save_results(results_dir, results, params)

The results page (``vlmcal_book.report``) and the notebook tests read these keys, never the
column labels of the tables a chapter displays. The builders take the chapters' own summaries
(dicts or DataFrames whose columns carry display labels such as ``"ECE"`` or ``"mean conf"``) and
rename those columns to keys once, here. Each builder's docstring lists its keys; the schemas
themselves are :data:`SCHEMAS` (``notebook stem -> ResultsSchema``).

Conventions: ECE, accuracy, NLL and Brier are fractions in ``[0, 1]`` in chapters 1–3 and
percentages in chapter 4 (as the C-TPT paper reports them); ``*_ci`` values are ``[low, high]``
bootstrap 95 % intervals; ``None`` means "not measured in this run".
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import pandas as pd

from vlmcal_utils.results.chapter5 import CHAPTER5  # chapter 5's schema lives beside its builder
from vlmcal_utils.results.schema import ChapterResults, ResultsSchema, RowSchema, SchemaError, rename_keys

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

#: The chapters' display labels of metric columns -> schema keys.
METRIC_ALIASES = {
    "T": "temperature",
    "ECE": "ece",
    "MCE": "mce",
    "NLL": "nll",
    "Brier": "brier",
    "ECE 95% CI": "ece_ci",
    "mean confidence": "mean_confidence",
    "mean conf": "mean_conf",
    "": "stage",
    "paper acc": "paper_acc",
    "ours acc": "ours_acc",
    "paper ECE(20)": "paper_ece20",
    "ours ECE(20)": "ours_ece20",
}
_STAGES = {"before TS": "before_ts", "after TS": "after_ts", "before_ts": "before_ts", "after_ts": "after_ts"}

# --------------------------------------------------------------------------------------------- chapter 1
_CH1_EXTRA = RowSchema("one model, before or after TS", {
    "model": "short model name", "stage": '"before_ts" or "after_ts"', "temperature": "T applied (1 before TS)",
    "accuracy": "top-1 accuracy", "ece": "ECE (n_bins bins)", "mce": "MCE", "nll": "NLL", "brier": "Brier score",
})
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
}, blocks={"extra_models": _CH1_EXTRA})

# --------------------------------------------------------------------------------------------- chapter 2
_CH2_SUMMARY = RowSchema("zero-shot summary", {
    "accuracy": "top-1 accuracy", "ece": "ECE (15 bins)", "ece_ci": "[low, high] bootstrap 95 % interval of ece",
    "mean_confidence": "mean top-label confidence", "nll": "NLL",
})
_CH2_PUBLISHED = RowSchema("published CLIP CIFAR-10 logits", {
    "source": "the logits file, described", "temperature": "T fitted on the file's val split",
    "best_scale": "100 / T, the logit scale TS picks", "accuracy_test": "test accuracy",
    "ece_test_at_100": "test ECE at CLIP's scale 100", "ece_test_at_best": "test ECE at the fitted scale",
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
    "feature_seconds": "seconds spent on image features",
    "total_seconds": "seconds for the whole notebook",
}, blocks={"single_template": _CH2_SUMMARY, "ensemble_80": _CH2_SUMMARY, "published_clip_cifar10": _CH2_PUBLISHED})

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
})
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
}, blocks={"published": _CH3_FINDINGS, "demo": _CH3_FINDINGS, "models": _CH3_FINDINGS, "claims": _CH3_CLAIM})

# --------------------------------------------------------------------------------------------- chapter 4
_CH4_ROW = RowSchema("one method on one dataset and initialisation", {
    "dataset": "dataset name", "init": '"hard" or "ensemble" prompt initialisation',
    "method": 'method key: "zeroshot", "tpt", "ctpt", "ts_official", "ts_fitted"', "acc": "accuracy, %",
    "mean_conf": "mean top-label confidence, %", "atfd": "average text-feature dispersion",
}, pattern=r"ece\d+")
_CH4_PAPER = RowSchema("ours beside C-TPT's Tables 1–2", {
    "dataset": "dataset name", "init": "prompt initialisation", "method": "method key",
    "paper_acc": "paper accuracy, %", "ours_acc": "our accuracy, %",
    "paper_ece20": "paper ECE (20 bins), %", "ours_ece20": "our ECE (20 bins), %",
})
_CH4_CORRELATION = RowSchema("ATFD-ECE correlation of one dataset", {
    "pearson_r": "Pearson r over prompts near the best accuracy", "n_prompts": "those prompts",
    "pearson_r_all": "Pearson r over all prompts",
})
_CH4_TEMPERATURE = RowSchema("temperatures of one dataset/init", {
    "official": "the official TPT temperature", "fitted": "T fitted on labelled calibration images"})
CHAPTER4 = ResultsSchema("04_ctpt", {
    "model": "open_clip architecture or demo model",
    "pretrained": "weights tag or file, or None (demo)",
    "demo": "True on the demo world (never compared with the paper)",
    "prompt_correlation": "dataset -> ATFD/ECE correlation over the 80 prompts",
    "table": "one row per dataset, initialisation and method (accuracy/ECE in %)",
    "temperatures": '"<dataset>/<init>" -> temperatures',
    "paper_comparison": "ours beside the paper, empty unless the model and weights are the paper's",
}, blocks={"table": _CH4_ROW, "paper_comparison": _CH4_PAPER},
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


def _metrics(summary: Mapping[str, Any] | None) -> dict | None:
    return None if summary is None else rename_keys(summary, METRIC_ALIASES)


def _method_key(label: Any, keys_by_label: Mapping[str, str]) -> Any:
    return keys_by_label.get(label, label)


# --------------------------------------------------------------------------------------------- builders
@_documented(CHAPTER1)
def chapter1_results(
    *, source: str, is_real: bool, model: str, description: str, n_val: int, n_test: int, n_bins: int,
    temperature: float, before: Mapping[str, float], after: Mapping[str, float],
    ece_before_ci: Iterable[float], ece_after_ci: Iterable[float], toy_mean_confidence: Mapping[str, float],
    toy_accuracy: float, extra_models: Any = (),
) -> ChapterResults:
    """Chapter 1 (calibration basics): temperature scaling on one set of logits.

    Parameters
    ----------
    source, is_real, model, description
        As listed under Notes.
    n_val, n_test, n_bins, temperature
        As listed under Notes.
    before, after : mapping
        The chapter's summaries of the test split before and after TS: ``accuracy``, ``ECE``,
        ``MCE``, ``NLL``, ``Brier`` (and ``T``, ignored; the display labels or the keys).
    ece_before_ci, ece_after_ci : pair of float
        Bootstrap 95 % intervals of the ECE.
    toy_mean_confidence, toy_accuracy
        The five-cat example.
    extra_models : DataFrame or list of mapping
        Rows of the extra-models table: ``model``, the stage (``"before TS"``/``"after TS"``,
        under ``""`` or ``stage``) and the summary columns.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    flat = {}
    for stage, summary in (("before", before), ("after", after)):
        metrics = _metrics(summary)
        for key in ("accuracy", "ece", "mce", "nll", "brier"):
            if key not in metrics:
                raise SchemaError(f"chapter1_results: the {stage}-TS summary has no {key!r} (got {sorted(metrics)})")
            flat[f"{key}_{stage}"] = metrics[key]
    extra = []
    for row in _records(extra_models):
        row = rename_keys(row, METRIC_ALIASES)
        row["stage"] = _STAGES.get(row.get("stage"), row.get("stage"))
        extra.append(row)
    return CHAPTER1.build(
        source=source, is_real=is_real, model=model, description=description, n_val=n_val, n_test=n_test,
        n_bins=n_bins, temperature=temperature, **flat, ece_before_ci=list(ece_before_ci),
        ece_after_ci=list(ece_after_ci), toy_mean_confidence=dict(toy_mean_confidence), toy_accuracy=toy_accuracy,
        extra_models=extra,
    )


@_documented(CHAPTER2)
def chapter2_results(
    *, model: str, dataset: str, requested_dataset: str, is_demo: bool, is_random_weights: bool, n_images: int,
    n_classes: int, logit_scale: float, single_template: Mapping[str, Any], ensemble_80: Mapping[str, Any],
    scale_with_lowest_ece: float, lowest_ece: float, published_clip_cifar10: Mapping[str, Any] | None,
    feature_seconds: float, total_seconds: float,
) -> ChapterResults:
    """Chapter 2 (zero-shot CLIP): one template vs the ensemble, and the logit scale.

    Parameters
    ----------
    single_template, ensemble_80 : mapping
        The chapter's summaries: ``accuracy``, ``ECE``, ``ECE 95% CI``, ``mean confidence``,
        ``NLL`` (the display labels or the keys).
    published_clip_cifar10 : mapping or None
        The published CLIP logits block, or None where the file is absent.
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
        single_template=_metrics(single_template), ensemble_80=_metrics(ensemble_80),
        scale_with_lowest_ece=scale_with_lowest_ece, lowest_ece=lowest_ece,
        published_clip_cifar10=None if published_clip_cifar10 is None else dict(published_clip_cifar10),
        feature_seconds=feature_seconds, total_seconds=total_seconds,
    )


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
    models: Mapping[str, Any] | None = None, claims: Any = (),
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

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    return CHAPTER3.build(
        logits_dir=None if logits_dir is None else str(logits_dir),
        published=None if published is None else dict(published), demo=None if demo is None else dict(demo),
        models=None if models is None else dict(models), claims=_claims(claims),
    )


@_documented(CHAPTER4)
def chapter4_results(
    *, model: str, pretrained: str | None, demo: bool, prompt_correlation: Mapping[str, Mapping[str, Any]],
    table: Any, temperatures: Mapping[str, Mapping[str, float]], paper_comparison: Any = (),
    method_labels: Mapping[str, str] | None = None,
) -> ChapterResults:
    """Chapter 4 (C-TPT): every method on every dataset and initialisation, beside the paper.

    Parameters
    ----------
    model, pretrained, demo
        As listed under Notes.
    prompt_correlation : mapping
        ``dataset -> {pearson_r, n_prompts, pearson_r_all}``.
    table : DataFrame or list of mapping
        The results table (its ``dataset, init, method`` index is turned into columns).
    temperatures : mapping
        ``"<dataset>/<init>" -> {official, fitted}``.
    paper_comparison : DataFrame or list of mapping
        Rows beside the paper's numbers (``paper acc``, ``ours acc``, ``paper ECE(20)``,
        ``ours ECE(20)`` or the keys).
    method_labels : mapping, optional
        ``method key -> display label`` as the chapter shows them; ``method`` columns holding a
        label are stored as the key.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.
    """
    keys_by_label = {label: key for key, label in (method_labels or {}).items()}

    def rows(value: Any) -> list[dict]:
        out = []
        for row in _records(value):
            row = rename_keys(row, METRIC_ALIASES)
            if "method" in row:
                row["method"] = _method_key(row["method"], keys_by_label)
            out.append(row)
        return out

    return CHAPTER4.build(
        model=model, pretrained=pretrained, demo=demo,
        prompt_correlation={str(k): dict(v) for k, v in prompt_correlation.items()}, table=rows(table),
        temperatures={str(k): dict(v) for k, v in temperatures.items()}, paper_comparison=rows(paper_comparison),
    )
