"""vlmcal_utils.data.shared: the real images of $VLMCAL_SHARED (skipped without it)."""

from __future__ import annotations

import numpy as np
import pytest

from vlmcal_utils.data import load_dataset, load_logits, published_path


def test_without_shared_folder_the_error_names_the_full_dataset(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    with pytest.raises(FileNotFoundError, match=r"VLMCAL_SHARED.*load_dataset\('cifar10'"):
        load_dataset("cifar10-shared")
    with pytest.raises(ValueError, match="only the CIFAR-10 test split"):
        load_dataset("cifar10-shared", split="train")


@pytest.mark.shared
def test_shared_cifar10_aligns_with_published_logits(shared):
    ds = load_dataset("cifar10-shared")
    assert len(ds) == 10_000 and ds.images.shape == (10_000, 32, 32, 3)
    assert (ds.index == np.arange(10_000)).all()
    logits = load_logits(published_path("clip_vitb32_cifar10_zeroshot"))
    published = np.concatenate([logits.labels_val, logits.labels_test])
    assert (ds.labels == published).all()
    lossless = load_dataset("cifar10-shared-761")
    assert (lossless.labels == ds.labels[:761]).all()
    # the JPEG recovery is close to the lossless originals (PSNR about 30 dB)
    mse = ((lossless.images.astype(float) - ds.images[:761].astype(float)) ** 2).mean()
    assert 25 < 10 * np.log10(255**2 / mse) < 40


@pytest.mark.shared
def test_shared_imagenet_samples(shared):
    ds = load_dataset("imagenet-shared")
    assert len(ds) == 1000 and sorted(ds.labels.tolist()) == list(range(1000))
    image, label = ds[0]
    assert image.mode == "RGB" and min(image.size) == 256 and ds.classnames[label] == "tench"
