"""vlmcal_utils.tpt.settings: a run's settings by the papers' per-dataset rules."""

from __future__ import annotations

import pytest

from vlmcal_utils import tpt


def test_protocol_settings_follow_the_per_dataset_rules():
    imagenet = tpt.protocol_settings("imagenet", "hard")
    shift = tpt.protocol_settings("imagenet-a", "hard")
    fine = tpt.protocol_settings("dtd", "ensemble", ensemble="tip7", n_views=16, seed=3)
    assert imagenet.ctx_init == tpt.HARD_PROMPT == "a photo of a"
    assert (imagenet.tuning.lam, shift.tuning.lam, fine.tuning.lam) == (50.0, 20.0, 50.0)
    assert (imagenet.augmix, shift.augmix, fine.augmix) == (False, True, True)
    assert fine.ctx_init == tpt.ensemble_templates("tip7") and (fine.n_views, fine.seed) == (16, 3)
    assert imagenet.n_views == 64 and imagenet.tuning.selection == 0.1 and imagenet.tuning.lr == 5e-3
    # the settings are the run's identity: the same arguments give the same fingerprint
    twice = [tpt.fingerprint_settings("ctpt", tpt.protocol_settings("dtd", "hard"), 1.0, False) for _ in range(2)]
    assert twice[0] == twice[1]
    assert twice[0] != tpt.fingerprint_settings("ctpt", tpt.protocol_settings("imagenet-a", "hard"), 1.0, False)


def test_an_unknown_init_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"\['ensemble', 'hard'\]"):
        tpt.init_context("soft")
