"""Tests for vlmcal_utils.study.scoring: scoring logits before and after temperature scaling."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from vlmcal_utils import study
from vlmcal_utils.data import load_logits
from vlmcal_utils.metrics import accuracy, ece, softmax
from vlmcal_utils.scores import Scores
from vlmcal_utils.study.scoring import fit_temperature_flagged

from .synthetic import T_TRUE


def test_ts_recovers_known_temperature_and_keeps_accuracy(syn):
    zc, yc, zt, yt = syn
    r = study.calibrate_and_score(zc, yc, zt, yt, n_boot=50)
    assert r["temperature"] == pytest.approx(T_TRUE, rel=0.1)
    none, ts = r["none"], r["ts"]
    assert isinstance(none, Scores) and isinstance(ts, Scores)
    assert ts.accuracy == none.accuracy == pytest.approx(accuracy(zt, yt))
    assert r["nll_cal_after"] < r["nll_cal_before"] - 0.05
    assert ts.ece[15] < 0.5 * none.ece[15]
    assert ts.mean_confidence < none.mean_confidence  # T > 1 softens
    assert none.ece[15] == pytest.approx(ece(softmax(zt), yt))
    assert ts.temperature == r["temperature"] and none.temperature == 1.0
    for s in (none, ts):
        lo, hi = s.ece_interval
        assert 0 <= lo <= hi <= 1
        assert s.n == len(yt)
        assert s.smooth_ece is None and s.debiased_ece is None  # the study's tables: plug-in ECE only


def test_score_without_bootstrap_has_no_interval(syn):
    zc, yc, zt, yt = syn
    r = study.calibrate_and_score(zc, yc, zt, yt, n_boot=0)
    assert r["none"].ece_interval is None
    row = r["ts"].as_row()
    assert math.isnan(row["ece_lo"]) and math.isnan(row["ece_hi"])


def test_bootstrap_is_seeded(syn):
    zc, yc, zt, yt = syn
    a = study.calibrate_and_score(zc, yc, zt[:500], yt[:500], n_boot=30, seed=3)
    b = study.calibrate_and_score(zc, yc, zt[:500], yt[:500], n_boot=30, seed=3)
    assert a == b


@pytest.mark.parametrize("n_boot", [-1, 2.5, None, True])
def test_bad_n_boot_is_refused(syn, n_boot):
    # it used to be skipped silently (a negative or None n_boot gave NaN intervals)
    zc, yc, zt, yt = syn
    with pytest.raises(ValueError, match="n_boot must be an integer >= 0"):
        study.calibrate_and_score(zc[:50], yc[:50], zt[:50], yt[:50], n_boot=n_boot)


def test_calibrate_rejects_mismatched_inputs(syn):
    zc, yc, zt, yt = syn
    # Different K is fine (T is a scalar), different N within a split is not.
    study.calibrate_and_score(zc, yc, zt[:, :4], np.minimum(yt, 3), n_boot=0)
    with pytest.raises(ValueError, match="N must match"):
        study.calibrate_and_score(zc, yc[:-1], zt, yt)


def test_tiny_separable_calibration_set_is_flagged():
    z = np.array([[5.0, 0.0], [0.0, 5.0], [4.0, 1.0]])
    y = np.array([0, 1, 0])  # all correct: the NLL keeps falling as T -> 0
    r = study.calibrate_and_score(z, y, z, y, n_boot=0)
    assert r["T_at_bound"]
    T, at_bound = fit_temperature_flagged(z, y)
    assert at_bound and T == r["temperature"]


def test_toplabel_ece_table(tmp_path):
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.5, 1.0, 400)
    y_true = rng.integers(0, 3, 400)
    y_pred = np.where(rng.random(400) < conf, y_true, (y_true + 1) % 3)  # calibrated by construction
    np.savez(tmp_path / "top.npz", b__confidence=conf, b__y_true=y_true, b__y_pred=y_pred,
             a__confidence=np.ones(400), a__y_true=y_true, a__y_pred=y_pred)
    t = study.toplabel_ece_table(tmp_path / "top.npz", n_boot=20)
    assert list(t["model"]) == ["a", "b"] and set(t["source"]) == {"top.npz"}
    a, b = t.set_index("model").loc["a"], t.set_index("model").loc["b"]
    assert a["ece_15"] == pytest.approx(1 - a["accuracy"])  # always confident 1: ECE = error rate
    assert a["mean_confidence"] == 1.0 and math.isnan(a["nll"])  # top-label data: no NLL
    assert b["ece_15"] < 0.08 and b["ece_lo"] <= b["ece_hi"]
    assert math.isnan(study.toplabel_ece_table(tmp_path / "top.npz", n_boot=0)["ece_lo"].iloc[0])
    with pytest.raises(FileNotFoundError):
        study.toplabel_ece_table(tmp_path / "missing.npz")
    np.savez(tmp_path / "full.npz", logits=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="not a top-label file"):
        study.toplabel_ece_table(tmp_path / "full.npz")


# --------------------------------------------------------------------------------------------
# real published logits (skipped without $VLMCAL_SHARED)
# --------------------------------------------------------------------------------------------


def test_clip_cifar10_ts_on_published_logits(shared):
    f = load_logits(shared / "data/logits/clip_vitb32_cifar10_zeroshot.npz")
    r = study.calibrate_and_score(f.logits_val, f.labels_val, f.logits_test, f.labels_test, n_boot=100)
    # Measured: ECE 6.70 % -> 1.14 %, T = 0.685 (underconfident), accuracy 88.62 % on test[5000:].
    none, ts = r["none"], r["ts"]
    assert none.ece[15] == pytest.approx(0.067, abs=0.003)
    assert ts.ece[15] == pytest.approx(0.0114, abs=0.003)
    assert 0.6 < r["temperature"] < 0.75
    assert none.ece_interval[0] <= none.ece[15] <= none.ece_interval[1]
    assert ts.ece_interval[1] < none.ece_interval[0]  # the drop is far outside the sampling noise


def test_cnn_baseline_is_overconfident(shared):
    f = load_logits(shared / "data/logits/markus93_densenet40_cifar10.npz")
    r = study.calibrate_and_score(f.logits_val, f.labels_val, f.logits_test, f.labels_test, n_boot=0)
    # Measured: ECE 5.50 % -> 0.95 %, T = 2.88 (README: 5.5 % -> 0.95 %).
    assert r["none"].ece[15] == pytest.approx(0.055, abs=0.002)
    assert r["ts"].ece[15] == pytest.approx(0.0095, abs=0.002)
    assert r["temperature"] > 2


def _binned_ece(conf: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """Equal-width top-label ECE written out here, independently of vlmcal_utils.metrics: bins (lo, hi]."""
    idx = np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        members = idx == b
        if members.any():
            total += members.sum() * abs(correct[members].mean() - conf[members].mean())
    return total / conf.size


def test_imagenet_reference_eces_match_an_independent_computation(shared):
    """The 14 ImageNet ECEs behind finding 1's reference line (chapter 3) and chapter 1's scatter."""
    path = shared / "data/logits/hollance_imagenet_val_toplabel.npz"
    t = study.toplabel_ece_table(path, n_boot=0).set_index("model")
    assert len(t) == 14 and (t["n"] == 50000).all()
    with np.load(path) as npz:
        expected = {}
        for model in t.index:
            conf = npz[f"{model}__confidence"].astype(np.float64)
            correct = (npz[f"{model}__y_pred"] == npz[f"{model}__y_true"]).astype(np.float64)
            expected[model] = _binned_ece(conf, correct)
            assert t.loc[model, "accuracy"] == pytest.approx(correct.mean(), abs=1e-12), model
            assert t.loc[model, "mean_confidence"] == pytest.approx(conf.mean(), abs=1e-12), model
    assert t["ece_15"].to_dict() == pytest.approx(expected, abs=1e-9)
    # registry check value (vlmcal_utils.data.published, meta["verified"]) of one model
    assert expected["torchvision__densenet161"] == pytest.approx(0.0564, abs=5e-4)
    # the reference line of the committed chapter-3 results is the median of exactly these 14
    root = Path(__file__).resolve().parents[2]
    published = json.loads((root / "results/published/03_empirical_study/results.json").read_text())
    assert published["results"]["published"]["reference_ece"] == pytest.approx(np.median(list(expected.values())),
                                                                               abs=1e-9)
