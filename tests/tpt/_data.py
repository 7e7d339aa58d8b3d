"""Shared data of the TPT tests: class names, templates, settings and raw images."""

from __future__ import annotations

import numpy as np

#: Class names with multi-token names and an underscore (the official code turns it into a space).
NAMES = ["cat", "dog", "golden retriever", "aircraft carrier", "sea_lion", "red-winged blackbird"]

#: Ensemble members with context lengths 5, 1, 4 ("itap" is two BPE tokens) and 3 (the text after "{}" stays fixed).
TEMPLATES = ["a bad photo of a {}.", "a {} in a video game.", "itap of my {}.", "art of the {}."]

#: Small settings for fast steps: 20 views keep 4.
CFG = dict(selection=0.2, lr=5e-3)


def make_images(n: int, seed: int = 0) -> list[tuple[np.ndarray, int]]:
    """``n`` raw ``(40, 48, 3)`` uint8 images with labels in ``[0, len(NAMES))``."""
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8), int(rng.integers(len(NAMES)))) for _ in range(n)]
