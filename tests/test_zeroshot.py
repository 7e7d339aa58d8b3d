"""Zero-shot helpers: exact truncated text pass, classifier construction, logits."""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from vlmcal_utils.zeroshot import (
    IMAGENET_CLASSNAMES,
    OPENAI_IMAGENET_TEMPLATES,
    SINGLE_TEMPLATE,
    build_classifier,
    encode_text_truncated,
    eot_positions,
    format_prompt,
    logit_scale,
    supports_truncation,
    text_transformer_forward,
    zeroshot_logits,
)

PROMPTS = ["a photo of a cat.", "a bad photo of the automobile with many words in it, really."]


@pytest.fixture(scope="module", params=["RN50", "ViT-B-32"])
def clip(request):
    torch.manual_seed(0)
    model = open_clip.create_model(request.param, pretrained=None).eval()
    return model, open_clip.get_tokenizer(request.param)


def test_truncated_text_pass_matches_full(clip):
    model, tok = clip
    tokens = tok(PROMPTS)
    with torch.no_grad():
        full = model.encode_text(tokens)
        trunc = encode_text_truncated(model, tokens)
    assert supports_truncation(model)
    assert int(eot_positions(tokens, model).max()) + 1 < tokens.shape[1]  # it really truncates
    assert torch.allclose(full, trunc, atol=1e-5, rtol=0)


def test_text_transformer_forward_on_embeddings_keeps_gradients(clip):
    model, tok = clip
    tokens = tok(PROMPTS)
    eot = eot_positions(tokens, model)
    length = int(eot.max()) + 1
    emb = model.token_embedding(tokens[:, :length]).detach().requires_grad_(True)
    out = text_transformer_forward(model, emb, eot)
    out.sum().backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0
    with torch.no_grad():
        assert torch.allclose(out, model.encode_text(tokens), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="eot_idx"):
        text_transformer_forward(model, emb[:, :2], eot)


def test_non_causal_tower_falls_back_with_warning():
    class Tower(torch.nn.Module):
        def encode_text(self, tokens, normalize=False):
            return tokens.float()

    with pytest.warns(UserWarning, match="no truncation"):
        out = encode_text_truncated(Tower(), torch.ones(2, 5, dtype=torch.long))
    assert out.shape == (2, 5)
    with pytest.raises(ValueError, match="causal"):
        text_transformer_forward(Tower(), torch.zeros(1, 3, 4), torch.zeros(1, dtype=torch.long))


def test_format_prompt_strings_and_callables():
    assert format_prompt("a photo of a {}.", "cat") == "a photo of a cat."
    assert format_prompt(OPENAI_IMAGENET_TEMPLATES[0], "cat") == "a bad photo of a cat."
    assert len(OPENAI_IMAGENET_TEMPLATES) == 80 and len(IMAGENET_CLASSNAMES) == 1000
    with pytest.raises(ValueError, match="\\{\\}"):
        format_prompt("no placeholder", "cat")


def test_build_classifier_is_normalised_template_mean(clip):
    model, tok = clip
    names = ["cat", "dog", "red car"]
    templates = ["a photo of a {}.", lambda c: f"itap of a {c}."]
    clf = build_classifier(model, tok, names, templates, batch_size=4, progress=False)
    proj = model.text_projection
    assert clf.shape == (3, proj.out_features if isinstance(proj, torch.nn.Linear) else proj.shape[1])
    assert torch.allclose(clf.norm(dim=-1), torch.ones(3), atol=1e-5)
    with torch.no_grad():
        e = F.normalize(model.encode_text(tok([format_prompt(t, "dog") for t in templates])), dim=-1)
    assert torch.allclose(clf[1], F.normalize(e.mean(0), dim=0), atol=1e-5)
    single = build_classifier(model, tok, names, SINGLE_TEMPLATE, progress=False, truncate=False)
    assert not torch.allclose(single, clf, atol=1e-3)


def test_zeroshot_logits_use_model_scale(clip):
    model, _ = clip
    scale = logit_scale(model)
    assert scale.item() == pytest.approx(1 / 0.07, rel=1e-5)  # open_clip's initial value, not 100
    img = torch.randn(4, 8) * 7.0  # raw, unnormalised
    cls = F.normalize(torch.randn(3, 8), dim=-1)
    logits = zeroshot_logits(img, cls, scale)
    cos = F.normalize(img, dim=-1) @ cls.T
    assert torch.allclose(logits, scale * cos, atol=1e-5)
    assert logits.abs().max() <= scale + 1e-4
    with pytest.raises(ValueError, match="same D"):
        zeroshot_logits(img, torch.randn(3, 5), scale)


def test_build_classifier_takes_the_shared_amp_policy(clip):
    model, tok = clip
    names = ["cat", "dog"]
    full = build_classifier(model, tok, names, progress=False, amp=None)
    # on the CPU "auto" means full precision (AMP is CUDA only): the same numbers
    assert torch.equal(build_classifier(model, tok, names, progress=False), full)
    with pytest.raises(ValueError, match="amp must be one of"):
        build_classifier(model, tok, names, progress=False, amp="float16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_build_classifier_under_cuda_autocast(clip):
    model, tok = clip
    names = ["cat", "dog", "red car"]
    gpu = model.to("cuda")
    try:
        ref = build_classifier(gpu, tok, names, progress=False, amp=None)
        mixed = build_classifier(gpu, tok, names, progress=False)  # bf16 where supported, else fp16
    finally:
        model.to("cpu")
    assert mixed.dtype == torch.float32 and mixed.device.type == "cpu"
    assert torch.allclose(mixed, ref, atol=3e-2)

