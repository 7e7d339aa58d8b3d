"""Tests for vlmcal_utils.study.tasks: end-to-end tasks (tiny or random-weight models: the code
path, not the numbers)."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest

from vlmcal_utils import study
from vlmcal_utils.demo import demo_preprocess
from vlmcal_utils.models import RANDOM_WEIGHTS_NOTE, load_model, save_weights


@pytest.fixture(scope="module")
def tiny_loader(tiny_clip):
    """A ``model_loader`` giving the perturbed tiny CLIP of tests/conftest.py (32x32 images)."""
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    return lambda arch, pretrained, device: (tiny_clip, demo_preprocess(32), tokenizer)


def test_demo_study_tasks_end_to_end(tmp_path, tiny_loader):
    tasks = study.demo_study_tasks(["vlmcal-demo-small"], n_val=24, n_test=12, device="cpu",
                                   cache_dir=tmp_path / "feat", model_loader=tiny_loader)
    assert tasks[0].splits == ("test", "clipart", "sketch", "painting") and tasks[0].dataset == "demo world"
    data = tasks[0].load()
    assert set(data) == {"cal", "test", "clipart", "sketch", "painting"}
    assert data["cal"][0].shape == (24, 36) and data["sketch"][0].shape == (12, 36)
    again = tasks[0].load()  # features come from the cache: identical logits
    np.testing.assert_allclose(again["painting"][0], data["painting"][0], rtol=1e-6)
    assert len(list((tmp_path / "feat").glob("*/manifest.json"))) == 5
    df = study.run_grid(tasks, tmp_path / "demo.jsonl", n_boot=0, progress=False)
    assert set(df["split"]) == {"test", "clipart", "sketch", "painting"}


def test_dataset_spec_selection_and_validation():
    class Items(list):
        classnames = ["a", "b"]

    items = Items(range(100))
    a = study.DatasetSpec("x", index_range=(0, 50), shuffle=True).select(items, seed=0)
    b = study.DatasetSpec("x", index_range=(50, 100), shuffle=True).select(items, seed=0)
    assert sorted(list(a.indices) + list(b.indices)) == items  # the halves partition the set
    assert a.classnames == ["a", "b"]
    assert study.DatasetSpec("x").ident(3) != study.DatasetSpec("x").ident(4)
    with pytest.raises(ValueError, match="outside"):
        study.DatasetSpec("x", index_range=(0, 200)).select(items, seed=0)
    with pytest.raises(ValueError, match="unknown study dataset"):
        study.dataset_specs("mnist")
    with pytest.raises(ValueError, match="reserved"):
        study.zeroshot_task("vlmcal-demo", None, "d", study.DatasetSpec("demo-photo"),
                            {"cal": study.DatasetSpec("demo-photo")})
    with pytest.raises(ValueError, match="at least one evaluation split"):
        study.zeroshot_task("vlmcal-demo", None, "d", study.DatasetSpec("demo-photo"), {})


def test_optional_missing_split_is_skipped(tmp_path, tiny_loader):
    cal, _ = study.dataset_specs("demo", 12, 6)
    evals = {"test": study.DatasetSpec("demo-photo", "test", n=6),
             "imagenet-r": study.DatasetSpec("imagenet-r", "test", n=6, optional=True)}
    task = study.zeroshot_task("vlmcal-demo-small", None, "d", cal, evals, data_root=tmp_path,
                               cache_dir=tmp_path / "f", model_loader=tiny_loader)
    with pytest.warns(UserWarning, match="skipping split 'imagenet-r'"):
        data = task.load()
    assert set(data) == {"cal", "test"}


def test_random_weights_task_is_seeded_labelled_and_cached(tmp_path):
    # pretrained="random": seeded random weights from models.load_model (plumbing only)
    cal, evals = study.dataset_specs("demo", 12, 6)
    evals = {"test": evals["test"]}
    task = study.zeroshot_task("vlmcal-demo-small", "random", "demo", cal, evals, device="cpu",
                               cache_dir=tmp_path, seed=1)
    assert task.model == "vlmcal-demo-small (random weights, seed 1)"
    assert task.source == f"zero-shot vlmcal-demo-small, {RANDOM_WEIGHTS_NOTE}"
    first = task.load()
    again = study.zeroshot_task("vlmcal-demo-small", "random", "demo", cal, evals, device="cpu",
                                cache_dir=tmp_path, seed=1).load()
    np.testing.assert_allclose(again["test"][0], first["test"][0], rtol=1e-6)
    assert len(list(tmp_path.glob("*/manifest.json"))) == 2  # one per split: the second run hit the cache
    other = study.zeroshot_task("vlmcal-demo-small", "random", "demo", cal, evals, device="cpu",
                                cache_dir=tmp_path, seed=2).load()
    assert not np.allclose(other["test"][0], first["test"][0])  # another seed is other weights


def test_cifar10_halves_from_shared_images(shared, tmp_path):
    # The default loader (models.load_model) with a weights file, as a user's download would be.
    model, _, _ = load_model("vlmcal-demo-small", "random", device="cpu", seed=0)
    weights = save_weights(model, tmp_path / "random.safetensors")
    cal, evals = study.dataset_specs("cifar10-shared", n_cal=16, n_test=8)
    task = study.zeroshot_task("vlmcal-demo-small", str(weights), "CIFAR-10", cal, evals, device="cpu",
                               cache_dir=tmp_path)
    assert task.source.endswith("computed here")
    data = task.load()
    assert data["cal"][0].shape == (16, 10) and data["test"][0].shape == (8, 10)


def test_imagenet_shared_specs_are_disjoint_seeded_halves():
    cal, evals = study.dataset_specs("imagenet-shared", 100, 50)
    assert cal.name == evals["test"].name == "imagenet-shared"
    assert cal.index_range == (0, 500) and evals["test"].index_range == (500, 1000) and cal.shuffle


def test_imagenet_specs_list_the_shifts_as_optional():
    cal, evals = study.dataset_specs("imagenet")
    assert list(evals) == ["test", *study.IMAGENET_SHIFTS]
    assert all(evals[s].optional for s in study.IMAGENET_SHIFTS) and not evals["test"].optional
    assert set(study.IMAGENET_SHIFTS) < set(study.IMAGENET_LABEL_DATASETS)


def test_baseline_task_labels_random_weights():
    cal, evals = study.dataset_specs("imagenet-shared", 8, 8)
    task = study.baseline_task("test_resnet", "random", "ImageNet", cal, evals, seed=3)
    assert task.family == "baseline" and task.model == "test_resnet (random weights, seed 3)"
    assert RANDOM_WEIGHTS_NOTE in task.source
    assert study.baseline_task("test_resnet", "true", "ImageNet", cal, evals).model == "test_resnet"


def test_two_preprocessings_do_not_share_cached_features(tmp_path, tiny_clip):
    # the feature-cache key used repr(preprocess) without memory addresses: two different lambdas
    # read the same, so the second task was served the first one's features
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    plain = demo_preprocess(32)

    def loader(scale):
        preprocess = lambda image: plain(image) * scale  # noqa: E731 - the point is a lambda
        return lambda arch, pretrained, device: (tiny_clip, preprocess, tokenizer)

    cal, evals = study.dataset_specs("demo", 8, 4)
    evals = {"test": evals["test"]}
    a, b = (study.zeroshot_task("vlmcal-demo-small", None, "demo", cal, evals, device="cpu", cache_dir=tmp_path,
                                model_loader=loader(s)).load() for s in (1.0, 0.5))
    assert not np.allclose(a["test"][0], b["test"][0])


@pytest.mark.parametrize("change", [dict(n_val=30), dict(n_test=10), dict(seed=1)])
def test_rerun_with_other_sizes_or_subset_seed_is_refused(tmp_path, tiny_loader, change):
    """Rows computed on other images (other sizes, another subset seed) are never reused."""
    base = dict(n_val=24, n_test=12, seed=0)
    path = tmp_path / "grid.jsonl"
    kw = dict(device="cpu", cache_dir=tmp_path / "feat", model_loader=tiny_loader)
    first = study.run_grid(study.demo_study_tasks(["vlmcal-demo-small"], **base, **kw), path,
                           n_boot=0, progress=False)
    assert set(first["n_calib"]) == {24}
    # the same inputs: a plain resume, nothing recomputed
    study.run_grid(study.demo_study_tasks(["vlmcal-demo-small"], **base, **kw), path, n_boot=0,
                   progress=False, on_cell=lambda rows: pytest.fail("recomputed"))
    other = study.demo_study_tasks(["vlmcal-demo-small"], **{**base, **change}, **kw)
    assert other[0].inputs != study.demo_study_tasks(["vlmcal-demo-small"], **base, **kw)[0].inputs
    with pytest.raises(ValueError, match="other inputs.*sizes or subset seed"):
        study.run_grid(other, path, n_boot=0, progress=False)


def test_task_inputs_name_sizes_seed_and_ranges():
    cal, evals = study.dataset_specs("cifar10-shared", 64, 32)
    task = study.zeroshot_task("ViT-B-32", "random", "cifar10", cal, evals, seed=3)
    assert "n64/seed3" in task.inputs and "n32/seed3" in task.inputs and "range(0, 5000)" in task.inputs
    specs = study.dataset_specs("imagenet-shared", 8, 8)
    base = study.baseline_task("test_resnet", "random", "imagenet-shared", *specs)
    assert "n8/seed0" in base.inputs
