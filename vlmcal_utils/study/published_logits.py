"""Study tasks on the published logits files (CIFAR-10, its translated class names, DermaMNIST).

Which files are used comes from the package's one registry of published files,
:func:`vlmcal_utils.data.published_entries`; the files are read from a folder such as
``$VLMCAL_SHARED/data/logits`` (missing ones are skipped). All CIFAR-10 tasks are scored on the
same images, CIFAR-10 test[5000:].
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from vlmcal_utils.data import load_logits, published_entries
from vlmcal_utils.study.grid import StudyTask

__all__ = ["LANGUAGES", "OFF_DOMAIN", "cifar10_entries", "study_vlms", "published_tasks", "published_pairs"]

#: The translated class-name variants of the CIFAR-10 VLM files (``logits_<language>`` arrays).
LANGUAGES = ("french", "chinese", "swahili")
_CIFAR_HALF = 5000
#: cleanlab's cross-validated probabilities are left out: that model was fitted on folds of the
#: CIFAR-10 test set itself, so its "test" predictions are not held out like the others'.
_EXCLUDED = frozenset({"cleanlab_cv_cifar10_test"})


def cifar10_entries() -> list:
    """The registry entries of the CIFAR-10 study: VLMs first, then the CNN baselines.

    Returns
    -------
    list of vlmcal_utils.data.PublishedLogits
        Registry order within each family; cleanlab's file is left out (see ``_EXCLUDED``).
    """
    return [e for family in ("vlm", "baseline") for e in published_entries(dataset="CIFAR-10", family=family)
            if e.name not in _EXCLUDED]


#: VLMs of the study that are off-domain on CIFAR-10, and why: said wherever they are counted.
OFF_DOMAIN = {"BiomedCLIP": "a biomedical VLM (trained on PubMed Central figure-caption pairs) on natural images, "
                            "off-domain on CIFAR-10"}


def study_vlms() -> list[str]:
    """The VLMs of the published-outputs study, by display name — the one list behind its tasks, pairs and text.

    The CIFAR-10 VLM entries of the registry (registry order). :func:`published_tasks` and
    :func:`published_pairs` take their VLMs from it, and a chapter's count of VLMs is computed from
    the models that the verdicts' points come from (:func:`vlmcal_utils.study.verdicts.verdict_models`),
    so text and data cannot disagree.

    Returns
    -------
    list of str
        E.g. ``["CLIP ViT-B/32", "SigLIP ViT-B/16", "SigLIP2 ViT-B/16", "BiomedCLIP"]``; see
        :data:`OFF_DOMAIN` for those that are off-domain on CIFAR-10.
    """
    return [e.model for e in cifar10_entries() if e.family == "vlm"]


def _dermamnist_entries() -> list:
    """DermaMNIST entries of the study's VLMs (:func:`study_vlms`), in that order.

    DermaMNIST is the same weights on another task, so a model without CIFAR-10 outputs is not part of the study.
    """
    order = {m: i for i, m in enumerate(study_vlms())}
    derma = [e for e in published_entries(dataset="DermaMNIST", family="vlm") if e.model in order]
    return sorted(derma, key=lambda e: order[e.model])


def _cifar10_splits(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"cal", "test", "cal_<language>", "test_<language>"...}`` of one CIFAR-10 file, tested on test[5000:].

    Calibration is the file's val split: test[:5000] for every file except DenseNet-40, whose val
    split is 5000 held-out *training* images (its file holds the full test set: [5000:] is taken).
    """
    f = load_logits(path)
    zt, yt = f.logits_test, f.labels_test
    if zt.shape[0] == 2 * _CIFAR_HALF:  # DenseNet-40: the full test set -> the common half
        zt, yt = zt[_CIFAR_HALF:], yt[_CIFAR_HALF:]
    if zt.shape[0] != _CIFAR_HALF:
        raise ValueError(f"{f.path.name}: expected {_CIFAR_HALF} or {2 * _CIFAR_HALF} test rows, got {zt.shape[0]}")
    out = {"cal": (f.logits_val, f.labels_val), "test": (zt, yt)}
    for lang in LANGUAGES:
        if f"logits_{lang}" in f.extra:
            # The language files cover all 10 000 images in order: the same halves apply.
            z = f.extra[f"logits_{lang}"].astype(np.float64)
            out[f"cal_{lang}"] = (z[:_CIFAR_HALF], f.extra["labels"][:_CIFAR_HALF].astype(np.int64))
            out[f"test_{lang}"] = (z[_CIFAR_HALF:], yt)
    return out


