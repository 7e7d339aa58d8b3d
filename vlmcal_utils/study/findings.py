"""Tu et al.'s claims beside a run: the numbers behind each finding, and a verdict by a stated rule.

The four findings and what measures each:

1. TS fixes most of the miscalibration of zero-shot VLMs: the ``"all"`` cells of
   :func:`~vlmcal_utils.study.run_grid` (``method="none"`` before, ``"ts"`` after).
2. A temperature fitted in-distribution stays good under distribution shift: the same cells on
   the shifted evaluation splits (one ``T`` per task).
3. The calibration set need not share the test set's classes: :func:`label_mismatch_rows`, then
   :func:`~vlmcal_utils.study.confidence_accuracy_correlation` across (model, dataset) pairs.
4. A few samples suffice: the draws of the grid (:func:`curve_from_results`).

:data:`CLAIMS` holds the claims and their thresholds as data; :func:`summarise_findings`
measures, :func:`~vlmcal_utils.study.finding_verdicts` (module :mod:`~vlmcal_utils.study.verdicts`)
judges each claim, :func:`claims_table` lays the verdicts out as the closing table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from vlmcal_utils.scores import ece_key, score_logits
from vlmcal_utils.study.correlation import confidence_accuracy_correlation
from vlmcal_utils.study.scoring import fit_temperature_flagged, logits_and_labels
from vlmcal_utils.study.subsets import label_mismatch_split, samples_needed, summarise_n_calib_curve

__all__ = [
    "Claim",
    "CLAIMS",
    "ECE_AT_N",
    "OTHER_TASK_SPLITS",
    "label_mismatch_rows",
    "curve_from_results",
    "summarise_findings",
    "claims_table",
]


@dataclass(frozen=True)
class Claim:
    """One claim of Tu et al. (2024) and the threshold its verdict is decided by (if it has one)."""

    id: str
    text: str
    threshold: float | None = None

    @property
    def label(self) -> str:
        """The claim as the claims table shows it (``"1a. ..."``)."""
        return f"{self.id}. {self.text}"


#: The claims, in the order of the claims table, with the threshold of each verdict rule
#: (:func:`~vlmcal_utils.study.finding_verdicts` states every rule in its rows): 1a compares the
#: median VLM ECE before TS with ``threshold`` x the reference median; 1b every VLM's ECE after TS
#: with ``threshold``; 3b R² and Spearman with ``threshold``; 4 the ECE at ``threshold`` samples.
CLAIMS = {c.id: c for c in (
    Claim("1a", "Before TS, VLM ECE is similar to or worse than ImageNet-trained models", 0.5),
    Claim("1b", "After TS, VLM ECE drops to ≈ 0.05 or lower", 0.05),
    Claim("2", "A temperature fitted in-distribution keeps working under shift"),
    Claim("3a", "TS fitted on other classes (label mismatch) still calibrates"),
    Claim("3b", "After TS, confidence predicts accuracy (R², Spearman > 0.90)", 0.9),
    Claim("4", "≈ 40–50 calibration samples suffice", 50),
)}
#: The calibration-set size at which finding 4 reports the mean ECE.
ECE_AT_N = 50
#: Evaluation splits that are another task (other classes, other images), not a distribution
#: shift of the same task in Tu et al.'s sense: reported beside finding 2, not counted in it.
OTHER_TASK_SPLITS = ("dermamnist",)


def label_mismatch_rows(
    model: str,
    dataset: str,
    cal: tuple[Any, Any],
    test: tuple[Any, Any],
    n_bins: int = 15,
    n_boot: int = 0,
    seed: int = 0,
    method: str = "bisection",
    source: str = "",
) -> list[dict]:
    """Label-mismatched vs matched TS on one (model, dataset) pair, both class halves.

    The K classes are cut into a first half ``A = 0 .. K//2 - 1`` and a second half ``B``. For
    each direction (test on ``B`` calibrated on ``A``, and the reverse) the test set is the
    ``test`` rows of the held-out half (columns restricted,
    :func:`~vlmcal_utils.study.label_mismatch_split`), scored ``"none"``, ``"ts_mismatched"``
    (``T`` from the *other* half of ``cal``) and ``"ts_matched"`` (``T`` from the *same* half of
    ``cal``: the usual, label-matched reference).

    Parameters
    ----------
    model, dataset, source : str
        Labels copied into the rows.
    cal, test : (array-like, array-like)
        ``(logits, labels)`` of the calibration and test splits, ``(N, K)`` and ``(N,)``, K >= 2.
    n_bins, n_boot, seed, method
        As in :func:`~vlmcal_utils.study.calibrate_and_score`.

    Returns
    -------
    list of dict
        6 rows with :data:`~vlmcal_utils.study.RESULT_COLUMNS`-style fields (the scores as
        :meth:`~vlmcal_utils.scores.Scores.as_row`); ``split`` names the
        test classes (``"classes 5-9"``), ``n_calib`` the calibration samples used (0 for none).
    """
    z, y = logits_and_labels(*cal, "calibration")
    zt, yt = logits_and_labels(*test, "test")
    k = z.shape[1]
    if k < 2:
        raise ValueError("label-mismatched calibration needs at least 2 classes")
    halves = (list(range(k // 2)), list(range(k // 2, k)))
    rows = []
    for cal_classes, test_classes in (halves, halves[::-1]):
        (zc, yc), (zte, yte) = label_mismatch_split(z, y, cal_classes, test_classes, test_logits=zt, test_labels=yt)
        (zm, ym), _ = label_mismatch_split(z, y, test_classes, cal_classes)
        T_mis, _ = fit_temperature_flagged(zc, yc, method)
        T_mat, _ = fit_temperature_flagged(zm, ym, method)
        split = f"classes {test_classes[0]}-{test_classes[-1]}"
        for m, T, n_cal in (("none", 1.0, 0), ("ts_mismatched", T_mis, yc.size), ("ts_matched", T_mat, ym.size)):
            sc = score_logits(zte, yte, temperature=T, bins=n_bins, n_boot=n_boot, seed=seed, estimators=False)
            rows.append({"model": model, "dataset": dataset, "split": split, "method": m,
                         "n_calib": n_cal, "seed": seed, **sc.as_row(), "source": source})
    return rows


def curve_from_results(df: pd.DataFrame, model: str, dataset: str, split: str = "test") -> pd.DataFrame:
    """The n_calib curve of one (model, dataset, split) from a grid table.

    Parameters
    ----------
    df : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table.
    model, dataset, split : str
        Which rows.

    Returns
    -------
    pandas.DataFrame
        Every ``"ts"`` row of the split (the full-split cell included) in the format of
        :func:`~vlmcal_utils.study.n_calib_curve` (``n_calib, seed``, the scores, ``T_at_bound,
        ece_before``), sorted by ``n_calib, seed``.
    """
    sub = df[(df["model"] == model) & (df["dataset"] == dataset) & (df["split"] == split)]
    if sub.empty:
        raise ValueError(f"no rows for model={model!r}, dataset={dataset!r}, split={split!r}")
    before = sub[sub["method"] == "none"]
    if before.empty:
        raise ValueError("the table has no 'none' row for this split: run the full-split cell first")
    curve = sub[sub["method"] == "ts"].copy()
    curve["ece_before"] = float(before[ece_key(before.columns)].iloc[0])
    if "T_at_bound" not in curve.columns:
        curve["T_at_bound"] = False
    return curve.sort_values(["n_calib", "seed"]).reset_index(drop=True)


def _n_calib_findings(table: pd.DataFrame, tol: float) -> tuple[dict, dict]:
    needed, at_n = {}, {}
    if "family" not in table.columns:
        return needed, at_n
    for (model, dataset), _ in table[table["family"] == "vlm"].groupby(["model", "dataset"]):
        curve = curve_from_results(table, model, dataset)
        if curve["n_calib"].nunique() > 1:
            needed[model] = samples_needed(curve, tol)
            s = summarise_n_calib_curve(curve).set_index("n_calib")["ece_mean"]
            at_n[model] = float(s[ECE_AT_N]) if ECE_AT_N in s.index else None
    return needed, at_n


def summarise_findings(table: pd.DataFrame, mismatch: pd.DataFrame | None = None,
                       reference_ece: float | None = None, tol: float = 0.01) -> dict:
    """The numbers behind the four findings.

    Only VLM tasks count for the claims; baseline tasks are reported next to them.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table.
    mismatch : pandas.DataFrame, optional
        Rows of :func:`label_mismatch_rows` (finding 3).
    reference_ece : float, optional
        The uncalibrated ECE of ImageNet-trained classifiers to compare with (finding 1a).
    tol : float
        Finding 4's tolerance on the mean ECE (0.01 = 1 percentage point).

    Returns
    -------
    dict
        ``vlm_ece_before, vlm_ece_after, vlm_T, baseline_ece_before, baseline_ece_after`` (model ->
        value, test split), ``reference_ece``, ``shift`` (records ``model, split, none, ts`` of
        the shifted splits), ``other_task`` (the same records for :data:`OTHER_TASK_SPLITS`, another
        task rather than a shift: not counted in ``shift_n``), ``shift_n_helps, shift_n``,
        ``samples_needed, ece_at_50`` (model -> value), ``tol``; with
        ``mismatch`` also ``mismatch_ece_mean`` (method -> mean ECE), ``mismatch_n_better,
        mismatch_n`` and ``correlation`` (method -> :func:`confidence_accuracy_correlation`).
    """
    ece = ece_key(table.columns)
    full = table[table["cell"] == "all"] if "cell" in table.columns else table
    test = full[full["split"] == "test"]
    fam = test["family"] if "family" in test.columns else pd.Series("vlm", index=test.index)

    def by(method: str, family: str, column: str = ece) -> dict:
        return test[(test["method"] == method) & (fam == family)].set_index("model")[column].to_dict()

    out: dict[str, Any] = {
        "vlm_ece_before": by("none", "vlm"), "vlm_ece_after": by("ts", "vlm"),
        "vlm_T": by("ts", "vlm", "temperature"),
        "baseline_ece_before": by("none", "baseline"), "baseline_ece_after": by("ts", "baseline"),
        "reference_ece": reference_ece,
    }
    shifted = full[(full["split"] != "test") & ((full["family"] == "vlm") if "family" in full.columns else True)]
    rows = shifted.pivot_table(index=["model", "split"], columns="method", values=ece).reset_index()
    other = rows["split"].isin(OTHER_TASK_SPLITS) if len(rows) else pd.Series(dtype=bool)
    out["other_task"] = rows[other].to_dict(orient="records") if len(rows) else []
    rows = rows[~other] if len(rows) else rows
    out["shift"] = rows.to_dict(orient="records")
    out["shift_n_helps"] = int((rows["ts"] < rows["none"]).sum()) if len(rows) else 0
    out["shift_n"] = int(len(rows))
    out["samples_needed"], out[f"ece_at_{ECE_AT_N}"] = _n_calib_findings(table, tol)
    out["tol"] = tol
    if mismatch is not None and len(mismatch):
        mis_ece = ece_key(mismatch.columns)
        piv = mismatch.pivot_table(index=["model", "dataset", "split"], columns="method", values=mis_ece)
        out["mismatch_ece_mean"] = mismatch.groupby("method")[mis_ece].mean().to_dict()
        out["mismatch_n_better"] = int((piv["ts_mismatched"] < piv["none"]).sum())
        out["mismatch_n"] = int(len(piv))
        out["correlation"] = {m: confidence_accuracy_correlation(mismatch[mismatch["method"] == m])
                              for m in ("none", "ts_mismatched", "ts_matched")
                              if (mismatch["method"] == m).sum() >= 3}
    return out


def claims_table(verdicts: list[dict], source: str) -> pd.DataFrame:
    """Tu et al.'s claims, what was measured, and the verdict, one row per verdict row.

    Parameters
    ----------
    verdicts : list of dict
        :func:`~vlmcal_utils.study.finding_verdicts` rows (claims it could not test have none).
    source : str
        What was measured (the second column's header: ``"measured: <source>"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``"claim (Tu et al. 2024)"``, ``"measured: <source>"`` (the measurement, the
        rule's number with its 95 % interval, and the rule) and ``"verdict"`` (one of
        :data:`~vlmcal_utils.study.VERDICTS`).
    """
    rows = [(v["claim"], f"{v['measured']}. {v['quantity']}: {v['estimate']:.3f} [{v['low']:.3f}, "
                         f"{v['high']:.3f}]. Rule: {v['rule']}.", v["verdict"]) for v in verdicts]
    return pd.DataFrame(rows, columns=["claim (Tu et al. 2024)", f"measured: {source}", "verdict"])
