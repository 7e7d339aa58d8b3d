"""Study tasks of timm baselines (moved from tests/test_baselines.py: they test vlmcal_utils.study)."""

from __future__ import annotations

import numpy as np
import pytest

from vlmcal_utils import study

TINY = "test_resnet"


def test_baseline_task_rejects_non_imagenet_datasets():
    cal, evals = study.dataset_specs("cifar10-shared", 8, 8)
    with pytest.raises(ValueError, match="ImageNet-label dataset"):
        study.baseline_task(TINY, "random", "CIFAR-10", cal, evals)


def test_baseline_task_on_shared_imagenet_photos(shared, tmp_path):
    cal, evals = study.dataset_specs("imagenet-shared", n_cal=12, n_test=8)
    task = study.baseline_task(TINY, "random", "ImageNet (shared)", cal, evals, device="cpu", cache_dir=tmp_path)
    assert task.family == "baseline" and "plumbing only" in task.source
    data = task.load()
    assert data["cal"][0].shape == (12, 1000) and data["test"][0].shape == (8, 1000)
    # the seeded halves are disjoint photos (one per class, so labels identify the photo)
    assert not set(data["cal"][1].tolist()) & set(data["test"][1].tolist())
    np.testing.assert_array_equal(task.load()["test"][0], data["test"][0])  # cached, and seeded weights
    df = study.run_grid([task], tmp_path / "g.jsonl", n_calib_grid=[5], n_repeats=2, n_boot=0, progress=False)
    full = df[df["cell"] == "all"].set_index("method")
    assert full.loc["ts", "accuracy"] == full.loc["none", "accuracy"] and (df["family"] == "baseline").all()
