"""vlmcal_utils.tpt.tuning: one TPT/C-TPT step per image, batched, with exact speed-ups."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from vlmcal_utils import tpt
from vlmcal_utils.tpt import tuning

from ._data import CFG, NAMES, TEMPLATES


def test_ctpt_step_raises_atfd_relative_to_tpt(model, learner, views_for):
    v = views_for(0)
    base = tpt.tpt_predict(model, learner, v, "zeroshot", tpt.TPTConfig(**CFG))
    t = tpt.tpt_predict(model, learner, v, "tpt", tpt.TPTConfig(**CFG))
    c = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(**CFG, lam=50.0))
    assert not torch.equal(t["ctx"], c["ctx"])
    assert float(c["atfd"]) > float(t["atfd"])
    assert float(c["atfd"]) > float(base["atfd"])
    # the learner's own context is untouched by tpt_predict
    torch.testing.assert_close(learner.ctx.detach(), learner.ctx_init_state)


def test_tpt_step_lowers_selected_view_entropy(model, learner, views_for):
    v = views_for(1)
    cfg = tpt.TPTConfig(**CFG)
    r = tpt.tpt_predict(model, learner, v, "tpt", cfg)
    with torch.no_grad():
        f = F.normalize(model.encode_image(v), dim=-1)
        init_logits = model.logit_scale.exp() * f @ tpt.text_features(model, learner, learner.ctx_init_state).T
        _, idx = tpt.select_confident(init_logits, cfg.selection)

        def loss(ctx):
            z = model.logit_scale.exp() * f @ tpt.text_features(model, learner, ctx).T
            return float(tpt.avg_entropy(z[idx]))

        assert loss(r["ctx"]) < loss(learner.ctx_init_state)


def test_zeroshot_method_equals_plain_clip(model, tokenizer, learner, views_for):
    v = views_for(2)
    r = tpt.tpt_predict(model, learner, v, "zeroshot")
    with torch.no_grad():
        img = F.normalize(model.encode_image(v[:1]), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(learner.prompt_texts)), dim=-1)
        ref = model.logit_scale.exp() * img @ txt.T
    torch.testing.assert_close(r["logits"], ref[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(r["ctx"], learner.ctx_init_state)


def test_clip_logits_scale_and_bias(model):
    img, txt = F.normalize(torch.randn(2, 3, 32), dim=-1), F.normalize(torch.randn(2, 5, 32), dim=-1)
    out = tpt.clip_logits(model, img, txt)
    assert out.shape == (2, 3, 5)
    torch.testing.assert_close(out[1], model.logit_scale.exp() * img[1] @ txt[1].T)


@pytest.mark.parametrize("method", ["tpt", "ctpt"])
def test_optimisations_match_straightforward(model, learner, method, views_for):
    v = views_for(3)
    plain = dict(truncate=False, share_prefix=False, cache_image_features=False)
    slow = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG, steps=2, **plain))
    fast = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG, steps=2))
    torch.testing.assert_close(fast["ctx"], slow["ctx"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fast["logits"], slow["logits"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", ["tpt", "ctpt", "otpt", "atpt"])
def test_batched_equals_per_image(model, learner, method, views_for):
    vs = torch.stack([views_for(i) for i in range(3)])
    cfg = tpt.TPTConfig(**CFG, steps=2)
    batched = tpt.tpt_predict(model, learner, vs, method, cfg)
    assert batched["logits"].shape == (3, len(NAMES))
    for i in range(3):
        one = tpt.tpt_predict(model, learner, vs[i], method, cfg)
        torch.testing.assert_close(batched["ctx"][i], one["ctx"], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(batched["logits"][i], one["logits"], atol=1e-4, rtol=1e-5)
        for key in ("atfd", "orthogonality", "min_angle"):
            torch.testing.assert_close(batched[key][i], one[key], atol=1e-6, rtol=1e-5)
    # images really differ (a batch of identical results would pass trivially)
    assert not torch.allclose(batched["logits"][0], batched["logits"][1])


def test_otpt_and_atpt_steps_move_the_class_features_their_way(model, learner, views_for):
    # one step on the same image: O-TPT ends more orthogonal than TPT, A-TPT with a wider minimum angle
    v = views_for(0)
    t = tpt.tpt_predict(model, learner, v, "tpt", tpt.TPTConfig(**CFG))
    o = tpt.tpt_predict(model, learner, v, "otpt", tpt.RunSettings.protocol("dtd", "hard", "otpt", **CFG).tuning)
    a = tpt.tpt_predict(model, learner, v, "atpt", tpt.RunSettings.protocol("dtd", "hard", "atpt", **CFG).tuning)
    assert float(o["orthogonality"]) < float(t["orthogonality"])
    assert float(a["min_angle"]) > float(t["min_angle"])
    # tau reaches the regulariser: a tight clamp (every cosine above it) leaves no gradient from it
    tight = tpt.tpt_predict(model, learner, v, "atpt", tpt.TPTConfig(**CFG, lam=80.0, tau=1e-6))
    torch.testing.assert_close(tight["ctx"], t["ctx"])


def test_result_fields_per_method():
    assert tuning.result_fields("zeroshot") == ()
    assert "lam" not in tuning.result_fields("tpt") and "tau" not in tuning.result_fields("tpt+ts")
    assert "lam" in tuning.result_fields("otpt") and "tau" not in tuning.result_fields("ctpt")
    assert {"lam", "tau", "lr", "selection", "steps", "weight_decay"} == set(tuning.result_fields("atpt"))
    with pytest.raises(ValueError, match="method"):
        tuning.result_fields("bogus")


def test_overrides_and_bad_arguments(model, learner, views_for):
    v = views_for(0, n_views=10)
    a = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(selection=0.2, lam=1.0))
    b = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(selection=0.2), lam=1.0)
    torch.testing.assert_close(a["ctx"], b["ctx"])
    with pytest.raises(ValueError, match="method"):
        tpt.tpt_predict(model, None, torch.zeros(2, 3, 32, 32), "bogus")
    with pytest.raises(ValueError, match="views must be"):
        tpt.tpt_predict(model, learner, torch.zeros(3, 32, 32), "tpt")


def test_amp_is_validated_on_every_device(model, learner, views_for):
    # (the old private autocast helper ignored the value on the CPU, so a typo only failed on a GPU)
    with pytest.raises(ValueError, match="amp"):
        tpt.tpt_predict(model, learner, views_for(0, n_views=10), "tpt", tpt.TPTConfig(selection=0.2, amp="float16"))
    for amp in ("auto", "bf16", "fp16", None):  # all valid; full precision on the CPU
        tpt.tpt_predict(model, learner, views_for(0, n_views=10), "zeroshot", amp=amp)


def test_fp16_steps_use_a_grad_scaler(model, learner, views_for, monkeypatch):
    cpu = torch.device("cpu")
    assert all(tuning._grad_scaler(cpu, amp) is None for amp in ("auto", "bf16", "fp16", None))
    # the fp16 path, on the CPU: a real (CPU) GradScaler with the official initial scale
    scalers = []

    def cpu_scaler(device, amp):
        scalers.append(torch.amp.GradScaler("cpu", init_scale=tuning.OFFICIAL_GRAD_SCALE))
        return scalers[-1]

    v = views_for(0)
    ref = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(**CFG))
    monkeypatch.setattr(tuning, "_grad_scaler", cpu_scaler)
    scaled = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(**CFG))
    assert len(scalers) == 1 and scalers[0].get_scale() == tuning.OFFICIAL_GRAD_SCALE  # no overflow, no backoff
    torch.testing.assert_close(scaled["ctx"], ref["ctx"], atol=1e-6, rtol=1e-5)
    assert not torch.allclose(scaled["ctx"], learner.ctx_init_state)  # the step was taken


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16/bf16 autocast and the GradScaler are CUDA-only")
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_cuda_mixed_precision_close_to_fp32(model, tokenizer, views_for, amp):
    import copy

    gpu = copy.deepcopy(model).cuda()
    lrn = tpt.PromptLearner(gpu, tokenizer, NAMES)
    v = views_for(0)
    ref = tpt.tpt_predict(gpu, lrn, v, "ctpt", tpt.TPTConfig(**CFG, amp=None))
    got = tpt.tpt_predict(gpu, lrn, v, "ctpt", tpt.TPTConfig(**CFG, amp=amp))
    assert not torch.allclose(got["ctx"], lrn.ctx_init_state.cpu())
    torch.testing.assert_close(got["logits"], ref["logits"], atol=0.5, rtol=0.05)


# ------------------------------------------------------------------ prompt ensemble ("Ensemble" init)


@pytest.mark.parametrize("method", ["zeroshot", "tpt", "ctpt"])
def test_single_member_ensemble_equals_hard_prompt(model, tokenizer, learner, method, views_for):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, ["a photo of a"])
    v = torch.stack([views_for(i) for i in range(2)])
    a = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG))
    b = tpt.tpt_predict(model, ens, v, method, tpt.TPTConfig(**CFG))
    assert isinstance(b["ctx"], list) and len(b["ctx"]) == 1
    torch.testing.assert_close(b["ctx"][0], a["ctx"], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(b["logits"], a["logits"], atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(b["atfd"], a["atfd"], atol=1e-6, rtol=1e-6)


def test_ensemble_zeroshot_uses_the_mean_features(model, tokenizer, views_for):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    v = views_for(2)
    r = tpt.tpt_predict(model, ens, v, "zeroshot")
    with torch.no_grad():
        mean = tpt.text_features(model, ens)
        img = F.normalize(model.encode_image(v[:1]), dim=-1)
    torch.testing.assert_close(r["logits"], (model.logit_scale.exp() * img @ mean.T)[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(r["atfd"], tpt.atfd(mean, normalize=False), atol=1e-6, rtol=1e-5)
    assert not torch.isclose(tpt.atfd(mean, normalize=False), tpt.atfd(mean))  # the option matters


def test_ensemble_ctpt_raises_atfd_and_tunes_every_member(model, tokenizer, views_for):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    v = views_for(0)
    t = tpt.tpt_predict(model, ens, v, "tpt", tpt.TPTConfig(**CFG))
    c = tpt.tpt_predict(model, ens, v, "ctpt", tpt.TPTConfig(**CFG, lam=50.0))
    assert float(c["atfd"]) > float(t["atfd"])
    for init, a, b in zip(ens.ctx_init_state, t["ctx"], c["ctx"], strict=True):
        assert not torch.allclose(a, init) and not torch.allclose(b, a)  # one loss moves every member
    torch.testing.assert_close(ens.members[1].ctx.detach(), ens.members[1].ctx_init_state)  # learner untouched


def test_ensemble_batched_and_fast_paths_match(model, tokenizer, views_for):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES[:2])
    vs = torch.stack([views_for(i) for i in range(2)])
    cfg = tpt.TPTConfig(**CFG, steps=2)
    batched = tpt.tpt_predict(model, ens, vs, "ctpt", cfg)
    slow = tpt.tpt_predict(model, ens, vs[1], "ctpt", dataclasses.replace(cfg, truncate=False, share_prefix=False))
    torch.testing.assert_close(batched["logits"][1], slow["logits"], atol=1e-4, rtol=1e-4)
    for a, b in zip(batched["ctx"], slow["ctx"], strict=True):
        torch.testing.assert_close(a[1], b, atol=1e-5, rtol=1e-4)


def test_official_temperature(model):
    assert tpt.official_temperature(model) == 1.16  # a ViT image tower
