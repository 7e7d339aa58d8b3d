"""vlmcal_utils.device: the device choice, the model's device, and the AMP policy (CUDA only)."""

from __future__ import annotations

import logging

import pytest
import torch

from vlmcal_utils.device import amp_dtype, autocast, get_device, model_device


def test_cpu_is_logged_not_printed(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="vlmcal_utils.device"):
        assert get_device("cpu") == torch.device("cpu")
    assert [r.getMessage() for r in caplog.records] == ["computing on cpu (CPU)"]
    assert capsys.readouterr().out == ""
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="vlmcal_utils.device"):
        get_device("cpu", verbose=False)
    assert caplog.records == []


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


def test_model_device():
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")  # no parameters: the CPU


@pytest.mark.parametrize("amp", ["auto", "bf16", "fp16", None])
def test_no_mixed_precision_on_the_cpu(amp):
    assert amp_dtype(torch.device("cpu"), amp) is None
    with autocast(torch.device("cpu"), amp):
        assert not torch.is_autocast_enabled("cpu")
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


@pytest.mark.parametrize("amp", ["bfloat16", "fp32", True, "AUTO"])
def test_invalid_amp_is_refused(amp):
    with pytest.raises(ValueError, match="amp must be one of"):
        amp_dtype(torch.device("cpu"), amp)
    with pytest.raises(ValueError, match="amp must be one of"):
        autocast(torch.device("cpu"), amp)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_autocast_is_bf16_where_supported_else_fp16():
    dev = torch.device("cuda")
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert amp_dtype(dev, "auto") == expected
    assert amp_dtype(dev, "fp16") == torch.float16 and amp_dtype(dev, None) is None
    with autocast(dev):
        assert (torch.ones(2, 2, device=dev) @ torch.ones(2, 2, device=dev)).dtype == expected
    with autocast(dev, None):
        assert (torch.ones(2, 2, device=dev) @ torch.ones(2, 2, device=dev)).dtype == torch.float32
