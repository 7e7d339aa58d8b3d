"""vlmcal_utils.tpt.prompts: learners, ensembles, template sets and the model check."""

from __future__ import annotations

import open_clip
import pytest
import torch

from vlmcal_utils import tpt

from ._data import NAMES, TEMPLATES


def test_prompt_learner_layout(model, tokenizer, learner):
    assert [n for n, _ in learner.named_parameters()] == ["ctx"]
    assert learner.ctx.shape == (4, 32) and learner.n_classes == len(NAMES)
    assert learner.prompt_texts == [f"a photo of a {n.replace('_', ' ')}." for n in NAMES]
    torch.testing.assert_close(learner.tokens, tokenizer(learner.prompt_texts))
    # the context starts at the token embeddings of "a photo of a"
    torch.testing.assert_close(learner.ctx_init_state, model.token_embedding(tokenizer(["a photo of a"]))[0, 1:5])
    assert learner.prompts().shape == (len(NAMES), 77, 32)
    assert learner.prompts(learner.ctx.detach().expand(3, -1, -1)).shape == (3, len(NAMES), 77, 32)


def test_random_ctx_init_and_reset(model, tokenizer):
    lr = tpt.PromptLearner(model, tokenizer, NAMES, n_ctx=3, ctx_init=None)
    assert lr.ctx.shape == (3, 32) and lr.prompt_texts[0] == "X X X cat."
    with torch.no_grad():
        lr.ctx.add_(1.0)
    lr.reset()
    torch.testing.assert_close(lr.ctx.detach(), lr.ctx_init_state)
    with pytest.raises(ValueError, match="n_ctx"):
        tpt.PromptLearner(model, tokenizer, NAMES, n_ctx=0, ctx_init=None)


def test_non_clip_models_raise_clear_error(tokenizer):
    custom = open_clip.CustomTextCLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=1, head_width=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=1),
    )
    for bad in (custom, torch.nn.Linear(3, 3)):
        with pytest.raises(ValueError, match="CLIP"):
            tpt.PromptLearner(bad, tokenizer, NAMES)


def test_template_ctx_init(tokenizer, model, learner):
    same = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a photo of a {}.")
    assert same.prompt_texts == learner.prompt_texts
    torch.testing.assert_close(same.ctx_init_state, learner.ctx_init_state)
    # text after the class name stays fixed; only the words before it are context
    mid = tpt.PromptLearner(model, tokenizer, NAMES, ctx_init="a {} in a video game.")
    assert mid.n_ctx == 1 and mid.prompt_texts[2] == "a golden retriever in a video game."
    for bad in ["{} in a video game.", "a {} of {}."]:
        with pytest.raises(ValueError, match="ctx_init template"):
            tpt.PromptLearner(model, tokenizer, NAMES, ctx_init=bad)
    with pytest.raises(ValueError, match="classnames is empty"):
        tpt.PromptLearner(model, tokenizer, [])


def test_short_context_model_rejects_truncated_or_empty_prompts():
    # the demo models use a 20-token context; prompts must follow the model's tokenizer
    tok20 = open_clip.get_tokenizer("ViT-B-32", context_length=20)
    m = _short_context_clip()
    lrn = tpt.PromptLearner(m, tok20, NAMES)
    assert lrn.tokens.shape == (len(NAMES), 20)
    with pytest.raises(ValueError, match="truncated"):
        tpt.PromptLearner(m, tok20, ["a very long class name " * 5])
    with pytest.raises(ValueError, match="empty"):
        tpt.PromptLearner(m, tok20, ["cat", ""])


def _short_context_clip() -> open_clip.CLIP:
    torch.manual_seed(0)
    return open_clip.CLIP(
        embed_dim=16,
        vision_cfg=dict(image_size=16, patch_size=8, width=16, layers=1, head_width=8),
        text_cfg=dict(context_length=20, vocab_size=49408, width=16, heads=2, layers=1),
    ).eval().requires_grad_(False)


def test_ensemble_members_and_state(model, tokenizer):
    ens = tpt.PromptEnsemble(model, tokenizer, NAMES, TEMPLATES)
    assert [m.n_ctx for m in ens.members] == [5, 1, 4, 3] and ens.n_classes == len(NAMES)
    assert [c.shape[0] for c in ens.ctx_init_state] == [5, 1, 4, 3]
    with torch.no_grad():
        for c in ens.ctx:
            c.add_(1.0)
    ens.reset()
    for c, init in zip(ens.ctx, ens.ctx_init_state, strict=True):
        torch.testing.assert_close(c.detach(), init)
    # all 80 CLIP templates can be members
    assert len(tpt.ensemble_templates()) == 80
    tpt.PromptEnsemble(model, tokenizer, NAMES, tpt.ensemble_templates())


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
    with pytest.raises(ValueError, match="non-empty list"):
        tpt.PromptEnsemble(model, tokenizer, NAMES, [])


def test_make_learner_picks_the_kind(model, tokenizer):
    assert isinstance(tpt.make_learner(model, tokenizer, NAMES), tpt.PromptLearner)
    assert isinstance(tpt.make_learner(model, tokenizer, NAMES, None, n_ctx=2), tpt.PromptLearner)
    ens = tpt.make_learner(model, tokenizer, NAMES, TEMPLATES[:2], renormalize=True)
    assert isinstance(ens, tpt.PromptEnsemble) and ens.renormalize
