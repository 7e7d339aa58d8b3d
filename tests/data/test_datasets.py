"""vlmcal_utils.data.datasets: the registry, name matching, missing data, the demo world."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import DATASETS, imagenet_wnids, list_datasets, load_dataset, subsample
from vlmcal_utils.data.classnames import IMAGENET_A_INDICES
from vlmcal_utils.data.datasets import TEST_ONLY, calibration_set


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


#: torchvision offers only split "all" for these (train/val/test need CoOp's split files, whose
#: absence is a ValueError tested in test_split_errors_name_the_choices): they are asked for "all".
_ALL_SPLIT_ONLY = {"eurosat", "sun397", "caltech101"}


def test_every_registered_name_accepts_download_and_says_where_data_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    for name in DATASETS:
        if name.startswith("demo-"):  # generated: no data to miss
            assert len(load_dataset(name, root=tmp_path, download=False, n=2)) == 2
            continue
        kw = {"split": "all"} if name in _ALL_SPLIT_ONLY else {}
        # download=False is accepted (the old stanford-cars/ucf101/imagenet loaders raised TypeError)
        # and an empty root is a FileNotFoundError naming where the data was looked for
        root = tmp_path / name  # an empty folder of its own (a loader may leave folders behind)
        root.mkdir()
        with pytest.raises(FileNotFoundError) as err:
            load_dataset(name, root=root, download=False, **kw)
        assert str(root) in str(err.value) or "VLMCAL_SHARED" in str(err.value), (name, str(err.value))


class _FakeSUN397:
    """Stands in for torchvision.datasets.SUN397 (its class names are not CoOp's)."""

    def __init__(self, root, transform=None, download=False):
        self.classes = ["bakery/shop", "abbey"]


def test_paper_protocol_refuses_torchvision_class_lists(tmp_path, monkeypatch):
    import torchvision.datasets as tv

    monkeypatch.setattr(tv, "SUN397", _FakeSUN397)
    with pytest.raises(FileNotFoundError, match=r"split_zhou_SUN397\.json.*looked for"):
        load_dataset("sun397", split="all", root=tmp_path, paper_protocol=True)
    with pytest.warns(UserWarning, match="not CoOp's split"):
        ds = load_dataset("sun397", split="all", root=tmp_path)  # plain use keeps the fallback
    assert ds.classnames == ["bakery/shop", "abbey"]
    with pytest.raises(FileNotFoundError, match="split_zhou_Caltech101"):
        load_dataset("caltech101", split="all", root=tmp_path, paper_protocol=True, download=False)


def _write(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def _imagenet_a_tree(root, sub="imagenet-a", per_class=4):
    wnids = imagenet_wnids()
    for k, i in enumerate(IMAGENET_A_INDICES[:3]):
        _write(root / sub / wnids[i], per_class, seed=k)
    for i in IMAGENET_A_INDICES[3:]:  # ImageNet-A has 200 classes: the other 197, without images here
        (root / sub / wnids[i]).mkdir(parents=True)


def test_calibration_never_overlaps_the_test_rows(tmp_path):
    _imagenet_a_tree(tmp_path)
    test = subsample(load_dataset("imagenet-a", root=tmp_path), 7, seed=0)
    for split in ("auto", "val", "test"):  # "val" of a test-only set is its test list: held out too
        cal = calibration_set("imagenet-a", test, 4, split=split, seed=0, root=tmp_path)
        assert len(cal) == 4 and "held-out" in cal.source
        assert not set(cal.indices_array.tolist()) & set(test.indices_array.tolist())
        assert not {str(p) for p in np.asarray(test.dataset.paths)[cal.indices_array]} & \
            {str(p) for p in np.asarray(test.dataset.paths)[test.indices_array]}
    everything = calibration_set("imagenet-a", test, None, root=tmp_path)
    assert len(everything) == 12 - 7  # all that is left, never more
    with pytest.raises(ValueError, match="every test image is evaluated"):
        calibration_set("imagenet-a", load_dataset("imagenet-a", root=tmp_path), 4, root=tmp_path)


def test_calibration_uses_imagenet_train_when_present(tmp_path):
    _imagenet_a_tree(tmp_path)
    wnids = imagenet_wnids()
    train = tmp_path / "ImageNet" / "train"  # TPT's layout
    for w in wnids:
        (train / w).mkdir(parents=True)
    _write(train / wnids[IMAGENET_A_INDICES[1]], 3, seed=9)
    _write(train / wnids[2], 3, seed=8)  # not an ImageNet-A class: left out
    test = load_dataset("imagenet-a", root=tmp_path)  # all of it: train images make it possible
    cal = calibration_set("imagenet-a", test, None, root=tmp_path)
    assert "train" in cal.source and len(cal) == 3
    assert [cal[i][1] for i in range(3)] == [1, 1, 1]  # ImageNet-A's second class: label 1
    assert not {str(p) for p in test.paths} & {str(p) for p in getattr(cal, "dataset", cal).paths}


def test_calibration_uses_a_real_val_split(tmp_path):
    test = load_dataset("demo-photo", split="test", n=6)
    cal = calibration_set("demo-photo", test, 3, n=5)
    assert len(cal) == 3 and cal.classnames == test.classnames
    assert "imagenet-a" in TEST_ONLY and "dtd" not in TEST_ONLY


def test_evaluation_subset_draws_the_same_images_with_or_without_a_transform():
    from vlmcal_utils.data import evaluation_subset, uses_paper_protocol

    raw = evaluation_subset("demo-photo", 5, seed=3)
    seen = evaluation_subset("demo-photo", 5, seed=3, transform=lambda im: im.size)
    assert len(raw) == 5 and raw.classnames == seen.classnames
    assert [raw[i][1] for i in range(5)] == [seen[i][1] for i in range(5)]
    assert [raw[i][0].size for i in range(5)] == [seen[i][0] for i in range(5)]
    assert not uses_paper_protocol(None) and not uses_paper_protocol("random") and uses_paper_protocol("openai")
    with pytest.raises(ValueError, match="demo world"):  # real weights never run on the demo world
        evaluation_subset("demo-photo", 5, pretrained="openai")
