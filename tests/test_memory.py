"""Peak memory of the metrics and of temperature scaling (issue 25): at most twice their input.

Measured with tracemalloc on numpy input, which sees numpy's allocations (not torch's: the L-BFGS
fit's torch buffers are measured by ``benchmarks/bench_memory.py`` through the process's peak RSS).
Before the block-wise rewrite a float32 input was widened to a float64 copy first: ``fit_temperature``
peaked at 8x its input, ``nll``/``brier``/``score_logits`` at 6-8x, ``ece`` at 2.25x,
``classwise_ece`` at 4x.
"""

from __future__ import annotations

import tracemalloc
from functools import partial

import numpy as np
import pytest

from vlmcal_utils.metrics import brier, classwise_ece, ece, nll
from vlmcal_utils.scores import score_logits, score_probs
from vlmcal_utils.temperature import fit_temperature

N, K = 40_000, 100  # 16 MB of float32 logits: 8 times the block-wise temporaries


def _input(kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z = (3 * rng.standard_normal((N, K))).astype(np.float32)
    y = np.where(rng.random(N) < 0.6, z.argmax(axis=1), rng.integers(0, K, N))  # T fitted inside the bounds
    if kind == "probs":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        z = e / e.sum(axis=1, keepdims=True)
    return z, y


@pytest.mark.parametrize("name, fn, kind", [
    ("ece", ece, "probs"),
    ("classwise_ece", classwise_ece, "probs"),
    ("brier", brier, "probs"),
    ("score_probs", partial(score_probs, estimators=False), "probs"),
    ("nll", nll, "logits"),
    ("score_logits", partial(score_logits, estimators=False), "logits"),
    ("fit_temperature(bisection)", partial(fit_temperature, method="bisection"), "logits"),
    ("fit_temperature(lbfgs)", fit_temperature, "logits"),
])
def test_peak_memory_is_at_most_twice_the_input(name, fn, kind):
    x, y = _input(kind)
    assert x.dtype == np.float32
    tracemalloc.start()
    try:
        fn(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2 * x.nbytes, f"{name}: peak {peak / x.nbytes:.2f}x its float32 input"
