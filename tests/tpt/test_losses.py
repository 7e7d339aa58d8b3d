"""vlmcal_utils.tpt.losses: TPT's entropy objective, confidence selection, C-TPT's ATFD."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vlmcal_utils import tpt


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
    _, bidx = tpt.select_confident(batch, 0.1)
    assert set(bidx[1].tolist()) == {V - 1 - i for i in idx.tolist()}
    with pytest.raises(ValueError, match="views kept"):
        tpt.select_confident(logits[:5], 0.1)
    with pytest.raises(ValueError, match="top"):
        tpt.select_confident(logits, 0.0)


def test_avg_entropy_averages_probabilities():
    torch.manual_seed(0)
    z = torch.randn(6, 5) * 3
    p = z.softmax(-1).mean(0)
    torch.testing.assert_close(tpt.avg_entropy(z), -(p * p.log()).sum())
    # not the mean of per-view entropies
    assert not torch.isclose(tpt.avg_entropy(z), tpt.entropy(z).mean())
    both = tpt.avg_entropy(torch.stack([z, 2 * z]))
    torch.testing.assert_close(both, torch.stack([tpt.avg_entropy(z), tpt.avg_entropy(2 * z)]))


def test_entropy_in_nats():
    assert math.isclose(float(tpt.entropy(torch.zeros(4))), math.log(4), rel_tol=1e-6)
    assert tpt.entropy(torch.zeros(2, 3, 5)).shape == (2, 3)


def test_atfd_matches_hand_computation():
    t = torch.tensor([[3.0, 4.0], [0.0, 2.0], [-1.0, 0.0]], requires_grad=True)
    # normalised rows: (0.6, 0.8), (0, 1), (-1, 0)
    u = np.array([[0.6, 0.8], [0.0, 1.0], [-1.0, 0.0]])
    d = np.linalg.norm(u - u.mean(0), axis=1)
    plain = tpt.atfd(t)
    assert plain.dim() == 0
    assert math.isclose(float(plain.detach()), d.mean(), rel_tol=1e-6)
    assert math.isclose(float(tpt.atfd(t, squared=True).detach()), (d**2).mean(), rel_tol=1e-6)
    raw = t.detach().numpy()
    by_hand = np.linalg.norm(raw - raw.mean(0), axis=1).mean()
    assert math.isclose(float(tpt.atfd(t.detach(), normalize=False)), by_hand, rel_tol=1e-6)
    plain.backward()
    assert t.grad is not None and t.grad.abs().sum() > 0
    # identical features have zero dispersion; batched input gives one value per leading index
    assert float(tpt.atfd(torch.ones(4, 3))) < 1e-7
    assert tpt.atfd(torch.randn(2, 5, 3)).shape == (2,)
    with pytest.raises(ValueError, match="text_features"):
        tpt.atfd(torch.ones(3))


def test_tuning_loss_adds_the_method_regulariser():
    torch.manual_seed(0)
    sel, txt = torch.randn(2, 4, 6), torch.randn(2, 6, 8)
    ent = tpt.avg_entropy(sel)
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "tpt", 50.0), ent)
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "tpt+ts", 50.0), ent)  # no regulariser: plain TPT
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "ctpt", 50.0), ent - 50.0 * tpt.atfd(txt, normalize=False))
    assert set(tpt.REGULARISERS) == {"ctpt"} and tpt.REGULARISERS["ctpt"] is tpt.ctpt_regulariser
    assert "ctpt" in tpt.METHODS  # every regulariser is a method


def test_a_new_regulariser_is_one_entry(monkeypatch):
    monkeypatch.setitem(tpt.REGULARISERS, "spread", lambda feats, lam: lam * feats.sum((-2, -1)))
    sel, txt = torch.zeros(1, 2, 3), torch.ones(1, 3, 4)
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "spread", 2.0), tpt.avg_entropy(sel) + 24.0)
