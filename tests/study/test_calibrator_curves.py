import numpy as np
import pytest

from vlmcal_utils.calibrators import VectorScaler, nll_of
from vlmcal_utils.data import load_logits, published_path
from vlmcal_utils.study.calibrator_curves import calibrator_curves, fit_vector_scaler, summarise_calibrator_curves


def _toy(n, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 3)) * 3
    return z, np.where(rng.uniform(size=n) < 0.7, z.argmax(1), rng.integers(0, 3, n))


def test_rows_summary_and_seeded_draws():
    z, y = _toy(300, 0)
    zt, yt = _toy(200, 1)
    rows = calibrator_curves(z, y, zt, yt, sizes=(10, 50, 1000), repeats=3)
    assert set(rows["n"]) == {10, 50}  # 1000 > pool: skipped
    assert len(rows) == 2 * 3 * 5
    again = calibrator_curves(z, y, zt, yt, sizes=(50,), repeats=3)
    assert np.allclose(again["ece"], rows[rows["n"] == 50]["ece"])  # a size's draws ignore other sizes
    s = summarise_calibrator_curves(rows)
    assert ((s["low"] <= s["mean"]) & (s["mean"] <= s["high"])).all()
    none = rows[rows["method"] == "none"]["ece"]
    assert none.nunique() == 1  # the uncalibrated model does not depend on the draw


def test_fewer_draws_at_large_sizes_and_one_at_the_whole_pool():
    z, y = _toy(300, 0)
    rows = calibrator_curves(z, y, z, y, sizes=(20, 100, 300), repeats=4, methods=("ts",), large_n=50,
                             repeats_large=2)
    assert rows.groupby("n").size().to_dict() == {20: 4, 100: 2, 300: 1}


def test_fast_vector_scaler_matches_the_torch_fit():
    z, y = _toy(400, 3)
    z = z * 8 + 20  # CLIP-like scale and offset: badly conditioned without standardising
    fast, slow = fit_vector_scaler(z, y), VectorScaler().fit(z, y)
    assert nll_of(fast, z, y) <= nll_of(slow, z, y) + 1e-6
    assert np.allclose(fast.predict_proba(z), slow.predict_proba(z), atol=1e-3)
    assert abs(fast.bias_.sum()) < 1e-9  # centred like VectorScaler's


def test_bad_inputs():
    z, y = _toy(30, 0)
    with pytest.raises(ValueError, match="method"):
        calibrator_curves(z, y, z, y, sizes=(10,), repeats=1, methods=("platt",))
    with pytest.raises(ValueError, match="exceeds"):
        calibrator_curves(z, y, z, y, sizes=(100,), repeats=1)


@pytest.mark.shared
def test_ts_beats_the_uncalibrated_clip_at_n_50(shared):
    lf = load_logits(published_path("clip_vitb32_cifar10_zeroshot"))
    rows = calibrator_curves(lf.logits_val, lf.labels_val, lf.logits_test, lf.labels_test,
                             sizes=(50,), repeats=3, methods=("none", "ts"))
    s = summarise_calibrator_curves(rows).set_index("method")
    assert s.loc["ts", "mean"] < s.loc["none", "mean"]
