"""vlmcal_utils.data.imagenet: ImageNet variants and DomainNet from local folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vlmcal_utils.data import DOMAINNET_DOMAINS, imagenet_wnids, load_dataset, load_domainnet
from vlmcal_utils.data.classnames import IMAGENET_A_INDICES, IMAGENET_R_INDICES
from vlmcal_utils.data.imagenet import DOMAINNET_N_CLASSES


def write_images(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def test_imagenet_r_subset_maps_to_imagenet_indices(tmp_path):
    wnids = imagenet_wnids()
    first = list(IMAGENET_R_INDICES[:3])
    chosen = [wnids[i] for i in first]
    for k, w in enumerate(chosen):
        write_images(tmp_path / "imagenet-r" / w, 2, seed=k)
    for i in IMAGENET_R_INDICES[3:]:  # ImageNet-R has 200 classes: the other 197, without images here
        (tmp_path / "imagenet-r" / wnids[i]).mkdir()
    ds = load_dataset("imagenet-r", root=tmp_path)
    assert list(ds.imagenet_indices[:3]) == first and ds.class_mask.sum() == 200
    assert ds.class_mask[first].all() and len(ds) == 6 and ds[5][1] == 2
    assert ds.classnames[0] == "goldfish"
    folder = load_dataset("imagefolder", root=tmp_path / "imagenet-r")
    assert folder.classnames[:3] == chosen and len(folder) == 6
    with pytest.raises(ValueError, match="only the evaluation images"):
        load_dataset("imagenet-r", split="train", root=tmp_path)


def test_imagenet_variants_say_where_to_get_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="ImageNet-A"):
        load_dataset("imagenet-a", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="image-net.org"):
        load_dataset("imagenet", root=tmp_path)


# Official DomainNet label lines (clipart_test.txt): the file's own class order, which differs from
# sorted(): "The_Eiffel_Tower" sorts before "aircraft_carrier" (upper case first), "t-shirt" = 327
OFFICIAL = [("aircraft_carrier", 0), ("alarm_clock", 1), ("The_Eiffel_Tower", 2), ("t-shirt", 327 - 324)]


def filler_lines(domain, first):
    """Train-list lines for labels ``first..344`` (classes without images here): DomainNet has 345."""
    return [f"{domain}/filler_{k}/0.png {k}" for k in range(first, DOMAINNET_N_CLASSES)]


def write_domainnet(base, domain="clipart"):
    lines = []
    for k, (cls, label) in enumerate(OFFICIAL):
        write_images(base / domain / cls, 2, seed=k)
        lines += [f"{domain}/{cls}/{i}.png {label}" for i in range(2)]
    (base / f"{domain}_test.txt").write_text("\n".join(lines[::2]) + "\n")
    (base / f"{domain}_train.txt").write_text("\n".join(lines[1::2] + filler_lines(domain, len(OFFICIAL))) + "\n")


def test_domainnet_takes_labels_and_names_from_the_split_files(tmp_path):
    write_domainnet(tmp_path / "domainnet")
    assert sorted(c for c, _ in OFFICIAL) != [c for c, _ in OFFICIAL]  # the old sorted() order was wrong
    ds = load_domainnet(split="test", root=tmp_path, domain="clipart")
    assert ds.classnames[:4] == ["aircraft carrier", "alarm clock", "The Eiffel Tower", "t-shirt"]
    assert len(ds.classnames) == DOMAINNET_N_CLASSES
    assert ds.labels.tolist() == [0, 1, 2, 3]
    for path, label in zip(ds.paths, ds.labels.tolist(), strict=True):
        assert ds.classnames[label].replace(" ", "_") == Path(path).parent.name
    everything = load_dataset("domainnet", split="all", root=tmp_path, domain="clipart", download=False)
    assert len(everything) == 8
    for path, label in zip(everything.paths, everything.labels.tolist(), strict=True):
        assert everything.classnames[label].replace(" ", "_") == Path(path).parent.name


def test_domainnet_lists_and_all(tmp_path):
    base = tmp_path / "domainnet"
    write_images(base / "clipart" / "the_cat", 2)
    write_images(base / "clipart" / "dog", 1)
    (base / "clipart_test.txt").write_text("clipart/dog/0.png 0\nclipart/the_cat/1.png 1\n")
    (base / "clipart_train.txt").write_text("\n".join(filler_lines("clipart", 2)) + "\n")
    ds = load_domainnet(split="test", root=tmp_path, domain="clipart")
    assert ds.classnames[:2] == ["dog", "the cat"] and ds.labels.tolist() == [0, 1]
    everything = load_dataset("domainnet", split="all", root=tmp_path, domain="clipart")
    assert len(everything) == 3 and everything.labels.tolist() == [0, 1, 1]
    with pytest.raises(FileNotFoundError, match="split='all'"):
        load_domainnet(split="val", root=tmp_path, domain="clipart")
    (base / "clipart_bad.txt").write_text("dog.png 0\n")
    with pytest.raises(ValueError, match="expected"):
        load_domainnet(split="bad", root=tmp_path, domain="clipart")
    with pytest.raises(ValueError, match="unknown DomainNet domain 'clip'.*clipart"):
        load_domainnet(root=tmp_path, domain="clip")
    with pytest.raises(FileNotFoundError, match="M3SDA"):
        load_domainnet(root=tmp_path, domain="sketch")
    assert "real" in DOMAINNET_DOMAINS


def test_domainnet_without_split_files_warns(tmp_path):
    write_images(tmp_path / "domainnet" / "real" / "b", 1)
    write_images(tmp_path / "domainnet" / "real" / "a", 1)
    for k in range(DOMAINNET_N_CLASSES - 2):
        (tmp_path / "domainnet" / "real" / f"c{k:03d}").mkdir()
    with pytest.warns(UserWarning, match="sorted"):
        ds = load_domainnet(split="all", root=tmp_path)
    assert ds.classnames[:2] == ["a", "b"] and len(ds) == 2


def _domainnet_error(tmp_path, test_lines, train_lines=()):
    base = tmp_path / "domainnet"
    write_images(base / "clipart" / "dog", 1)
    (base / "clipart_test.txt").write_text("\n".join(test_lines) + "\n")
    (base / "clipart_train.txt").write_text("\n".join(train_lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_domainnet(split="test", root=tmp_path, domain="clipart")
    assert "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("line", ["../../etc/passwd/x 0", "/etc/passwd/x 0", "clipart/../../x.png 0",
                                  "sketch/dog/0.png 0", "clipart/dog/0.png 1.5", "clipart/dog/0.png true",
                                  "clipart/dog/0.png", "clipart/dog/0.png 0 extra"])
def test_domainnet_lines_with_bad_paths_or_labels_are_refused(tmp_path, line):
    """Before (issue 25): paths escaping the image root (absolute, ../) or in another domain loaded."""
    assert "clipart_test.txt:1:" in _domainnet_error(tmp_path, [line], filler_lines("clipart", 1))


def test_domainnet_with_a_missing_class_is_an_error_naming_it(tmp_path):
    """Before (issue 25): lists with 344 labels loaded silently as a 344-class task."""
    base = tmp_path / "domainnet"
    write_images(base / "clipart" / "zebra", 1)
    fillers = [line for line in filler_lines("clipart", 1) if not line.endswith(" 344")]
    message = _domainnet_error(tmp_path, ["clipart/dog/0.png 0"], fillers)
    assert "344 class labels, expected 0..344; missing labels 344" in message
    assert "class folders no line lists: zebra" in message
    message = _domainnet_error(tmp_path, ["clipart/dog/0.png 0", "clipart/far/0.png 400"], filler_lines("clipart", 1))
    assert "labels out of range 400" in message
    for name in ("zebra", "dog"):  # no split files: the folder count is checked
        (base / "clipart" / name / "0.png").unlink()
        (base / "clipart" / name).rmdir()
    (base / "clipart_test.txt").unlink()
    (base / "clipart_train.txt").unlink()
    write_images(base / "clipart" / "dog", 1)
    with pytest.warns(UserWarning, match="sorted"), pytest.raises(ValueError, match="1 class folders, expected 345"):
        load_domainnet(split="all", root=tmp_path, domain="clipart")


def imagenet_val_tree(folder, n_images=2):
    wnids = imagenet_wnids()
    for w in wnids:
        (folder / w).mkdir(parents=True)
    write_images(folder / wnids[3], n_images)


@pytest.mark.parametrize("sub", ["imagenet/images/val", "ImageNet/val"])  # CoOp's, TPT's layout
def test_imagenet_val_in_both_layouts(tmp_path, sub):
    imagenet_val_tree(tmp_path / sub)
    ds = load_dataset("imagenet", root=tmp_path, download=False)
    assert len(ds) == 2 and ds[0][1] == 3 and len(ds.classnames) == 1000


@pytest.mark.parametrize("sub", ["imagenet-sketch/images", "ImageNet-Sketch"])
def test_imagenet_sketch_in_both_layouts(tmp_path, sub):
    imagenet_val_tree(tmp_path / sub)
    assert len(load_dataset("imagenet-sketch", root=tmp_path)) == 2


@pytest.mark.parametrize("kind,sub", [("imagenet-a", "imagenet-adversarial/imagenet-a"), ("imagenet-a", "imagenet-a"),
                                      ("imagenet-r", "imagenet-rendition/imagenet-r")])
def test_imagenet_a_r_in_both_layouts(tmp_path, kind, sub):
    subset = IMAGENET_A_INDICES if kind == "imagenet-a" else IMAGENET_R_INDICES
    write_images(tmp_path / sub / imagenet_wnids()[subset[0]], 2)
    for i in subset[1:]:
        (tmp_path / sub / imagenet_wnids()[i]).mkdir()
    assert list(load_dataset(kind, root=tmp_path).imagenet_indices) == list(subset)


@pytest.mark.parametrize("sub", ["imagenetv2/imagenetv2-matched-frequency-format-val",
                                 "imagenetv2-matched-frequency-format-val"])
def test_imagenet_v2_in_both_layouts(tmp_path, sub):
    for i in range(1000):
        (tmp_path / sub / str(i)).mkdir(parents=True)
    write_images(tmp_path / sub / "12", 1)
    ds = load_dataset("imagenet-v2", root=tmp_path)
    assert len(ds) == 1 and ds[0][1] == 12


def test_per_dataset_root_override(tmp_path, monkeypatch):
    for i in IMAGENET_R_INDICES:
        (tmp_path / "mine" / imagenet_wnids()[i]).mkdir(parents=True)
    write_images(tmp_path / "mine" / imagenet_wnids()[4], 1)
    ds = load_dataset("imagenet_r", root=tmp_path / "empty", roots={"imagenet-r": tmp_path / "mine"})
    assert 4 in IMAGENET_R_INDICES and len(ds) == 1 and ds.imagenet_indices[ds[0][1]] == 4
    monkeypatch.setenv("VLMCAL_DATA_IMAGENET_R", str(tmp_path / "mine"))
    assert len(load_dataset("imagenet-r", root=tmp_path / "empty")) == 1
    with pytest.raises(FileNotFoundError, match="imagenet-rendition/imagenet-r"):
        load_dataset("imagenet-r", root=tmp_path / "empty", roots={"imagenet-r": tmp_path / "empty"})


def test_a_missing_class_is_an_error_naming_it(tmp_path):
    """Before (issue 25): ImageNet with 999 class folders said "not found"; ImageNet-A with 199
    loaded silently as a 199-class task (then: refused without naming the class; now named)."""
    wnids = imagenet_wnids()
    imagenet_val_tree(tmp_path / "imagenet" / "images" / "val")
    (tmp_path / "imagenet" / "images" / "val" / wnids[42]).rmdir()
    with pytest.raises(ValueError, match=rf"999 class folders, expected 1000; missing: {wnids[42]} \(") as err:
        load_dataset("imagenet", root=tmp_path)
    assert "\n" not in str(err.value)
    for i in IMAGENET_A_INDICES[:199]:
        (tmp_path / "imagenet-a" / wnids[i]).mkdir(parents=True)
    last = IMAGENET_A_INDICES[199]
    with pytest.raises(ValueError, match=rf"imagenet-a in .*199 class folders, expected 200; missing: {wnids[last]}"):
        load_dataset("imagenet-a", root=tmp_path)
    (tmp_path / "imagenet-a" / wnids[last]).mkdir()
    other = next(i for i in IMAGENET_R_INDICES if i not in IMAGENET_A_INDICES)
    (tmp_path / "imagenet-a" / wnids[other]).mkdir()  # an ImageNet-R class among A's 200
    extra = rf"201 class folders, expected 200; not classes of imagenet-a: {wnids[other]}:"
    with pytest.raises(ValueError, match=extra):
        load_dataset("imagenet-a", root=tmp_path)
    for i in range(1000):
        if i != 7:
            (tmp_path / "imagenetv2" / str(i)).mkdir(parents=True)
    with pytest.raises(ValueError, match=r"missing: 7 \("):
        load_dataset("imagenet-v2", root=tmp_path)
