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


DTD_SPLIT = {"train": [["banded/0.png", 0, "banded"]], "val": [["banded/1.png", 0, "banded"]],
             "test": [["dotted/0.png", 1, "dotted"], ["banded/2.png", 0, "banded"]]}


@pytest.mark.parametrize("layout", ["coop", "tpt", "override"])
def test_dtd_in_coops_and_tpts_layouts(tmp_path, layout, monkeypatch):
    # CoOp: dtd/images + dtd/split_zhou_*.json; TPT: DTD/images + data_splits/split_zhou_*.json
    # (azshue/TPT data/fewshot_datasets.py path_dict); override: the dataset's own folder
    base = {"coop": tmp_path / "dtd", "tpt": tmp_path / "DTD", "override": tmp_path / "elsewhere" / "textures"}[layout]
    write_images(base / "images" / "banded", 3)
    write_images(base / "images" / "dotted", 1)
    split_dir = tmp_path / "data_splits" if layout == "tpt" else base
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "split_zhou_DescribableTextures.json").write_text(json.dumps(DTD_SPLIT))
    if layout == "override":
        monkeypatch.setenv("VLMCAL_DATA_DTD", str(base))
        ds = load_dataset("dtd", root=tmp_path / "nothing-here", download=False)
    else:
        ds = load_dataset("dtd", root=tmp_path, download=False, paper_protocol=True)
    assert ds.classnames == ["banded", "dotted"] and len(ds) == 2 and ds[0][1] == 1 and ds[0][0].size == (6, 6)


def test_missing_coop_set_lists_both_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("ucf101", root=tmp_path, download=False)
    msg = str(err.value)
    assert "ucf101/split_zhou_UCF101.json" in msg and "UCF101/split_zhou_UCF101.json" in msg
    assert "data_splits" in msg


def write_aircraft(folder):
    write_images(folder / "images", 2)
    for i in range(2):
        (folder / "images" / f"{i}.png").rename(folder / "images" / f"{1025794 + i}.jpg")
    (folder / "variants.txt").write_text("707-320\nA300B4\nDC-3\n")
    (folder / "images_variant_test.txt").write_text("1025794 DC-3\n1025795 707-320\n")


@pytest.mark.parametrize("sub", ["fgvc_aircraft", "fgvc-aircraft-2013b/data"])
def test_aircraft_is_read_not_downloaded_again(tmp_path, sub, monkeypatch):
    import torchvision.datasets as tv

    def no_download(*a, **k):
        raise AssertionError("torchvision's FGVCAircraft was called: it would download 2.6 GB")

    monkeypatch.setattr(tv, "FGVCAircraft", no_download)
    write_aircraft(tmp_path / sub)
    ds = load_dataset("fgvc-aircraft", root=tmp_path, download=True)
    assert ds.classnames == ["707-320", "A300B4", "DC-3"] and ds.labels.tolist() == [2, 0]
    assert ds[0][0].size == (6, 6)


@pytest.mark.parametrize("item, match", [
    (["a.png", 1.5, "cat"], "integer label"), (["a.png", True, "cat"], "integer label"),
    (["a.png", "0", "cat"], "integer label"), (["a.png", -1, "cat"], "integer label"),
    (["a.png", 0], "integer label"), ([3, 0, "cat"], "relative path"), ("a.png", "relative path"),
    (["../../etc/passwd", 0, "cat"], "leaves the image folder"), (["/etc/passwd", 0, "cat"], "leaves the image folder"),
])
def test_malformed_or_escaping_split_items_are_refused(tmp_path, item, match):
    """Before (issue 25): wrong types, missing fields and ../ or absolute paths gave raw errors or loaded
    silently, and labels 1.5 / true became 1."""
    (tmp_path / "split.json").write_text(json.dumps({"test": [["b.png", 0, "cat"], item]}))
    with pytest.raises(ValueError, match=match):
        load_coop_split(tmp_path, tmp_path / "split.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON split file"):
        load_coop_split(tmp_path, tmp_path / "bad.json")
