"""Chapter 2's analyses of published zero-shot outputs: the logit scale and the class-name language.

Every number is scored with the one scoring record (:func:`vlmcal_utils.scores.score_logits`,
ECE with ``n_bins`` equal-width bins, fractions); these functions only arrange the records into
the chapter's tables and its ``published_clip_cifar10`` summary.

- :func:`scale_sweep` recomputes accuracy, ECE and mean confidence from the same cosine
  similarities for a range of logit scales (the decision never changes; the confidence does).
- :func:`published_summary` scores a published file at its own scale and after temperature
  scaling.
- :func:`published_language_logits` and :func:`language_table` read the class-name language
  variants of the published CLIP/SigLIP CIFAR-10 files (English, then
  :data:`~vlmcal_utils.data.converters.CREDAL_LANGUAGES`) and score each.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd
import torch

from vlmcal_utils.data.converters import CREDAL_LANGUAGES
from vlmcal_utils.data.logits import LogitsFile
from vlmcal_utils.scores import Scores, score_logits
from vlmcal_utils.temperature import fit_temperature

__all__ = ["scale_sweep", "published_language_logits", "language_table", "published_summary"]


def scale_sweep(
    similarities: np.ndarray | torch.Tensor,
    labels: np.ndarray | torch.Tensor,
    scales: Iterable[float],
    n_bins: int = 15,
) -> pd.DataFrame:
    """Accuracy, ECE and mean confidence of ``softmax(s · similarities)`` for every scale ``s``.

    Replacing the model's scale ``s`` by ``s'`` is temperature scaling with ``T = s / s'``: the
    argmax (and so the accuracy) is the same for every ``s > 0``; only the confidence moves.

    Parameters
    ----------
    similarities : numpy.ndarray or torch.Tensor
        ``(N, K)`` cosine similarities (logits divided by the model's logit scale).
    labels : numpy.ndarray or torch.Tensor
        ``(N,)`` integer class indices in ``[0, K)``.
    scales : iterable of float
        Logit scales to try, each ``> 0``.
    n_bins : int
        Equal-width bins of the ECE.

    Returns
    -------
    pandas.DataFrame
        One row per scale, in the order given: ``scale``, ``accuracy``, ``ECE``,
        ``mean confidence`` (fractions in ``[0, 1]``; the chapter's figure labels).
    """
    sims = np.asarray(torch.as_tensor(similarities).detach().cpu().double().numpy())
    y = np.asarray(torch.as_tensor(labels).cpu().numpy())
    if sims.ndim != 2 or y.shape != (sims.shape[0],):
        raise ValueError(f"need similarities (N, K) and labels (N,); got {sims.shape} and {y.shape}")
    scales = [float(s) for s in scales]
    if not scales or min(scales) <= 0:
        raise ValueError(f"scales must be a non-empty list of positive numbers, got {scales!r}")
    rows = []
    for s in scales:
        rec = score_logits(s * sims, y, bins=n_bins, estimators=False)
        rows.append({"scale": s, "accuracy": rec.accuracy, "ECE": rec.primary_ece,
                     "mean confidence": rec.mean_confidence})
    return pd.DataFrame(rows)


def published_language_logits(pub: LogitsFile) -> dict[str, tuple[np.ndarray, np.ndarray, list[str]]]:
    """The class-name language variants of a published zero-shot CIFAR-10 file.

    The credal CIFAR-10 files (``clip_vitb32_cifar10_zeroshot`` and the SigLIPs) hold the logits
    of all test images with English class names (``logits``, ``labels``, ``classnames``) and, per
    language of :data:`~vlmcal_utils.data.converters.CREDAL_LANGUAGES`, the same images scored
    with translated class names (``logits_<language>``, ``classnames_<language>``); the prompt
    template stays English.

    Parameters
    ----------
    pub : LogitsFile
        From :func:`~vlmcal_utils.data.logits.load_logits`.

    Returns
    -------
    dict
        ``language -> (logits (N, K) float64, labels (N,) int64, class names)``, English first,
        then the languages the file has, in source order. Empty when the file has no full-set
        ``logits``/``labels`` arrays (any other logits file).
    """
    extra = pub.extra
    if "logits" not in extra or "labels" not in extra:
        return {}
    labels = np.asarray(extra["labels"], dtype=np.int64)
    out = {"english": (np.asarray(extra["logits"], dtype=np.float64), labels,
                       [str(c) for c in extra.get("classnames", pub.classnames or [])])}
    for lang in CREDAL_LANGUAGES:
        if f"logits_{lang}" in extra:
            names = [str(c) for c in extra.get(f"classnames_{lang}", [])]
            out[lang] = (np.asarray(extra[f"logits_{lang}"], dtype=np.float64), labels, names)
    return out


def language_table(
    variants: dict[str, tuple[np.ndarray, np.ndarray, list[str]]],
    n_bins: int = 15,
    n_boot: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """Accuracy, ECE (with a bootstrap 95 % interval) and mean confidence per class-name language.

    Parameters
    ----------
    variants : dict
        :func:`published_language_logits` output.
    n_bins : int
        Equal-width bins of the ECE.
    n_boot : int
        Bootstrap replicates of the ECE interval (the record's ``ece_interval``; at least 1).
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``language``; columns ``class names`` (joined with ", "), ``n images``,
        ``accuracy``, ``ECE``, ``ECE 95% CI`` (a ``(low, high)`` tuple), ``mean confidence``,
        ``distinct names`` (how many of the K class names differ: a translation may give two
        classes one word).
    """
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1 (the table shows the ECE's interval), got {n_boot!r}")
    rows = []
    for lang, (logits, labels, names) in variants.items():
        rec = score_logits(logits, labels, bins=n_bins, n_boot=n_boot, seed=seed, estimators=False)
        rows.append({"language": lang, "class names": ", ".join(names), "n images": rec.n,
                     "accuracy": rec.accuracy, "ECE": rec.primary_ece, "ECE 95% CI": rec.ece_interval,
                     "mean confidence": rec.mean_confidence, "distinct names": len(set(names))})
    if not rows:
        raise ValueError("no language variants: is this a credal CIFAR-10 file (published_language_logits)?")
    return pd.DataFrame(rows).set_index("language")


def _all_images(pub: LogitsFile) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (N, K), labels (N,))`` of every image: the full arrays where the file has them, else val + test."""
    if "logits" in pub.extra and "labels" in pub.extra:
        return np.asarray(pub.extra["logits"], float), np.asarray(pub.extra["labels"])
    return (np.concatenate([pub.logits_val, pub.logits_test]),
            np.concatenate([pub.labels_val, pub.labels_test]))


def _mean_confidence_of(logits: np.ndarray, labels: np.ndarray, rows: np.ndarray, n_bins: int) -> float | None:
    """Mean confidence of the record of the selected rows; ``None`` when none is selected."""
    if not rows.any():
        return None
    return score_logits(logits[rows], labels[rows], bins=n_bins, estimators=False).mean_confidence


def published_summary(pub: LogitsFile, sweep: pd.DataFrame | None = None, scale: float = 100.0,
                      n_bins: int = 15) -> dict:
    """Accuracy, confidence and ECE of a published zero-shot logits file, before and after TS.

    Two protocols, both on the file's own splits: *descriptive* numbers on all images (the full
    ``logits``/``labels`` arrays where the file has them, else val + test), and temperature
    scaling fitted by NLL on ``val`` and scored on ``test`` (held out, so the ECE after TS is
    not flattered by fitting on the images it is measured on). Each number comes from a
    :class:`~vlmcal_utils.scores.Scores` record (:func:`~vlmcal_utils.scores.score_logits`).

    Parameters
    ----------
    pub : LogitsFile
        From :func:`~vlmcal_utils.data.logits.load_logits`.
    sweep : pandas.DataFrame, optional
        :func:`scale_sweep` of the file's similarities (``logits / scale``) on all images; gives
        ``scale_with_lowest_ece`` and ``lowest_ece`` (``None`` without it).
    scale : float
        The logit scale the file's logits already include (100 for OpenAI's CLIP).
    n_bins : int
        Equal-width bins of the ECE.

    Returns
    -------
    dict
        ``source``, ``temperature`` (T on val), ``best_scale`` (``scale / T``), ``accuracy_test``,
        ``ece_test_at_100`` (test ECE at the file's scale), ``ece_test_at_best`` (after TS),
        ``n_images_all``, ``accuracy_all``, ``ece_all``, ``mean_confidence_all``,
        ``mean_confidence_correct``, ``mean_confidence_wrong``, ``scale_with_lowest_ece``,
        ``lowest_ece`` — the keys of chapter 2's ``published_clip_cifar10`` results block.
    """
    logits_all, labels_all = _all_images(pub)
    t = float(fit_temperature(pub.logits_val, pub.labels_val))
    test: Scores = score_logits(pub.logits_test, pub.labels_test, bins=n_bins, estimators=False)
    test_ts: Scores = score_logits(pub.logits_test, pub.labels_test, temperature=t, bins=n_bins, estimators=False)
    every: Scores = score_logits(logits_all, labels_all, bins=n_bins, estimators=False)
    correct = np.asarray(logits_all).argmax(axis=1) == labels_all
    best = None if sweep is None else sweep.loc[sweep["ECE"].idxmin()]
    return {
        "source": pub.describe(), "temperature": t, "best_scale": float(scale / t),
        "accuracy_test": test.accuracy, "ece_test_at_100": test.primary_ece, "ece_test_at_best": test_ts.primary_ece,
        "n_images_all": every.n, "accuracy_all": every.accuracy, "ece_all": every.primary_ece,
        "mean_confidence_all": every.mean_confidence,
        "mean_confidence_correct": _mean_confidence_of(logits_all, labels_all, correct, n_bins),
        "mean_confidence_wrong": _mean_confidence_of(logits_all, labels_all, ~correct, n_bins),
        "scale_with_lowest_ece": None if best is None else float(best["scale"]),
        "lowest_ece": None if best is None else float(best["ECE"]),
    }
