"""vlmcal_utils.tpt.losses: TPT's entropy objective, confidence selection, the family's regularisers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "otpt", 2.0), ent + 2.0 * tpt.orthogonality(txt))
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "atpt", 10.0, tau=0.9),
                               ent - 10.0 * tpt.min_angle(txt, tau=0.9))
    assert tpt.REGULARISERS == {"ctpt": tpt.ctpt_regulariser, "otpt": tpt.otpt_regulariser,
                                "atpt": tpt.atpt_regulariser}
    assert set(tpt.REGULARISERS) <= set(tpt.METHODS)  # every regulariser is a method


def test_a_new_regulariser_is_one_entry(monkeypatch):
    monkeypatch.setitem(tpt.REGULARISERS, "spread", lambda feats, lam: lam * feats.sum((-2, -1)))
    sel, txt = torch.zeros(1, 2, 3), torch.ones(1, 3, 4)
    torch.testing.assert_close(tpt.tuning_loss(sel, txt, "spread", 2.0), tpt.avg_entropy(sel) + 24.0)


# --- O-TPT and A-TPT: literal transcriptions of the official expressions --------------------------


def official_otpt(text_feature: torch.Tensor) -> torch.Tensor:
    """O-TPT's 'Householder Transform' block, verbatim but for the device argument and the unused
    ``Wwt_val_HT`` lines: ashshaksharifdeen/O-TPT@a09933f5 otpt_classification.py lines 236-283
    (``loss += (+(lambda_ * Ht_ortho_norm_val))`` line 288). ``text_feature`` is ``model.textfeatures_``:
    the prompt's class features with rows L2-normalised (clip/custom_clip_iptp_bas.py line 323)."""
    Wwt = torch.matmul(text_feature, text_feature.T)
    e = torch.eye(Wwt.shape[1])
    M_norm = torch.linalg.norm(Wwt, dim=0, keepdim=True)
    scaled_e = e * M_norm
    u = Wwt - scaled_e
    u_norm = torch.linalg.norm(u, dim=-1, keepdim=True)
    v = u / u_norm
    normalized_matrix_exp = v.unsqueeze(2)
    normalized_matrix_T_exp = v.unsqueeze(1)
    outer_products = normalized_matrix_exp @ normalized_matrix_T_exp
    divided_matrix = outer_products
    scaled_matrix = 2 * divided_matrix
    identity_matrix_dim = e.unsqueeze(0).expand(Wwt.shape[1], -1, -1)
    transformed_matrix = identity_matrix_dim - scaled_matrix
    Wwt_exp = Wwt.unsqueeze(2)
    Hx = torch.bmm(transformed_matrix, Wwt_exp)
    Hx = Hx.squeeze(2)
    Ht_ortho = Hx - e
    Ht_ortho_norm = torch.linalg.norm(Ht_ortho, dim=-1)
    return Ht_ortho_norm.mean()


def official_min_ang_norm_mean(W: torch.Tensor, tau_: float) -> torch.Tensor:
    """A-TPT's angular quantity, the same lines in both official paths (MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61):
    atpt_classification.py lines 259-267 and clip/custom_clip.py lines 324-332."""
    W_ = F.normalize(W, p=2, dim=1)
    Wwt_ = torch.matmul(W_, W_.t())
    Wwt_ = Wwt_ - 2. * torch.diag(torch.diag(Wwt_))
    max_Wwt_ = Wwt_.max(dim=1)[0]
    Wwt_constraint = max_Wwt_.clamp(-tau_, tau_)
    min_ang_norm = -torch.acos(Wwt_constraint)
    min_ang_norm_mean = min_ang_norm.mean()
    return min_ang_norm_mean


def official_atpt_ds(W: torch.Tensor, lambda_: float, tau_: float) -> torch.Tensor:
    """The natural-shift script's term: tpt_classification.py line 255 @ d76ecf61,
    ``loss += ((lambda_) * model.min_ang_norm_mean_training)`` (clip/custom_clip.py line 338)."""
    return (lambda_) * official_min_ang_norm_mean(W, tau_)


def official_atpt_fg(W: torch.Tensor, lambda_: float, tau_: float) -> torch.Tensor:
    """The fine-grained script's term: atpt_classification.py line 269 @ d76ecf61,
    ``loss += ((-lambda_) * min_ang_norm_mean)``."""
    return (-lambda_) * official_min_ang_norm_mean(W, tau_)


def _features(seed: int = 0, K: int = 5, E: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(K, E, generator=g, dtype=torch.float64), dim=-1)


def test_orthogonality_equals_the_official_householder_expression_value_and_gradient():
    for seed in range(3):
        t = _features(seed).requires_grad_(True)
        ours, theirs = tpt.orthogonality(t.double()), official_otpt(F.normalize(t, dim=-1))
        assert math.isclose(float(ours.detach()), float(theirs.detach()), rel_tol=1e-5, abs_tol=1e-6)
        g_ours, = torch.autograd.grad(tpt.otpt_regulariser(t, 2.0), t)
        g_theirs, = torch.autograd.grad(2.0 * official_otpt(F.normalize(t, dim=-1)), t)
        torch.testing.assert_close(g_ours.double(), g_theirs, rtol=1e-3, atol=1e-5)


