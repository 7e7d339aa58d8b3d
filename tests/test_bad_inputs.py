"""A catalogue of bad inputs: each must raise ValueError/TypeError/FileNotFoundError naming the argument.

Every case is ``(id, call, exception, pattern)``; the pattern is what a user needs to read (the
argument's name or the value's problem). A case that returns quietly, or raises something else,
fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlmcal_utils import metrics, study, temperature
from vlmcal_utils.data import load_logits
from vlmcal_utils.features import extract_features
from vlmcal_utils.models import load_model
from vlmcal_utils.study.grid_config import grid_config

P = np.array([[0.7, 0.3], [0.4, 0.6]])
Y = np.array([0, 1])
Z = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.5]])
YZ = np.array([0, 1, 0])
BAD = (ValueError, TypeError, FileNotFoundError)

CASES = [
    # metrics: probabilities, labels, bins
    ("ece-ragged", lambda: metrics.ece([[0.5, 0.5], [1.0]], [0, 1]), "probs"),
    ("ece-1d-probs", lambda: metrics.ece([0.5, 0.5], [0, 1]), "probs"),
    ("ece-not-summing", lambda: metrics.ece([[0.9, 0.9], [0.5, 0.5]], Y), "sum"),
    ("ece-negative", lambda: metrics.ece([[1.2, -0.2], [0.5, 0.5]], Y), "probs"),
    ("ece-nan", lambda: metrics.ece([[np.nan, 1.0], [0.5, 0.5]], Y), "probs"),
    ("ece-label-range", lambda: metrics.ece(P, [0, 2]), "label"),
    ("ece-label-negative", lambda: metrics.ece(P, [0, -1]), "label"),
    ("ece-label-fraction", lambda: metrics.ece(P, [0.0, 0.5]), "label"),
    ("ece-label-length", lambda: metrics.ece(P, [0, 1, 1]), "label"),
    ("ece-label-2d", lambda: metrics.ece(P, [[0], [1]]), "label"),
    ("ece-bins-zero", lambda: metrics.ece(P, Y, n_bins=0), "n_bins"),
    ("ece-bins-float", lambda: metrics.ece(P, Y, n_bins=2.5), "n_bins"),
    ("ece-bins-huge", lambda: metrics.ece(P, Y, n_bins=10**12), "n_bins"),
    ("ece-bins-str", lambda: metrics.ece(P, Y, n_bins="15"), "n_bins"),
    ("ece-binning", lambda: metrics.ece(P, Y, binning="equal-width"), "binning"),
    ("ece-empty", lambda: metrics.ece(np.zeros((0, 2)), []), "empty|probs"),
    ("mce-bins", lambda: metrics.mce(P, Y, n_bins=-1), "n_bins"),
    ("nll-ragged", lambda: metrics.nll([[1.0, 2.0], [3.0]], [0, 1]), "logits"),
    ("nll-label-range", lambda: metrics.nll(Z, [0, 1, 5]), "label"),
    ("nll-inf", lambda: metrics.nll([[np.inf, 0.0]], [0]), "logits|finite"),
    ("nll-string", lambda: metrics.nll("abc", [0]), "logits"),
    ("brier-not-summing", lambda: metrics.brier([[0.2, 0.2]], [0]), "sum"),
    ("brier-label", lambda: metrics.brier(P, [0, 3]), "label"),
    ("accuracy-length", lambda: metrics.accuracy(P, [0]), "label"),
    ("classwise-bins", lambda: metrics.classwise_ece(P, Y, n_bins=0), "n_bins"),
    ("bootstrap-n", lambda: metrics.bootstrap_ci(metrics.ece, P, Y, n_boot=-5), "n_boot"),
    ("bootstrap-alpha", lambda: metrics.bootstrap_ci(metrics.ece, P, Y, alpha=2.0), "alpha"),
    # temperature
    ("fit-ragged", lambda: temperature.fit_temperature([[1.0, 2.0], [3.0]], [0, 1]), "logits"),
    ("fit-labels", lambda: temperature.fit_temperature(Z, [0, 1, 9]), "label"),
    ("fit-method", lambda: temperature.fit_temperature(Z, YZ, method="newton"), "method"),
    ("fit-nan", lambda: temperature.fit_temperature([[np.nan, 0.0]], [0]), "logits|finite"),
    ("apply-list", lambda: temperature.apply_temperature([[1.0, 2.0]], 1.5), "logits"),
    ("apply-T-zero", lambda: temperature.apply_temperature(Z, 0.0), "temperature"),
    ("apply-T-negative", lambda: temperature.apply_temperature(Z, -1.0), "temperature"),
    ("apply-T-nan", lambda: temperature.apply_temperature(Z, float("nan")), "temperature"),
    ("apply-T-str", lambda: temperature.apply_temperature(Z, "2"), "temperature"),
    # data
    ("logits-missing", lambda: load_logits("/nonexistent/x.npz"), "x.npz"),
    # models
    ("model-arch", lambda: load_model("ViT-B-33", "random"), "ViT-B-33"),
    ("model-weights-missing", lambda: load_model("ViT-B-32", "/nonexistent/w.safetensors"), "w.safetensors"),
    ("model-seed", lambda: load_model("ViT-B-32", "random", seed=-1), "seed"),
    # features
    ("features-empty", lambda: extract_features(torch.nn.Linear(2, 2), [], "m", "d", progress=False), "empty"),
    ("features-chunk", lambda: extract_features(torch.nn.Linear(2, 2), [1], "m", "d", chunk_size=0,
                                                progress=False), "chunk_size"),
    ("features-batch", lambda: extract_features(torch.nn.Linear(2, 2), [1], "m", "d", batch_size=-1,
                                                progress=False), "batch_size"),
    ("features-device", lambda: extract_features(torch.nn.Linear(2, 2), [1], "m", "d", device="tpu",
                                                 progress=False, preprocess_id="x"), "device"),
    # study
    ("grid-n_boot-negative", lambda: study.GridConfig(n_boot=-5), "n_boot"),
    ("grid-n_boot-float", lambda: study.GridConfig(n_boot=2.5), "n_boot"),
    ("grid-n_repeats-zero", lambda: study.GridConfig(n_repeats=0), "n_repeats"),
    ("grid-n_repeats-str", lambda: study.GridConfig(n_repeats="3"), "n_repeats"),
    ("grid-sizes-scalar", lambda: study.GridConfig(n_calib_grid=10), "n_calib_grid"),
    ("grid-size-zero", lambda: study.GridConfig(n_calib_grid=[0]), "n_calib_grid"),
    ("grid-alpha", lambda: study.GridConfig(alpha=1.5), "alpha"),
    ("grid-seed", lambda: study.GridConfig(seed=-1), "seed"),
    ("grid-method", lambda: study.GridConfig(method="adam"), "method"),
    ("grid-stratified", lambda: study.GridConfig(stratified="yes"), "stratified"),
    ("grid-bins", lambda: study.GridConfig(n_bins=0), "n_bins"),
    ("grid-unknown-setting", lambda: grid_config(n_repeat=3), "n_repeats"),
    ("grid-repeated-task", lambda: study.run_grid([_task(), _task()], "/tmp/never.jsonl", progress=False),
     "repeat"),
    ("study-dataset", lambda: study.dataset_specs("cifar100"), "cifar100"),
    ("baseline-dataset", lambda: study.baseline_task("resnet18", True, "cifar10",
                                                     *study.dataset_specs("cifar10")), "ImageNet"),
]


def _task():
    return study.StudyTask("m", "d", lambda: {})


def _param(case):
    if not hasattr(case, "marks"):  # a plain tuple (pytest.param gives a NamedTuple with marks)
        return pytest.param(*case[1:], id=case[0])
    return pytest.param(*case.values[1:], id=case.values[0], marks=case.marks)


@pytest.mark.parametrize("call, pattern", [_param(c) for c in CASES])
def test_bad_input_gives_a_clear_error(call, pattern):
    with pytest.raises(BAD, match=pattern):
        call()


def _runner_cases():
    return [("n_views", "abc"), ("n_views", "2.5"), ("datasets", "demo-photo"), ("lam", "high"),
            ("ece_bins", "[15, x]"), ("augmix", "3"), ("n_cal", "null"), ("seed", "[0]"),
            ("data_root", "/nonexistent/images"), ("n_viewz", "3"), ("datasets", "[a")]


@pytest.mark.parametrize("name, value", _runner_cases())
def test_runner_values_are_refused_before_running(repo_root, name, value):
    from vlmcal_book import reproduce
    with pytest.raises(BAD, match=name):
        reproduce.resolve_parameters(repo_root / "notebooks" / "04_ctpt.md", "ci",
                                     {name: reproduce.parse_value(value, name)})
