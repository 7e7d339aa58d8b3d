"""Feature cache: hit on the second call, resume after an interruption, keyed by model/data/transform
(two different transforms never share an entry)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

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


def test_two_different_lambdas_get_two_cache_entries(dataset, tmp_path):
    # The old key stripped memory addresses from repr(), so both lambdas keyed one entry and the
    # second call silently served the first one's features.
    model = CountingModel()
    dataset.transform = T.Compose([T.ToTensor(), lambda x: x * 2])
    doubled, _ = _run(model, dataset, tmp_path)
    dataset.transform = T.Compose([T.ToTensor(), lambda x: x * 3])
    tripled, _ = _run(model, dataset, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2
    assert not torch.allclose(doubled, tripled)


def test_transform_id_is_stable_and_tells_functions_apart():
    from vlmcal_utils.features import transform_id

    def scaled(k):
        return lambda x: x * k

    # the same code gives the same id (a cache hit in the next session), without memory addresses
    first = transform_id(T.Compose([T.ToTensor(), lambda x: x * 2]))
    assert "0x" not in first and transform_id(T.Compose([T.ToTensor(), lambda x: x * 2])) == first
    assert transform_id(scaled(2)) == transform_id(scaled(2)) != transform_id(scaled(3))  # closure values
    assert transform_id(T.Lambda(lambda x: x + 1)) != transform_id(T.Lambda(lambda x: x - 1))  # repr "Lambda()"
    assert transform_id(functools.partial(torch.clamp, min=0)) != transform_id(functools.partial(torch.clamp, min=1))
    # Normalize's repr rounds tensor means to 4 digits; the id does not
    assert (transform_id(T.Normalize(torch.tensor([0.48145]), torch.tensor([1.0])))
            != transform_id(T.Normalize(torch.tensor([0.48146]), torch.tensor([1.0]))))
    assert transform_id(None) == "None"


def test_transform_id_is_the_same_in_another_process():
    # the demo model's transform holds a local lambda: its id must not depend on the process
    from vlmcal_utils.demo import demo_preprocess
    from vlmcal_utils.features import transform_id

    code = "from vlmcal_utils.demo import demo_preprocess; from vlmcal_utils.features import transform_id; " \
           "print(transform_id(demo_preprocess()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "123"})
    assert out.stdout.strip() == transform_id(demo_preprocess())


class _Opaque:
    """A transform whose repr shows only a memory address."""

    def __call__(self, image):
        return T.functional.to_tensor(image)


def test_transform_without_stable_description_is_refused(dataset, tmp_path):
    dataset.transform = _Opaque()
    with pytest.raises(ValueError, match="preprocess_id="):
        _run(CountingModel(), dataset, tmp_path)
    feats, _ = _run(CountingModel(), dataset, tmp_path, preprocess_id="to_tensor")  # named by the caller
    assert feats.shape == (23, 5)


def test_no_temporary_files_are_left(dataset, tmp_path):
    _run(CountingModel(), dataset, tmp_path)
    folder = next(tmp_path.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == [f"chunk_0000{i}.safetensors" for i in range(3)] + [
        "manifest.json"]


def test_default_cache_dir_follows_the_cache_variables(monkeypatch, tmp_path):
    from vlmcal_utils.features import default_cache_dir

    monkeypatch.delenv("VLMCAL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "vlmcal" / "features"  # XDG was ignored before
    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c" / "features"


def test_amp_is_checked_and_full_precision_on_the_cpu(dataset, tmp_path):
    with pytest.raises(ValueError, match="amp must be one of"):
        _run(CountingModel(), dataset, tmp_path, amp="half")
    _run(CountingModel(), dataset, tmp_path)
    manifest = json.loads(next(tmp_path.iterdir()).joinpath("manifest.json").read_text())
    assert manifest["key"]["amp"] is None and manifest["key"]["format"] == 2


def _flip_a_bit(path, offset_from_end: int = 5) -> None:
    raw = bytearray(path.read_bytes())
    raw[-offset_from_end] ^= 0x01  # inside the tensor data (the header is at the front)
    path.write_bytes(bytes(raw))


def test_manifest_records_a_checksum_per_chunk(dataset, tmp_path):
    _run(CountingModel(), dataset, tmp_path)
    folder = next(tmp_path.iterdir())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sorted(manifest["checksums"]) == ["0", "1", "2"]  # 23 items in chunks of 8
    import hashlib
    assert manifest["checksums"]["1"] == hashlib.sha256((folder / "chunk_00001.safetensors").read_bytes()).hexdigest()


def test_a_flipped_bit_in_a_chunk_is_recomputed_with_a_warning(dataset, tmp_path):
    clean, labels = _run(CountingModel(), dataset, tmp_path)
    folder = next(tmp_path.iterdir())
    _flip_a_bit(folder / "chunk_00001.safetensors")
    model = CountingModel()
    with pytest.warns(RuntimeWarning, match="chunk_00001.*checksum"):
        feats, labels2 = _run(model, dataset, tmp_path)
    assert model.calls == 2  # only the damaged chunk (8 items, batches of 4)
    torch.testing.assert_close(feats, clean, rtol=0, atol=0)
    assert torch.equal(labels2, labels)
    model = CountingModel()
    _run(model, dataset, tmp_path)  # repaired: a plain hit again
    assert model.calls == 0


@pytest.mark.parametrize("content", ["", "{", "[]", '{"key": {"format": 1}}'])
def test_a_broken_manifest_is_rebuilt_from_the_chunks(dataset, tmp_path, content):
    clean, _ = _run(CountingModel(), dataset, tmp_path)
    folder = next(tmp_path.iterdir())
    (folder / "manifest.json").write_text(content)
    model = CountingModel()
    with pytest.warns(RuntimeWarning, match="manifest.json"):
        feats, _ = _run(model, dataset, tmp_path)
    assert model.calls == 0  # the chunks were intact: nothing recomputed
    torch.testing.assert_close(feats, clean, rtol=0, atol=0)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and len(manifest["checksums"]) == 3
    model = CountingModel()
    _run(model, dataset, tmp_path)  # and every later call is a plain hit, not a crash
    assert model.calls == 0


def test_a_dataset_without_transform_names_what_to_pass(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(4, 8, 8, 3), dtype=np.uint8)
    raw = ArrayImageDataset(images, [0, 1, 2, 0], ["a", "b", "c"])  # yields PIL images
    with pytest.raises(TypeError, match=r"transform=preprocess"):
        _run(CountingModel(), raw, tmp_path, preprocess_id="none")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where CUDA is absent")
def test_cuda_without_cuda_gives_vlmcals_message(dataset, tmp_path):
    with pytest.raises(RuntimeError, match="CUDA is not available.*device='auto'"):
        _run(CountingModel(), dataset, tmp_path, device="cuda")
