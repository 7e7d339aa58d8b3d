"""The one scoring record agrees with the separate metrics and keeps its fixed shape."""

import math

import numpy as np
import pytest

from vlmcal_utils import metrics
from vlmcal_utils.ece_estimators import debiased_ece, smooth_ece
from vlmcal_utils.scores import ROW_KEYS, Scores, score_confidence, score_logits, score_probs


@pytest.fixture
def logits_labels():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(400, 7)) * 3
    y = rng.integers(0, 7, size=400)
    return z, y


def test_score_logits_equals_the_metrics(logits_labels):
    z, y = logits_labels
    s = score_logits(z, y, bins=(15, 20))
    p = metrics.softmax(z)
    assert s.n == 400
    assert s.accuracy == pytest.approx(metrics.accuracy(p, y))
    assert s.mean_confidence == pytest.approx(p.max(axis=1).mean())
    assert s.ece[15] == pytest.approx(metrics.ece(p, y, n_bins=15))
    assert s.ece[20] == pytest.approx(metrics.ece(p, y, n_bins=20))
    assert s.mce == pytest.approx(metrics.mce(p, y, n_bins=15))
    assert s.nll == pytest.approx(metrics.nll(z, y))
    assert s.brier == pytest.approx(metrics.brier(p, y))
    assert s.smooth_ece == pytest.approx(smooth_ece(p, y))
    assert s.debiased_ece == pytest.approx(debiased_ece(p, y, n_bins=15))
    assert s.primary_bins == 15 and s.primary_ece == s.ece[15]


def test_temperature_divides_the_logits(logits_labels):
    z, y = logits_labels
    assert score_logits(z, y, temperature=2.5, estimators=False).nll == pytest.approx(metrics.nll(z / 2.5, y))
    assert score_logits(z, y, temperature=2.5).temperature == 2.5
    with pytest.raises(ValueError, match="temperature"):
        score_logits(z, y, temperature=0)


def test_probs_and_logits_give_the_same_record(logits_labels):
    z, y = logits_labels
    a = score_logits(z, y, bins=(10, 15)).as_row()
    b = score_probs(metrics.softmax(z), y, bins=(10, 15)).as_row()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], abs=1e-9, nan_ok=True), k


def test_top_label_record_has_no_nll_or_brier(logits_labels):
    z, y = logits_labels
    p = metrics.softmax(z)
    conf, correct = metrics.confidence_and_correct(p, y)
    top = score_confidence(conf, correct, bins=20)
    full = score_probs(p, y, bins=20)
    assert top.nll is None and top.brier is None
    assert top.ece == pytest.approx(full.ece)
    assert math.isnan(top.as_row()["nll"])


def test_interval_is_seeded_and_brackets_the_spread(logits_labels):
    z, y = logits_labels
    a = score_logits(z, y, n_boot=50, seed=1, estimators=False)
    b = score_logits(z, y, n_boot=50, seed=1, estimators=False)
    assert a.ece_interval == b.ece_interval
    lo, hi = a.ece_interval
    assert 0 <= lo < hi <= 1
    assert score_logits(z, y, estimators=False).ece_interval is None


def test_row_round_trip_keeps_every_field(logits_labels):
    z, y = logits_labels
    s = score_logits(z, y, bins=(20, 15), n_boot=20)
    row = s.as_row()
    assert set(ROW_KEYS) | {"ece_20", "ece_15"} == set(row)
    back = Scores.from_row(row)
    assert back == s
    assert back.primary_bins == 20


def test_bad_bins_are_refused(logits_labels):
    z, y = logits_labels
    with pytest.raises(ValueError, match="repeats"):
        score_logits(z, y, bins=(15, 15))
    with pytest.raises(ValueError, match="at least one"):
        score_logits(z, y, bins=())
    with pytest.raises(ValueError, match="ece_"):
        Scores.from_row({"n": 1})


def test_estimators_can_be_chosen(logits_labels):
    z, y = logits_labels
    only = score_logits(z, y, estimators=("debiased",))
    both = score_logits(z, y)
    assert only.smooth_ece is None and only.debiased_ece == both.debiased_ece
    assert score_logits(z, y, estimators=False).debiased_ece is None
    with pytest.raises(ValueError, match="subset of"):
        score_logits(z, y, estimators=("kde",))
