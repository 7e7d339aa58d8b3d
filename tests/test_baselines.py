"""timm ImageNet baselines: loading (seeded random weights in memory, local .safetensors files),
ids, logits, and the ImageNet-A/-R column restriction."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from vlmcal_utils import baselines
from vlmcal_utils.models import save_weights

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
def tiny():
    return baselines.load_baseline(TINY, "random", device="cpu", seed=3)


def test_random_weights_are_seeded_in_memory(tiny):
    model, preprocess = tiny
    rng_before = torch.get_rng_state()
    again, _ = baselines.load_baseline(TINY, "random", device="cpu", seed=3)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random stream is untouched
    other, _ = baselines.load_baseline(TINY, "random", device="cpu", seed=4)
    x = torch.randn(3, 3, 160, 160)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
        assert not torch.allclose(model(x), other(x))
        # the weights of the old save_random_baseline file (manual_seed, then create_model)
        torch.manual_seed(3)
        assert torch.equal(model(x), timm.create_model(TINY, pretrained=False).eval()(x))
    # timm's own eval transform (160 px centre crop for this model), not a generic one
    assert preprocess(Image.new("RGB", (300, 200))).shape == (3, 160, 160)
    assert not model.training
    with pytest.raises(ValueError, match="seed=<int>"):
        baselines.load_baseline(TINY, "random", device="cpu")


def test_local_safetensors_roundtrip(tiny, tmp_path):
    model, _ = tiny
    path = save_weights(model, tmp_path / "tiny.safetensors")
    loaded, _ = baselines.load_baseline(TINY, path, device="cpu")
    x = torch.randn(2, 3, 160, 160)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_baseline_id_names_the_seed(tmp_path):
    assert baselines.baseline_id(TINY, "random", seed=3) == "timm/test_resnet/random-seed3"
    assert baselines.baseline_id(TINY, "random", seed=3) != baselines.baseline_id(TINY, "random", seed=4)
    with pytest.raises(ValueError, match="seed"):
        baselines.baseline_id(TINY, "random")
    with pytest.raises(ValueError, match="unseeded random"):
        baselines.baseline_id(TINY, False)
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"x")
    import hashlib

    # the content's digest, not the size and modification time (a fresh clone keeps its caches)
    digest = hashlib.sha256(b"x").hexdigest()[:16]
    assert baselines.baseline_id(TINY, path) == f"timm/test_resnet/w.safetensors-{digest}"


def test_truncated_weights_file_is_a_value_error_naming_it(tiny, tmp_path):
    path = save_weights(tiny[0], tmp_path / "tiny.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"tiny\.safetensors.*truncated or damaged"):
        baselines.load_baseline(TINY, path, device="cpu")


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
    wrong = save_weights(timm.create_model("test_vit"), tmp_path / "vit.safetensors")
    with pytest.raises(RuntimeError, match="does not hold weights"):
        baselines.load_baseline(TINY, wrong)


def test_failed_download_says_how_to_pass_a_file(monkeypatch):
    def offline(*a, **k):
        if k.get("pretrained"):
            raise OSError("Name or service not known")
        return real(*a, **k)

    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(RuntimeError, match=r"pretrained='/path/to/test_resnet.safetensors'"):
        baselines.load_baseline(TINY, True, device="cpu")


def test_logits_cached_and_restricted_to_subset_columns(tiny, tmp_path):
    model, preprocess = tiny
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
