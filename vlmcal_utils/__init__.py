"""vlmcal_utils: small, tested helpers for the *Calibration of vision-language models* book.

One module or small subpackage per concept, in layers that only import downward (the README's
"Architecture" section lists them; ``lint-imports`` enforces the rule in ``make test``):

- :mod:`vlmcal_utils.views` — the chapters' views (top layer): figures, tables, boxes, results schemas
- :mod:`vlmcal_utils.study` — the empirical study of Tu et al. (ICML 2024): scoring, calibration
  sets, correlations, the resumable grid, its tasks, findings and plots
- :mod:`vlmcal_utils.tpt` — test-time prompt tuning (TPT) and C-TPT: prompts, text kernel, losses,
  views, tuning, the resumable runner, the papers' protocol as data
- :mod:`vlmcal_utils.baselines` — ImageNet-trained timm classifiers (the study's non-VLM baselines)
- :mod:`vlmcal_utils.features` — image features, cached on disk and resumable
- :mod:`vlmcal_utils.plots` — reliability diagrams and confidence histograms
- :mod:`vlmcal_utils.results` — results schemas of fixed keys and the results files
- :mod:`vlmcal_utils.models` — one loader for demo names, open_clip tags, local files, random weights
- :mod:`vlmcal_utils.data` — logits files, the published-logits registry, image datasets, class names
- :mod:`vlmcal_utils.demo` — the offline demo world and its tiny CLIP models
- :mod:`vlmcal_utils.zeroshot` — the zero-shot method: prompt templates, class embeddings, logits
- :mod:`vlmcal_utils.temperature` — temperature scaling fitted by NLL
- :mod:`vlmcal_utils.metrics` — accuracy, ECE/MCE, NLL, Brier, reliability bins, bootstrap CIs
- bottom: :mod:`vlmcal_utils.checks` (input validation), :mod:`vlmcal_utils.paths` (every
  environment variable and folder), :mod:`vlmcal_utils.storage` (atomic writes, locked JSON-lines
  records), :mod:`vlmcal_utils.device` (device and mixed precision), :mod:`vlmcal_utils.papers`
  (every number quoted from a paper, with its table, row and column or figure, and its source)

Book and CI tooling (the papermill runner, the results page, notebook pairing, the browser check)
lives in the repository's ``vlmcal_book`` package, not in this wheel.

Everything runs on the CPU; a GPU is used when one is there.
"""

__version__ = "0.1.0"