def published_tasks(logits_dir: str | os.PathLike, with_shifts: bool = True) -> list[StudyTask]:
    """Study tasks for the published CIFAR-10 files in ``logits_dir`` (missing files are skipped).

    Every task fits ``T`` on its own English calibration split and is scored on ``test``
    (CIFAR-10 test[5000:]); with ``with_shifts``, VLM tasks are also scored on ``test_<language>``
    (class names in another language: a *prompt* shift, same images) and on ``dermamnist`` (the
    same weights and template on DermaMNIST's test split: an *image* shift, 7 classes; ``T`` is a
    scalar so it transfers across K).

    Parameters
    ----------
    logits_dir : str or os.PathLike
        Folder of ``<name>.npz`` files.
    with_shifts : bool
        Add the shifted evaluation splits.

    Returns
    -------
    list of StudyTask
        One per file present, VLMs first; ``model`` is the registry's display name, ``source``
        the file name, dataset ``"CIFAR-10"``.
    """
    logits_dir = Path(logits_dir)
    derma = {e.model: e for e in _dermamnist_entries()}
    tasks = []
    for entry in cifar10_entries():
        if not (logits_dir / entry.filename).is_file():
            continue

        def load(entry=entry) -> dict[str, tuple[np.ndarray, np.ndarray]]:
            data = _cifar10_splits(logits_dir / entry.filename)
            out = {"cal": data["cal"], "test": data["test"]}
            if with_shifts:
                out.update({k: v for k, v in data.items() if k.startswith("test_")})
                shifted = derma.get(entry.model) if entry.family == "vlm" else None
                if shifted is not None and (logits_dir / shifted.filename).is_file():
                    d = load_logits(logits_dir / shifted.filename)
                    out["dermamnist"] = (d.logits_test, d.labels_test)
            return out

        tasks.append(StudyTask(entry.model, "CIFAR-10", load, source=entry.filename, family=entry.family))
    return tasks


def published_pairs(logits_dir: str | os.PathLike) -> list[dict]:
    """(model, dataset) pairs of published VLM logits for label-mismatched calibration.

    CIFAR-10 pairs (each class-name language is its own pair: the classifier differs) use
    test[:5000] / test[5000:]; DermaMNIST pairs use its train / test splits.

    Parameters
    ----------
    logits_dir : str or os.PathLike
        Folder of ``<name>.npz`` files (missing ones are skipped).

    Returns
    -------
    list of dict
        ``model, dataset, source, cal=(logits, labels), test=(logits, labels)`` each: per CIFAR-10
        VLM its English and translated pairs, then the DermaMNIST pairs.
    """
    logits_dir = Path(logits_dir)
    pairs = []
    for entry in cifar10_entries():
        if entry.family != "vlm" or not (logits_dir / entry.filename).is_file():
            continue
        data = _cifar10_splits(logits_dir / entry.filename)
        pairs.append(dict(model=entry.model, dataset="CIFAR-10", source=entry.filename,
                          cal=data["cal"], test=data["test"]))
        for lang in LANGUAGES:
            if f"cal_{lang}" in data:
                pairs.append(dict(model=entry.model, dataset=f"CIFAR-10 ({lang} names)",
                                  source=f"{entry.filename}:logits_{lang}",
                                  cal=data[f"cal_{lang}"], test=data[f"test_{lang}"]))
    for entry in _dermamnist_entries():
        if (logits_dir / entry.filename).is_file():
            d = load_logits(logits_dir / entry.filename)
            pairs.append(dict(model=entry.model, dataset="DermaMNIST", source=entry.filename,
                              cal=(d.logits_val, d.labels_val), test=(d.logits_test, d.labels_test)))
    return pairs
