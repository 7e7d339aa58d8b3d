"""Before and after a notebook run: a CPU run's expected time, and what the run's numbers come from.

:func:`cpu_time_notes` reads the CPU cost card (``benchmarks/results/*.json``, written by
``benchmarks/cost_card.py``) and announces a prompt-tuning run that it puts over
:data:`CPU_WARN_S` before it starts; :func:`provenance` reads a finished run's ``results.json``
and says in words what its numbers come from (real published outputs, a real model, the demo
world, synthetic logits, random weights), for the runner's closing line
(:mod:`vlmcal_book.reproduce`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

__all__ = ["CPU_WARN_S", "cpu_time_notes", "provenance", "read_provenance"]

RESULTS_FILENAME = "results.json"
"""The notebook's results file: :data:`vlmcal_utils.results.RESULTS_FILENAME` (imported from there it
would cost the runner's ``--help`` torch and pandas; a test keeps the two equal)."""


CPU_WARN_S = 600.0
"""A CPU run that the CPU cost card says takes longer than this is announced before it starts."""
_TUNED = {"04_ctpt": ("tpt", "ctpt"), "05_after_ctpt": ("tpt", "ctpt", "otpt", "atpt")}


def cpu_time_notes(notebook: Path, values: Mapping[str, Any], cards: Path | None = None) -> list[str]:
    """A line for a prompt-tuning run on the CPU that the CPU cost card says takes over ``CPU_WARN_S``.

    Parameters
    ----------
    notebook : pathlib.Path
        Chapter 4 or 5 (others tune nothing: no line).
    values : mapping
        Every parameter of the run.
    cards : pathlib.Path, optional
        The cost cards' folder (default ``benchmarks/results`` of the clone).

    Returns
    -------
    list of str
        Empty where the run is on a GPU, the card has no figure for its model, or it is short.
    """
    methods = _TUNED.get(notebook.stem)
    if methods is None or str(values.get("device", "auto")).startswith("cuda"):
        return []
    per_image, card = _cpu_seconds_per_image(str(values.get("model")), cards or _REPO / "benchmarks" / "results")
    if per_image is None or _has_gpu():  # the card first: a demo run never imports torch here
        return []
    from vlmcal_utils.paper_sets import TEST_SIZES  # no torch: its grids' imports are lazy

    n = values.get("n_samples")
    images = sum(n if n is not None else (getattr(TEST_SIZES.get(d), "n", None) or 0)
                 for d in values.get("datasets") or [])
    used = [m for m in values.get("methods", methods) if m in methods]
    seconds = images * len(values.get("inits") or ["hard"]) * len(used) * per_image
    if seconds <= CPU_WARN_S:
        return []
    return [f"reproduce: {notebook.name} on the CPU: about {seconds / 3600:.1f} h of prompt tuning by the CPU cost "
            f"card {card} ({images} images x {len(values.get('inits') or ['hard'])} inits x {len(used)} methods x "
            f"{per_image:.1f} s/image); a GPU run is far shorter"]


_REPO = Path(__file__).resolve().parents[1]


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def _cpu_seconds_per_image(model: str, folder: Path) -> tuple[float | None, str]:
    """The CPU card's tuning seconds per image of ``model`` (library default mode, most classes)."""
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            card = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if not isinstance(card, dict) or (card.get("device") or {}).get("type") != "cpu":
            continue
        rows = [r for r in card.get("tuning", []) if r.get("arch") == model and r.get("mode") == "default"]
        if rows:
            return float(max(rows, key=lambda r: r.get("classes", 0))["seconds_per_image"]), path.name
    return None, ""


def provenance(stem: str, results: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> str:
    """What a run's numbers come from, in words, read from its ``results.json``'s ``results``.

    Parameters
    ----------
    stem : str
        The notebook.
    results : mapping
        The chapter's results (its schema's keys: ``is_real``, ``is_demo``, ``demo``, ...).
    params : mapping, optional
        The parameters recorded with them (``pretrained`` for chapters 4 and 5).

    Returns
    -------
    str
        e.g. ``"real published outputs (markus93_densenet40_cifar10.npz)"``, ``"SYNTHETIC logits"``,
        ``"the DEMO WORLD (vlmcal-demo)"``, ``"RANDOM WEIGHTS (ViT-B-32)"``, ``"a real model (ViT-B-16 openai)"``;
        what is not real data is in capitals.
    """
    params = params or {}
    if stem.startswith("01_"):
        return (f"real published outputs ({results.get('source')})" if results.get("is_real")
                else "SYNTHETIC logits (no published logits found)")
    if stem.startswith("02_"):
        return _provenance_ch2(results)
    if stem.startswith("03_"):
        parts = [("real published outputs", results.get("published")), ("the DEMO WORLD", results.get("demo")),
                 ("RANDOM WEIGHTS" if (results.get("models") or {}).get("random_weights") else "real models",
                  results.get("models"))]
        return " + ".join(label for label, block in parts if block) or "nothing (every study was skipped)"
    if "demo" in results:
        from vlmcal_utils.models import weights_provenance  # torch: only for the runs that load a model

        pretrained = results.get("pretrained") or params.get("pretrained")
        model = f"{results.get('model')} {pretrained or ''}".strip()
        kind = "demo world" if results.get("demo") else weights_provenance(str(results.get("model")), pretrained)
        return f"{_KIND_LABELS[kind]} ({model})"
    return "not recorded in its results"


# models.weights_provenance's kinds as the closing line writes them (what is not real in capitals)
_KIND_LABELS = {"demo world": "the DEMO WORLD", "random weights": "RANDOM WEIGHTS", "real model": "a real model"}


def _provenance_ch2(results: Mapping[str, Any]) -> str:
    model, dataset = results.get("model"), results.get("dataset")
    if results.get("is_random_weights"):
        label = f"RANDOM WEIGHTS ({model} on {dataset})"
    elif results.get("is_demo"):
        label = f"the DEMO WORLD ({model} on {dataset})"
    else:
        label = f"a real model ({model} on {dataset})"
    if results.get("requested_dataset") not in (None, dataset):
        label += f", FELL BACK from {results.get('requested_dataset')}"
    if results.get("published_clip_cifar10"):
        label += " + real published outputs (CLIP CIFAR-10 logits)"
    return label


def read_provenance(out_dir: Path) -> str:
    """:func:`provenance` of the ``results.json`` in a run's folder."""
    payload = json.loads((out_dir / RESULTS_FILENAME).read_text())
    return provenance(str(payload.get("notebook") or out_dir.name), payload.get("results") or {},
                      payload.get("params") or {})
