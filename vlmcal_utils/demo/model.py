"""Tiny CLIP models for the demo world, registered with open_clip and shipped with the package.

Each model is a genuine ``open_clip.CLIP``: a small ViT image tower and CLIP's causal text
transformer (49 408-token BPE embedding, learned positional embedding, EOT pooling,
``text_projection``), built by ``open_clip.create_model(name)`` from the JSON configs in
``model_configs/`` and open_clip's own BPE tokenizer (its vocabulary ships inside open_clip, so
nothing is downloaded). Weights are stored in fp16 safetensors in ``weights/`` and loaded into a
float32 model.

Importing this module registers the configs, so afterwards ``open_clip.create_model("vlmcal-demo")``
and ``open_clip.get_tokenizer("vlmcal-demo")`` work anywhere.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import open_clip
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as save_safetensors
from torchvision import transforms

from vlmcal_utils.storage import atomic_write_bytes

__all__ = [
    "DEMO_MODEL_NAMES",
    "DEFAULT_DEMO_MODEL",
    "CONFIG_DIR",
    "WEIGHTS_DIR",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "weights_path",
    "demo_preprocess",
    "create_demo_model",
    "load_demo_model",
    "save_demo_weights",
]

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEMO_MODEL_NAMES: tuple[str, ...] = ("vlmcal-demo", "vlmcal-demo-small", "vlmcal-demo-rn")
DEFAULT_DEMO_MODEL = "vlmcal-demo"
# CLIP's normalisation constants, so the pipeline looks exactly like a real CLIP's.
IMAGE_MEAN = open_clip.OPENAI_DATASET_MEAN
IMAGE_STD = open_clip.OPENAI_DATASET_STD

open_clip.add_model_config(CONFIG_DIR)


def _check_name(name: str) -> str:
    if name not in DEMO_MODEL_NAMES:
        raise ValueError(f"unknown demo model {name!r}; the demo models are {DEMO_MODEL_NAMES}")
    return name


def weights_path(name: str = DEFAULT_DEMO_MODEL) -> Path:
    """Path of the shipped fp16 safetensors file of demo model ``name``."""
    return WEIGHTS_DIR / f"{_check_name(name)}.safetensors"


def demo_preprocess(image_size: int = 32) -> Callable:
    """Eval transform used in training and evaluation: PIL image → normalised ``(3, S, S)`` tensor.

    Resize (bicubic) + centre crop to ``image_size`` (a no-op on the 32x32 demo images; it lets
    other images be fed in), then CLIP's mean/std normalisation.
    """
    return transforms.Compose([
        transforms.Resize(image_size, interpolation=transforms.InterpolationMode.BICUBIC),
        transforms.CenterCrop(image_size),
        lambda im: im.convert("RGB"),
        transforms.ToTensor(),
        transforms.Normalize(IMAGE_MEAN, IMAGE_STD),
    ])


def create_demo_model(name: str = DEFAULT_DEMO_MODEL) -> open_clip.CLIP:
    """A freshly initialised (untrained) demo model, built by ``open_clip.create_model``."""
    _check_name(name)
    # open_clip logs "No pretrained weights loaded" at WARNING: expected here, so hide it.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        model = open_clip.create_model(name, pretrained=None, device="cpu")
    finally:
        root.setLevel(level)
    if not isinstance(model, open_clip.CLIP):  # TPT needs CLIP's own text tower attributes
        raise TypeError(f"{name} built a {type(model).__name__}, expected open_clip.CLIP")
    return model


def load_demo_model(
    name: str = DEFAULT_DEMO_MODEL, device: str | torch.device = "cpu", weights: str | Path | None = None
) -> tuple[open_clip.CLIP, Callable, Callable]:
    """Load a shipped demo model: ``(model, preprocess, tokenizer)``.

    ``model`` is an ``open_clip.CLIP`` in eval mode (float32, on ``device``) with the shipped
    weights; ``preprocess`` maps a PIL image to a normalised ``(3, 32, 32)`` tensor;
    ``tokenizer`` is open_clip's BPE tokenizer: ``tokenizer(list_of_str)`` → ``LongTensor
    (N, 20)`` (the demo context length). Raises ``ValueError`` for an unknown name.
    ``weights``: another safetensors file of the same architecture (e.g. from a retraining run
    with ``--out``); default: the shipped file.
    """
    path = weights_path(name) if weights is None else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: reinstall vlmcal-utils, or retrain with "
            f"`python -m vlmcal_utils.demo train --model {name}`"
        )
    model = create_demo_model(name)
    try:
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        model.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as err:  # not safetensors, or another architecture
        first = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
        raise ValueError(f"{path} is not a safetensors file of {name}'s architecture ({first}); pass the "
                         f"weights written by `python -m vlmcal_utils.demo train --model {name}`") from err
    model = model.to(device).eval()
    size = model.visual.image_size  # a tuple for the ViT, an int for ModifiedResNet
    preprocess = demo_preprocess(size[0] if isinstance(size, (tuple, list)) else int(size))
    tokenizer = open_clip.get_tokenizer(name)
    return model, preprocess, tokenizer


def save_demo_weights(model: torch.nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write ``model.state_dict()`` as fp16 safetensors (halves the size; ~1e-3 relative error)."""
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    path = atomic_write_bytes(path, save_safetensors(state, metadata=metadata))
    os.chmod(path, 0o644)  # atomic writes create the file owner-only; it ships in the package
    return path
