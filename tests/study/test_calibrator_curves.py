import numpy as np
import pytest

from vlmcal_utils.data import load_logits, published_path
from vlmcal_utils.study.calibrator_curves import calibrator_curves, summarise_calibrator_curves


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
    assert np.allclose(again["ece20"], rows[rows["n"] == 50]["ece20"])  # a size's draws ignore other sizes
    s = summarise_calibrator_curves(rows)
    assert ((s["low"] <= s["mean"]) & (s["mean"] <= s["high"])).all()
    none = rows[rows["method"] == "none"]["ece20"]
    assert none.nunique() == 1  # the uncalibrated model does not depend on the draw


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
