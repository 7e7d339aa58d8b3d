"""Pre-flight: what a chapter run needs (datasets, weights, a GPU, published logits) and whether it is here.

Before a kernel starts (the runner), a sweep starts its workers, or a researcher asks
(``python -m vlmcal_utils.paper_sets params/paper.yaml --check``), :func:`run_needs` lists what one
notebook run with its parameter values needs and :func:`check` looks for all of it at once, so a
machine without ImageNet, the fine-grained sets and a GPU hears about all of them in one report
instead of one failure per kernel. Nothing is downloaded and no model is loaded: datasets are
opened by their own loaders with ``download=False`` (the "not found" message says where they
looked and where to get them), weights are looked up in the Hugging Face cache, the GPU is
``torch.cuda.is_available()``.

Each requirement is a :class:`Need` whose ``status`` is one of

- ``"ok"``: here;
- ``"download"``: not here, fetched on first use (downloads are on: ``$VLMCAL_OFFLINE`` unset);
- ``"fallback"``: the run works, but not on real data: the demo world, random weights or
  synthetic logits. A parameter set that declares ``requires_real: true`` refuses it;
- ``"missing"``: the run would fail (or, for published logits offline, fall back): always refused.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from vlmcal_utils.paths import data_root, offline

__all__ = ["Need", "BLOCKING", "run_needs", "check", "merge_needs", "blocking", "format_needs"]

BLOCKING = ("missing",)
"""Statuses that stop every run; ``"fallback"`` also stops a set that requires real data."""
_DEMO_PREFIX = "vlmcal-demo"
# The chapters' own defaults where a set leaves a key out (their parameters cells: model
# "vlmcal-demo", the demo world's datasets, chapter 3's logits_dir "auto"); the runner passes
# every value, params files (paper_sets --check) only their sections.
_DEMO_DATASETS = ("demo-photo",)
_TUNED_OR_ZEROSHOT = ("02_", "04_", "05_")  # the chapters that take one model and its datasets
#: chapter 3's dataset names that stand for several test sets (study.tasks.dataset_specs)
_CH3_GROUPS = {"imagenet": ("imagenet", "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")}


@dataclass(frozen=True)
class Need:
    """One thing a run needs, and whether this machine has it.

    Parameters
    ----------
    kind : str
        ``"dataset"``, ``"weights"``, ``"gpu"`` or ``"published"`` (published model outputs).
    name : str
        What (``"imagenet-a"``, ``"ViT-B-16 openai"``, ``"cuda"``).
    status : str
        ``"ok"``, ``"download"``, ``"fallback"`` or ``"missing"`` (module docstring).
    detail : str
        Where it was looked for, where to get it, what the fallback is.
    users : tuple of str
        The notebooks (stems) that need it.
    query : tuple of str
        What :func:`check` looks up: a dataset's ``(data root or "", "paper" or "")``, weights'
        ``(arch, pretrained)``.
    """

    kind: str
    name: str
    status: str = "ok"
    detail: str = ""
    users: tuple[str, ...] = field(default=())
    query: tuple[str, ...] = field(default=())


# ------------------------------------------------------------------------------------ what a run needs
def _models(stem: str, values: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """``(arch, pretrained)`` of the run's models (chapter 3: its ``models`` list; chapter 1: none)."""
    if stem.startswith("03_"):
        return [(str(m[0]), m[1]) for m in values.get("models") or []]
    default = _DEMO_PREFIX if stem[:3] in _TUNED_OR_ZEROSHOT else None
    model = values.get("model", default)
    return [(str(model), values.get("pretrained"))] if model else []


def _datasets(stem: str, values: Mapping[str, Any]) -> list[str]:
    """The datasets a run loads images from (chapter 3: only where it runs models end to end)."""
    if stem.startswith("03_"):
        if not values.get("models") and not values.get("baselines"):
            return []
        names: list[str] = []
        for name in list(values.get("datasets") or []) + list(values.get("baseline_datasets") or []):
            names += _CH3_GROUPS.get(name, (name,))
        return list(dict.fromkeys(names))
    single = values.get("dataset")
    default = _DEMO_DATASETS if stem[:3] in _TUNED_OR_ZEROSHOT else ()
    return [single] if single else list(values.get("datasets") or default)


