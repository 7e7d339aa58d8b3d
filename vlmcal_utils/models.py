"""Models: one loader for every way a chapter names an open_clip model, with its eval transform.

``load_model(arch, pretrained, device, precision, seed=...) -> (model, preprocess, tokenizer)``

==========================================  ===============================================================
``pretrained``                              what is loaded
==========================================  ===============================================================
``None`` with a ``"vlmcal-demo…"`` arch     the demo world's shipped weights (no download, see
                                            :func:`vlmcal_utils.demo.load_demo_model`)
an open_clip tag (``"openai"``, …)          open_clip's published weights (downloaded once, needs internet)
a local file (``.safetensors`` preferred,   that file; ``.pt``/``.pth``/``.bin`` are read with
``.pt``, ``.pth``, ``.bin``)                ``torch.load(weights_only=True)``, so a pickle never runs code
``"random"`` with ``seed=``                 seeded random weights built in memory (no file): the same
                                            seed gives the same weights — for plumbing runs only, the
                                            numbers mean nothing (:data:`RANDOM_WEIGHTS_NOTE`)
``None`` with an open_clip arch             unseeded random weights (prefer ``"random"`` with a seed)
==========================================  ===============================================================

:func:`model_id` names the loaded weights for caches (a seed, a tag, a file's name and content digest) and
:func:`describe_model` labels them for plots and results.

OpenAI's weights were trained with QuickGELU. For a tag, :func:`load_model` sets the activation
the tag was trained with (open_clip itself only warns). When you load OpenAI weights from a
*local file*, name the ``-quickgelu`` architecture (``"ViT-B-32-quickgelu"``): a file does not
say which activation it needs, and the wrong one changes the outputs silently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Callable, Iterator

import open_clip
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from vlmcal_utils.checks import check_int, close_matches, looks_like_path

# Importing the demo package registers the demo model configs with open_clip, so a demo
# architecture with other weights (a file, "random") loads like any open_clip architecture.
from vlmcal_utils.demo import load_demo_model, weights_path
from vlmcal_utils.device import get_device
from vlmcal_utils.storage import atomic_write_bytes, file_digest

__all__ = [
    "weights_provenance",
    "DEMO_PREFIX",
    "RANDOM",
    "RANDOM_WEIGHTS_NOTE",
    "WEIGHT_SUFFIXES",
    "check_arch",
    "resolve_pretrained",
    "load_model",
    "seeded",
    "check_weights_file",
    "read_weights",
    "save_weights",
    "model_id",
    "describe_model",
]

DEMO_PREFIX = "vlmcal-demo"
RANDOM = "random"
"""The ``pretrained`` value for seeded random weights (plumbing runs: the numbers mean nothing)."""
RANDOM_WEIGHTS_NOTE = "random weights — plumbing only, numbers mean nothing"
"""The one wording of the random-weights warning: labels, task sources and notebooks use it."""
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
_PRECISIONS = ("fp32", "fp16", "bf16")


def check_arch(arch: str) -> None:
    """Raise ``ValueError`` naming close matches if ``arch`` is not an open_clip architecture.

    Parameters
    ----------
    arch : str
        An ``open_clip.list_models()`` name (the demo models are registered there too).
    """
    models = open_clip.list_models()
    if arch not in models:
        raise ValueError(
            f"unknown architecture {arch!r}. Close matches: {close_matches(str(arch), models)}. "
            "See open_clip.list_models() for all of them, or use 'vlmcal-demo' for the demo model."
        )


def _check_seed(seed: Any) -> int:
    if seed is None:
        raise ValueError(
            "pretrained='random' needs seed=<int>: the seed makes the weights (and the cache entry "
            "named by model_id) the same in every run"
        )
    return check_int(seed, "seed", minimum=0)


def resolve_pretrained(arch: str, pretrained: str | os.PathLike | None) -> str | None:
    """Validate ``pretrained`` for ``arch``; return a tag, an absolute file path, ``"random"`` or ``None``.

    Parameters
    ----------
    arch : str
        The open_clip architecture.
    pretrained : str, os.PathLike or None
        See the module docstring.

    Returns
    -------
    str or None
        The tag, the resolved file path, :data:`RANDOM`, or ``None`` (no weights to load).

    Raises
    ------
    FileNotFoundError
        For a path that does not exist.
    ValueError
        For a file with another suffix, or a tag open_clip does not know for ``arch`` (with
        close matches).
    """
    if pretrained is None or pretrained == "":
        return None
    if pretrained == RANDOM:
        return RANDOM
    text = os.fspath(pretrained) if isinstance(pretrained, os.PathLike) else str(pretrained)
    if isinstance(pretrained, os.PathLike) or looks_like_path(text) or Path(text).is_file():
        path = Path(text).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"no weights file at {path}. Pass an existing .safetensors (preferred) or "
                f".pt/.bin file, or an open_clip tag such as 'openai' (needs internet)."
            )
        if path.suffix not in WEIGHT_SUFFIXES:
            raise ValueError(f"{path.name}: expected one of {WEIGHT_SUFFIXES}, got {path.suffix!r}")
        return str(path.resolve())
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if text not in tags:
        raise ValueError(
            f"open_clip has no pretrained tag {text!r} for {arch}. Close matches: "
            f"{close_matches(text, tags)}; all tags for {arch}: {tags}. "
            "A local weights file path, or 'random' with a seed (plumbing), is accepted too."
        )
    return text


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's CPU generator seeded by ``seed``; the caller's RNG state is restored.

    open_clip and timm build a model on the CPU before moving it, so the CPU generator alone
    decides random initial weights; forking only it leaves the caller's random streams
    (CPU and CUDA) exactly as they were.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    contextlib.AbstractContextManager
    """
    seed = check_int(seed, "seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # open_clip logs "No pretrained weights loaded" on the root logger at WARNING: intended
    # for random weights, so it is hidden while they are built.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _refused_pickle(path: Path, err: Exception) -> ValueError:
    # torch's own message advises weights_only=False (which runs any code in the file): only the
    # refused global is kept from it, and the safe way is named instead.
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(err))
    what = f" (it holds a {found.group(1)} object)" if found else ""
    return ValueError(
        f"{path}: refused to unpickle this file{what}: only plain tensors are read from .pt/.pth/.bin "
        "files, because unpickling anything else can run arbitrary code. Convert the weights to "
        "safetensors where you trust the file (load it there and run "
        "safetensors.torch.save_file(state_dict, 'weights.safetensors')), then pass the .safetensors file."
    )


