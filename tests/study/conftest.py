"""Fixtures of the study tests."""

from __future__ import annotations

import pytest

from .synthetic import synthetic


@pytest.fixture(scope="session")
def syn():
    """Calibration and test splits (3000 rows each, 5 classes) of the T = 2.5 synthetic model."""
    zc, yc = synthetic(3000, seed=1)
    zt, yt = synthetic(3000, seed=2)
    return zc, yc, zt, yt
