"""Tests for vlmcal_utils.study.subsets: label-mismatched splits and calibration-set draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import study
from vlmcal_utils.data import load_logits

from .synthetic import T_TRUE

# --------------------------------------------------------------------------------------------
# label_mismatch_split
# --------------------------------------------------------------------------------------------


def test_label_mismatch_split_restricts_columns_and_remaps():
    z = np.arange(6 * 4, dtype=float).reshape(6, 4)
    y = np.array([0, 1, 2, 3, 2, 0])
    (zc, yc), (zt, yt) = study.label_mismatch_split(z, y, [2, 0], [3, 1])
    np.testing.assert_array_equal(zc, z[[0, 2, 4, 5]][:, [2, 0]])
    np.testing.assert_array_equal(yc, [1, 0, 0, 1])  # class 2 -> 0, class 0 -> 1 (given order)
    np.testing.assert_array_equal(zt, z[[1, 3]][:, [3, 1]])
    np.testing.assert_array_equal(yt, [1, 0])


def test_label_mismatch_split_from_separate_test_arrays(syn):
    zc, yc, zt, yt = syn
    (a, ya), (b, yb) = study.label_mismatch_split(zc, yc, [0, 1], [2, 3, 4], test_logits=zt, test_labels=yt)
    assert a.shape == ((np.isin(yc, [0, 1])).sum(), 2) and set(ya) == {0, 1}
    assert b.shape == ((np.isin(yt, [2, 3, 4])).sum(), 3) and set(yb) == {0, 1, 2}
    # A temperature fitted on other classes still calibrates these ones (same miscalibration).
    r = study.calibrate_and_score(a, ya, b, yb, n_boot=0)
    assert r["temperature"] == pytest.approx(T_TRUE, rel=0.15)
    assert r["ts"].ece[15] < 0.5 * r["none"].ece[15]


@pytest.mark.parametrize(
    "cal, test, match",
    [
        ([], [1], "empty"),
        ([0, 1], [1, 2], "overlap"),
        ([0, 9], [1], r"\[0, 4\)"),
        ([0, 0], [1], "repeated"),
        ([0], [3], "no samples"),
    ],
)
def test_label_mismatch_split_validation(cal, test, match):
    z = np.zeros((4, 4))
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=match):
        study.label_mismatch_split(z, y, cal, test)


def test_label_mismatch_split_needs_both_test_arrays_of_the_same_k():
    with pytest.raises(ValueError, match="both"):
        study.label_mismatch_split(np.zeros((3, 3)), [0, 1, 2], [0], [1], test_logits=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="same K-way"):
        study.label_mismatch_split(np.zeros((3, 3)), [0, 1, 2], [0], [1], test_logits=np.zeros((2, 2)),
                                   test_labels=[0, 1])


def test_clip_cifar10_label_mismatched_ts(shared):
    f = load_logits(shared / "data/logits/clip_vitb32_cifar10_zeroshot.npz")
    (zc, yc), (zt, yt) = study.label_mismatch_split(
        f.logits_val, f.labels_val, range(5), range(5, 10), test_logits=f.logits_test, test_labels=f.labels_test
    )
    r = study.calibrate_and_score(zc, yc, zt, yt, n_boot=0)
    # Measured: 5-way test on classes 5-9, ECE 4.91 % -> 1.98 % with T = 0.746 fitted on classes 0-4.
    assert r["none"].ece[15] == pytest.approx(0.049, abs=0.003)
    assert r["ts"].ece[15] < 0.5 * r["none"].ece[15]
    assert r["temperature"] < 1


# --------------------------------------------------------------------------------------------
# draws and the n_calib curve
# --------------------------------------------------------------------------------------------


def test_n_calib_curve_deterministic_and_converges(syn):
    zc, yc, zt, yt = syn
    kw = dict(n_grid=[20, 200, "all"], n_repeats=4)
    a = study.n_calib_curve(zc, yc, zt, yt, seed=5, **kw)
    b = study.n_calib_curve(zc, yc, zt, yt, seed=5, **kw)
    c = study.n_calib_curve(zc, yc, zt, yt, seed=6, **kw)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["temperature"][a["n_calib"] == 20], c["temperature"][c["n_calib"] == 20])
    assert list(a.groupby("n_calib").size()) == [4, 4, 1]  # 'all' is one deterministic draw
    full = study.calibrate_and_score(zc, yc, zt, yt, n_boot=0)["ts"].ece[15]
    assert a.loc[a["n_calib"] == len(yc), "ece_15"].item() == pytest.approx(full)
    s = study.summarise_n_calib_curve(a)
    assert abs(s.loc[s["n_calib"] == 200, "ece_mean"].item() - full) < 0.02
    # More samples -> a tighter spread of the fitted temperature.
    assert a.loc[a["n_calib"] == 200, "temperature"].std() < a.loc[a["n_calib"] == 20, "temperature"].std()
    assert (a["accuracy"] == a["accuracy"].iloc[0]).all()


def test_draws_do_not_depend_on_the_grid(syn):
    zc, yc, zt, yt = syn
    a = study.n_calib_curve(zc, yc, zt, yt, n_grid=[50], n_repeats=2, seed=1)
    b = study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 50], n_repeats=3, seed=1)
    np.testing.assert_array_equal(a["temperature"], b.loc[b["n_calib"] == 50, "temperature"].iloc[:2])


def test_stratified_draw_covers_every_class(syn):
    _, yc, _, _ = syn
    idx = study.draw_calibration_subset(yc, 12, seed=0, stratified=True)
    assert len(idx) == len(set(idx)) == 12
    assert set(yc[idx]) == set(range(5))
    np.testing.assert_array_equal(idx, study.draw_calibration_subset(yc, 12, seed=0, stratified=True))
    with pytest.raises(ValueError, match="per class"):
        study.draw_calibration_subset(yc, 3, stratified=True)


def test_n_calib_validation(syn):
    zc, yc, zt, yt = syn
    with pytest.raises(ValueError, match="larger than"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[10, 10**6])
    with pytest.raises(ValueError, match="positive"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[0])
    with pytest.raises(ValueError, match="empty"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[])
    with pytest.raises(ValueError, match="n_repeats must be an integer >= 1"):
        study.n_calib_curve(zc, yc, zt, yt, n_grid=[10], n_repeats=0)
    with pytest.raises(ValueError, match="positive integer"):
        study.draw_calibration_subset(yc, 2.5)


def test_grid_for():
    assert study.grid_for([10, 100, 1000, "all"], 1000) == [10, 100, "all"]


def test_samples_needed_on_a_known_curve():
    curve = pd.DataFrame({"n_calib": [10, 10, 50, 50, 400], "ece_15": [0.10, 0.06, 0.035, 0.025, 0.02],
                          "temperature": 1.0, "T_at_bound": False})
    assert study.samples_needed(curve, tol=0.011) == 50  # mean 0.03 at 50, 0.08 at 10, full 0.02
    assert study.samples_needed(curve, tol=0.1) == 10
    s = study.summarise_n_calib_curve(curve)
    assert list(s["n_draws"]) == [2, 2, 1] and s["ece_mean"].iloc[0] == pytest.approx(0.08)
    with pytest.raises(ValueError, match="empty"):
        study.summarise_n_calib_curve(curve.iloc[:0])
