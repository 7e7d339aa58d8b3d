"""Shared pytest fixtures.

Real data (published logits, CIFAR-10 and ImageNet images) lives in the read-only folder named by
``$VLMCAL_SHARED`` (``.ci/run`` sets it to ``../shared``). Tests that need it take the ``shared``
fixture and are skipped, with the reason shown, where it is absent (a fresh user machine).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vlmcal_utils.data import shared_dir

# Two cores on CI: keep torch from oversubscribing them.
torch.set_num_threads(2)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared real-data folder; skips the test when ``$VLMCAL_SHARED`` is unset or missing."""
    root = shared_dir()
    if root is None:
        pytest.skip("needs the real data folder: set VLMCAL_SHARED (CI sets it to ../shared)")
    return root
