"""Chapter 2's analyses of published zero-shot outputs: the logit-scale sweep, the summary, the languages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlmcal_utils import metrics
from vlmcal_utils.data import load_logits
from vlmcal_utils.temperature import fit_temperature
from vlmcal_utils.views.chapter2 import language_table, published_language_logits, published_summary, scale_sweep


def _credal_file(tmp_path, n=400, k=4, seed=0):
    """A small file in the credal CIFAR-10 layout: English logits ~ 100 x cos, one translated variant."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    cos = 0.2 + 0.01 * rng.standard_normal((n, k))
    cos[np.arange(n), labels] += 0.03  # the true class is most similar, mostly
    noisy = 0.2 + 0.01 * rng.standard_normal((n, k))  # "french": no signal at all
    names = np.array(["cat", "dog", "car", "ship"][:k])
    path = tmp_path / "credal.npz"
    half = n // 2
    np.savez(path, logits=100 * cos, labels=labels, logits_val=100 * cos[:half], labels_val=labels[:half],
             logits_test=100 * cos[half:], labels_test=labels[half:], classnames=names,
             logits_french=100 * noisy, classnames_french=np.array(["chat", "chien", "voiture", "chat"][:k]),
             meta=json.dumps({"model": "toy"}))
    return load_logits(path), cos, labels


def test_scale_sweep_keeps_accuracy_and_moves_confidence(tmp_path):
    _, cos, labels = _credal_file(tmp_path)
    sweep = scale_sweep(cos, labels, [1, 10, 100, 1000])
    assert list(sweep.columns) == ["scale", "accuracy", "ECE", "mean confidence"]
    assert sweep["accuracy"].nunique() == 1  # the argmax never depends on the scale
    assert np.all(np.diff(sweep["mean confidence"]) > 0)  # a larger scale is always more confident
    assert sweep["mean confidence"].iloc[0] == pytest.approx(0.25, abs=0.01)  # s = 1: nearly uniform over 4
    assert sweep["ECE"].iloc[2] == pytest.approx(metrics.ece(metrics.softmax(100 * cos), labels))
    with pytest.raises(ValueError, match="positive"):
        scale_sweep(cos, labels, [0.0])
    with pytest.raises(ValueError, match="labels"):
        scale_sweep(cos, labels[:-1], [1.0])


def test_language_variants_and_table(tmp_path):
    pub, cos, labels = _credal_file(tmp_path)
    variants = published_language_logits(pub)
    assert list(variants) == ["english", "french"]  # English first, then the languages present
    logits, y, names = variants["english"]
    assert logits.shape == (400, 4) and np.array_equal(y, labels) and names == ["cat", "dog", "car", "ship"]
    table = language_table(variants, n_boot=50)
    assert list(table.index) == ["english", "french"]
    assert table.loc["english", "accuracy"] > 0.8 > 0.4 > table.loc["french", "accuracy"]  # signal vs none
    assert table.loc["french", "distinct names"] == 3 and table.loc["english", "distinct names"] == 4
    lo, hi = table.loc["english", "ECE 95% CI"]
    assert lo <= table.loc["english", "ECE"] <= hi
    # the interval is the metrics module's bootstrap of the same ECE (same seed: same resampled rows)
    probs = metrics.softmax(logits)
    expected = metrics.bootstrap_ci(lambda p, t: metrics.ece(p, t), probs, labels, n_boot=50, seed=0)
    assert (lo, hi) == pytest.approx(expected)
    # a plain logits file has no language variants
    plain = tmp_path / "plain.npz"
    np.savez(plain, logits_val=cos, labels_val=labels, logits_test=cos, labels_test=labels)
    assert published_language_logits(load_logits(plain)) == {}
    with pytest.raises(ValueError, match="no language variants"):
        language_table({})
    with pytest.raises(ValueError, match="n_boot"):
        language_table(variants, n_boot=0)


def test_published_summary_against_the_metrics_module(tmp_path):
    """Each number of the summary, recomputed independently with vlmcal_utils.metrics."""
    pub, cos, labels = _credal_file(tmp_path)
    sweep = scale_sweep(cos, labels, [10, 100, 300])
    s = published_summary(pub, sweep, scale=100.0, n_bins=10)
    t = float(fit_temperature(pub.logits_val, pub.labels_val))
    p_test, p_all = metrics.softmax(pub.logits_test), metrics.softmax(100 * cos)
    conf = p_all.max(axis=1)
    correct = p_all.argmax(axis=1) == labels
    assert s["temperature"] == pytest.approx(t) and s["best_scale"] == pytest.approx(100.0 / t)
    assert s["accuracy_test"] == pytest.approx(metrics.accuracy(p_test, pub.labels_test))
    assert s["ece_test_at_100"] == pytest.approx(metrics.ece(p_test, pub.labels_test, n_bins=10))
    assert s["ece_test_at_best"] == pytest.approx(
        metrics.ece(metrics.softmax(pub.logits_test / t), pub.labels_test, n_bins=10))
    assert s["n_images_all"] == 400 and s["accuracy_all"] == pytest.approx(correct.mean())
    assert s["ece_all"] == pytest.approx(metrics.ece(p_all, labels, n_bins=10))
    assert s["mean_confidence_all"] == pytest.approx(conf.mean())
    assert s["mean_confidence_correct"] == pytest.approx(conf[correct].mean())
    assert s["mean_confidence_wrong"] == pytest.approx(conf[~correct].mean())
    assert s["mean_confidence_correct"] > s["mean_confidence_wrong"]
    lowest = sweep.loc[sweep["ECE"].idxmin()]
    assert (s["scale_with_lowest_ece"], s["lowest_ece"]) == (lowest["scale"], lowest["ECE"])
    assert published_summary(pub)["lowest_ece"] is None  # no sweep: no lowest-ECE scale


def test_published_summary_without_full_arrays_uses_val_and_test(tmp_path):
    _, cos, labels = _credal_file(tmp_path)
    path = tmp_path / "plain.npz"
    np.savez(path, logits_val=100 * cos[:100], labels_val=labels[:100], logits_test=100 * cos[100:],
             labels_test=labels[100:])
    s = published_summary(load_logits(path))
    assert s["n_images_all"] == 400
    assert s["ece_all"] == pytest.approx(metrics.ece(metrics.softmax(100 * cos), labels))
