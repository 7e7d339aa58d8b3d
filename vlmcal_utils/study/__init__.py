"""The empirical study of Tu et al. (ICML 2024) from cached logits: what matters for calibrating VLMs.

Tu et al. ask *what matters* for calibrating vision-language models with temperature scaling (TS).
Everything here works on cached ``(N, K)`` logits, so once logits exist each TS experiment takes
milliseconds to seconds. The four findings and the functions that test each one:

1. TS fixes most of the miscalibration of zero-shot VLMs: :func:`calibrate_and_score`, and the
   ``"all"`` cells of :func:`run_grid` (``method="none"`` before, ``method="ts"`` after).
2. A temperature fitted in-distribution stays good under distribution shift: one cell of
   :func:`run_grid` scores every evaluation split of a task with the *same* ``T``.
3. The calibration set need not share the test set's classes: :func:`label_mismatch_split`
   makes class-disjoint calibration/test sets (:func:`label_mismatch_rows` runs both directions);
   :func:`confidence_accuracy_correlation` then measures how well calibrated confidence predicts
   accuracy across (model, dataset) pairs.
4. A few samples suffice: :func:`n_calib_curve` (ECE after TS against the calibration-set size).

Modules
-------
- :mod:`~vlmcal_utils.study.scoring` — score logits before/after TS (:class:`vlmcal_utils.scores.Scores`
  records), the flagged temperature fit.
- :mod:`~vlmcal_utils.study.subsets` — label-mismatched splits, calibration draws, the n_calib curve.
- :mod:`~vlmcal_utils.study.correlation` — confidence vs accuracy across pairs.
- :mod:`~vlmcal_utils.study.grid` — :class:`StudyTask`, the resumable :func:`run_grid` and
  :func:`read_grid` (the results table, :data:`RESULT_COLUMNS`).
- :mod:`~vlmcal_utils.study.grid_config` — :class:`GridConfig`, the protocol of a grid run.
- :mod:`~vlmcal_utils.study.published_logits` — tasks on the published logits files.
- :mod:`~vlmcal_utils.study.tasks` — tasks that compute logits of a model on image datasets.
- :mod:`~vlmcal_utils.study.findings` — the paper's claims (as data) beside a run.
- :mod:`~vlmcal_utils.study.verdicts` — a verdict (holds / partly / does not hold here) per finding,
  with its interval and why it may differ from the paper.
- :mod:`~vlmcal_utils.study.calibrator_curves` — TS vs vector scaling vs binning vs isotonic by
  calibration-set size.
- :mod:`~vlmcal_utils.study.plots` — one figure per finding.

Chapter 3's tables, figures and boxes are views on this package, in :mod:`vlmcal_utils.views.chapter3`
and :mod:`vlmcal_utils.views.chapter3_calibrators`.
"""

from vlmcal_utils.lazy import lazy_exports

# Each name is imported from its module on first use (PEP 562): importing one module of the
# package, or a command line's --help, does not import torch through all the others.
_EXPORTS = {
    "calibrator_curves": ("calibrator_curves", "summarise_calibrator_curves"),
    "correlation": ("confidence_accuracy_correlation",),
    "findings": ("CLAIMS", "Claim", "claims_table", "curve_from_results", "label_mismatch_rows", "summarise_findings"),
    "grid": ("KEY_COLUMNS", "RESULT_COLUMNS", "StudyTask", "grid_key", "read_grid", "run_grid"),
    "grid_config": ("GridConfig",),
    "paper_models": ("PAPER_MODELS", "UNLOADABLE_MODELS", "PaperModel"),
    "plots": (
        "FAMILY_COLOURS", "plot_confidence_vs_accuracy", "plot_ece_across_shifts", "plot_ece_before_after",
        "plot_n_calib_curve", "plot_n_calib_summary"
    ),
    "published_logits": (
        "LANGUAGES", "OFF_DOMAIN", "cifar10_entries", "published_pairs", "published_tasks", "study_vlms"
    ),
    "scoring": ("calibrate_and_score", "toplabel_ece_table"),
    "subsets": (
        "draw_calibration_subset", "grid_for", "label_mismatch_split", "n_calib_curve", "samples_needed",
        "summarise_n_calib_curve"
    ),
    "tasks": (
        "IMAGENET_LABEL_DATASETS", "IMAGENET_SHIFTS", "DatasetSpec", "baseline_task", "dataset_specs",
        "demo_study_tasks", "zeroshot_task", "RANDOM_WEIGHTS_NOTE"
    ),
    "verdicts": ("VERDICTS", "finding_verdicts", "verdict_models"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    # which calibrator when labels are few (calibrator_curves)
    "calibrator_curves",
    "summarise_calibrator_curves",
    # results table and grid
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "StudyTask",
    "GridConfig",
    "grid_key",
    "run_grid",
    "read_grid",
    # scoring (the records themselves: vlmcal_utils.scores)
    "calibrate_and_score",
    "toplabel_ece_table",
    # calibration sets
    "label_mismatch_split",
    "draw_calibration_subset",
    "n_calib_curve",
    "summarise_n_calib_curve",
    "grid_for",
    "samples_needed",
    "confidence_accuracy_correlation",
    # tasks
    "LANGUAGES",
    "OFF_DOMAIN",
    "cifar10_entries",
    "study_vlms",
    "published_tasks",
    "published_pairs",
    "DatasetSpec",
    "dataset_specs",
    "zeroshot_task",
    "baseline_task",
    "demo_study_tasks",
    # Tu et al.'s models as data
    "PaperModel",
    "PAPER_MODELS",
    "UNLOADABLE_MODELS",
    "IMAGENET_LABEL_DATASETS",
    "IMAGENET_SHIFTS",
    "RANDOM_WEIGHTS_NOTE",
    # findings and figures
    "Claim",
    "CLAIMS",
    "label_mismatch_rows",
    "curve_from_results",
    "summarise_findings",
    "claims_table",
    "FAMILY_COLOURS",
    "plot_ece_before_after",
    "plot_ece_across_shifts",
    "plot_confidence_vs_accuracy",
    "plot_n_calib_curve",
    "plot_n_calib_summary",
    "VERDICTS",
    "finding_verdicts",
    "verdict_models",
]