def _damaged(path: Path, err: Exception) -> ValueError:
    return ValueError(
        f"{path} is not a readable weights file ({type(err).__name__}: {err}); it is probably "
        "truncated or damaged (an interrupted download or copy): download or save it again."
    )


def check_weights_file(path: str | os.PathLike) -> Path:
    """Open a weights file far enough to know it is readable, without reading every tensor.

    A ``.safetensors`` file's header is parsed and checked against the file's length; a torch
    file is unpickled with ``weights_only=True`` (memory-mapped where possible).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors``, ``.pt``, ``.pth`` or ``.bin`` file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        The file is truncated or damaged, or holds pickled objects other than tensors (the
        message names the file and how to convert it to safetensors).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                fh.keys()
        except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: all mean an unreadable file
            raise _damaged(path, err) from None
        return path
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as err:
        raise _refused_pickle(path, err) from None
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError/EOFError/KeyError for damaged files
        raise _damaged(path, err) from None
    return path


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (a state dict), read safely on the CPU.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.safetensors`` file, or a ``.pt``/``.pth``/``.bin`` file read with
        ``torch.load(weights_only=True)``.

    Returns
    -------
    dict of str to torch.Tensor

    Raises
    ------
    ValueError
        As :func:`check_weights_file`, or when a torch file holds no dict of tensors.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: all mean an unreadable file
            raise _damaged(path, err) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise _refused_pickle(path, err) from None
    except Exception as err:  # noqa: BLE001 - torch raises RuntimeError/EOFError/KeyError for damaged files
        raise _damaged(path, err) from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict):
        raise ValueError(f"{path} holds a {type(state).__name__}, not a state dict (name -> tensor)")
    return state


def _cast(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    if precision == "fp16":
        return model.half()
    if precision == "bf16":
        return model.to(torch.bfloat16)
    return model


def load_model(
    arch: str,
    pretrained: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
    precision: str = "fp32",
    *,
    seed: int | None = None,
) -> tuple[torch.nn.Module, Callable, Callable]:
    """Load an open_clip (or demo) model by architecture and weights, in eval mode on ``device``.

    Parameters
    ----------
    arch : str
        An open_clip architecture (``"ViT-B-16"``, ``"RN50"``, …) or a ``"vlmcal-demo…"`` name.
    pretrained : str, os.PathLike or None
        ``None`` (demo: shipped weights; otherwise unseeded random weights), an open_clip tag,
        a local weights file, or ``"random"`` (seeded random weights built in memory; needs
        ``seed``). See the module docstring.
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"`` or a device (see :func:`vlmcal_utils.device.get_device`).
    precision : {"fp32", "bf16", "fp16"}
        ``"fp16"`` needs CUDA (half-precision matmuls are slow or unsupported on CPUs).
    seed : int, optional
        Used only with ``pretrained="random"`` (required there); ignored otherwise, so a chapter
        can pass its seed whatever the weights.

    Returns
    -------
    model : torch.nn.Module
        In eval mode on ``device``.
    preprocess : callable
        The *eval* transform: PIL image -> ``(3, H, W)`` float tensor.
    tokenizer : callable
        A list of strings -> ``(B, context_length)`` int64 tensor.

    Raises
    ------
    ValueError
        Unknown arch/tag (with close matches), bad precision, ``"random"`` without a seed, a
        damaged or refused weights file.
    FileNotFoundError
        A local weights path that does not exist.
    RuntimeError
        A download that failed, or a file that holds weights of another architecture.

    Examples
    --------
    The demo model ships with the package (no download); ``load_model("ViT-B-32", "openai")``
    would fetch OpenAI's weights once. The device is logged (logger ``vlmcal_utils.device``).

    >>> from vlmcal_utils.demo import make_demo_dataset
    >>> model, preprocess, tokenizer = load_model("vlmcal-demo", device="cpu")
    >>> image, label = make_demo_dataset("photo", "test", n=1)[0]  # a PIL image and its class index
    >>> preprocess(image).shape, tokenizer(["a photo of a circle."]).shape, model.training
    (torch.Size([3, 32, 32]), torch.Size([1, 20]), False)
    """
    if precision not in _PRECISIONS:
        raise ValueError(f"precision must be one of {_PRECISIONS}, got {precision!r}")
    dev = device if isinstance(device, torch.device) else get_device(device)
    if precision == "fp16" and dev.type != "cuda":
        raise ValueError(
            "precision='fp16' needs a CUDA device (half precision is slow or unsupported on CPU); "
            "use 'fp32' or 'bf16' on the CPU."
        )
    if arch.startswith(DEMO_PREFIX) and pretrained is None:
        model, preprocess, tokenizer = load_demo_model(arch, device=str(dev))
        return _cast(model.to(dev), precision).eval(), preprocess, tokenizer

    check_arch(arch)
    resolved = resolve_pretrained(arch, pretrained)
    if resolved == RANDOM:
        with seeded(_check_seed(seed)), _quiet_root_logger():
            model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None,
                                                                         precision=precision, device=dev)
        return model.eval(), preprocess, open_clip.get_tokenizer(arch)
    is_file = resolved is not None and Path(resolved).is_file()
    if is_file:
        check_weights_file(resolved)  # a damaged or pickled file: a clear ValueError, before open_clip
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
    return model.eval(), preprocess, open_clip.get_tokenizer(arch)


def save_weights(model: torch.nn.Module, path: str | os.PathLike) -> Path:
    """Save ``model.state_dict()`` as a ``.safetensors`` file, atomically.

    Tensors that share storage (tied weights) are cloned so safetensors accepts them. The file
    is serialised in memory first (``storage.atomic_write_bytes``), so saving needs about twice
    the model's size in RAM.

    Parameters
    ----------
    model : torch.nn.Module
    path : str or os.PathLike
        The target; must end in ``.safetensors``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"save_weights writes .safetensors files, got {path.name!r}")
    state = {k: v.detach().contiguous().clone().cpu() for k, v in model.state_dict().items()}
    return atomic_write_bytes(path, safetensors_bytes(state))


