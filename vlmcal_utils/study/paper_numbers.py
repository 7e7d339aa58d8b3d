"""Tu et al.'s own numbers beside ours: the figure-level number of each verdict, and per-model cells.

Tu et al. (ICML 2024) print their per-model numbers only as the markers of Figure 1 (ECE before
and after TS against accuracy, VLMs vs ImageNet-trained models, on ImageNet, ImageNet-R and
ImageNet-Sketch), which :mod:`vlmcal_utils.papers.tu2024` holds as data. From them:

- :func:`figure1_claim_numbers`: for each claim of :data:`~vlmcal_utils.study.CLAIMS`, the number
  our verdict rule looks at, computed on the figure's points by the *same* rule, with the verdict
  that rule gives there and how the number was read; ``None`` where the figure has no number for
  the claim (3a, 3b, 4). :func:`with_paper_numbers` puts them beside a run's verdict rows.
- :func:`figure1_cells`: per-model cells (accuracy and ECE before/after TS on the three targets)
  for the OpenCLIP checkpoints *inferred* to be behind 23 markers
  (:func:`vlmcal_utils.papers.tu2024.openclip_matches`); :func:`compare_with_paper` puts the
  ``"all"`` rows of a :func:`~vlmcal_utils.study.run_grid` table (``method`` ``"none"`` before TS,
  ``"ts"`` after) beside them, cell by cell (NaN where the paper has none). They line up with a run
  of the ``paper`` parameter set on ImageNet (split ``"test"`` and the shifts ``"imagenet-r"``,
  ``"imagenet-sketch"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.models import describe_model
from vlmcal_utils.papers.tu2024 import (
    FIGURE1_READ,
    FIGURE1_SOURCE,
    FIGURE1_TARGETS,
        figure1_points,
    match_markers,
)
from vlmcal_utils.study.findings import CLAIMS
from vlmcal_utils.study.paper_models import PaperModel

__all__ = ["PaperCell", "COMPARE_COLUMNS", "PAPER_KEYS", "model_label", "figure1_cells", "compare_with_paper",
           "figure1_claim_numbers", "with_paper_numbers"]


@dataclass(frozen=True)
class PaperCell:
    """One number of the paper for one (model, dataset, split, method, quantity).

    Parameters
    ----------
    model : str
        The model's label in our results table (:func:`model_label` of its :class:`PaperModel`).
    paper_name : str
        The name the paper uses (or what the marker is inferred to be).
    dataset, split : str
        Our dataset name and evaluation split (e.g. ``"imagenet"``, ``"imagenet-r"``).
    method : str
        ``"none"`` (before TS) or ``"ts"`` (after TS fitted on the calibration split).
    quantity : str
        A column of the results table (a record key): ``"ece_15"`` or ``"accuracy"``.
    value : float
        In the results table's units: fractions (a paper's "5.0 %" is stored as ``0.05``).
    where : str
        Table, row and column, or figure and marker, the number was read from.
    """

    model: str
    paper_name: str
    dataset: str
    split: str
    method: str
    quantity: str
    value: float
    where: str


#: The columns of :func:`compare_with_paper`'s table.
COMPARE_COLUMNS = ("model", "dataset", "split", "method", "quantity", "ours", "paper", "difference",
                   "paper_where", "source")

_KEY = ["model", "dataset", "split", "method", "quantity"]
#: The figure's panels as evaluation splits of our ImageNet task.
_PANEL_SPLITS = {"ID": "test", "R": "imagenet-r", "S": "imagenet-sketch"}


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


def figure1_cells(points: pd.DataFrame | None = None, matches: pd.DataFrame | None = None) -> tuple[PaperCell, ...]:
    """Figure 1's markers as per-model cells, for the OpenCLIP checkpoints inferred behind them.

    Parameters
    ----------
    points, matches : pandas.DataFrame, optional
        :func:`~vlmcal_utils.papers.tu2024.figure1_points` and
        :func:`~vlmcal_utils.papers.tu2024.openclip_matches` (the defaults).

    Returns
    -------
    tuple of PaperCell
        Per matched checkpoint and panel (:func:`~vlmcal_utils.papers.tu2024.match_markers`; dataset
        ``"imagenet"``, split ``"test"``, ``"imagenet-r"`` or ``"imagenet-sketch"``): ``accuracy``
        (methods ``"none"`` and ``"ts"``: TS keeps it) and ``ece_15`` before (``"none"``) and after
        (``"ts"``) TS of the marker. ``where`` says it is an inference, with the published accuracy.
    """
    cells = []
    for m in match_markers(points, matches).itertuples(index=False):
        label = describe_model(m.model, m.pretrained)
        where = (f"Tu et al. 2024, Figure 1, {FIGURE1_TARGETS[m.target][1]} panel, the VLM marker at accuracy "
                 f"{m.accuracy:.1%}, inferred to be {label} (published zero-shot accuracy {m.published_accuracy:.2%}): "
                 "an inference, not the paper's list")
        name = f"Figure 1 VLM marker (inferred: {label})"
        values = (("none", "accuracy", m.accuracy), ("ts", "accuracy", m.accuracy),
                  ("none", "ece_15", m.ece_before_ts), ("ts", "ece_15", m.ece_after_ts))
        cells += [PaperCell(label, name, "imagenet", _PANEL_SPLITS[m.target], method, quantity, float(value), where)
                  for method, quantity, value in values]
    return tuple(cells)


def compare_with_paper(table: pd.DataFrame, cells: Sequence[PaperCell] | None = None,
                       quantities: Sequence[str] = ("ece_15", "accuracy")) -> pd.DataFrame:
    """Our ``"all"`` rows beside the paper's numbers, one row per (model, dataset, split, method, quantity).

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table (its ``cell`` column selects the ``"all"``
        rows; the draws of the few-samples grid are left out: the paper's cells are full fits).
    cells : sequence of PaperCell, optional
        The paper's numbers (default :func:`figure1_cells`: the markers of Figure 1 inferred to be
        OpenCLIP checkpoints).
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
    cells = figure1_cells() if cells is None else cells
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


