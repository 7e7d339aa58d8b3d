"""Each chapter's results builder: fixed keys; chapters 1-3 from scores records, chapter 4 from labelled tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils.results import SchemaError
from vlmcal_utils.scores import Scores, score_logits
from vlmcal_utils.study.scoring import toplabel_ece_table
from vlmcal_utils.views.chapter_results import (
    SCHEMAS,
    chapter1_results,
    chapter2_results,
    chapter3_results,
    chapter4_results,
)


def _scores(seed=0, T=1.0, **kw):
    rng = np.random.default_rng(seed)
    z, y = rng.normal(size=(200, 4)) * 3, rng.integers(0, 4, 200)
    return score_logits(z, y, temperature=T, **{"n_boot": 20, **kw})


BEFORE, AFTER = _scores(), _scores(T=2.0)


def _ch1(**changes):
    kwargs = dict(data=dict(source="synthetic", is_real=False, model="m", description="d", n_val=10),
                  before=BEFORE, after=AFTER, toy=dict(mean_confidence={"model 1": 0.788}, accuracy=0.8))
    kwargs.update(changes)
    return chapter1_results(**kwargs)


def test_chapter1_takes_its_numbers_from_the_records():
    extra = pd.DataFrame([{"model": "x", "stage": "before_ts", **BEFORE.as_row()},
                          {"model": "x", "stage": "after_ts", **AFTER.as_row()}])
    r = _ch1(extra_models=extra)
    assert r["ece_before"] == BEFORE.ece[15] and r["ece_after"] == AFTER.ece[15]
    assert r["ece_before_ci"] == list(BEFORE.ece_interval) and r["smooth_ece_after"] == AFTER.smooth_ece
    assert r["debiased_ece_before"] == BEFORE.debiased_ece and r["brier_after"] == AFTER.brier
    assert r["temperature"] == 2.0 and r["n_test"] == 200 and r["n_bins"] == 15
    assert r["extra_models"][0] == {"model": "x", "stage": "before_ts", **BEFORE.as_row()}
    assert list(r.values) == list(SCHEMAS["01_calibration_basics"].fields)


def test_chapter1_trust_and_imagenet_blocks(tmp_path):
    trust = {
        "smooth_ece_before_ci": (0.07, 0.09),
        "bin_sensitivity": pd.DataFrame([{"stage": "before_ts", "binning": "equal_mass", "n_bins": 15, "ece": 0.05,
                                          "debiased_ece": 0.049}]),
        "brier_parts": {"after_ts": {"brier": 0.05, "reliability": 0.001, "resolution": 0.02,
                                     "uncertainty": 0.07, "within_bin": -0.001}},
    }
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 100)
    np.savez(tmp_path / "f.npz", a__confidence=rng.uniform(0.4, 1, 100), a__y_true=y, a__y_pred=y,
             b__confidence=rng.uniform(0.4, 1, 100), b__y_true=y, b__y_pred=(y + 1) % 3)
    imagenet = toplabel_ece_table(tmp_path / "f.npz", n_boot=10)
    r = _ch1(trust=trust, imagenet=imagenet)
    assert r["smooth_ece_before_ci"] == [0.07, 0.09] and r["smooth_ece_after_ci"] is None  # not measured
    assert r["bin_sensitivity"][0]["stage"] == "before_ts"
    assert set(r["brier_parts"]) == {"after_ts"}
    row = r["imagenet_models"][1]
    assert row["model"] == "b" and "source" not in row
    assert Scores.from_row(row) == Scores.from_row(imagenet.iloc[1])  # the record, unchanged
    assert r["imagenet_median_ece"] == pytest.approx(imagenet["ece_15"].median()) and r["imagenet_source"] == "f.npz"
    # without the file: no rows, no median, no source
    empty = _ch1(imagenet=None)
    assert empty["imagenet_models"] == [] and empty["imagenet_median_ece"] is None and empty["imagenet_source"] is None
    with pytest.raises(SchemaError, match="unknown trust keys"):
        _ch1(trust={"smooth": 0.1})
    with pytest.raises(SchemaError, match="subsample_ece"):  # a display label is not a stage key
        _ch1(trust={"subsample_ece": [{"stage": "before TS", "n": 100}]})


def test_chapter1_refuses_an_incomplete_record_or_an_unknown_column():
    with pytest.raises(SchemaError, match="before-TS record needs"):
        _ch1(before=_scores(n_boot=0))
    with pytest.raises(SchemaError, match="same bins"):
        _ch1(before=_scores(bins=20))
    with pytest.raises(SchemaError, match=r"extra_models.*unknown 'ECE\(20\)'"):
        _ch1(extra_models=[{"model": "x", "stage": "after_ts", **AFTER.as_row(), "ECE(20)": 0.1}])
    with pytest.raises(SchemaError, match="deferral rows have stage"):
        _ch1(deferral=[{"": "before TS", "threshold": 0.9}])


def _ch2(**changes):
    record = _scores(estimators=False)
    kwargs = dict(model="m", dataset="d", requested_dataset="d", is_demo=True, is_random_weights=False,
                  n_images=10, n_classes=3, logit_scale=50.0, single_template=record, ensemble_80=record,
                  scale_with_lowest_ece=40.0, lowest_ece=0.05, published_clip_cifar10=None,
                  feature_seconds=1.0, total_seconds=2.0)
    return chapter2_results(**{**kwargs, **changes}), record


def test_chapter2_summaries_are_records():
    r, record = _ch2()
    assert r["single_template"] == record.as_row()
    assert r["published_clip_languages"] is None


def test_chapter2_language_rows_from_records():
    english, swahili = _scores(1, estimators=False), _scores(2, estimators=False)
    r, _ = _ch2(published_clip_languages={"english": (english, 3), "swahili": (swahili, 2)})
    rows = r["published_clip_languages"]
    assert [row["language"] for row in rows] == ["english", "swahili"]
    assert rows[0] == {"language": "english", **english.as_row(), "distinct_names": 3}
    assert rows[1]["distinct_names"] == 2 and rows[0]["n"] == 200


def _findings(**extra):
    return {"vlm_ece_before": {"m": 0.1}, "vlm_ece_after": {"m": 0.02}, "vlm_T": {"m": 0.7},
            "baseline_ece_before": {}, "baseline_ece_after": {}, "reference_ece": None, "shift": [],
            "shift_n_helps": 0, "shift_n": 0, "samples_needed": {}, "ece_at_50": {}, "tol": 0.01,
            "source": "s", **extra}


def test_chapter3_claims_frames_become_rows_naming_their_study():
    table = pd.DataFrame([("1b. claim", "VLMs after TS: m 0.020", "holds")],
                         columns=["claim (Tu et al. 2024)", "measured: demo world (toy models)", "verdict"])
    r = chapter3_results(logits_dir=None, demo=_findings(), claims=[table])
    assert r["claims"] == [{"claim": "1b. claim", "measured": "VLMs after TS: m 0.020", "verdict": "holds",
                            "measured_on": "demo world (toy models)"}]
    assert r["published"] is None and r["models"] is None
    with pytest.raises(SchemaError, match=r"\['demo'\].*unknown 'vlm_ece_bfore'"):
        chapter3_results(logits_dir=None, demo={**_findings(), "vlm_ece_bfore": {}})
    assert r["verdicts"] == [] and r["calibrators"] == [] and r["calibrators_at_50"] == []


def test_chapter3_verdicts_and_calibrator_tables_are_checked_rows():
    verdict = {"study": "published", "finding": "2", "claim": "2. c", "verdict": "partly", "quantity": "q",
               "estimate": 0.5, "low": 0.2, "high": 0.8, "interval_note": "", "rule": "r", "measured": "m", "why": "w"}
    cal = pd.DataFrame([{"model": "m", "method": "ts", "n": 50, "mean": 0.03, "low": 0.01, "high": 0.05,
                         "repeats": 20}])
    at50 = [{"model": "m", "n": 50, "winner": "ts", "ts_mean": 0.03, "ts_wins": True, "isotonic_mean": 0.05,
             "ts_better_share_isotonic": 0.9}]
    r = chapter3_results(logits_dir=None, verdicts=[verdict], calibrators=cal, calibrators_at_50=at50)
    assert r["verdicts"] == [verdict] and r["calibrators"][0]["method"] == "ts"
    assert r["calibrators_at_50"][0]["ts_better_share_isotonic"] == 0.9
    with pytest.raises(SchemaError, match=r"\['verdicts'\]\[0\].*missing 'why'"):
        chapter3_results(logits_dir=None, verdicts=[{k: v for k, v in verdict.items() if k != "why"}])
    with pytest.raises(SchemaError, match="unknown 'platt_mean'"):
        chapter3_results(logits_dir=None, calibrators_at_50=[{**at50[0], "platt_mean": 0.1}])


def test_chapter4_stores_the_scoring_records_in_fractions():
    from vlmcal_utils import tpt

    rng = np.random.default_rng(0)
    rows = [{"logits": list(rng.normal(size=4) * 2), "label": int(rng.integers(4)), "atfd": 0.1,
             "orthogonality": 0.4, "min_angle": 1.0, "seconds": 0.2} for _ in range(30)]
    record = tpt.summarise(rows, (20, 15), n_boot=50)
    table = pd.DataFrame([{"dataset": "d", "init": "hard", "method": "tpt", **record}]).set_index(
        ["dataset", "init", "method"])
    paper = [{"dataset": "d", "init": "hard", "method": "ctpt", "paper_accuracy": 0.602, "accuracy": 0.59,
              "paper_ece_20": 0.0301, "ece_20": 0.04}]
    r = chapter4_results(model="RN50", pretrained="openai", demo=False,
                         prompt_correlation={"d": {"pearson_r": -0.7, "n_prompts": 12, "pearson_r_all": -0.5,
                                                   "pearson_r_confidence": 0.4, "atfd_range": 0.1}},
                         table=table, temperatures={"d/hard": {"official": 0.01, "fitted": 0.012}},
                         paper_comparison=paper)
    assert r["table"] == [{"dataset": "d", "init": "hard", "method": "tpt", **record}]
    assert 0 <= r["table"][0]["accuracy"] <= 1 and r["table"][0]["ece_lo"] <= r["table"][0]["ece_20"]
    assert r["prompt_correlation"]["d"]["pearson_r_confidence"] == 0.4 and r["paper_comparison"] == paper
    # every key of the scoring record is a fixed key of every row
    with pytest.raises(SchemaError, match="debiased_ece"):
        chapter4_results(model="m", pretrained=None, demo=True, prompt_correlation={}, temperatures={},
                         table=[{k: v for k, v in r["table"][0].items() if k != "debiased_ece"}])
    with pytest.raises(SchemaError, match="unknown 'ece20'"):  # the old percent columns are refused
        chapter4_results(model="m", pretrained=None, demo=True, prompt_correlation={}, temperatures={},
                         table=[{**r["table"][0], "ece20": 4.0}])
    with pytest.raises(SchemaError, match=r"\['temperatures'\]\['d/hard'\].*missing 'fitted'"):
        chapter4_results(model="m", pretrained=None, demo=True, prompt_correlation={}, table=[],
                         temperatures={"d/hard": {"official": 0.01}})


def test_every_builder_documents_its_keys():
    for builder, schema in [(chapter1_results, "01_calibration_basics"), (chapter2_results, "02_zero_shot_clip"),
                            (chapter3_results, "03_empirical_study"), (chapter4_results, "04_ctpt")]:
        for key in SCHEMAS[schema].fields:
            assert f"``{key}``" in builder.__doc__, (builder.__name__, key)
