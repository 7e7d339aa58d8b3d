"""Measure the demo models: zero-shot accuracy and calibration per domain and class set.

Protocol (what ``metrics.json`` and the model card report):

- Prompt ``"a photo of a {}."`` for every class, in every domain; the classifier and the logits
  are the zero-shot method's own (:func:`vlmcal_utils.zeroshot.build_classifier`,
  :func:`vlmcal_utils.zeroshot.zeroshot_logits`: ``logit_scale * cos(image, text)`` as in CLIP).
- Per domain and class set (``seen``: 24 classes seen in training; ``heldout``: the 12 classes
  never seen; ``all``: all 36, the "generalised" zero-shot case), ``n_test`` test images
  (``split="test"``, ``seed=0``), classified among that set's classes.
- Scores: the one scoring record (:func:`vlmcal_utils.scores.score_logits`; ECE with 15
  equal-width bins). Temperature scaling: one ``T`` per model fitted by NLL
  (:func:`vlmcal_utils.temperature.fit_temperature`) on ``n_val`` ``photo``/``all`` validation
  images and applied to every cell, so the shift domains show how a temperature fitted in-domain
  transfers.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from vlmcal_utils.demo.model import DEMO_MODEL_NAMES, WEIGHTS_DIR, demo_preprocess, load_demo_model
from vlmcal_utils.demo.world import CLASS_SETS, CLASSNAMES, DEMO_DOMAINS, class_ids, make_demo_dataset
from vlmcal_utils.scores import score_logits
from vlmcal_utils.storage import atomic_write_text
from vlmcal_utils.temperature import fit_temperature
from vlmcal_utils.zeroshot import build_classifier, logit_scale, zeroshot_logits

__all__ = ["PROMPT", "ECE_BINS", "render_tensors", "encode_images", "demo_classifier", "evaluate_model",
           "evaluate_all", "metrics_table"]

PROMPT = "a photo of a {}."
ECE_BINS = 15


def render_tensors(domain: str, split: str, classes: str, n: int, seed: int = 0):
    """``(images (n, 3, 32, 32), labels (n,), classnames)`` through the eval transform."""
    ds = make_demo_dataset(domain, split, n=n, seed=seed, classes=classes, transform=demo_preprocess())
    images = torch.stack([ds[i][0] for i in range(len(ds))])
    return images, torch.as_tensor(ds.targets), ds.classnames


@torch.no_grad()
def encode_images(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Raw image features ``(N, D)`` of pre-rendered ``(N, 3, H, W)`` images, in batches.

    Not cached (unlike :func:`vlmcal_utils.features.extract_features`): the demo world renders and
    encodes its images in seconds.
    """
    return torch.cat([model.encode_image(images[i:i + batch_size]).float()
                      for i in range(0, len(images), batch_size)])


def demo_classifier(model: torch.nn.Module, tokenizer: Callable, classnames: Sequence[str]) -> torch.Tensor:
    """The ``(K, D)`` zero-shot classifier of the evaluation's one prompt (:data:`PROMPT`)."""
    return build_classifier(model, tokenizer, classnames, templates=(PROMPT,), progress=False)


def _cell(domain: str, classes: str, tensors: tuple, features: torch.Tensor, classify: Callable,
          among_all: torch.Tensor, scale: torch.Tensor, temperature: float) -> dict[str, Any]:
    """One (domain, class set) cell of ``metrics.json`` from the scoring records of its logits."""
    _, y, names = tensors
    y = y.numpy()
    z = zeroshot_logits(features, classify(names), scale).numpy()
    before = score_logits(z, y, bins=ECE_BINS, estimators=False)
    after = score_logits(z, y, temperature=temperature, bins=ECE_BINS, estimators=False)
    # The same images classified among all 36 classes (labels mapped into CLASSNAMES): the
    # fair comparison of seen vs held-out, since their own class sets differ in size (24 / 12).
    z_all = zeroshot_logits(features, among_all, scale).numpy()
    wide = score_logits(z_all, np.asarray(class_ids(classes))[y], bins=ECE_BINS, estimators=False)
    return {
        "domain": domain, "classes": classes, "n_classes": len(names), "n": before.n,
        "accuracy": before.accuracy, "chance": 1.0 / len(names), "accuracy_among_all": wide.accuracy,
        "mean_confidence": before.mean_confidence, "ece": before.primary_ece, "ece_ts": after.primary_ece,
    }


