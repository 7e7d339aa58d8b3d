"""vlmcal_utils.tpt.settings: a run's settings by the papers' per-dataset rules."""

from __future__ import annotations

import pytest

from vlmcal_utils import tpt


def test_protocol_settings_follow_the_per_dataset_rules():
    imagenet = tpt.RunSettings.protocol("imagenet", "hard")
    shift = tpt.RunSettings.protocol("imagenet-a", "hard")
    fine = tpt.RunSettings.protocol("dtd", "ensemble", ensemble="tip7", n_views=16, seed=3)
    assert imagenet.ctx_init == tpt.HARD_PROMPT == "a photo of a"
    assert (imagenet.tuning.lam, shift.tuning.lam, fine.tuning.lam) == (50.0, 20.0, 50.0)
    assert (imagenet.use_augmix, shift.use_augmix, fine.use_augmix) == (False, True, True)
    assert fine.ctx_init == tpt.ensemble_templates("tip7") and (fine.n_views, fine.seed) == (16, 3)
    assert imagenet.n_views == 64 and imagenet.tuning.selection == 0.1 and imagenet.tuning.lr == 5e-3
    # the settings are the run's identity: the same arguments give the same fingerprint
    twice = [tpt.fingerprint_settings("ctpt", tpt.RunSettings.protocol("dtd", "hard"), 1.0, False) for _ in range(2)]
    assert twice[0] == twice[1]
    assert twice[0] != tpt.fingerprint_settings("ctpt", tpt.RunSettings.protocol("imagenet-a", "hard"), 1.0, False)


def test_the_defaults_are_the_protocols_rules():
    # a bare RunSettings follows the dataset's AugMix rule; without a dataset "auto" cannot be resolved
    assert tpt.RunSettings(dataset="imagenet").use_augmix is False
    assert tpt.RunSettings(dataset="imagenet-r").use_augmix is True
    with pytest.raises(ValueError, match="name it"):
        _ = tpt.RunSettings().use_augmix
    # each method's λ (and τ) by the dataset's family, from the official scripts
    lams = {m: tpt.RunSettings.protocol("imagenet-a", "hard", m).tuning for m in ("ctpt", "otpt", "atpt")}
    assert {m: c.lam for m, c in lams.items()} == {"ctpt": 20.0, "otpt": 2.0, "atpt": 10.0}
    assert lams["atpt"].tau == 0.99999
    # the notebooks' parameters give the same settings (and fingerprint) as the explicit call
    params = {"ensemble": "tip7", "n_views": 16, "augmix": "auto", "selection": 0.1, "lr": 5e-3, "steps": 1,
              "lam": 50.0, "lam_shifts": 20.0, "seed": 0, "model": "ignored"}
    assert tpt.RunSettings.from_params(params, "dtd", "hard", "ctpt") == tpt.RunSettings.protocol(
        "dtd", "hard", "ctpt", n_views=16)
    assert tpt.RunSettings.protocol("dtd").replace(lr=1e-3, n_views=8).tuning.lr == 1e-3
    with pytest.raises(ValueError, match="unknown method"):
        tpt.RunSettings.protocol("dtd", "hard", "bogus")


def test_an_unknown_init_is_refused_with_the_choices():
    with pytest.raises(ValueError, match=r"\['ensemble', 'hard'\]"):
        tpt.init_context("soft")
