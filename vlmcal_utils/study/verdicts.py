"""A verdict on each of Tu et al.'s findings — holds / partly / does not hold here — with its interval.

:func:`finding_verdicts` reads one study's grid table and label-mismatch rows and returns one
row per claim of :data:`~vlmcal_utils.study.CLAIMS`: the verdict by the rule stated in the row,
the number the rule looks at (``estimate``) with a 95 % interval (``low``, ``high``), what was
measured, and why the number may differ from the paper's. Claims that the study cannot test
(no reference classifiers, no shifted split, a single calibration-set size) get no row.

Intervals, per claim (all 95 %, percentile):

- 1a, 1b: the test-set bootstrap interval of the ECE of the VLM the rule looks at (the median
  VLM before TS; the worst VLM after TS). Binned ECE is biased upwards on bootstrap resamples, so
  for a well-calibrated model the interval may lie above the estimate (``interval_note`` says so).
- 2: Wilson interval of the share of shifted (model, split) cells on which TS lowers the ECE.
- 3a: bootstrap over the label-mismatch cells of the mean ECE reduction (none minus mismatched TS).
- 3b: bootstrap over the (model, dataset, class half) points of R² about the identity.
- 4: 2.5/97.5 % percentiles over the calibration draws of ECE(n = 50) minus ECE(all samples),
  for the VLM with the largest mean gap.

``why`` always begins with the same caveat (:func:`setup_caveat`) — how many VLMs, which, on which
datasets, counted from the models the verdicts' points come from (:func:`verdict_models`), and
those off-domain (:data:`~vlmcal_utils.study.published_logits.OFF_DOMAIN`), against Tu et al.'s
setting — followed by what is specific to the claim.
"""

from __future__ import annotations

import math
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from vlmcal_utils.scores import ece_key
from vlmcal_utils.study.correlation import confidence_accuracy_correlation
from vlmcal_utils.study.findings import CLAIMS, ECE_AT_N, OTHER_TASK_SPLITS, curve_from_results
from vlmcal_utils.study.published_logits import OFF_DOMAIN

__all__ = ["VERDICTS", "OTHER_TASK_SPLITS", "WHY_DIFFERENT", "finding_verdicts", "verdict_models", "setup_caveat",
           "shift_cells", "wilson_interval"]

