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


def _file_dataset(paths):
    return FileListDataset(paths, [0] * len(paths), ["thing"])


def test_a_16_bit_png_is_scaled_not_clipped_to_white(tmp_path):
    """Before (issue 25): a 16-bit greyscale PNG loaded as pure white (convert("RGB") clips at 255)."""
    grey = (np.arange(48 * 40).reshape(48, 40) * 30).astype(np.uint16)  # 0 .. 57570
    Image.fromarray(grey).save(tmp_path / "g16.png")
    image, _ = _file_dataset([tmp_path / "g16.png"])[0]
    pixels = np.asarray(image)
    assert image.mode == "RGB" and pixels.shape == (48, 40, 3)
    np.testing.assert_allclose(pixels[..., 0], np.round(grey / 257.0), atol=1)


def test_a_truncated_or_oversized_image_is_refused_naming_the_file(tmp_path, monkeypatch):
    """Before: a truncated JPEG or an oversized image failed without the file's name."""
    import vlmcal_utils.data.images as images

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "not-an-image.png").write_bytes(b"<html>404</html>")
    ds = _file_dataset([tmp_path / "ok.jpg", tmp_path / "cut.jpg", tmp_path / "not-an-image.png"])
    assert ds[0][0].size == (64, 64)
    for i, name in ((1, "cut.jpg"), (2, "not-an-image.png")):
        with pytest.raises(ValueError, match=f"{name}: cannot read the image"):
            ds[i]
    monkeypatch.setattr(images, "MAX_IMAGE_PIXELS", 32 * 32)
    with pytest.raises(ValueError, match=r"ok.jpg: 64 x 64 pixels, over the limit"):
        ds[0]
