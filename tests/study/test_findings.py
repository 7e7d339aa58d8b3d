"""Tests for vlmcal_utils.study.findings: label-mismatch rows, curves, the claims beside a run."""

from __future__ import annotations

import pandas as pd
import pytest

from vlmcal_utils import study

from .synthetic import make_tasks


def test_label_mismatch_rows_synthetic(syn):
    zc, yc, zt, yt = syn
    rows = pd.DataFrame(study.label_mismatch_rows("m", "syn", (zc, yc), (zt, yt)))
    assert len(rows) == 6 and set(rows["split"]) == {"classes 0-1", "classes 2-4"}
    for _, g in rows.groupby("split"):
        e = g.set_index("method")["ece_15"]
        assert e["ts_mismatched"] < 0.5 * e["none"] and e["ts_matched"] < 0.5 * e["none"]
        assert g["accuracy"].nunique() == 1
    with pytest.raises(ValueError, match="at least 2 classes"):
        study.label_mismatch_rows("m", "syn", (zc[:, :1], 0 * yc), (zt[:, :1], 0 * yt))


def test_curve_from_results_and_samples_needed(tmp_path):
    df = study.run_grid(make_tasks()[:1], tmp_path / "c.jsonl", n_calib_grid=[10, 50, 200], n_repeats=3,
                        n_boot=0, progress=False)
    curve = study.curve_from_results(df, "model_a", "syn")
    assert list(curve.groupby("n_calib").size()) == [3, 3, 3, 1]
    # With 200+ samples TS always helps; with 10 it may not (a separable draw sends T to a bound).
    assert (curve.loc[curve["n_calib"] >= 200, "ece_15"] < curve["ece_before"].iloc[0]).all()
    n = study.samples_needed(curve, tol=0.01)
    assert n in (10, 50, 200, 400)
    assert study.samples_needed(curve, tol=1.0) == 10  # everything is within 100 pp
    with pytest.raises(ValueError, match="no rows"):
        study.curve_from_results(df, "nope", "syn")
    with pytest.raises(ValueError, match="no 'none' row"):
        study.curve_from_results(df[df["method"] == "ts"], "model_a", "syn")


def test_summarise_findings_and_claims(tmp_path):
    df = study.run_grid(make_tasks(), tmp_path / "s.jsonl", n_calib_grid=[10, 50, 200], n_repeats=3,
                        n_boot=0, progress=False)
    lm = pd.DataFrame([r for t in make_tasks()
                       for r in study.label_mismatch_rows(t.model, t.dataset, t.load()["cal"], t.load()["test"])])
    s = study.summarise_findings(df, lm, reference_ece=0.05)
    assert set(s["vlm_ece_before"]) == {"model_a"} and set(s["baseline_ece_before"]) == {"model_b"}
    assert s["shift_n"] == 1 and s["other_task"] == [] and s["samples_needed"]["model_a"] in (10, 50, 200, 400)
    assert set(s["ece_at_50"]) == {"model_a"} and s["mismatch_n"] == 4
    verdicts = study.finding_verdicts(df, lm, reference_ece=0.05, n_boot=50)
    claims = study.claims_table(verdicts, "synthetic")
    assert list(claims.columns) == ["claim (Tu et al. 2024)", "measured: synthetic", "verdict"]
    assert list(claims["claim (Tu et al. 2024)"]) == [c.label for c in study.CLAIMS.values()]
    assert set(claims["verdict"]) <= set(study.VERDICTS)
    # the synthetic model is overconfident by 2.5: TS lowers its ECE; the verdict follows the rule
    after = s["vlm_ece_after"]["model_a"]
    assert after < s["vlm_ece_before"]["model_a"]
    assert claims.iloc[1]["verdict"] == ("holds" if after <= study.CLAIMS["1b"].threshold else "does not hold here")
    assert "Rule: holds if" in claims.iloc[0]["measured: synthetic"]


def test_other_task_splits_are_not_shifts(tmp_path):
    tasks = make_tasks()[:1]
    load = tasks[0].load
    tasks[0].load = lambda: {**load(), "dermamnist": load()["shifted"]}
    df = study.run_grid(tasks, tmp_path / "o.jsonl", n_boot=0, progress=False)
    s = study.summarise_findings(df)
    assert s["shift_n"] == 1 and [r["split"] for r in s["other_task"]] == ["dermamnist"]


def test_claims_without_measurements_are_left_out(tmp_path):
    df = study.run_grid(make_tasks()[:1], tmp_path / "s.jsonl", n_boot=0, progress=False)
    s = study.summarise_findings(df[df["split"] == "test"])
    claims = study.claims_table(study.finding_verdicts(df[df["split"] == "test"]), "x")
    assert [c.split(".")[0] for c in claims["claim (Tu et al. 2024)"]] == ["1b"]  # no reference: no 1a
    assert s["samples_needed"] == {} and "mismatch_ece_mean" not in s


def test_claims_are_data():
    assert list(study.CLAIMS) == ["1a", "1b", "2", "3a", "3b", "4"]
    assert study.CLAIMS["4"].label == "4. ≈ 40–50 calibration samples suffice"
    assert study.CLAIMS["3b"].threshold == 0.9
