"""vlmcal_utils.tpt.views: deterministic, normalised views (crops, flips, TPT's AugMix)."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from vlmcal_utils import tpt
from vlmcal_utils.tpt.views import AUGMIX_OPS, rrc_params


def test_preprocess_config_uses_clip_normalisation(model):
    pp = tpt.preprocess_config(model)
    assert pp == {"size": 32, "mean": tuple(open_clip.OPENAI_DATASET_MEAN), "std": tuple(open_clip.OPENAI_DATASET_STD)}


def test_views_deterministic_per_seed_and_index(model, images):
    pp = tpt.preprocess_config(model)
    img, _ = images(1)[0]
    a = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=5)
    b = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=5)
    c = tpt.make_views(img, pp, n_views=8, augmix=True, seed=3, index=6)
    d = tpt.make_views(img, pp, n_views=8, augmix=False, seed=4, index=5)
    assert a.shape == (8, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a[1:], c[1:])
    torch.testing.assert_close(a[0], c[0])  # the original view is not random
    torch.testing.assert_close(a[0], d[0])
    assert not torch.equal(a[1:], d[1:])


def test_view_zero_is_resize_and_centre_crop_normalised(model, images):
    pp = tpt.preprocess_config(model)
    img, _ = images(1)[0]
    v0 = tpt.make_views(img, pp, n_views=1)[0]
    pil = Image.fromarray(img)
    ref = TF.normalize(TF.to_tensor(TF.center_crop(TF.resize(pil, 32, interpolation=TF.InterpolationMode.BICUBIC),
                                                   [32, 32])), list(pp["mean"]), list(pp["std"]))
    torch.testing.assert_close(v0, ref)
    # the same image as PIL, (H, W, 3) uint8, (3, H, W) float in [0, 1] gives the same view
    chw = torch.from_numpy(img).permute(2, 0, 1).float() / 255.0
    for other in (pil, chw):
        torch.testing.assert_close(tpt.make_views(other, pp, n_views=1)[0], v0)


def test_views_reject_normalised_input_and_bad_counts(model, images):
    pp = tpt.preprocess_config(model)
    with pytest.raises(ValueError, match="raw images"):
        tpt.make_views(np.full((3, 8, 8), -0.5, dtype=np.float32), pp, n_views=2)
    with pytest.raises(ValueError, match="n_views"):
        tpt.make_views(images(1)[0][0], pp, n_views=0)
    with pytest.raises(ValueError, match="image must be"):
        tpt.make_views(np.zeros((8, 8, 4), dtype=np.uint8), pp, n_views=1)


def test_rrc_params_stay_inside_the_image():
    rng = np.random.default_rng(0)
    for w, h in [(48, 40), (10, 200), (300, 7)]:
        for _ in range(50):
            top, left, ch, cw = rrc_params(w, h, rng)
            assert 0 <= top and 0 <= left and 0 < ch and 0 < cw and top + ch <= h and left + cw <= w


def test_augmix_ops_keep_size_and_mode():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    rng = np.random.default_rng(1)
    assert len(AUGMIX_OPS) == 9
    for name, op in AUGMIX_OPS.items():
        out = op(img, 1, rng, 32)
        assert out.size == (32, 32) and out.mode == "RGB", name
