"""vlmcal_utils.demo.world: the demo world's images are deterministic, split-separated and
consistently labelled."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from vlmcal_utils.demo import (
    CLASSNAMES,
    DEMO_DOMAINS,
    HELDOUT_CLASSES,
    SEEN_CLASSES,
    class_ids,
    make_demo_dataset,
)


def _digest(ds, idx=range(12)) -> str:
    h = hashlib.sha256()
    for i in idx:
        img, label = ds[i]
        h.update(np.asarray(img).tobytes())
        h.update(bytes([label]))
    return h.hexdigest()


@pytest.mark.parametrize("domain", DEMO_DOMAINS)
def test_same_seed_same_pixels(domain):
    a = make_demo_dataset(domain, "test", n=50, seed=3)
    b = make_demo_dataset(domain, "test", n=50, seed=3)
    assert _digest(a) == _digest(b)
    # Random access order must not matter either.
    assert np.array_equal(np.asarray(a[7][0]), np.asarray(b[7][0]))


def test_splits_seeds_and_domains_differ():
    digests = {
        (split, seed, domain): _digest(make_demo_dataset(domain, split, n=12, seed=seed))
        for split in ("train", "val", "test") for seed in (0, 1) for domain in DEMO_DOMAINS
    }
    assert len(set(digests.values())) == len(digests)


def test_no_identical_images_across_splits():
    hashes = {}
    for split in ("train", "val", "test"):
        ds = make_demo_dataset("photo", split, n=100)
        hashes[split] = {hashlib.sha256(np.asarray(ds[i][0]).tobytes()).hexdigest() for i in range(100)}
    assert not (hashes["train"] & hashes["val"]) and not (hashes["train"] & hashes["test"])
    assert not (hashes["val"] & hashes["test"])


def test_class_sets_and_labels():
    assert len(CLASSNAMES) == 36 and len(set(CLASSNAMES)) == 36
    assert len(HELDOUT_CLASSES) == 12 and not set(HELDOUT_CLASSES) & set(SEEN_CLASSES)
    assert sorted(SEEN_CLASSES + HELDOUT_CLASSES) == sorted(CLASSNAMES)
    # Every colour and every shape word is still seen in training.
    seen_words = {w for n in SEEN_CLASSES for w in n.split()}
    assert {w for n in HELDOUT_CLASSES for w in n.split()} <= seen_words
    for classes, names in (("all", CLASSNAMES), ("seen", SEEN_CLASSES), ("heldout", HELDOUT_CLASSES)):
        per_domain = [make_demo_dataset(d, "val", n=40, classes=classes) for d in DEMO_DOMAINS]
        for ds in per_domain:
            assert ds.classnames == names
            assert [CLASSNAMES[i] for i in class_ids(classes)] == names
            assert ds.targets == per_domain[0].targets
            assert all(0 <= y < len(names) for y in ds.targets)
            assert ds.domain in DEMO_DOMAINS and ds.split == "val"
        # The label really is what is drawn: params agree with the class name.
        ds = per_domain[0]
        for i in range(0, 40, 7):
            p = ds.params(i)
            assert f"{p['colour']} {p['shape']}" == ds.classnames[ds.targets[i]]


def test_image_format_and_transform():
    ds = make_demo_dataset("painting", "test", n=4)
    img, y = ds[0]
    assert img.mode == "RGB" and img.size == (32, 32) and isinstance(y, int)
    ds_t = make_demo_dataset("painting", "test", n=4, transform=lambda im: torch.as_tensor(np.array(im)))
    x, _ = ds_t[0]
    assert torch.equal(x, torch.as_tensor(np.array(img)))
    assert len(make_demo_dataset("photo", "train")) == 20000


def test_images_depend_on_class():
    """Pixels change with the class (colour and shape), not only with the jitter."""
    ds = make_demo_dataset("clipart", "test", n=72)
    imgs = np.stack([np.asarray(ds[i][0], float) for i in range(72)])
    labels = np.array(ds.targets)
    red = imgs[labels < 6].reshape(-1, 3)
    blue = imgs[(labels >= 12) & (labels < 18)].reshape(-1, 3)
    assert red[:, 0].mean() - red[:, 2].mean() > blue[:, 0].mean() - blue[:, 2].mean() + 10


def test_captions_name_the_object():
    ds = make_demo_dataset("photo", "train", n=30, classes="seen")
    rng = np.random.default_rng(0)
    caps = [ds.caption(i, rng) for i in range(30)]
    assert len(set(caps)) > 20
    for i, c in enumerate(caps):
        colour, shape = ds.classnames[ds.targets[i]].split()
        assert colour in c or shape in c


@pytest.mark.parametrize("kwargs", [{"domain": "quickdraw"}, {"split": "dev"}, {"classes": "unseen"}, {"n": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_demo_dataset(**kwargs)
