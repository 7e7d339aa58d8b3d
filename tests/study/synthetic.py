"""Synthetic logits and study tasks shared by the study tests."""

from __future__ import annotations

import numpy as np

from vlmcal_utils import study
from vlmcal_utils.metrics import softmax

T_TRUE = 2.5  # the synthetic model is overconfident by exactly this temperature


def synthetic(n: int, k: int = 5, seed: int = 0, T: float = T_TRUE) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(z); the model reports z * T (overconfident)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, k)) * 1.5
    z[np.arange(n), rng.integers(0, k, n)] += 2.0
    p = softmax(z)
    u = rng.random(n)[:, None]
    y = (p.cumsum(axis=1) < u).sum(axis=1).clip(max=k - 1)
    return z * T, y


def make_tasks(load_counter: dict | None = None, source: str = "synthetic") -> list[study.StudyTask]:
    """Two tasks (a VLM and a baseline) with a calibration split, a test split and a shifted split."""
    def make(seed):
        def load():
            if load_counter is not None:
                load_counter[seed] = load_counter.get(seed, 0) + 1
            zc, yc = synthetic(400, seed=seed)
            zt, yt = synthetic(300, seed=seed + 100)
            zs, ys = synthetic(300, seed=seed + 200, T=4.0)  # a "shift": more overconfident
            return {"cal": (zc, yc), "test": (zt, yt), "shifted": (zs, ys)}
        return load

    return [
        study.StudyTask("model_a", "syn", make(1), source=source, family="vlm"),
        study.StudyTask("model_b", "syn", make(2), source=source, family="baseline"),
    ]