def _published_needed(stem: str, values: Mapping[str, Any]) -> bool:
    """Chapters whose defaults read published logits through the fetcher (1: ``logits_path`` None, 3: "auto")."""
    if stem.startswith("01_"):
        return values.get("logits_path") is None
    if stem.startswith("03_"):
        return values.get("logits_dir", "auto") == "auto"
    return stem.startswith("02_")


def run_needs(stem: str, values: Mapping[str, Any]) -> list[Need]:
    """What one notebook run needs, unchecked (status ``"ok"`` until :func:`check`).

    Parameters
    ----------
    stem : str
        The notebook (``"04_ctpt"``).
    values : mapping
        Every parameter of the run: the notebook's defaults updated with the set and the overrides.

    Returns
    -------
    list of Need
        Datasets (with the weights they are scored with, for the papers' split rule), weights,
        the GPU when ``device`` asks for CUDA, the published logits where the defaults read them.
    """
    needs = []
    models = _models(stem, values)
    real = any(p not in (None, "random") for _, p in models)
    root = values.get("data_root") or data_root()  # resolved now: $VLMCAL_DATA is read when the run is planned
    for name in _datasets(stem, values):
        # chapter 2 shows the demo world where the developers' shared images are absent
        falls_back = stem.startswith("02_") and str(name).endswith(("-shared", "-shared-761"))
        needs.append(Need("dataset", str(name), users=(stem,),
                          query=(str(root or ""), "paper" if real else "", "falls back" if falls_back else "")))
    for arch, pretrained in models:
        needs.append(Need("weights", f"{arch} {pretrained}", users=(stem,), query=(arch, str(pretrained or ""))))
    for name, pretrained in (values.get("baselines") or []) if stem.startswith("03_") else []:
        needs.append(Need("weights", f"{name} (timm) {pretrained}", users=(stem,),
                          query=(f"timm:{name}", str(pretrained))))
    if str(values.get("device", "auto")).startswith("cuda"):
        needs.append(Need("gpu", "cuda", users=(stem,)))
    if _published_needed(stem, values):
        needs.append(Need("published", "published logits", users=(stem,)))
    return needs


# ------------------------------------------------------------------------------------ looking for it
def _dataset_status(name: str, root: str, paper: bool) -> tuple[str, str]:
    if name.startswith("demo"):
        return "fallback", "the demo world (rendered shapes, not real images)"
    from vlmcal_utils.data import load_dataset  # torch and the loaders: only when something is checked

    try:
        ds = load_dataset(name, root=root, download=False, paper_protocol=paper)
    except FileNotFoundError as err:
        return ("download" if name.startswith("cifar") and not offline() else "missing"), str(err)
    except (ValueError, RuntimeError, OSError) as err:
        return "missing", f"{type(err).__name__}: {err}"
    return "ok", f"{len(ds)} test images ({getattr(ds, 'source', None) or name})"


def _hub_cached(repo: str, filenames: Sequence[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo, f), str) for f in filenames)


def _weights_status(arch: str, pretrained: str) -> tuple[str, str]:
    if pretrained == "random":
        return "fallback", "random weights (plumbing only: the numbers mean nothing)"
    if arch.startswith(_DEMO_PREFIX) and not pretrained:
        return "fallback", "the demo world's tiny CLIP (shipped weights; not CLIP's numbers)"
    if Path(pretrained).expanduser().suffix in (".safetensors", ".pt", ".bin", ".pth"):
        path = Path(pretrained).expanduser()
        return ("ok", str(path)) if path.is_file() else ("missing", f"no weights file {path}")
    if arch.startswith("timm:"):
        repo, files = f"timm/{arch[5:]}", ("model.safetensors", "pytorch_model.bin")
    else:
        import open_clip

        cfg = open_clip.get_pretrained_cfg(arch, pretrained)
        if not cfg:
            return "missing", f"open_clip has no weights {pretrained!r} for {arch!r} (open_clip.list_pretrained())"
        hub = str(cfg.get("hf_hub") or "").strip("/")
        if not hub:
            return ("missing" if offline() else "download"), f"from {cfg.get('url')} on first use"
        repo, files = hub, ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    if _hub_cached(repo, files):
        return "ok", f"Hugging Face cache ({repo})"
    if offline():
        return "missing", f"not in the Hugging Face cache ({repo}) and VLMCAL_OFFLINE=1: download it once online"
    return "download", f"from the Hugging Face hub ({repo}) on first use"


