"""vlmcal_utils.tpt.views: deterministic, normalised views (crops, flips, TPT's AugMix)."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageOps

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


def test_augmix_ops_keep_size_and_type():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    assert len(AUGMIX_OPS) == 9
    for name, op in AUGMIX_OPS.items():
        out = op(img, 1, rng, 32)
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8, name


# PIL's own operations, as TPT's augmix_ops calls them: the array ops must equal them bit for bit
PIL_TONE = {
    "autocontrast": lambda im, v: ImageOps.autocontrast(im),
    "equalize": lambda im, v: ImageOps.equalize(im),
    "posterize": lambda im, v: ImageOps.posterize(im, v),
    "solarize": lambda im, v: ImageOps.solarize(im, v),
}


def _test_images():
    rng = np.random.default_rng(7)
    yield rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    yield rng.integers(100, 140, (17, 23, 3), dtype=np.uint8)  # a narrow range: autocontrast stretches it
    yield np.full((8, 8, 3), 9, dtype=np.uint8)  # one value: both tables are the identity
    yield (rng.integers(0, 2, (9, 9, 3)) * 255).astype(np.uint8)  # two values
    two = np.zeros((16, 16, 3), dtype=np.uint8)
    two[0, 0] = 200  # one odd pixel: equalize's step is 0
    yield two
    skew = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    skew[:30] = 255  # most pixels at the top value: equalize's table passes 255 before PIL clips it
    yield skew


@pytest.mark.parametrize("name", sorted(PIL_TONE))
def test_tone_ops_equal_pil_bit_for_bit(name):
    from vlmcal_utils.tpt import views

    ours = {"autocontrast": lambda a, v: views._autocontrast(a), "equalize": lambda a, v: views._equalize(a),
            "posterize": views._posterize, "solarize": views._solarize}[name]
    for img in _test_images():
        for v in ((4, 3, 1, 8) if name == "posterize" else (231, 254, 128, 0, 256)):
            ref = np.asarray(PIL_TONE[name](Image.fromarray(img, "RGB"), v))
            np.testing.assert_array_equal(ours(img, v), ref, err_msg=f"{name}({v})")


def test_augmix_views_equal_the_per_op_pil_implementation():
    """make_views against TPT's loop written out with PIL and torchvision, one op and one view at a time."""
    from vlmcal_utils.tpt import views

    pp = {"size": 24, "mean": tuple(open_clip.OPENAI_DATASET_MEAN), "std": tuple(open_clip.OPENAI_DATASET_STD)}
    img = Image.fromarray(np.random.default_rng(3).integers(0, 256, (30, 41, 3), dtype=np.uint8))

    def prep(im):
        return TF.normalize(TF.to_tensor(im), list(pp["mean"]), list(pp["std"]))

    def pil_op(name, im, rng):  # TPT's draws (severity 1) and PIL's operation on the PIL image
        if name == "posterize":
            return ImageOps.posterize(im, 4 - int(rng.uniform(0.1, 1) * 4 / 10))
        if name == "solarize":
            return ImageOps.solarize(im, 256 - int(rng.uniform(0.1, 1) * 256 / 10))
        if name in PIL_TONE:
            return PIL_TONE[name](im, None)
        return Image.fromarray(AUGMIX_OPS[name](np.asarray(im), 1, rng, 24))  # geometric: PIL's transforms already

    rng = np.random.default_rng([5, 9])
    expected = [prep(TF.center_crop(TF.resize(img, 24, interpolation=TF.InterpolationMode.BICUBIC), [24, 24]))]
    for _ in range(15):
        i, j, h, w = rrc_params(*img.size, rng)
        x = TF.resized_crop(img, i, j, h, w, [24, 24], interpolation=TF.InterpolationMode.BILINEAR)
        x = TF.hflip(x) if rng.uniform() < 0.5 else x
        ws, m = rng.dirichlet([1.0, 1.0, 1.0]).astype(np.float32), np.float32(rng.beta(1.0, 1.0))
        mix = torch.zeros_like(prep(x))
        for c in range(3):
            xa = x.copy()
            for _ in range(int(rng.integers(1, 4))):
                xa = pil_op(views._AUGMIX_NAMES[int(rng.integers(9))], xa, rng)
            mix += float(ws[c]) * prep(xa)
        expected.append(float(m) * prep(x) + (1 - float(m)) * mix)
    assert torch.equal(tpt.make_views(img, pp, n_views=16, augmix=True, seed=5, index=9), torch.stack(expected))
