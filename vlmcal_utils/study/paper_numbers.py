"""Tu et al.'s per-model numbers beside ours, cell by cell (NaN where the paper has none here).

:func:`compare_with_paper` puts the ``"all"`` rows of a :func:`~vlmcal_utils.study.run_grid` table
(one temperature fit on the whole calibration split; ``method`` ``"none"`` before TS, ``"ts"``
after) beside the paper's number for the same model, dataset, evaluation split, method and
quantity, from :data:`vlmcal_utils.papers.tu2024.TU2024_CELLS`.

:data:`~vlmcal_utils.papers.tu2024.TU2024_CELLS` is **empty**: the per-model ECE/accuracy tables
of Tu et al. (ICML 2024) are in parts of the paper the stored copies searched do not hold (they
hold only the abstract and the start of the introduction; see
:data:`vlmcal_utils.study.paper_models.PAPER_LIST_MISSING`), and no number is stored that was not
read in the paper itself. So every ``paper`` value is NaN until cells are added, each with its
table, row and column. The only Tu et al. number the book quotes, "average ECE after TS about
0.05", is a summary over models, not a per-model cell (:data:`vlmcal_utils.papers.registry.NOT_QUOTED`).
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from vlmcal_utils.models import describe_model
from vlmcal_utils.papers.tu2024 import TU2024_CELLS, PaperCell
from vlmcal_utils.study.paper_models import PaperModel

__all__ = ["COMPARE_COLUMNS", "model_label", "compare_with_paper"]


#: The columns of :func:`compare_with_paper`'s table.
COMPARE_COLUMNS = ("model", "dataset", "split", "method", "quantity", "ours", "paper", "difference",
                   "paper_where", "source")

_KEY = ["model", "dataset", "split", "method", "quantity"]


def model_label(model: PaperModel) -> str:
    """The label a :class:`PaperModel` gets in our results table (the ``model`` column).

    Parameters
    ----------
    model : PaperModel

    Returns
    -------
    str
        :func:`vlmcal_utils.models.describe_model` for open_clip models (``"RN50 (openai)"``), the
        timm name for timm baselines with timm's weights.
    """
    if model.loader == "timm" and model.pretrained is True:
        return model.arch
    return describe_model(model.arch, model.pretrained)


def compare_with_paper(table: pd.DataFrame, cells: Sequence[PaperCell] = TU2024_CELLS,
                       quantities: Sequence[str] = ("ece_15", "accuracy")) -> pd.DataFrame:
    """Our ``"all"`` rows beside the paper's numbers, one row per (model, dataset, split, method, quantity).

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table (its ``cell`` column selects the ``"all"``
        rows; the draws of the few-samples grid are left out: the paper's cells are full fits).
    cells : sequence of PaperCell
        The paper's numbers (default :data:`vlmcal_utils.papers.tu2024.TU2024_CELLS`).
    quantities : sequence of str
        Result columns to compare.

    Returns
    -------
    pandas.DataFrame
        :data:`COMPARE_COLUMNS`; an outer join: ``paper`` (and ``paper_where``) NaN where the paper
        has no number, ``ours`` NaN for a paper cell this run did not compute; ``difference`` =
        ``ours - paper``.
    """
    missing = sorted({"cell", "model", "dataset", "split", "method", *quantities} - set(table.columns))
    if missing:
        raise ValueError(f"not a run_grid table: columns {missing} are missing")
    full = table[table["cell"] == "all"]
    ours = full.melt(id_vars=["model", "dataset", "split", "method", "source"], value_vars=list(quantities),
                     var_name="quantity", value_name="ours")
    paper = pd.DataFrame([{"model": c.model, "dataset": c.dataset, "split": c.split, "method": c.method,
                           "quantity": c.quantity, "paper": float(c.value), "paper_where": c.where}
                          for c in cells if c.quantity in quantities], columns=[*_KEY, "paper", "paper_where"])
    if paper.duplicated(_KEY).any():
        raise ValueError("two paper cells for the same (model, dataset, split, method, quantity)")
    out = ours.merge(paper, on=_KEY, how="outer")
    out["ours"] = out["ours"].astype(float)
    out["paper"] = out["paper"].astype(float)
    out["difference"] = out["ours"] - out["paper"]
    return out[list(COMPARE_COLUMNS)].sort_values(_KEY).reset_index(drop=True)
