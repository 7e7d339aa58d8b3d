"""vlmcal_utils.checks: conversions, validation messages that name the argument, name matching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlmcal_utils import checks


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32, torch.float64])
def test_to_numpy_accepts_torch_floats(dtype):
    x = torch.tensor([[0.5, 1.5], [2.0, -1.0]], dtype=dtype)
    arr = checks.to_numpy(x, "logits")
    assert isinstance(arr, np.ndarray) and arr.dtype in (np.float32, np.float64)
    np.testing.assert_array_equal(arr, [[0.5, 1.5], [2.0, -1.0]])
    assert checks.logits_array(x).dtype == np.float64


def test_to_numpy_detaches_tensors_that_need_grad():
    x = torch.ones(2, 3, requires_grad=True)
    assert checks.to_numpy(x * 2, "probs").shape == (2, 3)


def test_ragged_lists_name_the_argument():
    with pytest.raises(ValueError, match="my_logits must be a rectangular array|my_logits must be a numeric array"):
        checks.to_numpy([[1.0, 2.0], [3.0]], "my_logits")
    with pytest.raises(ValueError, match="^my_logits"):
        checks.logits_array([[1.0, 2.0], [3.0]], name="my_logits")
    with pytest.raises(ValueError, match="x is None"):
        checks.to_numpy(None, "x")


def test_matrix_and_label_messages():
    with pytest.raises(ValueError, match=r"must be \(N, K\)"):
        checks.logits_array(np.zeros(3))
    with pytest.raises(ValueError, match="NaN or inf in 1 row"):
        checks.logits_array([[0.0, np.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match="look like logits"):
        checks.probs_array([[2.0, -1.0]])
    with pytest.raises(ValueError, match="rows must sum to 1"):
        checks.probs_array([[0.2, 0.2]])
    assert checks.labels_array(np.array([0.0, 2.0]), n=2, k=3).tolist() == [0, 2]
    with pytest.raises(ValueError, match="y must be integer class indices"):
        checks.labels_array([0.5, 1.0], n=2, k=3, name="y")
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        checks.labels_array([0, 3], n=2, k=3)


@pytest.mark.parametrize("bad", [0, -1, 10**12, 2.0, True, "15", None])
def test_check_n_bins_refuses(bad):
    with pytest.raises(ValueError, match="n_bins must be an integer in"):
        checks.check_n_bins(bad)


def test_check_n_bins_and_int_accept():
    assert checks.check_n_bins(np.int64(15)) == 15 and checks.check_n_bins(checks.MAX_BINS) == checks.MAX_BINS
    assert checks.check_int(3, "n", minimum=1) == 3
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        checks.check_int(0, "n", minimum=1)


def test_close_matches():
    names = ["cifar10", "cifar100", "imagenet", "imagenet-sketch"]
    assert checks.close_matches("cifar-100", names)[0] == "cifar100"
    assert checks.close_matches("sketch", names) == ["imagenet-sketch"]  # substring fallback
    assert checks.close_matches("zzzz", names) == []
    assert len(checks.close_matches("imagenet", [f"imagenet{i}" for i in range(20)], n=3)) == 3


def test_unknown_name_error():
    err = checks.unknown_name_error("dataset", "cifar-100", ["cifar10", "cifar100"], hint="see list_datasets()")
    assert isinstance(err, ValueError)
    assert str(err).startswith("unknown dataset 'cifar-100'; close matches: ['cifar100'")
    assert str(err).endswith(". see list_datasets()")
    far = checks.unknown_name_error("model", "zzzz", ["b", "a"])
    assert str(far) == "unknown model 'zzzz'; choose one of ['a', 'b']"
    with pytest.raises(ValueError, match="unknown binning 'equal'"):
        checks.check_choice("equal", ("equal_width", "equal_mass"), "binning")
