"""Feature cache: hit on the second call, resume after an interruption, keyed by model/data/transform."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision.transforms as T

from vlmcal_utils.data import ArrayImageDataset
from vlmcal_utils.features import extract_features


class CountingModel(torch.nn.Module):
    """A tiny image tower that counts encode_image calls and can fail after k calls."""

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3 * 8 * 8, 5)
        self.calls = 0
        self.fail_after = fail_after

    def encode_image(self, x):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        return self.proj(x.flatten(1))


@pytest.fixture
def dataset():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(23, 8, 8, 3), dtype=np.uint8)
    return ArrayImageDataset(images, rng.integers(0, 3, size=23), ["a", "b", "c"], T.ToTensor())


def _run(model, dataset, tmp_path, **kw):
    return extract_features(model, dataset, "counting/seed0", "toy/test", cache_dir=tmp_path,
                            batch_size=4, chunk_size=8, progress=False, **kw)


def test_second_call_is_a_cache_hit(dataset, tmp_path):
    model = CountingModel()
    feats, labels = _run(model, dataset, tmp_path)
    assert feats.shape == (23, 5) and feats.dtype == torch.float32
    assert torch.equal(labels, torch.as_tensor(dataset.labels))
    with torch.no_grad():
        direct = model.proj(torch.stack([dataset[i][0] for i in range(23)]).flatten(1))
    assert torch.allclose(feats, direct, atol=1e-6)  # raw features, not normalised
    first_calls = model.calls
    assert first_calls == 2 + 2 + 2  # chunks of 8, 8, 7 in batches of 4
    feats2, labels2 = _run(model, dataset, tmp_path)
    assert model.calls == first_calls  # nothing recomputed
    assert torch.equal(feats, feats2) and torch.equal(labels, labels2)
    folder = next(tmp_path.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and manifest["key"]["model_id"] == "counting/seed0"
    assert sorted(p.name for p in folder.glob("chunk_*")) == [f"chunk_0000{i}.safetensors" for i in range(3)]


def test_interrupted_extraction_resumes(dataset, tmp_path):
    reference, _ = _run(CountingModel(), dataset, tmp_path / "ref")
    broken = CountingModel(fail_after=3)  # dies inside chunk 1 (after chunk 0's 2 batches)
    with pytest.raises(KeyboardInterrupt):
        _run(broken, dataset, tmp_path / "run")
    folder = next((tmp_path / "run").iterdir())
    assert [p.name for p in folder.glob("chunk_*")] == ["chunk_00000.safetensors"]  # no partial file
    resumed = CountingModel()
    feats, _ = _run(resumed, dataset, tmp_path / "run")
    assert resumed.calls == 4  # only chunks 1 and 2
    assert torch.equal(feats, reference)


def test_key_depends_on_model_and_transform(dataset, tmp_path):
    model = CountingModel()
    _run(model, dataset, tmp_path)
    calls = model.calls
    extract_features(model, dataset, "another-model", "toy/test", cache_dir=tmp_path, batch_size=4,
                     chunk_size=8, progress=False)
    assert model.calls == 2 * calls
    dataset.transform = T.Compose([T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    _run(model, dataset, tmp_path)
    assert model.calls == 3 * calls
    assert len(list(tmp_path.iterdir())) == 3


def test_transform_repr_ignores_memory_addresses(dataset):
    from vlmcal_utils.features import _transform_repr

    dataset.transform = T.Compose([T.ToTensor(), lambda x: x * 2])
    first = _transform_repr(dataset)
    dataset.transform = T.Compose([T.ToTensor(), lambda x: x * 2])  # a new lambda object
    assert "0x" not in first and _transform_repr(dataset) == first
