"""vlmcal_utils.data.converters: source formats -> logits arrays, and the numpy-only unpickler.

The end-to-end routes (download, convert, verify against the pinned hash) are in test_published.
"""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

from vlmcal_utils.data.content_hash import content_sha256_arrays
from vlmcal_utils.data.converters import (
    CONVERTERS,
    CREDAL_LANGUAGES,
    HOLLANCE_TOPLABEL,
    convert_credal_cifar10,
    convert_credal_csv,
    convert_npy_probs,
    convert_toplabel_csvs,
    load_numpy_pickle,
)
from vlmcal_utils.data.published import PUBLISHED_LOGITS


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo should-not-run",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_numpy_pickle(pickle.dumps(Evil()))
    arr = np.arange(3.0)
    np.testing.assert_array_equal(load_numpy_pickle(pickle.dumps((arr, [arr]), protocol=2))[0], arr)


@pytest.mark.parametrize("written_by", [b"numpy.core.multiarray", b"numpy._core.multiarray"])
def test_pickles_written_by_numpy_1_or_2_load_on_the_installed_numpy(written_by):
    """numpy 2 moved numpy.core to numpy._core: a pickle names its writer's spelling, either must load."""
    arr = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    data = pickle.dumps((arr, np.int64(3)), protocol=2)  # protocol 2: module names as text (GLOBAL)
    installed = b"numpy._core.multiarray" if b"numpy._core.multiarray" in data else b"numpy.core.multiarray"
    assert installed in data
    loaded, scalar = load_numpy_pickle(data.replace(installed, written_by))
    np.testing.assert_array_equal(loaded, arr)
    assert loaded.dtype == np.float32 and scalar == 3


def test_credal_csv_rows_in_instance_order_and_class_names_from_header():
    def csv(rows):
        return ("a,b,target-0,instance_id\n" + "\n".join(rows) + "\n").encode()

    train = csv(["0.5,1.5,1.0,1", "2.0,-1.0,0.0,0"])  # instance 1 first: sorted back to 0, 1
    test = csv(["0.1,0.2,1.0,0"])
    out = convert_credal_csv([train, test])
    np.testing.assert_array_equal(out["logits_val"], np.array([[2.0, -1.0], [0.5, 1.5]], dtype=np.float32))
    assert out["labels_val"].tolist() == [0, 1] and out["labels_val"].dtype == np.int64
    assert out["logits_test"].dtype == np.float32 and out["classnames"].tolist() == ["a", "b"]
    with pytest.raises(ValueError, match="unexpected CSV header"):
        convert_credal_csv([b"a,b,label\n1,2,0\n", test])


def test_npy_probabilities_become_log_probabilities_in_halves():
    probs = np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0], [0.1, 0.9]])
    labels = np.array([[1], [0], [0], [1]])
    files = []
    for array in (probs, labels):
        buffer = io.BytesIO()
        np.save(buffer, array)
        files.append(buffer.getvalue())
    out = convert_npy_probs(files)
    np.testing.assert_allclose(out["logits_val"], np.log(probs[:2]).astype(np.float32))
    assert out["logits_test"][0, 1] == -np.inf  # a zero probability is log 0, kept as published
    assert out["labels_test"].tolist() == [0, 1]
    assert set(CONVERTERS) == {"credal_csv", "netcal_npz", "pickle_logits_pairs", "pickle_probs", "npy_probs",
                               "credal_cifar10", "credal_cifar10_test", "tensor_pickle_top5", *HOLLANCE_TOPLABEL}


