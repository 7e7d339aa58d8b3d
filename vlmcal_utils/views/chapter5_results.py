"""The results schema of chapter 5 ("After C-TPT": the test-time calibration family).

Built like the builders of :mod:`vlmcal_utils.views.chapter_results` (fixed, documented keys) and
registered in its :data:`~vlmcal_utils.views.chapter_results.SCHEMAS`. The table holds the scoring record
(:mod:`vlmcal_utils.scores`, fractions); the published tables' cells (recomputed averages, conflicts)
stay percentages, as the papers print them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from vlmcal_utils.results.schema import ChapterResults, ResultsSchema, RowSchema

__all__ = ["CHAPTER5", "TPT_SCORE_FIELDS", "chapter5_results"]

#: One row of a TPT method's results: the scoring record with the run's mean geometry and time
#: (the same keys as chapter 4's; that schema imports them from here).
TPT_SCORE_FIELDS = {
    "n": "scored images", "accuracy": "top-label accuracy (fraction)",
    "mean_confidence": "mean top-label confidence (fraction)",
    "ece_lo": "bootstrap interval of the primary-bin ECE, low (NaN: not computed)",
    "ece_hi": "bootstrap interval of the primary-bin ECE, high (NaN: not computed)",
    "mce": "maximum calibration error, primary bins", "nll": "mean NLL (nats)", "brier": "multiclass Brier score",
    "smooth_ece": "smooth ECE (relplot.smECE, no bins)",
    "debiased_ece": "debiased ECE at the primary bins (Kumar et al. 2019)",
    "temperature": "temperature the logits were divided by (1: as tuned)",
    "atfd": "mean ATFD of the tuned class features", "seconds": "seconds per image",
    "orthogonality": "mean O-TPT penalty of the tuned class features (0: orthonormal)",
    "min_angle": "mean angle to the nearest class, radians",
}
_ROW = RowSchema("one method on one dataset and initialisation (vlmcal_utils.tpt.summarise)", {
    "dataset": "dataset name", "init": '"hard" or "ensemble"',
    "method": '"zeroshot", "tpt", "ctpt", "otpt" or "atpt"', **TPT_SCORE_FIELDS,
}, optional={"lam": "the regulariser's weight", "tau": "A-TPT's clamp"}, pattern=r"ece_\d+")
_HPARAMS = RowSchema("one method's official weights on one dataset family", {
    "method": "method key", "family": '"fine-grained" or "natural-shift"', "lam": "λ", "source": "script, commit, line",
}, optional={"tau": "A-TPT's τ"})
_AVERAGE = RowSchema("one printed average beside the mean of its cells", {
    "table": "key of vlmcal_utils.papers.FAMILY_TABLES", "source": "paper or repository@commit, table",
    "method": "method key", "row": "the table's row label", "metric": '"acc" or "ece"', "printed": "printed, %",
    "recomputed": "mean of the row's cells, %", "difference": "printed - recomputed", "flagged": "beyond rounding",
})
_CONFLICT = RowSchema("one cell two tables print differently", {
    "method": "method key", "metric": '"acc" or "ece"', "dataset": "dataset name",
    "table_a": "table key", "column_a": "its column header", "value_a": "%",
    "table_b": "table key", "column_b": "its column header", "value_b": "%",
})
_PAPER = RowSchema("ours beside a published number (fractions)", {
    "dataset": "dataset name", "init": "prompt initialisation", "method": "method key",
    "paper_accuracy": "published accuracy", "accuracy": "ours", "paper_ece_20": "published ECE (20 bins)",
    "ece_20": "ours (20 bins)", "source": "table key the numbers are from",
})
CHAPTER5 = ResultsSchema("05_after_ctpt", {
    "model": "open_clip architecture or demo model",
    "pretrained": "weights tag or file, or None (demo)",
    "demo": "True on the demo world (never compared with the papers)",
    "table": "one row per dataset, initialisation and method",
    "hparams": "the methods' official λ/τ per dataset family, with sources",
    "recomputed_averages": "every printed average of the family's tables beside the mean of its cells",
    "cell_conflicts": "cells two published tables print differently",
    "paper_comparison": "ours beside the published numbers, empty unless the model and weights are the papers'",
}, blocks={"table": _ROW, "hparams": _HPARAMS, "recomputed_averages": _AVERAGE, "cell_conflicts": _CONFLICT,
           "paper_comparison": _PAPER})


def _rows(value: Any) -> list[dict]:
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if any(n is not None for n in value.index.names) else value
        value = frame.to_dict(orient="records")
    return [dict(r) for r in (value or [])]


def chapter5_results(
    *, model: str, pretrained: str | None, demo: bool, table: Any, hparams: Any, recomputed_averages: Any,
    cell_conflicts: Any, paper_comparison: Any = (),
) -> ChapterResults:
    """Chapter 5 (after C-TPT): the family on one protocol, and the published tables recomputed.

    Parameters
    ----------
    model, pretrained, demo
        The run's model; ``demo`` True on the demo world.
    table : DataFrame or list of mapping
        One scoring record per dataset, init and method (a ``dataset, init, method`` index becomes
        columns), fractions.
    hparams : list of mapping
        ``method, family, lam, [tau], source``.
    recomputed_averages, cell_conflicts : list of mapping
        :func:`vlmcal_utils.papers.recompute_averages` and :func:`vlmcal_utils.papers.cell_conflicts`.
    paper_comparison : DataFrame or list of mapping
        Ours beside the published numbers, fractions.

    Returns
    -------
    ChapterResults
        For :func:`~vlmcal_utils.results.save_results`.

    Notes
    -----
    Keys: ``model, pretrained, demo, table, hparams, recomputed_averages, cell_conflicts,
    paper_comparison``; the keys of each row are :data:`CHAPTER5` ``.describe()``.
    """
    return CHAPTER5.build(
        model=model, pretrained=pretrained, demo=bool(demo), table=_rows(table), hparams=_rows(hparams),
        recomputed_averages=_rows(recomputed_averages), cell_conflicts=_rows(cell_conflicts),
        paper_comparison=_rows(paper_comparison),
    )
