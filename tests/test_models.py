"""load_model: random open_clip weights round-trip through a local safetensors file; bad names."""

from __future__ import annotations

import pytest
import torch

import open_clip
from vlmcal_utils.models import load_model, save_random_weights, save_weights


@pytest.mark.parametrize("arch", ["RN50", "ViT-B-32"])
def test_local_safetensors_roundtrip(tmp_path, arch):
    # save_random_weights(seed=0) must equal a model created after manual_seed(0); load_model
    # initialises its own random weights first, so equal outputs prove the file was loaded.
    path = save_random_weights(arch, tmp_path / f"{arch}.safetensors", seed=0)
    torch.manual_seed(0)
    ref = open_clip.create_model(arch, pretrained=None).eval()
    torch.manual_seed(1)
    model, preprocess, tokenizer = load_model(arch, pretrained=path, device="cpu")
    assert not model.training
    image = torch.rand(1, 3, 224, 224)
    tokens = tokenizer(["a photo of a cat."])
    with torch.no_grad():
        assert torch.equal(model.encode_image(image), ref.encode_image(image))
        assert torch.equal(model.encode_text(tokens), ref.encode_text(tokens))
        assert torch.equal(model.logit_scale, ref.logit_scale)


def test_save_weights_rejects_other_formats(tmp_path):
    with pytest.raises(ValueError, match="safetensors"):
        save_weights(torch.nn.Linear(2, 2), tmp_path / "w.pt")


def test_unknown_arch_suggests_close_matches():
    with pytest.raises(ValueError, match="ViT-B-32"):
        load_model("ViT-B32", device="cpu")


def test_unknown_tag_suggests_close_matches():
    with pytest.raises(ValueError, match="laion2b_s34b_b79k"):
        load_model("ViT-B-32", pretrained="laion2b_s34b", device="cpu")


def test_missing_local_file():
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_model("ViT-B-32", pretrained="/nonexistent/weights.safetensors", device="cpu")


def test_fp16_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: fp16 is allowed")
    with pytest.raises(ValueError, match="CUDA"):
        load_model("RN50", device="cpu", precision="fp16")


def test_download_failure_is_explained(monkeypatch):
    # No network in CI: simulate open_clip's download error instead of waiting for retries.
    def fail(*args, **kwargs):
        raise RuntimeError("Failed to download weights for tag 'openai'")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fail)
    with pytest.raises(RuntimeError, match="could not fetch.*pretrained="):
        load_model("RN50", pretrained="openai", device="cpu")


def test_model_id_tracks_the_weights_file(tmp_path):
    import os

    from vlmcal_utils.models import model_id

    assert model_id("ViT-B-32", "openai") == "ViT-B-32/openai"
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"123")
    first = model_id("ViT-B-32", path)
    os.utime(path, ns=(1, 1))  # a changed file must give a different id (a cache miss)
    assert model_id("ViT-B-32", path) != first
    with pytest.raises(ValueError, match="random"):
        model_id("ViT-B-32", None)


def test_weights_for_another_arch_are_explained(tmp_path):
    path = save_weights(torch.nn.Linear(2, 2), tmp_path / "linear.safetensors")
    with pytest.raises(RuntimeError, match="could not load"):
        load_model("RN50", pretrained=path, device="cpu")


def test_openai_tag_gets_quickgelu(monkeypatch):
    seen = {}

    def fake(arch, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("no network")

    monkeypatch.setattr(open_clip, "create_model_and_transforms", fake)
    with pytest.raises(RuntimeError):
        load_model("ViT-B-16", pretrained="openai", device="cpu")
    assert seen["force_quick_gelu"] is True
    with pytest.raises(RuntimeError):
        load_model("ViT-B-16", pretrained="laion2b_s34b_b88k", device="cpu")
    assert seen["force_quick_gelu"] is False
