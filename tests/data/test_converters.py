"""vlmcal_utils.data.converters: source formats -> logits arrays, and the numpy-only unpickler.

The end-to-end routes (download, convert, verify against the pinned hash) are in test_published.
"""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from vlmcal_utils.data.converters import CONVERTERS, convert_credal_csv, convert_npy_probs, load_numpy_pickle


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo should-not-run",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_numpy_pickle(pickle.dumps(Evil()))
    arr = np.arange(3.0)
    np.testing.assert_array_equal(load_numpy_pickle(pickle.dumps((arr, [arr]), protocol=2))[0], arr)


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
    assert set(CONVERTERS) == {"credal_csv", "netcal_npz", "pickle_logits_pairs", "pickle_probs", "npy_probs"}
