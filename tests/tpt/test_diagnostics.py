"""vlmcal_utils.tpt.diagnostics: what one tuning step does, measured from the inside."""

from __future__ import annotations

import pytest
import torch

from vlmcal_utils import tpt

from ._data import NAMES


def test_adamw_first_step_moves_every_coordinate_by_about_lr(model, learner, views_for):
    views = views_for(0, n_views=20)
    for lr in (5e-3, 2e-2):
        d = tpt.step_diagnostics(model, learner, views, "tpt", tpt.TPTConfig(lr=lr))
        assert set(d) == set(tpt.STEP_FIELDS)
        # AdamW's first update is lr * sign(gradient) per coordinate (plus a tiny weight decay)
        assert d["step_rms"] == pytest.approx(lr, rel=0.02)
        assert d["relative_step"] == pytest.approx(lr / d["ctx_rms"], rel=0.02)
        assert d["feature_move"] > 0 and d["view0_logit_change"] > 0
    assert d["logit_scale"] == pytest.approx(float(model.logit_scale.exp()))


def test_zero_shot_moves_nothing_and_the_before_values_are_the_initial_prompts(model, learner, views_for):
    views = views_for(1, n_views=20)
    d = tpt.step_diagnostics(model, learner, views, "zeroshot")
    assert d["step_rms"] == 0 and d["relative_step"] == 0 and d["view0_logit_change"] == 0
    assert d["view0_conf_after"] == pytest.approx(d["view0_conf_before"])
    assert d["selected_entropy_after"] == pytest.approx(d["selected_entropy_before"])
    with torch.no_grad():
        t0 = tpt.text_features(model, learner, learner.ctx_init_state)
    assert d["atfd_before"] == pytest.approx(float(tpt.atfd(t0, normalize=False)), rel=1e-5)
    # at the paper's lr, TPT lowers its own loss on the selected views; C-TPT raises ATFD above TPT's
    step = tpt.step_diagnostics(model, learner, views, "tpt", tpt.TPTConfig(lr=5e-3))
    assert step["selected_entropy_after"] < step["selected_entropy_before"]
    ctpt = tpt.step_diagnostics(model, learner, views, "ctpt", tpt.TPTConfig(lr=5e-3, lam=50.0))
    assert ctpt["atfd_after"] > step["atfd_after"]


def test_step_table_and_refusals(model, tokenizer, learner, views_for):
    rows = tpt.step_table(model, learner, [views_for(0, n_views=20), views_for(1, n_views=20)])
    assert [r["image"] for r in rows] == [0, 1]
    ensemble = tpt.PromptEnsemble(model, tokenizer, NAMES, ["a photo of a {}.", "a sketch of a {}."])
    with pytest.raises(TypeError, match="ensemble"):
        tpt.step_diagnostics(model, ensemble, views_for(0, n_views=20))
    with pytest.raises(ValueError, match="one image"):
        tpt.step_diagnostics(model, learner, views_for(0, n_views=20).unsqueeze(0))


def test_step_report_means_per_method_and_the_what_if_scale_leaves_the_model_alone(model, learner, views_for):
    views = [views_for(0, n_views=20), views_for(1, n_views=20)]
    cfg = tpt.TPTConfig(lr=5e-3, lam=50.0)
    scale = float(model.logit_scale.exp())
    report = tpt.step_report(model, learner, views, {"tpt": cfg, "ctpt": cfg}, what_if_scale=100.0)
    assert list(report.columns) == ["tpt", "ctpt", "tpt (s=100)", "ctpt (s=100)"]
    assert set(report.index) == set(tpt.STEP_FIELDS)
    rows = tpt.step_table(model, learner, views, "tpt", cfg)
    assert report.loc["step_rms", "tpt"] == pytest.approx(sum(r["step_rms"] for r in rows) / 2)
    assert report.loc["logit_scale", "tpt (s=100)"] == pytest.approx(100.0, rel=1e-5)
    assert float(model.logit_scale.exp()) == pytest.approx(scale)  # measured on a copy
    text = tpt.describe_step(report, {"all rows": 0.02, "rows of the words in the prompts": 0.03}, "toy, 2 images")
    assert text.startswith("toy, 2 images, mean of one TPT step:") and "What-if, logit scale 100" in text
    assert "What-if" not in tpt.describe_step(report[["tpt"]], {"all rows": 0.02,
                                                                "rows of the words in the prompts": 0.03}, "x")


def test_embedding_spread_leaves_out_padding(model, tokenizer):
    spread = tpt.embedding_spread(model, tokenizer, NAMES)
    emb = model.token_embedding.weight.detach()
    assert spread["all rows"] == pytest.approx(float(emb.std()))
    used = torch.unique(tokenizer(list(NAMES)))
    assert spread["rows of the words in the prompts"] == pytest.approx(float(emb[used[used != 0]].std()))


def test_prediction_changes_counts_changed_argmaxes_and_refuses_mismatched_runs():
    zs = [{"index": 0, "logits": [1, 0]}, {"index": 1, "logits": [0, 1]}]
    tuned = [{"index": 0, "logits": [0, 1]}, {"index": 1, "logits": [0, 2]}]
    assert tpt.prediction_changes({"zeroshot": zs, "tpt": tuned}) == {"tpt": 0.5}
    with pytest.raises(ValueError, match="different images"):
        tpt.prediction_changes({"zeroshot": zs, "tpt": tuned[:1]})
    with pytest.raises(ValueError, match="no 'zeroshot'"):
        tpt.prediction_changes({"tpt": tuned})
