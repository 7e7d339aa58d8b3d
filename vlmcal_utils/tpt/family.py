"""The test-time calibration family's hyper-parameters per dataset family, as data with sources.

C-TPT, O-TPT and A-TPT keep TPT's setting (64 views, 10 % confidence selection, one AdamW step
at lr 5e-3, no labels) and change only the regulariser (:mod:`vlmcal_utils.tpt.losses`). Their
weights differ by dataset family (:func:`vlmcal_utils.tpt.dataset_family`: ``"fine-grained"``,
ImageNet included, and ``"natural-shift"``). The values are those of the official scripts, as
they are; where a script and its paper or repository disagree, :data:`FAMILY_NOTES` says so.

Sources (repository@commit file:line, read from the repositories' current snapshots)
-----------------------------------------------------------------------------------
- C-TPT (``hee-suk-yoon/C-TPT@085e6c2e3d2da647ca42dcef163e0cbd4bf30a67``):
  ``scripts/test_tpt_ctpt_fg.sh:10`` ``lambda_term=50`` and ``scripts/test_tpt_ctpt_ds.sh:10``
  ``lambda_term=20`` (see :mod:`vlmcal_utils.tpt.protocol`).
- O-TPT (``ashshaksharifdeen/O-TPT@a09933f54d9da4cc2549a9b2d5a6ad4d183b51a1``):
  ``scripts/test_tpt_otpt_fg.sh:11`` ``lambda_term=18`` (no ``--I_augmix``, line 15) and
  ``scripts/test_tpt_otpt_ds.sh:11`` ``lambda_term=2`` (with ``--I_augmix``, line 15); both run
  ``otpt_classification.py``, whose regulariser (lines 225-288) is checked against ours in the
  tests (:func:`~vlmcal_utils.tpt.orthogonality`). An earlier note here said the fine-grained
  script and the Python code were missing: it was written from an incomplete copy; both have been
  in the repository since 2025-03-08 (commits ``a41fb7a``, ``0d409df``).
- A-TPT (``MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61692f1355b7e27e0ea5b54add279ffb67``):
  ``scripts/test_tpt_atpt_fg.sh:10-11`` ``lambda_term=80``, ``tau_term=0.99999`` (runs
  ``atpt_classification.py``) and ``scripts/test_tpt_atpt_ds.sh:10-11`` ``lambda_term=10``,
  ``tau_term=0.99999`` (runs ``tpt_classification.py``, with ``--I_augmix``); the scripts are
  unchanged since commit ``0881a7c``. The two Python files give the angular term opposite signs:
  :data:`FAMILY_NOTES` and :func:`~vlmcal_utils.tpt.min_angle`.
"""

from __future__ import annotations

from typing import Any

from vlmcal_utils.tpt.protocol import CTPT_LAMBDA, dataset_family

__all__ = ["FAMILY_METHODS", "FAMILY_HPARAMS", "FAMILY_SOURCES", "FAMILY_NOTES", "family_hparams"]

#: The methods of the family, in the order of the chapter's tables.
FAMILY_METHODS = ("zeroshot", "tpt", "ctpt", "otpt", "atpt")

#: ``method -> dataset family -> {TPTConfig field: value}`` (official scripts; a run's settings take
#: them through :meth:`vlmcal_utils.tpt.settings.RunSettings.protocol`).
FAMILY_HPARAMS: dict[str, dict[str, dict[str, float]]] = {
    "ctpt": {"fine-grained": {"lam": CTPT_LAMBDA["fine-grained"]},
             "natural-shift": {"lam": CTPT_LAMBDA["natural-shift"]}},
    "otpt": {"fine-grained": {"lam": 18.0}, "natural-shift": {"lam": 2.0}},
    "atpt": {"fine-grained": {"lam": 80.0, "tau": 0.99999}, "natural-shift": {"lam": 10.0, "tau": 0.99999}},
}

#: ``(method, family) -> "repository@commit file:line"`` for each entry of :data:`FAMILY_HPARAMS`.
FAMILY_SOURCES: dict[tuple[str, str], str] = {
    ("ctpt", "fine-grained"): "hee-suk-yoon/C-TPT@085e6c2 scripts/test_tpt_ctpt_fg.sh:10 (lambda_term=50)",
    ("ctpt", "natural-shift"): "hee-suk-yoon/C-TPT@085e6c2 scripts/test_tpt_ctpt_ds.sh:10 (lambda_term=20)",
    ("otpt", "fine-grained"): "ashshaksharifdeen/O-TPT@a09933f5 scripts/test_tpt_otpt_fg.sh:11 (lambda_term=18)",
    ("otpt", "natural-shift"): "ashshaksharifdeen/O-TPT@a09933f5 scripts/test_tpt_otpt_ds.sh:11 (lambda_term=2)",
    ("atpt", "fine-grained"): "MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61 scripts/test_tpt_atpt_fg.sh:10-11 "
                              "(lambda_term=80, tau_term=0.99999)",
    ("atpt", "natural-shift"): "MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61 scripts/test_tpt_atpt_ds.sh:10-11 "
                               "(lambda_term=10, tau_term=0.99999)",
}

#: Where the official scripts disagree with their code, README or each other (shown in chapter 5).
FAMILY_NOTES: tuple[str, ...] = (
    "O-TPT: both scripts run otpt_classification.py (ashshaksharifdeen/O-TPT@a09933f5); its regulariser, "
    "lines 225-288 (a Householder reflection of each row of the Gram matrix of the prompt's unit class "
    "features, clip/custom_clip_iptp_bas.py:323,341), equals our closed form mean_k(||G_k|| - 1) in value and "
    "gradient (tested on a literal transcription), except that the official one is NaN when a row is already "
    "orthogonal. The fine-grained script (scripts/test_tpt_otpt_fg.sh, lambda_term=18) keeps the author's "
    "absolute paths (under a home folder); the natural-shift one logs to "
    "'test_otpt_finegrained_image-disperssion-only.csv' and ran 'tpt_classification_idea-contrast.py', a file "
    "never in the repository, until commit 7f2c1d5 (2025-09-19).",
    "A-TPT: the two scripts give the angular term opposite signs (MB-Shihab-Aaqil-Ahamed/A-TPT@d76ecf61). "
    "Both compute m = mean_k(-acos(clamp(max_j cos(t_k, t_j)))), minus the mean nearest-neighbour angle. "
    "The natural-shift script runs tpt_classification.py:255, loss += lambda_ * m (m from "
    "clip/custom_clip.py:319-338): minimising it opens the angles, as the README says A-TPT does "
    "('maximizing the minimum pairwise angular distance'). The fine-grained script runs "
    "atpt_classification.py:269, loss += (-lambda_) * m: minimising it closes them. We follow the opening "
    "sign everywhere (atpt_regulariser = -lambda * min_angle): the README's stated method, and the sign "
    "atpt_classification.py itself had from commit 0009c735 to 8e8f0fd before commit 64afa8a flipped it.",
    "A-TPT: tau_term is passed by both scripts but only atpt_classification.py reads it (line 256); "
    "tpt_classification.py parses it (line 571) and clip/custom_clip.py:321 hard-codes tau_ = 0.99999, "
    "the scripts' value, so the two paths agree on tau.",
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
