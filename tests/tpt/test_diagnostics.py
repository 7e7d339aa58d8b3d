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