@functools.lru_cache(maxsize=None)
def _gpu_status() -> tuple[str, str]:
    import torch

    if torch.cuda.is_available():
        return "ok", torch.cuda.get_device_name(0)
    return "missing", ("no CUDA GPU here (torch.cuda.is_available() is False): run on a GPU machine, or "
                       "-p device auto to run on the CPU (see the cost estimate)")


def _published_status() -> tuple[str, str]:
    from vlmcal_utils.paths import shared_path

    folder = shared_path("data", "logits")
    if folder is not None:
        return "ok", "the shared copy ($VLMCAL_SHARED/data/logits)"
    if offline():
        return "fallback", ("no shared copy ($VLMCAL_SHARED unset) and VLMCAL_OFFLINE=1: files not in the cache "
                            "are replaced by the chapters' fallbacks (synthetic logits)")
    return "download", "from the research repositories at pinned commits, on first use (then cached)"


def _status(need: Need) -> tuple[str, str]:
    if need.kind == "dataset":
        status, detail = _dataset_status(need.name, need.query[0], bool(need.query[1]))
        if status == "missing" and need.query[2:] == ("falls back",):
            return "fallback", f"not here, so the notebook shows the demo world instead ({detail})"
        return status, detail
    if need.kind == "weights":
        return _weights_status(*need.query)
    if need.kind == "gpu":
        return _gpu_status()
    return _published_status()


def check(needs: Iterable[Need]) -> list[Need]:
    """Look for every need (no download, no model loaded); each comes back with its status and detail.

    Parameters
    ----------
    needs : iterable of Need
        From :func:`run_needs` (merged or not).

    Returns
    -------
    list of Need
        Same order.
    """
    out = []
    for need in needs:
        status, detail = _status(need)
        out.append(replace(need, status=status, detail=detail))
    return out


def merge_needs(needs: Iterable[Need]) -> list[Need]:
    """One need per ``(kind, name)``, its users joined (first-seen order)."""
    merged: dict[tuple[str, str], Need] = {}
    for need in needs:
        key = (need.kind, need.name)
        if key in merged:
            users = tuple(dict.fromkeys(merged[key].users + need.users))
            merged[key] = replace(merged[key], users=users)
        else:
            merged[key] = need
    return list(merged.values())


def blocking(needs: Iterable[Need], requires_real: bool | Iterable[str] = False) -> list[Need]:
    """The needs that stop a run: missing ones, and fallbacks where the set requires real data.

    Parameters
    ----------
    needs : iterable of Need
        Checked.
    requires_real : bool or iterable of str
        A set's ``requires_real``: ``True`` (every notebook) or the notebooks (stems) that must not fall back.

    Returns
    -------
    list of Need
    """
    strict = requires_real if isinstance(requires_real, bool) else set(requires_real)

    def refused(need: Need) -> bool:
        return need.status == "fallback" and (strict is True or bool(strict and set(need.users) & strict))

    return [n for n in needs if n.status in BLOCKING or refused(n)]


def format_needs(needs: Sequence[Need], sizes: Mapping[str, Any] | None = None) -> str:
    """One line per need: status, kind, name, the notebooks that need it, where it was looked for.

    Parameters
    ----------
    needs : sequence of Need
        Checked (:func:`check`).
    sizes : mapping, optional
        ``{dataset: object with .n}`` (:data:`vlmcal_utils.paper_sets.TEST_SIZES`): a dataset's line
        says its published number of test images.

    Returns
    -------
    str
    """
    lines = []
    for n in needs:
        size = getattr((sizes or {}).get(n.name), "n", None) if n.kind == "dataset" else None
        what = f"{n.name} ({size} test images)" if size else n.name
        users = ", ".join(u.split("_", 1)[0] for u in n.users)
        lines.append(f"  {n.status.upper():8s} {n.kind:9s} {what} [chapter {users}]: {n.detail}")
    return "\n".join(lines)
