"""vlmcal_utils.data.content_hash: the hash depends on the arrays and meta, not on zip bytes."""

from __future__ import annotations

import io
import json

import numpy as np

from vlmcal_utils.data.content_hash import content_sha256, content_sha256_arrays, npz_content_sha256


def test_content_hash_ignores_zip_bytes_but_not_content(tmp_path):
    arrays = {"logits_val": np.arange(6, dtype=np.float32).reshape(3, 2), "labels_val": np.array([0, 1, 1])}
    meta_a = json.dumps({"a": 1, "b": "x"})
    meta_b = json.dumps({"b": "x", "a": 1}, indent=2)  # same metadata, other text
    np.savez(tmp_path / "a.npz", meta=np.array(meta_a), **arrays)
    np.savez_compressed(tmp_path / "b.npz", meta=np.array(meta_b), **arrays)
    assert (tmp_path / "a.npz").read_bytes() != (tmp_path / "b.npz").read_bytes()
    assert content_sha256(tmp_path / "a.npz") == content_sha256(tmp_path / "b.npz")
    changed = dict(arrays, logits_val=arrays["logits_val"] + np.float32(1e-6) * (np.arange(6).reshape(3, 2) == 5))
    np.savez(tmp_path / "c.npz", meta=np.array(meta_a), **changed)
    assert content_sha256(tmp_path / "c.npz") != content_sha256(tmp_path / "a.npz")
    # dtype is part of the content: the same values as float64 hash differently
    wider = dict(arrays, logits_val=arrays["logits_val"].astype(np.float64))
    assert content_sha256_arrays(dict(wider, meta=np.array(meta_a))) != content_sha256(tmp_path / "a.npz")


def test_in_memory_archive_hashes_like_the_file(tmp_path):
    arrays = {"logits_test": np.eye(3, dtype=np.float32), "meta": np.array(json.dumps({"k": [1, 2]}))}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    np.savez(tmp_path / "f.npz", **arrays)
    assert npz_content_sha256(io.BytesIO(buffer.getvalue())) == content_sha256(tmp_path / "f.npz")
    assert content_sha256_arrays(arrays) == content_sha256(tmp_path / "f.npz")
