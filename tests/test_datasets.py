"""Dataset registry: CoOp split files, folders, ImageNet subsets, shared real data, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import (
    DATASETS,
    imagenet_wnids,
    list_datasets,
    load_coop_split,
    load_dataset,
    subsample,
)


def _write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_coop_split_layout(tmp_path):
    base = tmp_path / "stanford_cars"
    _write_images(base / "cars_test", 3)
    split = {
        "train": [["cars_test/0.png", 1, "2012_Audi_S4"]],
        "val": [],
        "test": [["cars_test/1.png", 0, "AM_General_Hummer"], ["cars_test/2.png", 1, "2012_Audi_S4"]],
    }
    (base / "split_zhou_StanfordCars.json").write_text(json.dumps(split))
    ds = load_dataset("stanford_cars", split="test", root=tmp_path)
    assert ds.classnames == ["AM General Hummer", "2012 Audi S4"]
    assert len(ds) == 2 and [ds[i][1] for i in range(2)] == [0, 1]
    assert ds[0][0].mode == "RGB" and ds[0][0].size == (6, 6)
    assert len(load_dataset("stanford-cars", split="train", root=tmp_path)) == 1
    with pytest.raises(ValueError, match="splits"):
        load_coop_split(base, base / "split_zhou_StanfordCars.json", split="holdout")
    # a torchvision-named set prefers CoOp's split when the file is under root
    (tmp_path / "eurosat").mkdir()
    (tmp_path / "eurosat" / "split_zhou_EuroSAT.json").write_text(json.dumps(split))
    assert len(load_dataset("eurosat", split="test", root=tmp_path)) == 2


def test_missing_data_says_where_and_which_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("ucf101", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("cifar10", root=tmp_path, download=False)
    with pytest.raises(FileNotFoundError, match="ImageNet-A"):
        load_dataset("imagenet-a", root=tmp_path)


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="cifar100"):
        load_dataset("cifar-100")
    assert "cifar10-shared" in list_datasets() and set(list_datasets()) == set(DATASETS)


def test_imagefolder_and_imagenet_r_subset(tmp_path):
    wnids = imagenet_wnids()
    assert len(wnids) == 1000 and wnids == sorted(wnids)
    chosen = [wnids[i] for i in (1, 7, 500)]
    for k, w in enumerate(chosen):
        _write_images(tmp_path / "imagenet-r" / w, 2, seed=k)
    ds = load_dataset("imagenet-r", root=tmp_path)
    assert list(ds.imagenet_indices) == [1, 7, 500] and ds.class_mask.sum() == 3
    assert ds.class_mask[[1, 7, 500]].all() and len(ds) == 6 and ds[5][1] == 2
    assert ds.classnames[0] == "goldfish"
    folder = load_dataset("imagefolder", root=tmp_path / "imagenet-r")
    assert folder.classnames == chosen and len(folder) == 6


def test_subsample_is_seeded_and_keeps_classnames(tmp_path):
    _write_images(tmp_path / "a_b", 5)
    _write_images(tmp_path / "c", 5)
    ds = load_dataset("imagefolder", root=tmp_path)
    assert ds.classnames == ["a b", "c"]
    sub = subsample(ds, 4, seed=1)
    assert len(sub) == 4 and sub.classnames == ds.classnames
    assert list(sub.indices) == list(subsample(ds, 4, seed=1).indices)
    assert subsample(ds, None) is ds


def test_demo_dataset():
    pytest.importorskip("vlmcal_utils.demo")
    ds = load_dataset("demo-photo", split="test", n=4)
    image, label = ds[0]
    assert len(ds) == 4 and image.size == (32, 32) and 0 <= label < len(ds.classnames)


@pytest.mark.shared
def test_shared_cifar10_aligns_with_published_logits(shared):
    from vlmcal_utils.data import load_logits

    ds = load_dataset("cifar10-shared")
    assert len(ds) == 10_000 and ds.images.shape == (10_000, 32, 32, 3)
    assert (ds.index == np.arange(10_000)).all()
    logits = load_logits(shared / "data" / "logits" / "clip_vitb32_cifar10_zeroshot.npz")
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
