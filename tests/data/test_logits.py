"""vlmcal_utils.data.logits: load_logits on the real published files and every error path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vlmcal_utils.data import LogitsFile, load_logits


def write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def good_arrays(n_val=6, n_test=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "logits_val": rng.normal(size=(n_val, k)).astype(np.float32),
        "labels_val": rng.integers(0, k, size=n_val).astype(np.uint8),
        "logits_test": rng.normal(size=(n_test, k)),
        "labels_test": rng.integers(0, k, size=n_test),
        "meta": np.array(json.dumps({"model": "toy", "source": "a test"})),
        "classnames": np.array(["a", "b", "c"]),
    }


def test_load_valid_file(tmp_path):
    arrays = good_arrays()
    d = load_logits(write_npz(tmp_path / "toy.npz", **arrays))
    assert isinstance(d, LogitsFile)
    assert d.logits_val.dtype == np.float64 and d.labels_val.dtype == np.int64
    assert d.logits_val.shape == (6, 3) and d.labels_test.shape == (4,)
    assert np.allclose(d.logits_val, arrays["logits_val"])
    assert (d.labels_val == arrays["labels_val"]).all()
    assert d.n_classes == 3 and d.classnames == ["a", "b", "c"]
    assert d.meta == {"model": "toy", "source": "a test"}
    assert d.describe() == "toy — published logits from a test"
    assert set(d.extra) == {"classnames"}


def test_meta_is_optional(tmp_path):
    arrays = good_arrays()
    del arrays["meta"], arrays["classnames"]
    d = load_logits(write_npz(tmp_path / "nometa.npz", **arrays))
    assert d.meta == {} and d.classnames is None
    assert d.describe().startswith("nometa")


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="VLMCAL_SHARED"):
        load_logits(tmp_path / "nope.npz")


def _broken(**changes):
    arrays = good_arrays()
    for key, value in changes.items():
        if value is None:
            del arrays[key]
        else:
            arrays[key] = value
    return arrays


@pytest.mark.parametrize(
    "arrays, match",
    [
        (_broken(labels_test=None), r"missing \['labels_test'\]"),
        (_broken(logits_val=None, logits_test=None), "missing"),
        (_broken(meta=np.array("{not json")), "not valid JSON"),
        (_broken(logits_val=np.array([[np.nan, 0, 0]] * 6)), "logits_val contains NaN or inf"),
        (_broken(logits_test=np.array([[np.inf, 0, 0]] * 4)), "logits_test contains NaN or inf"),
        (_broken(labels_val=np.array([0, 1, 2, 3, 0, 1])), r"labels_val must lie in \[0, 3\)"),
        (_broken(labels_test=np.array([0, -1, 0, 1])), r"labels_test must lie in \[0, 3\)"),
        (_broken(labels_val=np.zeros(5, dtype=int)), "labels_val has 5 entries but there are 6 samples"),
        (_broken(labels_val=np.zeros((6, 1), dtype=int)), r"labels_val must be 1-D"),
        (_broken(logits_val=np.zeros(6)), r"logits_val must be \(N, K\)"),
        (_broken(logits_test=np.zeros((0, 3)), labels_test=np.zeros(0, dtype=int)), "logits_test is empty"),
        (_broken(logits_test=np.zeros((4, 5))), r"different numbers of classes \(3 and 5\)"),
        (_broken(labels_test=np.array(["a", "b", "c", "a"])), "integer class indices"),
    ],
)
def test_bad_files_raise_value_error_naming_the_file(tmp_path, arrays, match):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=match) as err:
        load_logits(path)
    assert str(err.value).startswith("bad.npz"), "every message names the file"


def test_fractional_labels_are_refused_not_truncated(tmp_path):
    """Soft labels (0.5, 1.7, ...) used to be cast to int silently: 1.7 became class 1."""
    arrays = good_arrays()
    arrays["labels_val"] = np.array([0.0, 1.7, 2.0, 0.5, 1.0, 2.0])
    path = write_npz(tmp_path / "soft.npz", **arrays)
    with pytest.raises(ValueError, match=r"soft\.npz: labels_val must be integer class indices"):
        load_logits(path)


def test_whole_number_float_labels_still_load(tmp_path):
    arrays = good_arrays()
    arrays["labels_test"] = np.array([0.0, 2.0, 1.0, 1.0])
    d = load_logits(write_npz(tmp_path / "floats.npz", **arrays))
    assert d.labels_test.dtype == np.int64 and d.labels_test.tolist() == [0, 2, 1, 1]


def test_top_label_file_is_rejected_with_a_pointer(shared):
    path = shared / "data" / "logits" / "hollance_snacks_toplabel.npz"
    with pytest.raises(ValueError, match="ece_from_confidence"):
        load_logits(path)


def test_every_shared_logits_file_loads(shared):
    paths = sorted((shared / "data" / "logits").glob("*.npz"))
    loaded = 0
    for path in paths:
        with np.load(path, allow_pickle=False) as npz:
            if "logits_val" not in npz.files:
                continue  # top-label-only files: see test_metrics
        d = load_logits(path)
        loaded += 1
        assert d.logits_val.shape[1] == d.logits_test.shape[1] >= 2, path.name
        assert len(d.labels_val) == len(d.logits_val) > 0, path.name
        assert len(d.labels_test) == len(d.logits_test) > 0, path.name
        assert np.isfinite(d.logits_val).all() and np.isfinite(d.logits_test).all()
        assert d.meta.get("source"), f"{path.name}: meta has no source"
        assert d.describe()
        # Each file holds real predictions: clearly better than chance on the test split
        # (except the SigLIP DermaMNIST models, which the README lists as near chance).
        acc = (d.logits_test.argmax(1) == d.labels_test).mean()
        if not path.name.startswith("siglip") or "dermamnist" not in path.name:
            assert acc > 1.5 / d.n_classes, (path.name, acc)
    assert loaded >= 10