def model_id(arch: str, pretrained: str | os.PathLike | None, seed: int | None = None) -> str:
    """A stable id of ``(arch, weights)`` for caches and run fingerprints (see :mod:`vlmcal_utils.features`).

    Parameters
    ----------
    arch : str
    pretrained : str, os.PathLike or None
        As in :func:`load_model`.
    seed : int, optional
        Required with ``pretrained="random"`` (each seed is other weights); ignored otherwise.

    Returns
    -------
    str
        ``"ViT-B-32/openai"`` for a tag; ``"ViT-B-32/random-seed3"`` for seeded random weights;
        for a local file its name and a digest of its content (a changed file is another model, a
        copy or a fresh clone the same one);
        the demo models' shipped file for a demo name without weights.

    Raises
    ------
    ValueError
        Unseeded random weights (``pretrained=None`` with an open_clip arch) have no stable id.
    """
    if pretrained == RANDOM:
        return f"{arch}/random-seed{_check_seed(seed)}"
    if arch.startswith(DEMO_PREFIX) and pretrained is None:
        pretrained = weights_path(arch)
    if pretrained is None:
        raise ValueError(f"{arch} with unseeded random weights has no stable id: pass pretrained='random' "
                         "with seed=<int> instead")
    path = Path(os.fspath(pretrained)).expanduser()
    if path.is_file():  # the content, not the modification time: a fresh clone finds its caches
        return f"{arch}/{path.name}-{file_digest(path)[:16]}"
    return f"{arch}/{pretrained}"


