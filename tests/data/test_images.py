"""vlmcal_utils.data.images: in-memory and file datasets, image folders, seeded subsets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import ArrayImageDataset, FileListDataset, load_dataset, subsample


def write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_array_dataset_items_and_checks():
    images = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    ds = ArrayImageDataset(images, [1, 0], ["a", "b"], transform=lambda im: im.size)
    assert len(ds) == 2 and ds[0] == ((4, 4), 1)
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, 3\)"):
        ArrayImageDataset(images.astype(np.float32), [1, 0], ["a", "b"])
    with pytest.raises(ValueError, match="2 images but labels"):
        ArrayImageDataset(images, [1], ["a", "b"])
    with pytest.raises(ValueError, match="2 paths but 1 labels"):
        FileListDataset(["x.png", "y.png"], [0], ["a"])


def test_image_folder_names_and_errors(tmp_path):
    write_images(tmp_path / "a_b", 2)
    write_images(tmp_path / "c", 3)
    (tmp_path / "c" / "notes.txt").write_text("not an image")
    ds = load_dataset("imagefolder", root=tmp_path)
    assert ds.classnames == ["a b", "c"] and len(ds) == 5 and ds.labels.tolist() == [0, 0, 1, 1, 1]
    named = load_dataset("imagefolder", root=tmp_path, classnames=["first", "second"])
    assert named.classnames == ["first", "second"]
    with pytest.raises(ValueError, match="1 classnames for 2 class folders"):
        load_dataset("imagefolder", root=tmp_path, classnames=["only"])
    with pytest.raises(ValueError, match="needs root="):
        load_dataset("imagefolder")
    with pytest.raises(FileNotFoundError, match="root="):
        load_dataset("imagefolder", root=tmp_path / "empty")


def test_subsample_is_seeded_and_keeps_classnames(tmp_path):
    write_images(tmp_path / "a_b", 5)
    write_images(tmp_path / "c", 5)
    ds = load_dataset("imagefolder", root=tmp_path)
    sub = subsample(ds, 4, seed=1)
    assert len(sub) == 4 and sub.classnames == ds.classnames
    assert list(sub.indices) == list(subsample(ds, 4, seed=1).indices)
    assert list(sub.indices) == sorted(sub.indices) and (sub.indices_array == np.array(sub.indices)).all()
    assert subsample(ds, None) is ds and subsample(ds, 10) is ds
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        subsample(ds, 0)
    with pytest.raises(ValueError, match="n must be an integer"):
        subsample(ds, 2.5)
