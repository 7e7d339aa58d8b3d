"""Device selection: CUDA when present, else the CPU — and say which."""

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
        Print which device was chosen (notebooks show it on the page).
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
        print(f"vlmcal_utils: computing on {device} ({name})")
    return device