#: The three verdicts a finding can get.
VERDICTS = ("holds", "partly", "does not hold here")
HOLDS, PARTLY, NOT_HERE = VERDICTS
_PAPER_SETUP = "where Tu et al. use 35 VLMs on ImageNet, CIFAR-10 and DomainNet"
#: Why each claim's number may differ from the paper, beyond :func:`setup_caveat`.
WHY_DIFFERENT = {
    "1a": "the reference here is 14 ImageNet classifiers on ImageNet (top-label outputs, no TS possible), the "
          "VLMs are scored on CIFAR-10, an easier 10-class task, so the comparison mixes datasets",
    "1b": "CIFAR-10 has 10 classes and the in-domain VLMs' zero-shot accuracy is near 90 %: a low ECE after TS is "
          "easier to reach than on ImageNet's 1000 classes",
    "2": "the shifts here are translated class names (a prompt shift: the same images, another text "
         "classifier), not the image shifts of ImageNet variants or DomainNet domains; a temperature fitted "
         "for English names is a temperature for another classifier",
    "3a": "each half holds only 5 of CIFAR-10's 10 classes (DermaMNIST: 3 and 4), so the two halves differ "
          "in difficulty more than random halves of ImageNet's 1000 classes would",
    "3b": "the points are few (one per model, class-name language or dataset, and class half) and come in "
          "pairs from the same model, so R² moves a lot with a single point",
    "4": "50 samples are 5 per class on CIFAR-10; the rule asks for the *mean* ECE over draws to be within "
         "1 percentage point of the all-samples ECE, a strict bar when that ECE is itself about 1 %",
}


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95 % by default).

    Returns
    -------
    (float, float)
        ``(low, high)`` in ``[0, 1]``; ``(nan, nan)`` when ``n == 0``.
    """
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def verdict_models(table: pd.DataFrame, mismatch: pd.DataFrame | None = None) -> list[str]:
    """The VLMs the verdicts' points come from: the table's VLM rows, then the label-mismatch points' models.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table (``family`` column; without it every row is a VLM).
    mismatch : pandas.DataFrame, optional
        :func:`~vlmcal_utils.study.label_mismatch_rows` rows.

    Returns
    -------
    list of str
        Each model once, in order of appearance.
    """
    vlm = table if "family" not in table.columns else table[table["family"] == "vlm"]
    models = list(vlm["model"])
    if mismatch is not None and len(mismatch):
        models += list(mismatch["model"])
    return list(dict.fromkeys(models))


def setup_caveat(models: list[str], datasets: list[str]) -> str:
    """The caveat every verdict carries: how many VLMs, which, on which datasets, and those off-domain.

    Parameters
    ----------
    models : list of str
        :func:`verdict_models`.
    datasets : list of str
        The datasets of the table's VLM rows.

    Returns
    -------
    str
        E.g. ``"Measured on 4 VLMs (CLIP ViT-B/32, ..., BiomedCLIP: a biomedical VLM ...) on CIFAR-10, where
        Tu et al. use ..."``.
    """
    names = ", ".join(f"{m}: {OFF_DOMAIN[m]}" if m in OFF_DOMAIN else m for m in models)
    count = f"{len(models)} VLM{'' if len(models) == 1 else 's'}"
    return f"Measured on {count} ({names}) on {', '.join(datasets) or 'no dataset'}, {_PAPER_SETUP}"


def _row(claim_id: str, verdict: str, quantity: str, estimate: float, low: float, high: float, rule: str,
         measured: str) -> dict:
    low, high = float(low), float(high)
    inside = not (math.isnan(low) or math.isnan(high)) and low - 1e-12 <= estimate <= high + 1e-12
    note = "" if inside else ("the bootstrap interval of a binned ECE can exclude its estimate: binned ECE is "
                              "biased upwards on resamples" if claim_id in ("1a", "1b") else "no interval")
    return {"finding": claim_id, "claim": CLAIMS[claim_id].label, "verdict": verdict, "quantity": quantity,
            "estimate": float(estimate), "low": low, "high": high, "interval_note": note, "rule": rule,
            "measured": measured, "why": WHY_DIFFERENT[claim_id]}


def _three_way(all_ok: bool, some_ok: bool) -> str:
    return HOLDS if all_ok else (PARTLY if some_ok else NOT_HERE)


def _test_rows(table: pd.DataFrame, method: str) -> pd.DataFrame:
    full = table[(table["cell"] == "all") & (table["split"] == "test") & (table["method"] == method)]
    return full[full["family"] == "vlm"].set_index("model")


def _finding1(table: pd.DataFrame, reference_ece: float | None) -> list[dict]:
    before, after = _test_rows(table, "none"), _test_rows(table, "ts")
    if before.empty:
        return []
    rows = []
    fmt = ", ".join
    ece = ece_key(before.columns)
    if reference_ece is not None:
        bar = CLAIMS["1a"].threshold * reference_ece
        order = before[ece].sort_values()
        mid = order.index[(len(order) - 1) // 2]  # the median VLM (lower middle for an even count)
        ok = before[ece] >= bar
        rows.append(_row(
            "1a", _three_way(bool(ok[mid]), bool(ok.any())), f"ECE before TS of the median VLM ({mid})",
            before.loc[mid, ece], before.loc[mid, "ece_lo"], before.loc[mid, "ece_hi"],
            f"holds if the median VLM's ECE is ≥ {CLAIMS['1a'].threshold:g} × the reference ({bar:.3f}); "
            "partly if only some VLMs' are",
            f"VLMs before TS: {fmt(f'{m} {v:.3f}' for m, v in before[ece].items())}; reference median "
            f"{reference_ece:.3f}"))
    if not after.empty:
        worst = after[ece].idxmax()
        ok = after[ece] <= CLAIMS["1b"].threshold
        rows.append(_row(
            "1b", _three_way(bool(ok.all()), bool(ok.any())), f"ECE after TS of the worst VLM ({worst})",
            after.loc[worst, ece], after.loc[worst, "ece_lo"], after.loc[worst, "ece_hi"],
            f"holds if every VLM's ECE after TS is ≤ {CLAIMS['1b'].threshold:g}; partly if some are",
            f"VLMs after TS: {fmt(f'{m} {v:.3f}' for m, v in after[ece].items())}"))
    return rows


def shift_cells(table: pd.DataFrame, other_tasks: tuple[str, ...] = OTHER_TASK_SPLITS) -> tuple[pd.DataFrame,
                                                                                                 pd.DataFrame]:
    """ECE before/after TS on each non-``test`` split of the VLM tasks: shifts, and other tasks.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table.
    other_tasks : tuple of str
        Splits that are another task, not a shift (:data:`OTHER_TASK_SPLITS`).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        ``(shifts, other)``, each with columns ``model, split, none, ts`` (ECE) and
        ``none_lo, none_hi, ts_lo, ts_hi`` (bootstrap intervals).
    """
    full = table[(table["cell"] == "all") & (table["split"] != "test") & (table["family"] == "vlm")]
    if full.empty:
        empty = pd.DataFrame(columns=["model", "split", "none", "ts", "none_lo", "none_hi", "ts_lo", "ts_hi"])
        return empty, empty.copy()
    ece = ece_key(full.columns)
    piv = full.pivot_table(index=["model", "split"], columns="method", values=[ece, "ece_lo", "ece_hi"],
                           dropna=False)  # no bootstrap (n_boot = 0): NaN intervals, kept
    out = pd.DataFrame({
        "none": piv[(ece, "none")], "ts": piv[(ece, "ts")],
        "none_lo": piv[("ece_lo", "none")], "none_hi": piv[("ece_hi", "none")],
        "ts_lo": piv[("ece_lo", "ts")], "ts_hi": piv[("ece_hi", "ts")],
    }).reset_index()
    # pivot_table(dropna=False) keeps NaN intervals but also makes every model x split pair: a split a model
    # does not have (BiomedCLIP has no translated names) is no cell, and must not count as "TS did not help"
    out = out.dropna(subset=["none", "ts"], how="all").reset_index(drop=True)
    other = out["split"].isin(other_tasks)
    return out[~other].reset_index(drop=True), out[other].reset_index(drop=True)


def _finding2(table: pd.DataFrame) -> list[dict]:
    shifts, _ = shift_cells(table)
    if shifts.empty:
        return []
    helps = shifts["ts"] < shifts["none"]
    k, n = int(helps.sum()), int(len(shifts))
    lo, hi = wilson_interval(k, n)
    return [_row(
        "2", _three_way(k == n, k > 0), "share of shifted (model, split) cells on which TS lowers the ECE",
        k / n, lo, hi, "holds if TS fitted in-distribution lowers the ECE on every shifted split; partly if on "
                       "some (other tasks, such as DermaMNIST, are not counted)",
        f"TS lowers the ECE on {k} of {n}: " + ", ".join(
            f"{r.model} {r.split} {r.none:.3f}→{r.ts:.3f}" for r in shifts.itertuples()))]


def _boot(stat: Any, n: int, n_boot: int, seed: int) -> tuple[float, float]:
    return _boot_each(lambda i: (stat(i),), n, n_boot, seed)[0]


def _boot_each(stats: Any, n: int, n_boot: int, seed: int) -> list[tuple[float, float]]:
    """95 % percentile intervals of each statistic ``stats(rows)`` returns, all from the same draws.

    A draw where one statistic is not finite (NaN: a constant resample) drops from that statistic only.
    """
    rng = np.random.default_rng(seed)
    vals = np.array([stats(rng.integers(0, n, n)) for _ in range(n_boot)], dtype=np.float64)
    return [_percentile_interval(column[np.isfinite(column)]) for column in vals.T]


def _percentile_interval(vals: np.ndarray) -> tuple[float, float]:
    if not len(vals):
        return math.nan, math.nan
    return float(np.quantile(vals, 0.025)), float(np.quantile(vals, 0.975))


def _finding3(mismatch: pd.DataFrame | None, n_boot: int, seed: int) -> list[dict]:
    if mismatch is None or not len(mismatch):
        return []
    piv = mismatch.pivot_table(index=["model", "dataset", "split"], columns="method", values=ece_key(mismatch.columns))
    gain = (piv["none"] - piv["ts_mismatched"]).to_numpy()
    est = float(gain.mean())
    lo, hi = _boot(lambda i: gain[i].mean(), len(gain), n_boot, seed)
    rows = [_row(
        "3a", HOLDS if lo > 0 else (PARTLY if est > 0 else NOT_HERE),
        "mean ECE reduction by label-mismatched TS (none − mismatched), over cells", est, lo, hi,
        "holds if the interval of the mean reduction lies above 0; partly if only the estimate does",
        f"mean ECE: none {piv['none'].mean():.3f}, mismatched TS {piv['ts_mismatched'].mean():.3f}, matched TS "
        f"{piv['ts_matched'].mean():.3f}; mismatched < none on {int((gain > 0).sum())} of {len(gain)} cells")]
    pts = mismatch[mismatch["method"] == "ts_mismatched"].reset_index(drop=True)
    if len(pts) >= 3:
        c = confidence_accuracy_correlation(pts)
        bar = CLAIMS["3b"].threshold
        # arrays, not pts.iloc[i]: a data frame's row selection costs more than the statistic; R² and
        # Spearman from one correlation per draw
        x, y = pts["mean_confidence"].to_numpy(np.float64), pts["accuracy"].to_numpy(np.float64)
        (lo, hi), (slo, shi) = _boot_each(
            lambda i: itemgetter("r2", "spearman")(confidence_accuracy_correlation(confidence=x[i], accuracy=y[i])),
            len(pts), n_boot, seed)
        ok = [c["r2"] > bar, c["spearman"] > bar]
        rows.append(_row(
            "3b", _three_way(all(ok), any(ok)), "R² about the identity after label-mismatched TS", c["r2"], lo, hi,
            f"holds if R² and Spearman both exceed {bar:g}; partly if one does",
            f"R² {c['r2']:.3f} [{lo:.3f}, {hi:.3f}], Spearman {c['spearman']:.3f} [{slo:.3f}, {shi:.3f}] over "
            f"{c['n']} points"))
    return rows


def _finding4(table: pd.DataFrame, tol: float) -> list[dict]:
    gaps = {}
    for (model, dataset), _ in table[table["family"] == "vlm"].groupby(["model", "dataset"]):
        curve = curve_from_results(table, model, dataset)
        if ECE_AT_N not in set(curve["n_calib"]) or curve["n_calib"].nunique() < 2:
            continue
        ece = ece_key(curve.columns)
        full = float(curve[curve["n_calib"] == curve["n_calib"].max()][ece].mean())
        at_n = curve[curve["n_calib"] == ECE_AT_N][ece].to_numpy() - full
        gaps[model] = (at_n, float(curve["ece_before"].iloc[0]), full)
    if not gaps:
        return []
    worst = max(gaps, key=lambda m: gaps[m][0].mean())
    d = gaps[worst][0]
    within = {m: g.mean() <= tol for m, (g, _, _) in gaps.items()}
    improves = {m: g.mean() + full < before for m, (g, before, full) in gaps.items()}
    verdict = HOLDS if all(within.values()) else (PARTLY if any(within.values()) or all(improves.values())
                                                  else NOT_HERE)
    return [_row(
        "4", verdict, f"mean ECE at n = {ECE_AT_N} minus ECE with all samples, worst VLM ({worst})",
        float(d.mean()), np.quantile(d, 0.025), np.quantile(d, 0.975),
        f"holds if every VLM's mean ECE at n = {ECE_AT_N} is within {tol * 100:.0f} pp of its all-samples ECE; "
        f"partly if some VLM's is, or if TS with {ECE_AT_N} samples lowers every VLM's ECE",
        ", ".join(f"{m}: ECE at n = {ECE_AT_N} {g.mean() + full:.3f} (all samples {full:.3f}, no TS {before:.3f})"
                  for m, (g, before, full) in gaps.items()))]


def finding_verdicts(table: pd.DataFrame, mismatch: pd.DataFrame | None = None,
                     reference_ece: float | None = None, tol: float = 0.01, n_boot: int = 1000,
                     seed: int = 0) -> list[dict]:
    """One verdict row per testable claim of :data:`~vlmcal_utils.study.CLAIMS`.

    Parameters
    ----------
    table : pandas.DataFrame
        A :func:`~vlmcal_utils.study.run_grid` table (VLM rows are judged; ``family`` column).
    mismatch : pandas.DataFrame, optional
        :func:`~vlmcal_utils.study.label_mismatch_rows` rows (findings 3a, 3b).
    reference_ece : float, optional
        Uncalibrated ECE of ImageNet-trained classifiers (finding 1a; without it 1a gets no row).
    tol : float
        Finding 4's tolerance on the mean ECE (0.01 = 1 percentage point).
    n_boot, seed : int
        Bootstrap replicates and seed of the intervals of 3a and 3b.

    Returns
    -------
    list of dict
        Keys ``finding, claim, verdict`` (one of :data:`VERDICTS`), ``quantity, estimate, low, high``
        (95 % interval; see the module docstring), ``interval_note`` (why the interval excludes the
        estimate, else ``""``), ``rule, measured, why``; in the order of :data:`CLAIMS`.
    """
    if "family" not in table.columns:
        table = table.assign(family="vlm")
    rows = (_finding1(table, reference_ece) + _finding2(table) + _finding3(mismatch, n_boot, seed)
            + _finding4(table, tol))
    # one caveat for every row, counted from the models the points come from (text and data cannot disagree)
    caveat = setup_caveat(verdict_models(table, mismatch),
                          list(dict.fromkeys(table.loc[table["family"] == "vlm", "dataset"])))
    return [{**row, "why": f"{caveat}; {row['why']}."} for row in rows]