# ------------------------------------------------------------------ the figure's number beside each verdict
#: The keys :func:`with_paper_numbers` adds to a verdict row.
PAPER_KEYS = ("paper_quantity", "paper_estimate", "paper_verdict", "paper_detail", "paper_source")
_NO_NUMBER = "Tu et al.'s Figure 1 has no number for this claim (it shows ECE before/after TS only)"


def _panel(pts: pd.DataFrame, target: str, group: str) -> pd.DataFrame:
    return pts[(pts["target"] == target) & (pts["group"] == group)]


def _three_way(all_ok: bool, some_ok: bool) -> str:
    return "holds" if all_ok else ("partly" if some_ok else "does not hold here")


def _claim_1a(pts: pd.DataFrame) -> dict[str, Any]:
    vlm, ref = _panel(pts, "ID", "VLM")["ece_before_ts"], _panel(pts, "ID", "IN")["ece_before_ts"]
    median_vlm = float(np.sort(vlm.to_numpy())[(len(vlm) - 1) // 2])  # lower middle, as our rule
    bar = CLAIMS["1a"].threshold * float(ref.median())
    return {"paper_quantity": f"ECE before TS of the median VLM, ImageNet panel ({len(vlm)} VLMs)",
            "paper_estimate": median_vlm, "paper_verdict": _three_way(median_vlm >= bar, bool((vlm >= bar).any())),
            "paper_detail": f"reference: the median of the {len(ref)} ImageNet-trained models, {ref.median():.3f} "
                            f"(bar {CLAIMS['1a'].threshold:g} × that = {bar:.3f}); VLM mean {vlm.mean():.3f}"}


def _claim_1b(pts: pd.DataFrame) -> dict[str, Any]:
    bar = CLAIMS["1b"].threshold
    parts = []
    for target, (_, title) in FIGURE1_TARGETS.items():
        after = _panel(pts, target, "VLM")["ece_after_ts"]
        parts.append(f"{title}: mean {after.mean():.3f}, median {after.median():.3f}, {int((after > bar).sum())} "
                     f"of {len(after)} VLMs above {bar:g}")
    after_id = _panel(pts, "ID", "VLM")["ece_after_ts"]
    return {"paper_quantity": f"ECE after TS of the worst VLM, ImageNet panel ({len(after_id)} VLMs)",
            "paper_estimate": float(after_id.max()),
            "paper_verdict": _three_way(bool((after_id <= bar).all()), bool((after_id <= bar).any())),
            "paper_detail": "; ".join(parts)}


def _claim_2(pts: pd.DataFrame) -> dict[str, Any]:
    counts, baseline = [], []
    for target in ("R", "S"):
        title = FIGURE1_TARGETS[target][1]
        vlm, base = _panel(pts, target, "VLM"), _panel(pts, target, "IN")
        counts.append(((vlm["ece_after_ts"] < vlm["ece_before_ts"]).sum(), len(vlm), title))
        baseline.append(f"{title} {int((base['ece_after_ts'] < base['ece_before_ts']).sum())} of {len(base)} "
                        f"(mean ECE {base['ece_before_ts'].mean():.3f} → {base['ece_after_ts'].mean():.3f})")
    k, n = sum(int(c[0]) for c in counts), sum(c[1] for c in counts)
    return {"paper_quantity": "share of VLM markers on ImageNet-R and -Sketch on which TS lowers the ECE",
            "paper_estimate": k / n, "paper_verdict": _three_way(k == n, k > 0),
            "paper_detail": "VLMs: " + ", ".join(f"{t} {int(a)} of {b}" for a, b, t in counts)
                            + "; ImageNet-trained models: TS lowers the ECE on " + ", ".join(baseline)
                            + ". The figure does not say which split 'after TS' was fitted on: read here (an "
                              "assumption) as a temperature fitted on ImageNet and applied to the shifted sets, "
                              "the setting of the claim; markers within ±0.002 of their pair may be counted either way"}


def figure1_claim_numbers(points: pd.DataFrame | None = None) -> dict[str, dict[str, Any]]:
    """The figure-level number of each claim, computed on Figure 1's points by our verdict rules.

    Parameters
    ----------
    points : pandas.DataFrame, optional
        :func:`~vlmcal_utils.papers.tu2024.figure1_points` (the default).

    Returns
    -------
    dict
        ``claim id -> {key: value}`` with the keys of :data:`PAPER_KEYS`: ``paper_quantity``
        (what the number is, on which panel), ``paper_estimate`` (fraction, or ``None`` where the
        figure has no number), ``paper_verdict`` (the verdict our rule gives on the figure's
        points, ``""`` where it has none), ``paper_detail`` (the figure's mean and median, counts),
        ``paper_source`` (figure, repository and commit, and how it was read).
    """
    pts = figure1_points() if points is None else points
    source = f"{FIGURE1_SOURCE}; {FIGURE1_READ}"
    measured = {"1a": _claim_1a(pts), "1b": _claim_1b(pts), "2": _claim_2(pts)}
    none = {"paper_quantity": "", "paper_estimate": None, "paper_verdict": "", "paper_detail": _NO_NUMBER}
    return {cid: {**measured.get(cid, none), "paper_source": source} for cid in CLAIMS}


def with_paper_numbers(verdicts: Sequence[dict], numbers: dict[str, dict[str, Any]] | None = None) -> list[dict]:
    """Verdict rows with the paper's figure-level number beside each (the keys of :data:`PAPER_KEYS`).

    Parameters
    ----------
    verdicts : sequence of dict
        :func:`~vlmcal_utils.study.finding_verdicts` rows (a ``study`` key may be there).
    numbers : dict, optional
        :func:`figure1_claim_numbers` (the default).

    Returns
    -------
    list of dict
        New rows: each verdict row plus its claim's paper keys.
    """
    numbers = figure1_claim_numbers() if numbers is None else numbers
    return [{**row, **numbers[row["finding"]]} for row in verdicts]