def test_orthogonality_equals_the_official_block_on_random_class_features():
    # the official path: random (not unit) class features, rows L2-normalised as get_text_features does,
    # K = 47 classes (DTD, the shape the official comments name), CLIP ViT-B/16's E = 512
    g = torch.Generator().manual_seed(7)
    raw = (torch.randn(47, 512, generator=g, dtype=torch.float64) + 0.5).requires_grad_(True)
    official = official_otpt(F.normalize(raw, dim=-1))
    ours = tpt.orthogonality(raw.double())
    assert math.isclose(float(ours.detach()), float(official.detach()), rel_tol=1e-5)
    g_ours, = torch.autograd.grad(tpt.otpt_regulariser(raw, 18.0), raw)
    g_theirs, = torch.autograd.grad(18.0 * official, raw)
    torch.testing.assert_close(g_ours.double(), g_theirs, rtol=1e-3, atol=1e-6)


def test_orthogonality_closed_forms():
    eye = torch.eye(4, 6)
    assert float(tpt.orthogonality(eye)) < 1e-7  # orthonormal -> zero (the official code gives nan here)
    assert torch.isnan(official_otpt(eye)).all()
    same = torch.ones(4, 6)
    assert math.isclose(float(tpt.orthogonality(same)), math.sqrt(4) - 1, rel_tol=1e-6)  # the maximum
    assert math.isclose(float(tpt.orthogonality(3.0 * eye)), 0.0, abs_tol=1e-7)  # scale-free: rows normalised


def test_min_angle_equals_the_official_expression_and_closed_forms():
    for seed in range(3):
        t = _features(seed)
        for tau in (0.99999, 0.5):
            ours = tpt.atpt_regulariser(t, 80.0, tau).double()
            torch.testing.assert_close(ours, official_atpt_ds(t, 80.0, tau), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(ours, -official_atpt_fg(t, 80.0, tau), rtol=1e-5, atol=1e-5)
    # orthonormal features: every nearest neighbour at 90 degrees
    assert math.isclose(float(tpt.min_angle(torch.eye(3, 5))), math.pi / 2, rel_tol=1e-6)
    # three unit vectors 120 degrees apart in a plane
    a = torch.tensor([[math.cos(k * 2 * math.pi / 3), math.sin(k * 2 * math.pi / 3)] for k in range(3)])
    assert math.isclose(float(tpt.min_angle(a)), 2 * math.pi / 3, rel_tol=1e-5)
    # two equal features: the clamp keeps the angle at acos(tau) instead of 0 (and the gradient finite)
    dup = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    expected = (2 * math.acos(0.9) + math.pi / 2) / 3
    assert math.isclose(float(tpt.min_angle(dup, tau=0.9)), expected, rel_tol=1e-5)
    with pytest.raises(ValueError, match="tau"):
        tpt.min_angle(a, tau=0.0)
    with pytest.raises(ValueError, match="K >= 2"):
        tpt.min_angle(torch.ones(1, 3))


@pytest.mark.parametrize(("official", "opens"), [(official_atpt_ds, True), (official_atpt_fg, False)])
def test_which_official_atpt_sign_opens_the_angle(official, opens):
    # one gradient step on each official term alone, from nearby class features: the natural-shift
    # path's term opens the minimum angle (as ours), the fine-grained path's closes it
    g = torch.Generator().manual_seed(3)
    x = torch.nn.Parameter(torch.ones(6, 8) + 0.3 * torch.randn(6, 8, generator=g))
    before = float(tpt.min_angle(x.detach()))
    official(x, 10.0, tpt.ATPT_TAU).backward()
    torch.optim.SGD([x], lr=1e-3).step()
    after = float(tpt.min_angle(x.detach()))
    assert (after > before) if opens else (after < before), (before, after)


def test_each_regulariser_is_batched_like_a_loop():
    batch = torch.stack([_features(s).float() for s in range(3)])
    for name, reg in tpt.REGULARISERS.items():
        together = reg(batch, 3.0)
        assert together.shape == (3,), name
        torch.testing.assert_close(together, torch.stack([reg(b, 3.0) for b in batch]), msg=name)


@pytest.mark.parametrize(("method", "quantity", "increases"), [
    ("ctpt", lambda t: tpt.atfd(t, normalize=False), True),
    ("otpt", tpt.orthogonality, False),  # a penalty: the step lowers it (more orthogonal)
    ("atpt", tpt.min_angle, True),
])
def test_one_step_on_the_regulariser_moves_the_features_the_documented_way(method, quantity, increases):
    # features of nearby classes, as a prompt's are; one AdamW step on the regulariser alone
    g = torch.Generator().manual_seed(1)
    base = F.normalize(torch.ones(6, 8) + 0.3 * torch.randn(6, 8, generator=g), dim=-1)
    x = torch.nn.Parameter(base.clone())
    opt = torch.optim.AdamW([x], lr=1e-2)
    before = float(quantity(F.normalize(x.detach(), dim=-1)))
    tpt.REGULARISERS[method](F.normalize(x, dim=-1), 10.0).backward()
    opt.step()
    after = float(quantity(F.normalize(x.detach(), dim=-1)))
    assert (after > before) if increases else (after < before), (before, after)
