"""Models: load an open_clip model (or the demo world's small model) with its eval transform.

``load_model(arch, pretrained, device, precision) -> (model, preprocess, tokenizer)``

- ``arch``: any open_clip architecture name (``open_clip.list_models()``), e.g. ``"ViT-B-32"``,
  ``"RN50"``, ``"ViT-B-16"``; or a name starting with ``"vlmcal-demo"`` for the book's demo
  world (:func:`vlmcal_utils.demo.model.load_demo_model`), which needs no download; with a
  ``pretrained`` file, a demo architecture loads those weights instead of the shipped ones.
- ``pretrained``: ``None`` (random weights), an open_clip tag (``"openai"``,
  ``"laion2b_s34b_b79k"``, ... — downloaded, needs internet), or the path of a local weights
  file. ``.safetensors`` is preferred; ``.pt``/``.pth``/``.bin`` files are read only with
  ``torch.load(weights_only=True)``, so a pickled file never runs code.

OpenAI's weights were trained with QuickGELU. For a tag, :func:`load_model` sets the activation
the tag was trained with (open_clip itself only warns). When you load OpenAI weights from a
*local file*, name the ``-quickgelu`` architecture (``"ViT-B-32-quickgelu"``): a file does not
say which activation it needs, and the wrong one changes the outputs silently.
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any, Callable

import torch

from vlmcal_utils.device import get_device

DEMO_PREFIX = "vlmcal-demo"
_PRECISIONS = ("fp32", "fp16", "bf16")
_WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def _close(word: str, candidates: list[str], n: int = 5) -> list[str]:
    matches = difflib.get_close_matches(word, candidates, n=n, cutoff=0.4)
    if not matches:  # fall back to a case-insensitive substring search
        matches = [c for c in candidates if word.lower() in c.lower()][:n]
    return matches


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` naming close matches if ``arch`` is not an open_clip architecture."""
    import open_clip

    models = open_clip.list_models()
    if arch not in models:
        raise ValueError(
            f"unknown architecture {arch!r}. Close matches: {_close(arch, models)}. "
            "See open_clip.list_models() for all of them, or use 'vlmcal-demo' for the demo model."
        )


def _looks_like_path(pretrained: str) -> bool:
    return (
        os.sep in pretrained
        or "/" in pretrained
        or pretrained.startswith(("~", "."))
        or pretrained.endswith(_WEIGHT_SUFFIXES)
    )


def resolve_pretrained(arch: str, pretrained: str | os.PathLike | None) -> str | None:
    """Validate ``pretrained`` for ``arch``; return a tag, an absolute file path, or ``None``.

    Raises ``FileNotFoundError`` for a path that does not exist and ``ValueError`` for a tag that
    open_clip does not know for this architecture (with close matches).
    """
    import open_clip

    if pretrained is None or pretrained == "":
        return None
    if isinstance(pretrained, os.PathLike) or _looks_like_path(str(pretrained)) or Path(str(pretrained)).is_file():
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"no weights file at {path}. Pass an existing .safetensors (preferred) or "
                f".pt/.bin file, or an open_clip tag such as 'openai' (needs internet)."
            )
        if path.suffix not in _WEIGHT_SUFFIXES:
            raise ValueError(f"{path.name}: expected one of {_WEIGHT_SUFFIXES}, got {path.suffix!r}")
        return str(path.resolve())
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if pretrained not in tags:
        raise ValueError(
            f"open_clip has no pretrained tag {pretrained!r} for {arch}. Close matches: "
            f"{_close(str(pretrained), tags)}; all tags for {arch}: {tags}. "
            "A local weights file path is accepted too."
        )
    return str(pretrained)


