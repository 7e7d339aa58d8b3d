"""vlmcal_utils.data.imagenet: ImageNet variants and DomainNet from local folders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import DOMAINNET_DOMAINS, imagenet_wnids, load_dataset, load_domainnet


def write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_imagenet_r_subset_maps_to_imagenet_indices(tmp_path):
    wnids = imagenet_wnids()
    chosen = [wnids[i] for i in (1, 7, 500)]
    for k, w in enumerate(chosen):
        write_images(tmp_path / "imagenet-r" / w, 2, seed=k)
    ds = load_dataset("imagenet-r", root=tmp_path)
    assert list(ds.imagenet_indices) == [1, 7, 500] and ds.class_mask.sum() == 3
    assert ds.class_mask[[1, 7, 500]].all() and len(ds) == 6 and ds[5][1] == 2
    assert ds.classnames[0] == "goldfish"
    folder = load_dataset("imagefolder", root=tmp_path / "imagenet-r")
    assert folder.classnames == chosen and len(folder) == 6
    with pytest.raises(ValueError, match="only the evaluation images"):
        load_dataset("imagenet-r", split="train", root=tmp_path)


def test_imagenet_variants_say_where_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageNet-A"):
        load_dataset("imagenet-a", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="image-net.org"):
        load_dataset("imagenet", root=tmp_path)


def test_domainnet_lists_and_all(tmp_path):
    base = tmp_path / "domainnet"
    write_images(base / "clipart" / "the_cat", 2)
    write_images(base / "clipart" / "dog", 1)
    (base / "clipart_test.txt").write_text("clipart/dog/0.png 0\nclipart/the_cat/1.png 1\n")
    ds = load_domainnet(split="test", root=tmp_path, domain="clipart")
    assert ds.classnames == ["dog", "the cat"] and ds.labels.tolist() == [0, 1]
    everything = load_dataset("domainnet", split="all", root=tmp_path, domain="clipart")
    assert len(everything) == 3 and everything.labels.tolist() == [0, 1, 1]
    with pytest.raises(FileNotFoundError, match="split='all'"):
        load_domainnet(split="train", root=tmp_path, domain="clipart")
    with pytest.raises(ValueError, match="unknown DomainNet domain 'clip'.*clipart"):
        load_domainnet(root=tmp_path, domain="clip")
    with pytest.raises(FileNotFoundError, match="M3SDA"):
        load_domainnet(root=tmp_path, domain="sketch")
    assert "real" in DOMAINNET_DOMAINS
