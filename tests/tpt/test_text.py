"""vlmcal_utils.tpt.text: the truncated / prefix-sharing text kernel equals ``encode_text``.

The tiny CLIP of ``tests/conftest.py`` has randomly perturbed attention biases, LayerNorm
parameters and LayerScale gammas, so a kernel that drops one of them (e.g. ``out_proj.bias``)
fails here; :func:`test_the_tiny_clip_exercises_every_block_parameter` checks that premise.
"""

from __future__ import annotations

import open_clip
import pytest
import torch
import torch.nn.functional as F

from vlmcal_utils import tpt

from ._data import NAMES, TEMPLATES

PATHS = [(False, False), (True, False), (True, True), (False, True)]  # (truncate, share_prefix)


def test_the_tiny_clip_exercises_every_block_parameter(model):
    assert tpt.can_share_prefix(model)  # otherwise share_prefix=True silently takes the plain path
    for blk in model.transformer.resblocks:
        assert blk.attn.out_proj.bias.abs().min() > 0 and blk.attn.in_proj_bias.abs().min() > 0
        assert not torch.allclose(blk.ln_1.weight, torch.ones_like(blk.ln_1.weight))
        assert blk.ln_1.bias.abs().min() > 0 and blk.ln_2.bias.abs().min() > 0
        assert not torch.allclose(blk.ls_1.gamma, blk.ls_1.gamma.mean())  # LayerScale on and not constant
        assert not torch.allclose(blk.ls_2.gamma, blk.ls_2.gamma.mean())


@pytest.mark.parametrize("truncate, share", PATHS)
def test_encode_prompts_reproduces_encode_text(model, tokenizer, learner, truncate, share):
    ref = model.encode_text(tokenizer(learner.prompt_texts))
    got = tpt.encode_prompts(model, learner, truncate=truncate, share_prefix=share)
    torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)
    # a different context really changes the features (the comparison is not vacuous)
    g = torch.Generator().manual_seed(0)
    moved = tpt.encode_prompts(model, learner, learner.ctx + 0.5 * torch.randn(learner.ctx.shape, generator=g),
                               truncate=truncate, share_prefix=share)
    assert (moved - ref).abs().max() > 1e-2


def test_fast_paths_match_straightforward_for_batched_ctx_and_gradients(model, learner):
    torch.manual_seed(1)
    ctx0 = learner.ctx_init_state.unsqueeze(0).repeat(3, 1, 1) + 0.1 * torch.randn(3, 4, 32)
    results = {}
    for truncate, share in PATHS:
        ctx = ctx0.clone().requires_grad_(True)
        f = tpt.encode_prompts(model, learner, ctx, truncate=truncate, share_prefix=share)
        assert f.shape == (3, len(NAMES), 32)
        (f.sin().sum() - 5 * tpt.atfd(f).sum()).backward()
        results[(truncate, share)] = (f.detach(), ctx.grad.clone())
    ref_f, ref_g = results[(False, False)]
    for key, (f, g) in results.items():
        torch.testing.assert_close(f, ref_f, atol=2e-5, rtol=1e-5, msg=f"features differ for {key}")
        torch.testing.assert_close(g, ref_g, atol=2e-5, rtol=1e-4, msg=f"gradients differ for {key}")


@pytest.mark.parametrize("seed, layer_scale", [(1, True), (2, False)])
def test_other_tiny_clips_match_encode_text(tiny_clip_factory, tokenizer, seed, layer_scale):
    m = tiny_clip_factory(seed, layer_scale=layer_scale)
    lrn = tpt.PromptLearner(m, tokenizer, NAMES, ctx_init="a {} in a video game.")
    ref = m.encode_text(tokenizer(lrn.prompt_texts))
    for truncate, share in PATHS:
        got = tpt.encode_prompts(m, lrn, truncate=truncate, share_prefix=share)
        torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5, msg=f"{(truncate, share)}")


def test_template_prompts_match_encode_text(model, tokenizer, learner):
    same = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a photo of a {}.")
    torch.testing.assert_close(tpt.encode_prompts(model, same), tpt.encode_prompts(model, learner))
    mid = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a {} in a video game.")
    ref = model.encode_text(tokenizer(mid.prompt_texts))
    for truncate, share in PATHS:
        got = tpt.encode_prompts(model, mid, truncate=truncate, share_prefix=share)
        torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)


def test_short_context_model(tokenizer):
    # the demo models use a 20-token context; truncation must follow the model
    torch.manual_seed(0)
    m = open_clip.CLIP(
        embed_dim=16,
        vision_cfg=dict(image_size=16, patch_size=8, width=16, layers=1, head_width=8),
        text_cfg=dict(context_length=20, vocab_size=49408, width=16, heads=2, layers=1),
    ).eval().requires_grad_(False)
    tok20 = open_clip.get_tokenizer("ViT-B-32", context_length=20)
    lrn = tpt.PromptLearner(m, tok20, NAMES)
    for truncate, share in PATHS:
        got = tpt.encode_prompts(m, lrn, truncate=truncate, share_prefix=share)
        torch.testing.assert_close(got, m.encode_text(tok20(lrn.prompt_texts)), atol=2e-5, rtol=1e-5)


def test_text_features_normalise_one_prompt(model, learner):
    f = tpt.text_features(model, learner)
    assert f.dtype == torch.float32 and f.shape == (len(NAMES), 32)
    torch.testing.assert_close(f, F.normalize(tpt.encode_prompts(model, learner), dim=-1))


def test_ensemble_features_are_mean_of_normalised_members(model, tokenizer):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    members = torch.stack([
        F.normalize(model.encode_text(tokenizer([t.format(n.replace("_", " ")) for n in NAMES])), dim=-1)
        for t in TEMPLATES
    ])
    mean = members.mean(0)
    with torch.no_grad():
        got = tpt.text_features(model, ens)
    torch.testing.assert_close(got, mean, atol=2e-5, rtol=1e-5)
    assert float(got.norm(dim=-1).max()) < 0.999  # official: the mean is NOT renormalised
    renorm = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES, renormalize=True)
    torch.testing.assert_close(tpt.text_features(model, renorm), F.normalize(mean, dim=-1), atol=2e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="members"):
        tpt.text_features(model, ens, ens.ctx[:2])
