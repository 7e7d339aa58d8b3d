"""vlmcal_utils.views.chapter4: chapter 4's runs, tables and verdicts, on synthetic rows and the demo world."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import tpt
from vlmcal_utils.tpt import runner
from vlmcal_utils.views import chapter4 as ch4


def _rows(seed: int, n: int = 60, shift: float = 0.0, atfd: float = 0.5) -> list[dict]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(4, size=n)
    logits = rng.normal(size=(n, 4)) * 2
    logits[np.arange(n), labels] += 1.5 + shift  # more right and more confident as shift grows
    return [{"logits": list(z), "label": int(y), "atfd": atfd, "orthogonality": 0.1, "min_angle": 1.0,
             "seconds": 0.1} for z, y in zip(logits, labels, strict=True)]


def _runs() -> dict:
    return {("d", "hard", "zeroshot"): _rows(0), ("d", "hard", "tpt"): _rows(0, shift=1.0, atfd=0.6),
            ("d", "hard", "ctpt"): _rows(0, shift=1.0, atfd=0.7)}


def test_results_table_scores_every_run_and_tpt_at_each_temperature():
    temps = {"d/hard": {"official": 1.16, "fitted": 2.0}}
    table = ch4.results_table(_runs(), temps, [15, 20])
    assert list(table.index.get_level_values("method")) == ["zeroshot", "tpt", "ts_official", "ts_fitted", "ctpt"]
    assert [c for c in table.columns if c.startswith("ece_")][:2] == ["ece_20", "ece_15"]  # C-TPT's bins first
    tpt_row, fitted = table.loc[("d", "hard", "tpt")], table.loc[("d", "hard", "ts_fitted")]
    assert fitted["accuracy"] == tpt_row["accuracy"] and fitted["temperature"] == 2.0
    assert fitted["mean_confidence"] < tpt_row["mean_confidence"] <= 1  # fractions; a temperature > 1 softens
    assert fitted["ece_20"] == pytest.approx(tpt.summarise(_runs()["d", "hard", "tpt"], (20,), 2.0)["ece_20"])
    shown = ch4.display_table(table)
    assert shown.loc[("d", "hard", "+TPT"), "acc"] == round(100 * tpt_row["accuracy"], 2)
    assert list(shown.columns) == ["acc", "ece15", "ece20", "smece", "dece20", "mean conf", "atfd"]


def test_directions_state_each_claim_both_ways():
    table = ch4.results_table(_runs(), {"d/hard": {"official": 1.16, "fitted": 2.0}})
    d = ch4.directions(table).loc[("d", "hard")]
    assert d.loc["TPT raises accuracy", "verdict"] == "same direction"  # the shifted logits are more often right
    assert d.loc["C-TPT raises TPT's ATFD", "ours change"] == pytest.approx(0.1)
    # C-TPT's rows are TPT's here: no change, which is "not reproduced", never "same direction"
    assert d.loc["C-TPT lowers TPT's ECE", "verdict"] == "no change: not reproduced"
    acc = 100 * (table.loc[("d", "hard", "tpt"), "accuracy"] - table.loc[("d", "hard", "zeroshot"), "accuracy"])
    assert d.loc["TPT raises accuracy", "ours change"] == pytest.approx(acc)  # in points, as the paper
    worse = table.copy()
    worse.loc[("d", "hard", "ctpt"), "ece_20"] += 0.05
    assert ch4.directions(worse).loc[("d", "hard", "C-TPT lowers TPT's ECE"), "verdict"] == "CONTRADICTS the paper"
    assert "of 4 directions" in ch4.directions_summary(ch4.directions(worse), demo=True)


def test_prompt_correlations_use_the_accurate_prompts_only():
    rng = np.random.default_rng(0)
    atfd = rng.uniform(0.5, 0.7, 20)
    prompts = pd.DataFrame({"dataset": "d", "prompt": [f"p{i}" for i in range(20)], "atfd": atfd,
                            "ece": 1 - atfd, "confidence": atfd, "accuracy": np.r_[np.full(10, 0.8), np.full(10, 0.1)]})
    prompts.loc[10:, "ece"] = prompts.loc[10:, "atfd"]  # the inaccurate prompts go the other way
    c = ch4.prompt_correlations(prompts, acc_window=0.03)["d"]
    assert c["n_prompts"] == 10 and c["pearson_r"] == pytest.approx(-1.0)
    assert c["pearson_r_all"] > -1.0 and c["pearson_r_confidence"] == pytest.approx(1.0)
    assert "negative, as in the paper" in ch4.correlation_lines({"d": c})


@pytest.mark.slow
def test_run_methods_on_the_demo_world_resumes_without_computing(tmp_path):
    clip = ch4.load_clip("vlmcal-demo", None, device="cpu")
    sets = ch4.test_sets(["demo-photo"], 3)
    protocol = dict(n_views=8, selection=0.25)
    runs = ch4.run_methods(clip, sets, ["hard"], tmp_path, batch=3, log=None, **protocol)
    assert {k: len(v) for k, v in runs.items()} == {("demo-photo", "hard", m): 3 for m in ch4.TUNED}
    before = sum(runner.COMPUTED_ROWS[str(p)] for p in (tmp_path / "runs").glob("*.jsonl"))
    again = ch4.run_methods(clip, sets, ["hard"], tmp_path, batch=3, log=None, **protocol)
    assert again == runs  # every row found in the files ...
    after = sum(runner.COMPUTED_ROWS[str(p)] for p in (tmp_path / "runs").glob("*.jsonl"))
    assert after == before == 9  # ... and none computed again
    assert ch4.paper_comparison(ch4.results_table(runs, {"demo-photo/hard": {"official": 1.16, "fitted": 1.0}}),
                                clip) == []  # the demo is never compared with the paper


def test_ts_versus_ctpt_says_when_the_run_contradicts_c_tpt_and_why():
    table = ch4.results_table(_runs(), {"d/hard": {"official": 1.16, "fitted": 2.0}})
    tpt_row = table.loc[("d", "hard", "tpt")]
    assert tpt_row["mean_confidence"] > tpt_row["accuracy"]  # overconfident: T = 1.16 lowers its ECE
    text = ch4.ts_versus_ctpt(table, demo=True)
    # C-TPT's rows are TPT's here, so the temperature wins: the opposite of the paper, with the measured reason
    assert "in 1 of 1 blocks" in text and "OPPOSITE" in text and "Why, as measured here" in text
    assert text.startswith("DEMO run") and "demo world's, not CLIP" in text
    better = table.copy()
    better.loc[("d", "hard", "ctpt"), "ece_20"] = table.loc[("d", "hard", "ts_official"), "ece_20"] / 2
    assert "in 0 of 1 blocks" in ch4.ts_versus_ctpt(better) and "OPPOSITE" not in ch4.ts_versus_ctpt(better)
    odd = table.copy()  # TS wins although TPT is not overconfident: the simple reason does not cover it
    odd.loc[("d", "hard", "tpt"), "mean_confidence"] = 0.0
    assert "Why is unknown" in ch4.ts_versus_ctpt(odd)