# ------------------------------------------------ every pinned converter on a real small sample
def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _credal_text(names, logits, targets, ids) -> bytes:
    """A credal CSV as the repository writes it: shortest float32 text, float targets, instance_id."""
    targets = np.asarray(targets, dtype=np.float32).reshape(len(ids), -1)
    tcols = [f"target-{i}" for i in range(targets.shape[1])]
    lines = [",".join([*names, *tcols, "instance_id"])]
    lines += [",".join([*map(str, z), *map(str, t), str(i)]) for z, t, i in zip(logits, targets, ids, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def _round_trip_rows(logits, dtype, n=8):
    """Rows whose logits are exactly float32(log(float64(p))) of the probabilities p = exp(logits) in ``dtype``."""
    probs = np.exp(logits.astype(np.float64)).astype(dtype)
    ok = np.flatnonzero((np.log(probs.astype(np.float64)).astype(np.float32) == logits).all(axis=1))
    assert len(ok) >= n, "too few exactly recoverable rows for a sample"
    return ok[:n], probs


def _sample_sources(entry, npz):
    """(source bytes in the entry's real format, the arrays the converter must give) for a small sample."""
    lv, yv, lt, yt = (npz[k] for k in ("logits_val", "labels_val", "logits_test", "labels_test"))
    if entry.converter == "credal_csv":
        names = list(npz["classnames"])
        want = {"logits_val": lv[:8], "labels_val": yv[:8], "logits_test": lt[:8], "labels_test": yt[:8],
                "classnames": npz["classnames"]}
        order = [3, 1, 0, 2, 7, 4, 6, 5]  # rows out of order: sorted back by instance_id
        sources = [_credal_text(names, lv[order], yv[order], order), _credal_text(names, lt[order], yt[order], order)]
        return sources, want
    if entry.converter == "pickle_logits_pairs":
        payload = ((lv[:8], yv[:8, None]), (lt[:8], yt[:8, None]))  # (N, 1) labels as in the source
        return [pickle.dumps(payload, protocol=2)], {"logits_val": lv[:8], "labels_val": yv[:8],
                                                     "logits_test": lt[:8], "labels_test": yt[:8]}
    # probability sources: netcal and verified_calibration store float32, cleanlab float64
    dtype = np.float64 if entry.converter == "npy_probs" else np.float32
    iv, pv = _round_trip_rows(lv, dtype)
    it, pt = _round_trip_rows(lt, dtype)
    probs, labels = np.concatenate([pv[iv], pt[it]]), np.concatenate([yv[iv], yt[it]])
    want = {"logits_val": lv[iv], "labels_val": yv[iv], "logits_test": lt[it], "labels_test": yt[it]}
    if entry.converter == "netcal_npz":
        buffer = io.BytesIO()
        np.savez(buffer, predictions=probs, ground_truth=labels[:, None])
        return [buffer.getvalue()], want
    if entry.converter == "pickle_probs":
        return [pickle.dumps((probs, labels[:, None]), protocol=2)], want
    return [_npy(probs), _npy(labels)], want


_SAMPLED = [e.name for e in PUBLISHED_LOGITS.values()
            if e.kind == "logits" and e.converter not in (None, "credal_cifar10", "credal_cifar10_test")]
# credal_cifar10_test and tensor_pickle_top5 (shared copies in data/vlm-outputs): tests/data/test_top5.py


@pytest.mark.parametrize("name", _SAMPLED)
def test_every_pinned_converter_is_byte_exact_on_a_sample(name, shared):
    """A few rows of the shared copy, written back in the source's own format, convert to the same bytes."""
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared / "data" / "logits" / entry.filename) as npz:
        sources, want = _sample_sources(entry, npz)
    got = CONVERTERS[entry.converter](sources)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
        assert got[key].tobytes() == value.tobytes(), f"{name}: {key} differs"


def test_float32_sources_take_the_log_in_float64():
    """The pinned files: float32(log(float64(p))). log in float32 misses the hash for 6 of 12 files."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40, 10))
    probs = (np.exp(z) / np.exp(z).sum(1, keepdims=True)).astype(np.float32)
    buffer = io.BytesIO()
    np.savez(buffer, predictions=probs, ground_truth=np.arange(40)[:, None] % 10)
    out = CONVERTERS["netcal_npz"]([buffer.getvalue()])
    expected = np.log(probs.astype(np.float64)).astype(np.float32)
    assert (np.log(probs) != expected).any(), "the sample must tell the two logs apart"
    assert out["logits_val"].tobytes() == expected[:20].tobytes()
    assert out["logits_test"].tobytes() == expected[20:].tobytes()


# ----------------------------------------------------- the credal CIFAR-10 files (five CSVs each)
def _credal_cifar10_sources(npz, rows):
    ids = np.asarray(rows)
    names = list(npz["classnames"])
    labels = npz["labels"][ids]
    srcs = [_credal_text(names, npz["logits"][ids], labels, ids),
            _credal_text(names, npz["logits"][ids], npz["cifar10h_soft_labels"][ids], ids)]
    srcs += [_credal_text(list(npz[f"classnames_{lang}"]), npz[f"logits_{lang}"][ids], labels, ids)
             for lang in CREDAL_LANGUAGES]
    return srcs


def test_credal_cifar10_merges_by_instance_id():
    rng = np.random.default_rng(1)
    n, k = 6, 3
    arrays = {"logits": rng.normal(size=(n, k)).astype(np.float32), "labels": rng.integers(0, k, n),
              "cifar10h_soft_labels": rng.dirichlet(np.ones(k), n).astype(np.float32),
              "classnames": np.array(["cat", "dog", "ship"])}
    for lang in CREDAL_LANGUAGES:
        arrays[f"logits_{lang}"] = rng.normal(size=(n, k)).astype(np.float32)
        arrays[f"classnames_{lang}"] = np.array([f"{lang}{i}" for i in range(k)])
    out = convert_credal_cifar10(_credal_cifar10_sources(arrays, rng.permutation(n)))
    for key in ("logits", "cifar10h_soft_labels", "logits_chinese"):
        assert out[key].tobytes() == arrays[key].tobytes(), key
    assert out["labels"].tolist() == arrays["labels"].tolist() and out["labels"].dtype == np.int64
    assert out["logits_val"].shape == (3, 3) and out["labels_test"].tolist() == arrays["labels"][3:].tolist()
    assert out["classnames_swahili"].tolist() == ["swahili0", "swahili1", "swahili2"]
    with pytest.raises(ValueError, match="expected 5 CSVs"):
        convert_credal_cifar10(_credal_cifar10_sources(arrays, range(n))[:4])
    bad = _credal_cifar10_sources(arrays, range(n))
    bad[3] = _credal_text(["a", "b", "c"], arrays["logits"][:4], arrays["labels"][:4], range(4))
    with pytest.raises(ValueError, match="chinese CSV does not cover"):
        convert_credal_cifar10(bad)


@pytest.mark.parametrize("name", ["clip_vitb32_cifar10_zeroshot", "siglip_b16_cifar10_zeroshot",
                                  "siglip2_b16_cifar10_zeroshot"])
def test_credal_cifar10_rebuilds_the_shared_copy_exactly(name, shared):
    """CSV text rebuilt from the shared arrays (rows shuffled) converts back to the pinned content hash."""
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared / "data" / "logits" / entry.filename) as npz:
        arrays = {k: npz[k] for k in npz.files}
    rows = np.random.default_rng(0).permutation(len(arrays["labels"]))
    out = convert_credal_cifar10(_credal_cifar10_sources(arrays, rows))
    out["meta"] = np.array(json.dumps(entry.meta))
    assert set(out) == set(arrays)
    assert content_sha256_arrays(out) == entry.sha256


# ------------------------------------------- the hollance top-label files (one CSV per model)
def toplabel_csv(y_true, y_pred, confidence, float32_text=False) -> bytes:
    """A hollance CSV: ``true_label,pred_label,confidence``. The ImageNet and markus93 CSVs write each
    float32 confidence as the shortest text of its float64 value (``0.6856766939163208``), snacks.csv
    as the shortest float32 text (``0.92863667``, ``float32_text``); both parse back to the same float32."""
    fmt = (lambda c: str(np.float32(c))) if float32_text else (lambda c: repr(float(c)))
    rows = [f"{t},{p},{fmt(c)}" for t, p, c in zip(y_true.tolist(), y_pred.tolist(), confidence, strict=True)]
    return ("\n".join(["true_label,pred_label,confidence", *rows]) + "\n").encode()


def toplabel_sources(entry, arrays) -> list[bytes]:
    """The entry's source CSVs rebuilt from a top-label file's arrays, in the entry's path order."""
    return [toplabel_csv(arrays[f"{m}__y_true"], arrays[f"{m}__y_pred"], arrays[f"{m}__confidence"],
                         float32_text=entry.converter == "hollance_snacks_toplabel")
            for m in HOLLANCE_TOPLABEL[entry.converter]]


def test_toplabel_csvs_give_int16_labels_and_float32_confidences():
    y_true, y_pred = np.array([3, 0, 999]), np.array([3, 5, 1])
    conf = np.array([0.5, 0.99736834, 1.0], dtype=np.float32)
    sources = [toplabel_csv(y_true, y_pred, conf), toplabel_csv(y_true[:1], y_pred[:1], conf[:1], float32_text=True)]
    out = convert_toplabel_csvs(sources, ["lib__a", "b"])
    assert set(out) == {f"{m}__{k}" for m in ("lib__a", "b") for k in ("y_true", "y_pred", "confidence")}
    assert out["lib__a__y_true"].dtype == np.int16 and out["lib__a__y_true"].tolist() == [3, 0, 999]
    assert out["lib__a__y_pred"].tolist() == [3, 5, 1] and out["b__y_pred"].tolist() == [3]
    assert out["lib__a__confidence"].dtype == np.float32
    assert out["lib__a__confidence"].tobytes() == conf.tobytes() and out["b__confidence"].shape == (1,)
    # the registered converters name the arrays by HOLLANCE_TOPLABEL, in path order
    assert set(CONVERTERS["hollance_snacks_toplabel"]([sources[0]])) == {"snacks__y_true", "snacks__y_pred",
                                                                        "snacks__confidence"}
    with pytest.raises(ValueError, match="expected 2 CSVs"):
        convert_toplabel_csvs(sources[:1], ["lib__a", "b"])
    with pytest.raises(ValueError, match="unexpected CSV header"):
        convert_toplabel_csvs([b"label,pred,conf\n1,1,0.5\n"], ["a"])
    with pytest.raises(ValueError, match="labels outside"):
        convert_toplabel_csvs([toplabel_csv(np.array([-1]), np.array([0]), conf[:1])], ["a"])


def test_toplabel_registry_entries_list_every_source_file():
    for entry in (e for e in PUBLISHED_LOGITS.values() if e.family == "toplabel"):
        assert entry.converter in HOLLANCE_TOPLABEL
        assert entry.paths == tuple(HOLLANCE_TOPLABEL[entry.converter].values())
        assert not any("*" in p for p in entry.paths) and all(p.endswith(".csv") for p in entry.paths)
        # downloads are cached by file name: names must not collide within an entry
        assert len({p.rsplit("/", 1)[-1] for p in entry.paths}) == len(entry.paths)
        assert list(entry.meta["verified"]) == list(HOLLANCE_TOPLABEL[entry.converter])
    assert len(PUBLISHED_LOGITS["hollance_imagenet_val_toplabel"].paths) == 14


@pytest.mark.parametrize("name", ["hollance_imagenet_val_toplabel", "hollance_markus93_cifar_birds_toplabel",
                                  "hollance_snacks_toplabel"])
def test_toplabel_csvs_rebuild_the_shared_copy_exactly(name, shared):
    """CSV text rebuilt from the shared arrays converts back to the pinned content hash."""
    entry = PUBLISHED_LOGITS[name]
    with np.load(shared / "data" / "logits" / entry.filename) as npz:
        arrays = {k: npz[k] for k in npz.files}
    out = CONVERTERS[entry.converter](toplabel_sources(entry, arrays))
    assert set(out) == set(arrays) - {"meta"}
    for key, value in out.items():
        assert value.dtype == arrays[key].dtype and value.tobytes() == arrays[key].tobytes(), key
    out["meta"] = np.array(json.dumps(entry.meta))
    assert content_sha256_arrays(out) == entry.sha256