def evaluate_model(name: str, data: dict, val: tuple, weights: str | Path | None = None) -> dict[str, Any]:
    """Metrics of one model on pre-rendered ``data[(domain, classes)]`` and ``val`` tensors."""
    model, _, tokenizer = load_demo_model(name, weights=weights)
    scale = logit_scale(model)

    def classify(names: Sequence[str]) -> torch.Tensor:
        return demo_classifier(model, tokenizer, names)

    zv = zeroshot_logits(encode_images(model, val[0]), classify(val[2]), scale)
    T = float(fit_temperature(zv.numpy(), val[1].numpy()))
    among_all = classify(CLASSNAMES)
    cells = [_cell(domain, classes, tensors, encode_images(model, tensors[0]), classify, among_all, scale, T)
             for (domain, classes), tensors in data.items()]
    return {"model": name, "n_params": sum(p.numel() for p in model.parameters()),
            "logit_scale": float(scale), "temperature": T, "cells": cells}


def evaluate_all(models: Sequence[str] = DEMO_MODEL_NAMES, n_test: int = 600, n_val: int = 1000,
                 out: str | Path | None = WEIGHTS_DIR / "metrics.json") -> dict[str, Any]:
    """Evaluate ``models`` (shipped weights) and write ``metrics.json`` (atomically) if ``out``."""
    torch.set_num_threads(1)
    t0 = time.time()
    data = {(d, c): render_tensors(d, "test", c, n_test) for d in DEMO_DOMAINS for c in CLASS_SETS}
    val = render_tensors("photo", "val", "all", n_val)
    result: dict[str, Any] = {
        "protocol": {"prompt": PROMPT, "n_test": n_test, "n_val": n_val, "seed": 0,
                     "ece_bins": ECE_BINS, "ts_fit_on": "photo / val / all classes"},
        "models": {},
    }
    for name in models:
        result["models"][name] = evaluate_model(name, data, val)
    train_records = {}
    for name in models:
        rec = Path(WEIGHTS_DIR) / f"{name}.train.json"
        if rec.is_file():
            r = json.loads(rec.read_text())
            train_records[name] = {k: r[k] for k in ("config", "train_seconds", "render_seconds",
                                                     "loss_fixed_before", "loss_fixed_after")}
    result["training"] = train_records
    result["eval_seconds"] = round(time.time() - t0, 1)
    if out is not None:
        # owner-only by default (atomic write); the default file ships in the package, so world-readable
        os.chmod(atomic_write_text(out, json.dumps(result, indent=1)), 0o644)
    return result


def metrics_table(metrics: dict[str, Any], domains: Sequence[str] = DEMO_DOMAINS) -> str:
    """Markdown table: per model and domain, accuracy (seen / held-out / all) and ECE before/after TS."""
    lines = [
        "| model | domain | acc. seen (among 24) | acc. held-out (among 12) | seen / held-out images among all 36 "
        "| acc. all (36) | ECE all | ECE all after TS | T |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in metrics["models"].items():
        cells = {(c["domain"], c["classes"]): c for c in m["cells"]}
        for d in domains:
            s, h, a = cells[(d, "seen")], cells[(d, "heldout")], cells[(d, "all")]
            lines.append(
                f"| `{name}` | {d} | {s['accuracy']:.3f} | {h['accuracy']:.3f} "
                f"| {s['accuracy_among_all']:.3f} / {h['accuracy_among_all']:.3f} | {a['accuracy']:.3f} "
                f"| {a['ece']:.3f} | {a['ece_ts']:.3f} | {m['temperature']:.2f} |"
            )
    return "\n".join(lines)
