"""Device and precision: CUDA when present, else the CPU (and say which); the model's device; AMP."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

_CHOICES = ("auto", "cuda", "cpu")


def get_device(prefer: str = "auto", verbose: bool = True) -> torch.device:
    """Return the torch device to compute on.

    Parameters
    ----------
    prefer:
        ``"auto"`` (CUDA if available, else CPU), ``"cuda"`` (error if unavailable, so a run
        that was meant for a GPU never silently takes hours on a CPU) or ``"cpu"``.
        A specific CUDA index such as ``"cuda:1"`` is accepted too.
    verbose:
        Log which device was chosen (logger ``vlmcal_utils.device``, level INFO: shown where the
        application turns logging on, e.g. ``logging.basicConfig(level=logging.INFO)``).
    """
    if not isinstance(prefer, str):
        raise TypeError(f"prefer must be a string such as 'auto', 'cuda' or 'cpu', got {prefer!r}")
    choice = prefer.lower().strip()
    if choice == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif choice.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device={prefer!r} was requested but CUDA is not available here. "
                "Use device='auto' to fall back to the CPU, or run on a GPU runtime "
                "(on Colab: Runtime → Change runtime type → GPU)."
            )
        device = torch.device(choice)
    elif choice == "cpu":
        device = torch.device("cpu")
    else:
        raise ValueError(f"unknown device {prefer!r}; choose one of {_CHOICES} or 'cuda:N'")
    if verbose:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        logger.info("computing on %s (%s)", device, name)
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of ``model``'s first parameter (CPU for a model without parameters)."""
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


AMP_CHOICES = ("auto", "bf16", "fp16", None)


def amp_dtype(device: torch.device, amp: str | None = "auto") -> torch.dtype | None:
    """The autocast dtype for ``device``, or ``None`` for full precision.

    Parameters
    ----------
    device : torch.device
        Where the model runs. Mixed precision is used on CUDA only: CPU autocast (bf16) changes
        the numbers for little speed-up on the CPUs this project targets.
    amp : {"auto", "bf16", "fp16", None}
        ``"auto"``: bf16 where the GPU supports it (Ampere and newer), else fp16 (a Colab T4 has
        no bf16 tensor cores). ``None``: full precision.

    Returns
    -------
    torch.dtype or None
    """
    if amp not in AMP_CHOICES:
        raise ValueError(f"amp must be one of {AMP_CHOICES}, got {amp!r}")
    if amp is None or torch.device(device).type != "cuda":
        return None
    if amp == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if amp == "bf16" else torch.float16


def autocast(device: torch.device, amp: str | None = "auto"):
    """An autocast context for ``device`` with the dtype of :func:`amp_dtype` (off when ``None``)."""
    dtype = amp_dtype(device, amp)
    device = torch.device(device)
    if dtype is None:
        return torch.autocast(device_type=device.type, enabled=False)
    return torch.autocast(device_type=device.type, dtype=dtype)
