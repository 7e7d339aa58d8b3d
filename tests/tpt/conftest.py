"""Fixtures of the TPT tests: the perturbed tiny CLIP (``tests/conftest.py``), its tokenizer, views."""

from __future__ import annotations

import open_clip
import pytest
import torch

from vlmcal_utils import tpt

from ._data import NAMES, make_images


@pytest.fixture(scope="session")
def model(tiny_clip):
    return tiny_clip


@pytest.fixture(scope="session")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-32")  # bundled BPE vocabulary: no download


@pytest.fixture()
def learner(model, tokenizer):
    return tpt.PromptLearner(model, tokenizer, NAMES)


@pytest.fixture(scope="session")
def images():
    return make_images


@pytest.fixture(scope="session")
def views_for(model):
    """``views_for(i, n_views=20, augmix=True)``: the views of image ``i`` of :func:`make_images`."""

    def views(idx: int, n_views: int = 20, augmix: bool = True) -> torch.Tensor:
        img, _ = make_images(idx + 1)[idx]
        return tpt.make_views(img, tpt.preprocess_config(model), n_views=n_views, augmix=augmix, seed=0, index=idx)

    return views
