"""Test-time prompt tuning: TPT (Shu et al., 2022) and C-TPT (Yoon et al., 2024) for open_clip CLIPs.

Per test image: make 64 views (:mod:`~vlmcal_utils.tpt.views`), tune a fresh learnable context
in front of the class names (:mod:`~vlmcal_utils.tpt.prompts`) by one AdamW step on the entropy
of the average prediction over the most confident views, plus a calibration regulariser on the
class features — C-TPT's ``-λ·ATFD``, O-TPT's orthogonality penalty or A-TPT's minimum angle
(:mod:`~vlmcal_utils.tpt.losses`, :mod:`~vlmcal_utils.tpt.tuning`), then classify the original
view with the tuned prompt. The text tower runs exactly as ``open_clip.CLIP.encode_text``, with
exact speed-ups (:mod:`~vlmcal_utils.tpt.text`). :func:`run_tpt` does a whole dataset,
resumably (:mod:`~vlmcal_utils.tpt.runner`); :mod:`~vlmcal_utils.tpt.protocol` holds the
papers' per-dataset settings; :mod:`~vlmcal_utils.tpt.family` the family's λ/τ per dataset
family. The papers' published numbers are in :mod:`vlmcal_utils.papers` (``papers.ctpt``,
``papers.family``).

Modules
-------
- ``prompts``: :class:`PromptLearner`, :class:`PromptEnsemble`, template sets, model check.
- ``text``: the prefix-sharing / truncated text kernel (:func:`encode_prompts`, :func:`text_features`).
- ``losses``: :func:`atfd`, :func:`orthogonality`, :func:`min_angle`, :func:`entropy`,
  :func:`avg_entropy`, :func:`select_confident`, the pluggable regularisers (:data:`REGULARISERS`).
- ``views``: :func:`preprocess_config`, :func:`make_views` (crops, flips, TPT's AugMix).
- ``tuning``: :class:`TPTConfig`, :func:`tpt_predict`, :func:`official_temperature`.
- ``runner``: :func:`run_tpt`, :func:`read_tpt_rows`, :func:`summarise` (the scoring record).
- ``settings``: :class:`RunSettings`, a run's one configuration (the papers' rules as its defaults:
  :meth:`~vlmcal_utils.tpt.settings.RunSettings.protocol`,
  :meth:`~vlmcal_utils.tpt.settings.RunSettings.from_params`), :func:`init_context`.
- ``family``: :data:`FAMILY_METHODS`, :data:`FAMILY_HPARAMS`, :func:`family_hparams`.
- ``protocol``: :func:`ctpt_lambda`, :func:`uses_augmix`, :data:`ECE_BINS`, :func:`run_file_name`.
- ``diagnostics``: :func:`step_diagnostics`, :func:`step_report`, :func:`describe_step` (how far one
  step moves the prompt and the logits), :func:`prediction_changes`.

Shapes: ``K`` classes, ``V`` views, ``E`` joint embedding width, ``D`` text width, ``n`` context
tokens, ``B`` images tuned together. Contexts are ``(n, D)`` or ``(B, n, D)``; class features
``(K, E)`` or ``(B, K, E)``; logits ``(V, K)`` or ``(B, V, K)``.
"""

from vlmcal_utils.tpt.diagnostics import (
    STEP_FIELDS,
    describe_step,
    embedding_spread,
    prediction_changes,
    step_diagnostics,
    step_report,
    step_table,
)
from vlmcal_utils.tpt.family import (
    FAMILY_HPARAMS,
    FAMILY_METHODS,
    FAMILY_NOTES,
    FAMILY_SOURCES,
    family_hparams,
)
from vlmcal_utils.tpt.losses import (
    ATPT_TAU,
    REGULARISER_PARAMS,
    REGULARISERS,
    Regulariser,
    atfd,
    atpt_regulariser,
    avg_entropy,
    ctpt_regulariser,
    entropy,
    min_angle,
    orthogonality,
    otpt_regulariser,
    select_confident,
    tuning_loss,
)
from vlmcal_utils.tpt.prompts import (
    TIP_TEMPLATES,
    PromptEnsemble,
    PromptLearner,
    check_clip_text_tower,
    ensemble_templates,
    make_learner,
)
from vlmcal_utils.tpt.protocol import (
    AUGMIX_RULES,
    CTPT_LAMBDA,
    ECE_BINS,
    NATURAL_SHIFTS,
    AugMixRule,
    ctpt_lambda,
    dataset_family,
    run_file_name,
    uses_augmix,
)
from vlmcal_utils.tpt.runner import (
    fingerprint_settings,
    read_tpt_rows,
    run_fingerprint,
    run_tpt,
    source_indices,
    summarise,
)
from vlmcal_utils.tpt.settings import HARD_PROMPT, PARAMETER_KEYS, RunSettings, init_context
from vlmcal_utils.tpt.text import can_share_prefix, encode_prompts, text_features
from vlmcal_utils.tpt.tuning import (
    METHODS,
    TPTConfig,
    clip_logits,
    official_temperature,
    result_fields,
    tpt_predict,
)
from vlmcal_utils.tpt.views import make_views, preprocess_config

__all__ = [
    # prompts
    "check_clip_text_tower",
    "PromptLearner",
    "PromptEnsemble",
    "TIP_TEMPLATES",
    "ensemble_templates",
    "make_learner",
    # text kernel
    "encode_prompts",
    "text_features",
    "can_share_prefix",
    # losses
    "atfd",
    "entropy",
    "avg_entropy",
    "select_confident",
    "Regulariser",
    "ctpt_regulariser",
    "orthogonality",
    "otpt_regulariser",
    "min_angle",
    "atpt_regulariser",
    "ATPT_TAU",
    "REGULARISERS",
    "REGULARISER_PARAMS",
    "tuning_loss",
    # views
    "preprocess_config",
    "make_views",
    # tuning
    "METHODS",
    "TPTConfig",
    "clip_logits",
    "tpt_predict",
    "official_temperature",
    "result_fields",
    # runner
    "run_tpt",
    "read_tpt_rows",
    "run_fingerprint",
    "fingerprint_settings",
    "source_indices",
    "summarise",
    # settings
    "HARD_PROMPT",
    "init_context",
    "RunSettings",
    "PARAMETER_KEYS",
    # family
    "FAMILY_METHODS",
    "FAMILY_HPARAMS",
    "FAMILY_SOURCES",
    "FAMILY_NOTES",
    "family_hparams",
    # protocol
    "NATURAL_SHIFTS",
    "AUGMIX_RULES",
    "AugMixRule",
    "CTPT_LAMBDA",
    "ECE_BINS",
    "dataset_family",
    "ctpt_lambda",
    "uses_augmix",
    "run_file_name",
    # diagnostics
    "STEP_FIELDS",
    "step_diagnostics",
    "step_table",
    "step_report",
    "embedding_spread",
    "prediction_changes",
    "describe_step",
]
