"""vlmcal_utils.data.coop: CoOp split files and folder layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import load_coop_split, load_dataset


def write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


SPLIT = {
    "train": [["cars_test/0.png", 1, "2012_Audi_S4"]],
    "val": [],
    "test": [["cars_test/1.png", 0, "AM_General_Hummer"], ["cars_test/2.png", 1, "2012_Audi_S4"]],
}


def test_coop_split_layout(tmp_path):
    base = tmp_path / "stanford_cars"
    write_images(base / "cars_test", 3)
    (base / "split_zhou_StanfordCars.json").write_text(json.dumps(SPLIT))
    ds = load_dataset("stanford_cars", split="test", root=tmp_path)
    assert ds.classnames == ["AM General Hummer", "2012 Audi S4"]
    assert len(ds) == 2 and [ds[i][1] for i in range(2)] == [0, 1]
    assert ds[0][0].mode == "RGB" and ds[0][0].size == (6, 6)
    assert len(load_dataset("stanford-cars", split="train", root=tmp_path)) == 1
    with pytest.raises(ValueError, match="splits"):
        load_coop_split(base, base / "split_zhou_StanfordCars.json", split="holdout")
    # a torchvision-named set prefers CoOp's split when the file is under root
    (tmp_path / "eurosat").mkdir()
    (tmp_path / "eurosat" / "split_zhou_EuroSAT.json").write_text(json.dumps(SPLIT))
    assert len(load_dataset("eurosat", split="test", root=tmp_path)) == 2


def test_inconsistent_split_files_are_refused(tmp_path):
    two_names = {"test": [["a.png", 0, "cat"], ["b.png", 0, "dog"]]}
    (tmp_path / "two.json").write_text(json.dumps(two_names))
    with pytest.raises(ValueError, match="label 0 has two names"):
        load_coop_split(tmp_path, tmp_path / "two.json")
    gap = {"test": [["a.png", 0, "cat"], ["b.png", 2, "dog"]]}
    (tmp_path / "gap.json").write_text(json.dumps(gap))
    with pytest.raises(ValueError, match=r"labels are not 0\.\.1"):
        load_coop_split(tmp_path, tmp_path / "gap.json")
    with pytest.raises(FileNotFoundError, match="CoOp's DATASETS.md"):
        load_coop_split(tmp_path, tmp_path / "missing.json")
