"""vlmcal_utils.data.datasets: the registry, name matching, missing data, the demo world."""

from __future__ import annotations

import pytest

from vlmcal_utils.data import DATASETS, list_datasets, load_dataset


def test_missing_data_says_where_and_which_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("ucf101", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("cifar10", root=tmp_path, download=False)


def test_default_root_is_vlmcal_data(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMCAL_DATA", str(tmp_path / "my-data"))
    with pytest.raises(FileNotFoundError, match="my-data"):
        load_dataset("ucf101")


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match=r"unknown dataset 'cifar-100'; close matches: \[.*'cifar100'"):
        load_dataset("cifar-100")
    # names are matched after normalising case and "_"/"-"
    with pytest.raises(ValueError, match="'imagenet-sketch'"):
        load_dataset("ImageNet_Sketchy")
    assert "cifar10-shared" in list_datasets() and set(list_datasets()) == set(DATASETS)
    assert list_datasets() == sorted(list_datasets())


def test_split_errors_name_the_choices(tmp_path):
    with pytest.raises(ValueError, match="splits 'train' and 'test'"):
        load_dataset("cifar10", split="val", root=tmp_path)
    with pytest.raises(ValueError, match=r"split 'test' not available .*split_zhou_EuroSAT\.json"):
        load_dataset("eurosat", split="test", root=tmp_path, download=False)


def test_demo_dataset():
    ds = load_dataset("demo-photo", split="test", n=4)
    image, label = ds[0]
    assert len(ds) == 4 and image.size == (32, 32) and 0 <= label < len(ds.classnames)
    assert len(load_dataset("demo_sketch", split="val", n=3, classes="heldout")) == 3