def load_model(
    arch: str,
    pretrained: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    precision: str = "fp32",
) -> tuple[torch.nn.Module, Callable, Callable]:
    """Return ``(model, preprocess, tokenizer)``; the model is in eval mode on ``device``.

    ``preprocess`` is the *eval* transform (PIL image -> (3, H, W) float tensor); ``tokenizer``
    maps a list of strings to a (B, context_length) int64 tensor.

    ``precision``: ``"fp32"`` (default), ``"bf16"``, or ``"fp16"`` (CUDA only: half precision
    matmuls are slow or unsupported on CPUs).

    Raises ``ValueError`` (unknown arch/tag, with close matches; bad precision),
    ``FileNotFoundError`` (local weights path missing) and ``RuntimeError`` (download failed).
    """
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    dev = device if isinstance(device, torch.device) else get_device(device)
    if precision == "fp16" and dev.type != "cuda":
        raise ValueError(
            "precision='fp16' needs a CUDA device (half precision is slow or unsupported on CPU); "
            "use 'fp32' or 'bf16' on the CPU."
        )
    if arch.startswith(DEMO_PREFIX):
        # lazy: the demo package is optional here; importing it registers the demo configs
        # with open_clip, so a demo model with other weights (a file) loads like any arch.
        from vlmcal_utils.demo import load_demo_model

        if pretrained is None:
            model, preprocess, tokenizer = load_demo_model(arch, device=str(dev))
            model = _cast(model.to(dev), precision)
            return model.eval(), preprocess, tokenizer

    import open_clip

    check_arch(arch)
    resolved = resolve_pretrained(arch, pretrained)
    is_file = resolved is not None and Path(resolved).is_file()
    # open_clip only *warns* when a tag trained with QuickGELU (all "openai" weights) is loaded
    # into a plain-GELU config such as "ViT-B-16"; set the activation the weights were trained with.
    quick_gelu = bool(resolved and not is_file
                      and open_clip.get_pretrained_cfg(arch, resolved).get("quick_gelu", False))
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch,
            pretrained=resolved,
            precision=precision,
            device=dev,
            force_quick_gelu=quick_gelu,
            weights_only=True,  # never unpickle arbitrary objects from a weights file
        )
    except RuntimeError as err:
        if resolved is None:
            raise
        if is_file:
            raise RuntimeError(
                f"could not load {resolved} into {arch}: {err}. Check that the file holds weights "
                f"for this architecture (an open_clip state_dict; see open_clip.list_models())."
            ) from err
        raise RuntimeError(
            f"could not fetch the {arch!r}/{resolved!r} weights (no network, or the hub refused): "
            f"{err}. Download the weights on a machine with internet (open_clip caches them under "
            "~/.cache/huggingface) and pass the file instead: "
            f"load_model({arch!r}, pretrained='/path/to/open_clip_model.safetensors')."
        ) from err
    tokenizer = open_clip.get_tokenizer(arch)
    return model.eval(), preprocess, tokenizer


def _cast(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    if precision == "fp16":
        return model.half()
    if precision == "bf16":
        return model.to(torch.bfloat16)
    return model


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Save ``model.state_dict()`` as a ``.safetensors`` file (atomic write) and return its path.

    Tensors that share storage (tied weights) are cloned so safetensors accepts them.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save_weights writes .safetensors files, got {path.name!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(path)
    return path


def save_random_weights(arch: str, path: str | os.PathLike, seed: int = 0) -> Path:
    """Create ``arch`` with random (seeded) weights and save them to ``path`` (.safetensors).

    For plumbing tests and CI: the file then goes through :func:`load_model` exactly like a
    user's downloaded weights file. A random-weight model's predictions are meaningless.
    """
    import open_clip

    if arch.startswith(DEMO_PREFIX):
        import vlmcal_utils.demo  # noqa: F401 - registers the demo model configs with open_clip
    check_arch(arch)
    torch.manual_seed(seed)
    # open_clip logs "No pretrained weights loaded" at WARNING: intended here, so hide it.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        model = open_clip.create_model(arch, pretrained=None)
    finally:
        root.setLevel(level)
    return save_weights(model, path)


def model_id(arch: str, pretrained: str | os.PathLike | None) -> str:
    """A cache id for ``(arch, pretrained)`` (see :mod:`vlmcal_utils.features`).

    Tags give ``"ViT-B-32/openai"``; a local file adds its name, size and modification time (a
    changed file is a different model); the demo models use their shipped weights file.
    Random weights (``pretrained=None``) have no stable identity: ``ValueError`` — save them
    with :func:`save_random_weights` and pass the file.
    """
    if arch.startswith(DEMO_PREFIX) and pretrained is None:
        from vlmcal_utils.demo import weights_path

        pretrained = weights_path(arch)
    if pretrained is None:
        raise ValueError(f"{arch} with random weights has no stable id: save them to a file first")
    path = Path(str(pretrained)).expanduser()
    if path.is_file():
        stat = path.stat()
        return f"{arch}/{path.name}-{stat.st_size}-{stat.st_mtime_ns}"
    return f"{arch}/{pretrained}"


def describe_model(arch: str, pretrained: Any) -> str:
    """A short label for plots and result files, e.g. ``"ViT-B-32 (openai)"``."""
    if pretrained is None:
        return f"{arch} (random weights)"
    tag = Path(str(pretrained)).name if _looks_like_path(str(pretrained)) else str(pretrained)
    return f"{arch} ({tag})"
