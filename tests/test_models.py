"""load_model: every way a chapter names a model (demo, tag, local file, seeded "random"), ids,
labels, and clear errors for bad names and damaged or pickled weights files."""

from __future__ import annotations

import os
import tempfile

import open_clip
import pytest
import torch

from vlmcal_utils.models import (
    RANDOM_WEIGHTS_NOTE,
    describe_model,
    load_model,
    model_id,
    read_weights,
    save_weights,
    seeded,
)

DEMO = "vlmcal-demo"  # tiny: random demo weights are built in milliseconds


class _NotATensor:
    """A pickled object that torch.load(weights_only=True) must refuse."""


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_random_weights_are_seeded_in_memory_without_files(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # any temp file would land here
    monkeypatch.chdir(tmp_path)
    rng_before = torch.get_rng_state()
    model, preprocess, tokenizer = load_model(DEMO, "random", device="cpu", seed=0)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the caller's random stream is untouched
    assert not model.training and callable(preprocess) and tokenizer(["a cat"]).ndim == 2
    again, _, _ = load_model(DEMO, "random", device="cpu", seed=0)
    other, _, _ = load_model(DEMO, "random", device="cpu", seed=1)
    assert _same(_state(model), _state(again))
    assert not _same(_state(model), _state(other))
    # the weights the old save-to-a-temp-file path produced (manual_seed, then create_model):
    # plumbing runs keep their numbers
    torch.manual_seed(0)
    assert _same(_state(model), _state(open_clip.create_model(DEMO, pretrained=None)))
    assert list(tmp_path.iterdir()) == []


def test_random_needs_an_integer_seed():
    with pytest.raises(ValueError, match="seed=<int>"):
        load_model(DEMO, "random", device="cpu")
    with pytest.raises(ValueError, match="seed"):
        load_model(DEMO, "random", device="cpu", seed=1.5)


def test_seeded_restores_the_callers_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        inside = torch.rand(3)
    with seeded(7):
        assert torch.equal(torch.rand(3), inside)
    assert torch.equal(torch.rand(3), expected)


def test_model_id_and_label_of_random_weights():
    assert model_id("ViT-B-32", "random", 0) == "ViT-B-32/random-seed0"
    assert model_id("ViT-B-32", "random", 0) != model_id("ViT-B-32", "random", 1)
    with pytest.raises(ValueError, match="seed"):
        model_id("ViT-B-32", "random")
    assert RANDOM_WEIGHTS_NOTE == "random weights — plumbing only, numbers mean nothing"
    label = describe_model("ViT-B-32", "random", seed=3)
    assert RANDOM_WEIGHTS_NOTE in label and "seed 3" in label
    assert describe_model(DEMO, None) == f"{DEMO} (demo model, shipped weights)"
    assert describe_model("ViT-B-32", "openai", seed=3) == "ViT-B-32 (openai)"
    assert describe_model("ViT-B-32", "/w/vit.safetensors") == "ViT-B-32 (vit.safetensors)"


@pytest.mark.parametrize("arch", [DEMO, "vlmcal-demo-rn"])  # a ViT and a ModifiedResNet, tiny
def test_local_safetensors_roundtrip(tmp_path, arch):
    # A user's weights file: saved from seeded random weights, loaded by path (through open_clip,
    # as any architecture's file). load_model initialises its own random weights first, so equal
    # outputs prove the file was loaded.
    ref, _, _ = load_model(arch, "random", device="cpu", seed=0)
    path = save_weights(ref, tmp_path / f"{arch}.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left behind
    torch.manual_seed(1)
    model, _, tokenizer = load_model(arch, pretrained=path, device="cpu")
    assert not model.training
    size = model.visual.image_size
    image = torch.rand(1, 3, *(size if isinstance(size, tuple) else (size, size)))
    tokens = tokenizer(["a photo of a cat."])
    with torch.no_grad():
        assert torch.equal(model.encode_image(image), ref.encode_image(image))
        assert torch.equal(model.encode_text(tokens), ref.encode_text(tokens))
        assert torch.equal(model.logit_scale, ref.logit_scale)


def test_truncated_safetensors_is_a_value_error_naming_the_file(tmp_path):
    model, _, _ = load_model(DEMO, "random", device="cpu", seed=0)
    path = save_weights(model, tmp_path / "demo.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # an interrupted download
    with pytest.raises(ValueError, match=r"demo\.safetensors.*truncated or damaged"):
        load_model(DEMO, path, device="cpu")
    # the library's reason is passed on: "incomplete metadata" (safetensors of 2026), "MetadataIncompleteBuffer" (0.4.0)
    with pytest.raises(ValueError, match=r"(?i)demo\.safetensors.*incomplete"):
        read_weights(path)


def test_refused_pickle_names_the_file_and_the_safe_way(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"visual.proj": torch.zeros(2), "extra": _NotATensor()}, path)
    with pytest.raises(ValueError) as info:
        load_model(DEMO, path, device="cpu")
    message = str(info.value)
    assert "weights.pt" in message and "safetensors" in message and "_NotATensor" in message
    assert "weights_only=False" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # torch's advice is not shown
    with pytest.raises(ValueError, match="refused to unpickle"):
        read_weights(path)


def test_damaged_torch_file_is_a_value_error(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(100)}, path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"weights\.pt.*truncated or damaged"):
        load_model(DEMO, path, device="cpu")


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
    assert model_id("ViT-B-32", "openai") == "ViT-B-32/openai"
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"123")
    first = model_id("ViT-B-32", path)
    path.write_bytes(b"124")  # a changed file must give a different id (a cache miss)
    assert model_id("ViT-B-32", path) != first
    with pytest.raises(ValueError, match="random"):
        model_id("ViT-B-32", None)
    assert model_id(DEMO, None).startswith(f"{DEMO}/{DEMO}.safetensors-")  # the shipped file


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


def test_model_id_of_a_file_names_its_content_not_its_mtime(tmp_path):
    """Before (issue 25): the id held the file's mtime, so every fresh clone missed the feature cache."""
    import shutil

    from vlmcal_utils.demo import weights_path
    from vlmcal_utils.models import model_id

    copy = tmp_path / "w.safetensors"
    shutil.copy(weights_path("vlmcal-demo"), copy)
    first = model_id("vlmcal-demo", copy)
    os.utime(copy, ns=(1, 1))  # a fresh clone: same bytes, another modification time
    assert model_id("vlmcal-demo", copy) == first
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")  # other bytes: another model
    assert model_id("vlmcal-demo", copy) != first
