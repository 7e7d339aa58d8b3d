"""Tests for vlmcal_utils.tpt on a tiny random open_clip CLIP (no downloads, CPU, a few seconds)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F

from vlmcal_utils import tpt

NAMES = ["cat", "dog", "golden retriever", "aircraft carrier", "sea_lion", "red-winged blackbird"]


def tiny_clip(seed: int = 0) -> open_clip.CLIP:
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=1, head_width=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2),
    )
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def model():
    return tiny_clip()


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-32")  # bundled BPE vocabulary: no download


@pytest.fixture()
def learner(model, tokenizer):
    return tpt.PromptLearner(model, tokenizer, NAMES)


def images(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), int(rng.integers(len(NAMES)))) for _ in range(n)]


def views_for(model, idx: int, n_views: int = 20, augmix: bool = True):
    img, _ = images(idx + 1)[idx]
    return tpt.make_views(img, tpt.preprocess_config(model), n_views=n_views, augmix=augmix, seed=0, index=idx)


CFG = dict(selection=0.2, lr=5e-3)


# ------------------------------------------------------------------ prompt learner / text encoding


def test_prompt_learner_reproduces_encode_text(model, tokenizer, learner):
    assert [n for n, _ in learner.named_parameters()] == ["ctx"]
    assert learner.ctx.shape == (4, 32)
    texts = [f"a photo of a {n.replace('_', ' ')}." for n in NAMES]
    assert learner.prompt_texts == texts
    ref = model.encode_text(tokenizer(texts))
    for truncate in (False, True):
        for share in (False, True):
            got = tpt.encode_prompts(model, learner, truncate=truncate, share_prefix=share)
            torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)
    # a different context really changes the features (the comparison above is not vacuous).
    # (A constant shift would not: every path into the class tokens goes through a LayerNorm.)
    moved = tpt.encode_prompts(model, learner, learner.ctx + 0.5 * torch.randn(learner.ctx.shape, generator=torch.Generator().manual_seed(0)))
    assert (moved - ref).abs().max() > 1e-2


def test_fast_text_paths_match_straightforward_for_batched_ctx_and_gradients(model, learner):
    torch.manual_seed(1)
    ctx0 = learner.ctx_init_state.unsqueeze(0).repeat(3, 1, 1) + 0.1 * torch.randn(3, 4, 32)
    results = {}
    for truncate, share in [(False, False), (True, False), (True, True), (False, True)]:
        ctx = ctx0.clone().requires_grad_(True)
        f = tpt.encode_prompts(model, learner, ctx, truncate=truncate, share_prefix=share)
        assert f.shape == (3, len(NAMES), 32)
        (f.sin().sum() - 5 * tpt.atfd(f).sum()).backward()
        results[(truncate, share)] = (f.detach(), ctx.grad.clone())
    ref_f, ref_g = results[(False, False)]
    for key, (f, g) in results.items():
        torch.testing.assert_close(f, ref_f, atol=2e-5, rtol=1e-5, msg=f"features differ for {key}")
        torch.testing.assert_close(g, ref_g, atol=2e-5, rtol=1e-4, msg=f"gradients differ for {key}")


def test_random_ctx_init_and_reset(model, tokenizer):
    lr = tpt.PromptLearner(model, tokenizer, NAMES, n_ctx=3, ctx_init=None)
    assert lr.ctx.shape == (3, 32) and lr.prompt_texts[0] == "X X X cat."
    with torch.no_grad():
        lr.ctx.add_(1.0)
    lr.reset()
    torch.testing.assert_close(lr.ctx.detach(), lr.ctx_init_state)


def test_non_clip_models_raise_clear_error(tokenizer):
    custom = open_clip.CustomTextCLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=1, head_width=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1),
    )
    for bad in (custom, torch.nn.Linear(3, 3)):
        with pytest.raises(ValueError, match="CLIP"):
            tpt.PromptLearner(bad, tokenizer, NAMES)


# ------------------------------------------------------------------ losses and selection


def test_select_confident_keeps_lowest_entropy_tenth():
    torch.manual_seed(0)
    V, K = 64, 7
    sharp = torch.rand(V) * 10  # larger scale -> lower entropy for these one-hot-ish logits
    logits = torch.randn(V, K) * 0.1
    logits[:, 0] += sharp
    sel, idx = tpt.select_confident(logits, 0.1)
    assert idx.shape == (6,) and sel.shape == (6, K)
    ent = -(logits.softmax(1) * logits.log_softmax(1)).sum(1)
    assert set(idx.tolist()) == set(torch.argsort(ent)[:6].tolist())
    assert ent[idx].max() <= ent[torch.tensor([i for i in range(V) if i not in idx.tolist()])].min()
    torch.testing.assert_close(sel, logits[idx])
    # batched: row by row the same
    batch = torch.stack([logits, logits.flip(0)])
    bsel, bidx = tpt.select_confident(batch, 0.1)
    assert set(bidx[1].tolist()) == {V - 1 - i for i in idx.tolist()}
    with pytest.raises(ValueError, match="views kept"):
        tpt.select_confident(logits[:5], 0.1)


def test_avg_entropy_averages_probabilities():
    torch.manual_seed(0)
    z = torch.randn(6, 5) * 3
    p = z.softmax(-1).mean(0)
    torch.testing.assert_close(tpt.avg_entropy(z), -(p * p.log()).sum())
    # not the mean of per-view entropies
    assert not torch.isclose(tpt.avg_entropy(z), tpt.entropy(z).mean())
    torch.testing.assert_close(tpt.avg_entropy(torch.stack([z, 2 * z])), torch.stack([tpt.avg_entropy(z), tpt.avg_entropy(2 * z)]))


def test_atfd_matches_hand_computation():
    t = torch.tensor([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]], requires_grad=True)
    # normalised rows: (0.6, 0.8), (0, 1), (-1, 0); centroid (-0.4/3, 1.8/3)
    u = np.array([[0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    c = u.mean(0)
    d = np.linalg.norm(u - c, axis=1)
    plain = tpt.atfd(t)
    assert plain.dim() == 0
    assert math.isclose(float(plain.detach()), d.mean(), rel_tol=1e-6)
    assert math.isclose(float(tpt.atfd(t, squared=True).detach()), (d**2).mean(), rel_tol=1e-6)
    plain.backward()
    assert t.grad is not None and t.grad.abs().sum() > 0
    # identical features have zero dispersion; batched input gives one value per leading index
    assert float(tpt.atfd(torch.ones(4, 3))) < 1e-7
    assert tpt.atfd(torch.randn(2, 5, 3)).shape == (2,)


# ------------------------------------------------------------------ views


def test_views_deterministic_per_seed_and_index(model):
    pp = tpt.preprocess_config(model)
    assert pp["size"] == 32
    img, _ = images(1)[0]
    a = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=5)
    b = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=5)
    c = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=6)
    d = tpt.make_views(img, pp, n_views=8, augmix=False, seed=4, index=5)
    assert a.shape == (8, 3, 32, 32)
    assert torch.equal(a, b)
    assert not torch.equal(a[1:], c[1:])
    torch.testing.assert_close(a[0], c[0])  # the original view is not random
    torch.testing.assert_close(a[0], d[0])
    assert not torch.equal(a[1:], d[1:])


# ------------------------------------------------------------------ tuning


def test_ctpt_step_raises_atfd_relative_to_tpt(model, learner):
    v = views_for(model, 0)
    base = tpt.tpt_predict(model, learner, v, "zeroshot", tpt.TPTConfig(**CFG))
    t = tpt.tpt_predict(model, learner, v, "tpt", tpt.TPTConfig(**CFG))
    c = tpt.tpt_predict(model, learner, v, "ctpt", tpt.TPTConfig(**CFG, lam=50.0))
    assert not torch.equal(t["ctx"], c["ctx"])
    assert float(c["atfd"]) > float(t["atfd"])
    assert float(c["atfd"]) > float(base["atfd"])
    # the learner's own context is untouched by tpt_predict
    torch.testing.assert_close(learner.ctx.detach(), learner.ctx_init_state)


def test_tpt_step_lowers_selected_view_entropy(model, learner):
    v = views_for(model, 1)
    cfg = tpt.TPTConfig(**CFG)
    r = tpt.tpt_predict(model, learner, v, "tpt", cfg)
    with torch.no_grad():
        f = F.normalize(model.encode_image(v), dim=-1)
        def loss(ctx):
            z = model.logit_scale.exp() * f @ tpt.text_features(model, learner, ctx).T
            _, idx = tpt.select_confident(
                model.logit_scale.exp() * f @ tpt.text_features(model, learner, learner.ctx_init_state).T, cfg.selection
            )
            return float(tpt.avg_entropy(z[idx]))
        assert loss(r["ctx"]) < loss(learner.ctx_init_state)


def test_zeroshot_method_equals_plain_clip(model, tokenizer, learner):
    v = views_for(model, 2)
    r = tpt.tpt_predict(model, learner, v, "zeroshot")
    with torch.no_grad():
        img = F.normalize(model.encode_image(v[:1]), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(learner.prompt_texts)), dim=-1)
        ref = model.logit_scale.exp() * img @ txt.T
    torch.testing.assert_close(r["logits"], ref[0], atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("method", ["tpt", "ctpt"])
def test_optimisations_match_straightforward(model, learner, method):
    v = views_for(model, 3)
    slow = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG, steps=2, truncate=False, share_prefix=False, cache_image_features=False))
    fast = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG, steps=2))
    torch.testing.assert_close(fast["ctx"], slow["ctx"], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fast["logits"], slow["logits"], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("method", ["tpt", "ctpt"])
def test_batched_equals_per_image(model, learner, method):
    vs = torch.stack([views_for(model, i) for i in range(3)])
    cfg = tpt.TPTConfig(**CFG, steps=2)
    batched = tpt.tpt_predict(model, learner, vs, method, cfg)
    assert batched["logits"].shape == (3, len(NAMES))
    for i in range(3):
        one = tpt.tpt_predict(model, learner, vs[i], method, cfg)
        torch.testing.assert_close(batched["ctx"][i], one["ctx"], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(batched["logits"][i], one["logits"], atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(batched["atfd"][i], one["atfd"], atol=1e-6, rtol=1e-5)
    # images really differ (a batch of identical results would pass trivially)
    assert not torch.allclose(batched["logits"][0], batched["logits"][1])


# ------------------------------------------------------------------ runner


def run(model, tokenizer, data, method, path, **kw):
    return tpt.run_tpt(model, tokenizer, data, NAMES, method, path, n_views=10, augmix=True,
                       cfg=tpt.TPTConfig(**CFG), progress=False, **kw)


def test_resume_after_kill_loses_and_duplicates_nothing(model, tokenizer, tmp_path):
    data = images(7)
    full = run(model, tokenizer, data, "ctpt", tmp_path / "full.jsonl")
    assert [r["index"] for r in full] == list(range(7))

    path = tmp_path / "killed.jsonl"
    with pytest.raises(RuntimeError, match="simulated kill"):
        run(model, tokenizer, data, "ctpt", path, batch_size=2, _fail_after=3)
    partial = tpt.read_results(path)
    assert 0 < len(partial) < 7
    with open(path, "a") as fh:  # a write cut off mid-line by the kill
        fh.write('{"index": 6, "label": 1, "lo')
    resumed = run(model, tokenizer, data, "ctpt", path, batch_size=2)
    assert [r["index"] for r in resumed] == list(range(7))
    lines = path.read_text().splitlines()
    assert len(lines) == 7 and all(json.loads(x) for x in lines)
    for a, b in zip(full, resumed):
        assert a["label"] == b["label"] and a["pred"] == b["pred"]
        np.testing.assert_allclose(a["logits"], b["logits"], atol=1e-4)
    with pytest.raises(ValueError, match="method"):
        run(model, tokenizer, data, "tpt", path)


def test_resume_refuses_rows_of_another_model_or_settings(model, tokenizer, tmp_path):
    data = images(3)
    path = tmp_path / "run.jsonl"
    run(model, tokenizer, data, "tpt", path, indices=[0, 1])
    with pytest.raises(ValueError, match="another model or other settings"):
        tpt.run_tpt(model, tokenizer, data, NAMES, "tpt", path, n_views=12, augmix=True,
                    cfg=tpt.TPTConfig(**CFG), progress=False)
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.text_projection.mul_(1.01)
    with pytest.raises(ValueError, match="another model or other settings"):
        run(other, tokenizer, data, "tpt", path)
    # the same model and settings resume (batch size is not a setting: it gives the same results)
    assert [r["index"] for r in run(model, tokenizer, data, "tpt", path, batch_size=2)] == [0, 1, 2]


def test_tpt_ts_divides_logits_and_summary(model, tokenizer, tmp_path):
    data = images(4)
    t = run(model, tokenizer, data, "tpt", tmp_path / "t.jsonl")
    ts = run(model, tokenizer, data, "tpt+ts", tmp_path / "ts.jsonl", temperature=2.0)
    np.testing.assert_allclose(np.array(ts[0]["logits"]) * 2.0, t[0]["logits"], atol=1e-4)
    assert ts[0]["confidence"] < t[0]["confidence"]
    s = tpt.summarize(t, ece_bins=(15, 20))
    assert set(s) >= {"n", "accuracy", "ece_15", "ece_20", "atfd", "seconds"} and s["n"] == 4
    assert tpt.official_temperature(model) == 1.16


def test_views_reject_normalised_input_and_bad_counts(model):
    pp = tpt.preprocess_config(model)
    with pytest.raises(ValueError, match="raw images"):
        tpt.make_views(np.full((3, 8, 8), -0.5, dtype=np.float32), pp, n_views=2)
    with pytest.raises(ValueError, match="n_views"):
        tpt.make_views(images(1)[0][0], pp, n_views=0)
    with pytest.raises(ValueError, match="method"):
        tpt.tpt_predict(model, None, torch.zeros(2, 3, 32, 32), "bogus")


def test_short_context_model_and_overrides(tokenizer):
    # the demo models use a 20-token context; prompts and truncation must follow the model
    torch.manual_seed(0)
    m = open_clip.CLIP(
        embed_dim=16,
        vision_cfg=dict(image_size=16, patch_size=8, width=16, layers=1, head_width=8),
        text_cfg=dict(context_length=20, vocab_size=49408, width=16, heads=2, layers=1),
    ).eval().requires_grad_(False)
    tok20 = open_clip.get_tokenizer("ViT-B-32", context_length=20)
    lrn = tpt.PromptLearner(m, tok20, NAMES)
    assert lrn.tokens.shape == (len(NAMES), 20)
    torch.testing.assert_close(tpt.encode_prompts(m, lrn), m.encode_text(tok20(lrn.prompt_texts)), atol=2e-5, rtol=1e-5)
    v = tpt.make_views(images(1)[0][0], tpt.preprocess_config(m), n_views=10, seed=0, index=0)
    a = tpt.tpt_predict(m, lrn, v, "ctpt", tpt.TPTConfig(selection=0.2, lam=1.0))
    b = tpt.tpt_predict(m, lrn, v, "ctpt", tpt.TPTConfig(selection=0.2), lam=1.0)
    torch.testing.assert_close(a["ctx"], b["ctx"])
    with pytest.raises(ValueError, match="truncated"):
        tpt.PromptLearner(m, tok20, ["a very long class name " * 5])
    with pytest.raises(ValueError, match="empty"):
        tpt.PromptLearner(m, tok20, ["cat", ""])


# ------------------------------------------------------------------ prompt ensemble ("Ensemble" init)

TEMPLATES = ["a bad photo of a {}.", "a {} in a video game.", "itap of my {}.", "art of the {}."]


def test_template_ctx_init(model, tokenizer, learner):
    same = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a photo of a {}.")
    assert same.prompt_texts == learner.prompt_texts
    torch.testing.assert_close(same.ctx_init_state, learner.ctx_init_state)
    torch.testing.assert_close(tpt.encode_prompts(model, same), tpt.encode_prompts(model, learner))
    # text after the class name stays fixed; only the words before it are context
    mid = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a {} in a video game.")
    assert mid.n_ctx == 1 and mid.prompt_texts[2] == "a golden retriever in a video game."
    ref = model.encode_text(tokenizer(mid.prompt_texts))
    for truncate in (False, True):
        for share in (False, True):
            got = tpt.encode_prompts(model, mid, truncate=truncate, share_prefix=share)
            torch.testing.assert_close(got, ref, atol=2e-5, rtol=1e-5)
    for bad in ["{} in a video game.", "a {} of {}."]:
        with pytest.raises(ValueError, match="ctx_init template"):
            tpt.PromptLearner(model, tokenizer, NAMES, ctx_init=bad)
    # all 80 CLIP templates can be members
    assert len(tpt.ensemble_templates()) == 80
    tpt.PromptEnsemble(model, tokenizer, NAMES, tpt.ensemble_templates())


@pytest.mark.parametrize("method", ["zeroshot", "tpt", "ctpt"])
def test_single_member_ensemble_equals_hard_prompt(model, tokenizer, learner, method):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, ["a photo of a"])
    v = torch.stack([views_for(model, i) for i in range(2)])
    a = tpt.tpt_predict(model, learner, v, method, tpt.TPTConfig(**CFG))
    b = tpt.tpt_predict(model, ens, v, method, tpt.TPTConfig(**CFG))
    assert isinstance(b["ctx"], list) and len(b["ctx"]) == 1
    torch.testing.assert_close(b["ctx"][0], a["ctx"], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(b["logits"], a["logits"], atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(b["atfd"], a["atfd"], atol=1e-6, rtol=1e-6)


def test_ensemble_features_are_mean_of_normalised_members(model, tokenizer):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    members = torch.stack([
        F.normalize(model.encode_text(tokenizer([t.format(n.replace("_", " ")) for n in NAMES])), dim=-1) for t in TEMPLATES
    ])
    mean = members.mean(0)
    with torch.no_grad():
        got = tpt.text_features(model, ens)
    torch.testing.assert_close(got, mean, atol=2e-5, rtol=1e-5)
    assert float(got.norm(dim=-1).max()) < 0.999  # official: the mean is NOT renormalised
    renorm = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES, renormalize=True)
    torch.testing.assert_close(tpt.text_features(model, renorm), F.normalize(mean, dim=-1), atol=2e-5, rtol=1e-5)
    # zero-shot with the ensemble: logits and ATFD of exactly those features
    v = views_for(model, 2)
    r = tpt.tpt_predict(model, ens, v, "zeroshot")
    with torch.no_grad():
        img = F.normalize(model.encode_image(v[:1]), dim=-1)
    torch.testing.assert_close(r["logits"], (model.logit_scale.exp() * img @ mean.T)[0], atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(r["atfd"], tpt.atfd(mean, normalize=False), atol=1e-6, rtol=1e-5)
    assert not torch.isclose(tpt.atfd(mean, normalize=False), tpt.atfd(mean))  # the option matters


def test_ensemble_ctpt_raises_atfd_and_tunes_every_member(model, tokenizer):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    v = views_for(model, 0)
    t = tpt.tpt_predict(model, ens, v, "tpt", tpt.TPTConfig(**CFG))
    c = tpt.tpt_predict(model, ens, v, "ctpt", tpt.TPTConfig(**CFG, lam=50.0))
    assert float(c["atfd"]) > float(t["atfd"])
    for init, a, b in zip(ens.ctx_init_state, t["ctx"], c["ctx"]):
        assert not torch.allclose(a, init) and not torch.allclose(b, a)  # one loss moves every member
    torch.testing.assert_close(ens.members[1].ctx.detach(), ens.members[1].ctx_init_state)  # learner untouched


def test_ensemble_batched_and_fast_paths_match(model, tokenizer):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES[:2])
    vs = torch.stack([views_for(model, i) for i in range(2)])
    cfg = tpt.TPTConfig(**CFG, steps=2)
    batched = tpt.tpt_predict(model, ens, vs, "ctpt", cfg)
    slow = tpt.tpt_predict(model, ens, vs[1], "ctpt", dataclasses.replace(cfg, truncate=False, share_prefix=False))
    torch.testing.assert_close(batched["logits"][1], slow["logits"], atol=1e-4, rtol=1e-4)
    for a, b in zip(batched["ctx"], slow["ctx"]):
        torch.testing.assert_close(a[1], b, atol=1e-5, rtol=1e-4)


def test_resume_tells_hard_prompt_and_ensemble_runs_apart(model, tokenizer, tmp_path):
    data = images(3)
    hard, ens = tmp_path / "hard.jsonl", tmp_path / "ens.jsonl"
    run(model, tokenizer, data, "ctpt", hard, indices=[0])
    run(model, tokenizer, data, "ctpt", ens, indices=[0], ctx_init=TEMPLATES)
    for path, kw in [(hard, dict(ctx_init=TEMPLATES)), (ens, {}), (ens, dict(ctx_init=TEMPLATES[:3])),
                     (ens, dict(ctx_init=TEMPLATES, renormalize=True))]:
        with pytest.raises(ValueError, match="another model or other settings"):
            run(model, tokenizer, data, "ctpt", path, **kw)
    rows = run(model, tokenizer, data, "ctpt", ens, ctx_init=TEMPLATES)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert len({r["run"] for r in rows}) == 1
    assert rows[0]["run"] != tpt.read_results(hard)[0]["run"]


def test_ensemble_template_sets(model, tokenizer):
    assert tpt.ensemble_templates() == tpt.ensemble_templates("clip80")
    assert tpt.ensemble_templates("tip7") == list(tpt.TIP_TEMPLATES) and len(tpt.TIP_TEMPLATES) == 7
    tpt.PromptEnsemble(model, tokenizer, NAMES, tpt.ensemble_templates("tip7"))
    with pytest.raises(ValueError, match="unknown template set"):
        tpt.ensemble_templates("clip81")
    with pytest.raises(ValueError, match="exactly one"):
        tpt.ensemble_templates(["no placeholder"])
    with pytest.raises(ValueError, match="non-empty list"):
        tpt.PromptEnsemble(model, tokenizer, NAMES, "a photo of a")