def weights_provenance(arch: str, pretrained: Any) -> str:
    """What a model's numbers are worth: ``"demo world"``, ``"random weights"`` or ``"real model"``.

    ``pretrained`` as in :func:`load_model`: ``None`` gives the demo world's shipped weights for a
    ``vlmcal-demo*`` architecture and unseeded random weights for any other (as
    :func:`describe_model` says); ``"random"`` seeded random weights (plumbing only).

    Examples
    --------
    >>> [weights_provenance(*m) for m in [("vlmcal-demo", None), ("ViT-B-32", "random"), ("ViT-B-32", "openai")]]
    ['demo world', 'random weights', 'real model']
    """
    if arch.startswith(DEMO_PREFIX):
        return "demo world"
    if pretrained in (None, RANDOM):
        return "random weights"
    return "real model"


def describe_model(arch: str, pretrained: Any, seed: int | None = None) -> str:
    """A short label for plots and result files.

    Parameters
    ----------
    arch : str
    pretrained : str, os.PathLike or None
        As in :func:`load_model`.
    seed : int, optional
        Shown for ``pretrained="random"``.

    Returns
    -------
    str
        E.g. ``"ViT-B-32 (openai)"``, ``"vlmcal-demo (demo model, shipped weights)"``,
        ``"ViT-B-32 (random weights — plumbing only, numbers mean nothing; seed 0)"``.
    """
    if pretrained == RANDOM:
        return f"{arch} ({RANDOM_WEIGHTS_NOTE}; seed {seed})"
    if pretrained is None:
        if arch.startswith(DEMO_PREFIX):
            return f"{arch} (demo model, shipped weights)"
        return f"{arch} ({RANDOM_WEIGHTS_NOTE}; unseeded)"
    text = os.fspath(pretrained) if isinstance(pretrained, os.PathLike) else str(pretrained)
    return f"{arch} ({Path(text).name if looks_like_path(text) else text})"
