"""vlmcal_utils.tpt.family: O-TPT / A-TPT hyper-parameters per dataset family, from the official scripts."""

from __future__ import annotations

import dataclasses

import pytest

from vlmcal_utils import tpt


def test_family_hparams_are_the_scripts_and_change_only_the_regulariser():
    assert tpt.family_hparams("atpt", "dtd") == {"lam": 80.0, "tau": 0.99999}
    assert tpt.family_hparams("atpt", "imagenet-a") == {"lam": 10.0, "tau": 0.99999}
    assert tpt.family_hparams("otpt", "imagenet") == {"lam": 18.0}  # ImageNet is in the fine-grained family
    assert tpt.family_hparams("otpt", "imagenet-r") == {"lam": 2.0}
    assert tpt.family_hparams("ctpt", "imagenet-v2") == {"lam": tpt.ctpt_lambda("imagenet-v2")}
    assert tpt.family_hparams("tpt", "dtd") == {} and tpt.family_hparams("zeroshot", "dtd") == {}
    base = tpt.RunSettings.protocol("dtd", "hard", "tpt", lr=1e-3, selection=0.2).tuning
    cfg = tpt.RunSettings.protocol("dtd", "hard", "otpt", lr=1e-3, selection=0.2).tuning
    assert cfg.lam == 18.0 and dataclasses.replace(cfg, lam=base.lam) == base
    assert set(tpt.FAMILY_SOURCES) == {(m, f) for m, fams in tpt.FAMILY_HPARAMS.items() for f in fams}
    with pytest.raises(ValueError, match="method"):
        tpt.family_hparams("bogus", "dtd")
