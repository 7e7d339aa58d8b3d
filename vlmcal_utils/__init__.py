"""vlmcal_utils: small, tested helpers for the *Calibration of vision-language models* book.

One module per concept (see the API reference page of the book):

- :mod:`vlmcal_utils.metrics` — accuracy, ECE/MCE, NLL, Brier, reliability bins, bootstrap CIs
- :mod:`vlmcal_utils.temperature` — temperature scaling fitted by NLL
- :mod:`vlmcal_utils.data` — published logits files and datasets
- :mod:`vlmcal_utils.plots` — reliability diagrams and confidence histograms
- :mod:`vlmcal_utils.device` — pick CUDA when present, else the CPU
- :mod:`vlmcal_utils.models` — open_clip models by name/tag/local file, and the demo models
- :mod:`vlmcal_utils.zeroshot` — prompt templates, class embeddings, zero-shot logits
- :mod:`vlmcal_utils.features` — image features, cached on disk and resumable
- :mod:`vlmcal_utils.baselines` — ImageNet-trained timm classifiers (the study's non-VLM baselines)
- :mod:`vlmcal_utils.study` — the empirical study of Tu et al. (ICML 2024) as a resumable grid
- :mod:`vlmcal_utils.tpt` — test-time prompt tuning (TPT) and C-TPT
- :mod:`vlmcal_utils.demo` — the offline demo world and its tiny CLIP models
- :mod:`vlmcal_utils.published` — published logits: shared copy or pinned download, content-hash verified
- :mod:`vlmcal_utils.results` — results files written by every notebook
- :mod:`vlmcal_utils.report` — the results page (ours beside the papers)
- :mod:`vlmcal_utils.reproduce` — run a notebook with named parameter sets (papermill)

Everything runs on the CPU; a GPU is used when one is there.
"""

__version__ = "0.1.0"
