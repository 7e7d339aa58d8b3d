"""timm ImageNet baselines: loading (random weights through a .safetensors file), logits, the
ImageNet-A/-R column restriction, and the study task on the shared ImageNet photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from vlmcal_utils import baselines, study

TINY = "test_resnet"  # timm's own ~0.5 M-parameter test model: 1000 ImageNet outputs, 160 px


class _Photos(torch.utils.data.Dataset):
    """Random PIL images with given labels (a stand-in for an image folder)."""

    def __init__(self, labels, classnames, imagenet_indices=None, size=40):
        rng = np.random.default_rng(0)
        self.images = [Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)) for _ in labels]
        self.labels, self.classnames = list(labels), list(classnames)
        if imagenet_indices is not None:
            self.imagenet_indices = np.asarray(imagenet_indices)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = baselines.save_random_baseline(TINY, tmp_path_factory.mktemp("w") / "tiny.safetensors", seed=3)
    model, preprocess = baselines.load_baseline(TINY, path, device="cpu")
    return path, model, preprocess


def test_random_weights_file_roundtrip_gives_same_logits(tiny, tmp_path):
    path, model, preprocess = tiny
    again, _ = baselines.load_baseline(TINY, path, device="cpu")
    x = torch.randn(3, 3, 160, 160)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    # seeded: the same seed gives the same file contents, another seed other weights
    other, _ = baselines.load_baseline(TINY, baselines.save_random_baseline(TINY, tmp_path / "s4.safetensors", seed=4),
                                       device="cpu")
    with torch.no_grad():
        assert not torch.allclose(model(x), other(x))
    # timm's own eval transform (160 px centre crop for this model), not a generic one
    assert preprocess(Image.new("RGB", (300, 200))).shape == (3, 160, 160)
    assert not model.training


def test_bad_names_paths_and_heads(tmp_path):
    with pytest.raises(ValueError, match="resnet50"):
        baselines.load_baseline("resnet5O", False)  # close match offered
    with pytest.raises(ValueError, match="no pretrained weights"):
        baselines.check_baseline_name("resnet50.not_a_tag", True)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        baselines.load_baseline(TINY, tmp_path / "missing.safetensors")
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match="safetensors"):
        baselines.load_baseline(TINY, tmp_path / "w.pt")
    # a weights file of another architecture is refused, not half-loaded
    wrong = baselines.save_random_baseline("test_vit", tmp_path / "vit.safetensors")
    with pytest.raises(RuntimeError, match="does not hold weights"):
        baselines.load_baseline(TINY, wrong)
    with pytest.raises(ValueError, match="unseeded random"):
        baselines.baseline_id(TINY, False)


def test_failed_download_says_how_to_pass_a_file(monkeypatch):
    import timm

    def offline(*a, **k):
        if k.get("pretrained"):
            raise OSError("Name or service not known")
        return real(*a, **k)

    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(RuntimeError, match=r"pretrained='/path/to/test_resnet.safetensors'"):
        baselines.load_baseline(TINY, True, device="cpu")


def test_logits_cached_and_restricted_to_subset_columns(tiny, tmp_path):
    _, model, preprocess = tiny
    full = _Photos([0, 5, 999, 3], [f"c{i}" for i in range(1000)])
    z, y = baselines.baseline_logits(model, preprocess, full, "tiny", "full", cache_dir=tmp_path, batch_size=3,
                                     progress=False)
    assert z.shape == (4, 1000) and z.dtype == torch.float32 and y.tolist() == [0, 5, 999, 3]
    # second call: read from the cache (same numbers, no new cache folder)
    z2, _ = baselines.baseline_logits(model, preprocess, full, "tiny", "full", cache_dir=tmp_path, progress=False)
    assert torch.equal(z, z2) and len(list(tmp_path.glob("*/manifest.json"))) == 1
    # an ImageNet-A/-R style subset: labels index its own classes, logits keep only those columns
    cols = [7, 1, 500]
    sub = _Photos([0, 2, 1, 2], ["x", "y", "z"], imagenet_indices=cols)
    zs, ys = baselines.baseline_logits(model, preprocess, sub, "tiny", "sub", cache_dir=tmp_path, progress=False)
    zs_all, _ = baselines.baseline_logits(model, preprocess, sub, "tiny", "sub", cache_dir=tmp_path,
                                          progress=False, restrict=False)
    assert zs.shape == (4, 3) and ys.tolist() == [0, 2, 1, 2]
    assert torch.equal(zs, zs_all[:, cols])
    # also through a torch Subset (as DatasetSpec.select returns)
    assert baselines.imagenet_columns(torch.utils.data.Subset(sub, [0, 1])).tolist() == cols
    assert baselines.imagenet_columns(_Photos([0], ["a"] * 1000, imagenet_indices=range(1000))) is None
    with pytest.raises(ValueError, match="ImageNet-label datasets"):
        baselines.imagenet_columns(_Photos([0, 1], ["cat", "dog"]))


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
    assert full.loc["ts", "acc"] == full.loc["none", "acc"] and (df["family"] == "baseline").all()
