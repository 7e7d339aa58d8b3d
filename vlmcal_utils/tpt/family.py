"""The test-time calibration family's hyper-parameters per dataset family, as data with sources.

C-TPT, O-TPT and A-TPT keep TPT's setting (64 views, 10 % confidence selection, one AdamW step
at lr 5e-3, no labels) and change only the regulariser (:mod:`vlmcal_utils.tpt.losses`). Their
weights differ by dataset family (:func:`vlmcal_utils.tpt.dataset_family`: ``"fine-grained"``,
ImageNet included, and ``"natural-shift"``). The values are those of the official scripts, as
they are; where a script and its paper or repository disagree, :data:`FAMILY_NOTES` says so.

Sources (commit as stored; file; line)
--------------------------------------
- C-TPT (``hee-suk-yoon/C-TPT``): ``scripts/test_tpt_ctpt_fg.sh`` ``lambda_term=50``,
  ``scripts/test_tpt_ctpt_ds.sh`` ``lambda_term=20`` (see :mod:`vlmcal_utils.tpt.protocol`).
- O-TPT (``ashshaksharifdeen/O-TPT``): ``scripts/test_tpt_otpt_ds.sh`` at commit
  ``0d409dfcd3e039ef3f027800016833d61d935db4``, line 11: ``lambda_term=2`` (with ``--I_augmix``).
  The fine-grained script ``scripts/test_tpt_otpt_fg.sh`` that the README names is not in the
  stored repository; ``lambda_term=18`` (line 11, no ``--I_augmix``) is read from a copy of it whose
  paths are the author's (``/home/ashashak/VLM-calibration/...``), repository not identified.
- A-TPT (``MB-Shihab-Aaqil-Ahamed/A-TPT``): ``scripts/test_tpt_atpt_fg.sh`` and
  ``scripts/test_tpt_atpt_ds.sh`` at commit ``0881a7c8222de038003b7a4173a416081be7c353``,
  lines 10-11: ``lambda_term=80``, ``tau_term=0.99999`` (fine-grained) and ``lambda_term=10``,
  ``tau_term=0.99999`` (natural shifts, with ``--I_augmix``).
"""

from __future__ import annotations

from typing import Any

from vlmcal_utils.tpt.protocol import CTPT_LAMBDA, dataset_family

__all__ = ["FAMILY_METHODS", "FAMILY_HPARAMS", "FAMILY_SOURCES", "FAMILY_NOTES", "family_hparams"]

#: The methods of the family, in the order of the chapter's tables.
FAMILY_METHODS = ("zeroshot", "tpt", "ctpt", "otpt", "atpt")

#: ``method -> dataset family -> {TPTConfig field: value}`` (official scripts; a run's settings take
#: them through :meth:`vlmcal_utils.tpt.RunSettings.protocol`).
FAMILY_HPARAMS: dict[str, dict[str, dict[str, float]]] = {
    "ctpt": {"fine-grained": {"lam": CTPT_LAMBDA["fine-grained"]},
             "natural-shift": {"lam": CTPT_LAMBDA["natural-shift"]}},
    "otpt": {"fine-grained": {"lam": 18.0}, "natural-shift": {"lam": 2.0}},
    "atpt": {"fine-grained": {"lam": 80.0, "tau": 0.99999}, "natural-shift": {"lam": 10.0, "tau": 0.99999}},
}

#: ``(method, family) -> "repository@commit file:line"`` for each entry of :data:`FAMILY_HPARAMS`.
FAMILY_SOURCES: dict[tuple[str, str], str] = {
    ("ctpt", "fine-grained"): "hee-suk-yoon/C-TPT scripts/test_tpt_ctpt_fg.sh (lambda_term=50)",
    ("ctpt", "natural-shift"): "hee-suk-yoon/C-TPT scripts/test_tpt_ctpt_ds.sh (lambda_term=20)",
    ("otpt", "fine-grained"): "copy of O-TPT scripts/test_tpt_otpt_fg.sh (author's paths; not in the stored "
                              "ashshaksharifdeen/O-TPT), line 11",
    ("otpt", "natural-shift"): "ashshaksharifdeen/O-TPT@0d409dfcd3e039ef3f027800016833d61d935db4 "
                               "scripts/test_tpt_otpt_ds.sh:11",
    ("atpt", "fine-grained"): "MB-Shihab-Aaqil-Ahamed/A-TPT@0881a7c8222de038003b7a4173a416081be7c353 "
                              "scripts/test_tpt_atpt_fg.sh:10-11",
    ("atpt", "natural-shift"): "MB-Shihab-Aaqil-Ahamed/A-TPT@0881a7c8222de038003b7a4173a416081be7c353 "
                               "scripts/test_tpt_atpt_ds.sh:10-11",
}

#: Where the official scripts disagree with their code, README or each other (shown in chapter 5).
FAMILY_NOTES: tuple[str, ...] = (
    "O-TPT: the natural-shift script (lambda_term=2) logs to 'test_otpt_finegrained_image-disperssion-only.csv' "
    "and runs 'tpt_classification_idea-contrast.py', a file not in the stored repository.",
    "O-TPT: the fine-grained script the README names (scripts/test_tpt_otpt_fg.sh) is not in the stored "
    "repository; lambda_term=18 comes from a copy with the author's paths.",
    "A-TPT: the natural-shift script runs tpt_classification.py, whose A-TPT term is computed inside "
    "clip/custom_clip.py (model.ang_norm_mean_training), not the expression of atpt_classification.py that the "
    "fine-grained script runs; tau_term is passed to both.",
    "A-TPT and O-TPT, like C-TPT: AugMix on the natural shifts (--I_augmix) but not on ImageNet; chapter 4's "
    "rule (tpt.uses_augmix) is kept for every method so that the methods differ only in the regulariser.",
)


def family_hparams(method: str, dataset: str) -> dict[str, Any]:
    """The official ``lam`` (and A-TPT's ``tau``) of ``method`` on ``dataset``.

    Parameters
    ----------
    method : str
        One of :data:`FAMILY_METHODS`; ``"zeroshot"`` and ``"tpt"`` have none (``{}``).
    dataset : str
        A dataset name (its family by :func:`~vlmcal_utils.tpt.dataset_family`).

    Returns
    -------
    dict
        ``TPTConfig`` field -> value.
    """
    if method not in FAMILY_METHODS and method != "tpt+ts":
        raise ValueError(f"unknown method {method!r}; choose one of {FAMILY_METHODS}")
    return dict(FAMILY_HPARAMS.get(method, {}).get(dataset_family(dataset), {}))
