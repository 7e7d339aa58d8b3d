"""Shared pytest fixtures.

Real data (published logits, CIFAR-10 and ImageNet images) lives in the read-only folder named by
``$VLMCAL_SHARED`` (``.ci/run`` sets it to ``../shared``). Tests that need it take the ``shared``
fixture and are skipped, with the reason shown, where it is absent (a fresh user machine).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # every plot test draws off screen, on any machine

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vlmcal_utils.paths import shared_dir  # noqa: E402

# Two cores on CI: keep torch from oversubscribing them. Under pytest-xdist (`make test` runs the
# unit tests as `-n 2`) each of the two workers gets one core, so one thread each.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every pyplot figure a test left open, so figures never pile up across tests."""
    yield
    plt.close("all")


@pytest.fixture(autouse=True)
def _fresh_page():
    """Each test is a fresh page: no box refers to a box that an earlier test showed."""
    from vlmcal_utils.views import boxes, committed

    for said in (boxes._EXPLAINED, boxes._CAUSES_SAID, committed._EXPLAINED):
        said.clear()


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


def make_tiny_clip(seed: int = 0, perturb: bool = True, layer_scale: bool = True):
    """A tiny random open_clip ``CLIP`` (32-wide, 1 vision / 2 text layers, CLIP's vocabulary).

    With ``perturb`` every parameter that open_clip initialises to a constant (attention and
    LayerNorm biases, LayerNorm weights, LayerScale gammas) gets a small seeded random offset, so a
    kernel that drops one of them (e.g. ``out_proj.bias``) no longer matches ``encode_text``.
    ``layer_scale`` turns LayerScale on, so its gammas are exercised too.
    """
    import open_clip

    torch.manual_seed(seed)
    text_cfg = dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2)
    if layer_scale:
        text_cfg["ls_init_value"] = 0.5
    model = open_clip.CLIP(
        embed_dim=32,
        vision_cfg=dict(image_size=32, patch_size=8, width=32, layers=1, head_width=16),
        text_cfg=text_cfg,
    )
    if perturb:
        gen = torch.Generator().manual_seed(10_000 + seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name.endswith(("bias", "gamma")) or ".ln_" in name or name.startswith("ln_"):
                    param.add_(0.1 * torch.randn(param.shape, generator=gen))
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def tiny_clip_factory():
    """:func:`make_tiny_clip`, for tests that build their own tiny CLIP (any seed/options)."""
    return make_tiny_clip


@pytest.fixture(scope="session")
def tiny_clip():
    """One perturbed tiny CLIP shared by a session (do not modify it in a test: deepcopy first)."""
    return make_tiny_clip()
