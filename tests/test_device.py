"""Tests for vlmcal_utils.device.get_device."""

from __future__ import annotations

import pytest
import torch

from vlmcal_utils.device import get_device


def test_cpu(capsys):
    assert get_device("cpu") == torch.device("cpu")
    assert "cpu" in capsys.readouterr().out


def test_auto_matches_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert get_device("auto", verbose=False).type == expected


def test_case_and_whitespace_are_ignored():
    assert get_device(" CPU ", verbose=False) == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_gpu_raises_helpfully(name):
    with pytest.raises(RuntimeError, match="CUDA is not available.*device='auto'"):
        get_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_with_gpu():
    assert get_device("cuda", verbose=False).type == "cuda"


@pytest.mark.parametrize("name", ["gpu", "tpu", "", "mps"])
def test_unknown_device_string(name):
    with pytest.raises(ValueError, match="unknown device"):
        get_device(name)


def test_non_string_raises_type_error():
    with pytest.raises(TypeError, match="string"):
        get_device(0)
