"""vlmcal_utils: small, tested helpers for the *Calibration of vision-language models* book.

One module per concept (see the API reference page of the book):

- :mod:`vlmcal_utils.metrics` — accuracy, ECE/MCE, NLL, Brier, reliability bins, bootstrap CIs
- :mod:`vlmcal_utils.temperature` — temperature scaling fitted by NLL
- :mod:`vlmcal_utils.data` — published logits files and datasets
- :mod:`vlmcal_utils.plots` — reliability diagrams and confidence histograms
- :mod:`vlmcal_utils.device` — pick CUDA when present, else the CPU
- :mod:`vlmcal_utils.reproduce` — run a notebook with named parameter sets (papermill)

Everything runs on the CPU; a GPU is used when one is there.
"""

__version__ = "0.1.0"
