"""The quoted settings the results page looks up by key, and the claims it does not quote, with why."""

from __future__ import annotations

from vlmcal_utils.papers.guo2017 import GUO2017_DENSENET40_CIFAR10
from vlmcal_utils.papers.record import PaperNumbers
from vlmcal_utils.papers.tu2024 import TU2024_AVG_ECE_NOT_QUOTED

__all__ = ["PAPER_NUMBERS", "NOT_QUOTED"]

#: Every quoted setting by a stable key (the results page looks them up by these keys).
PAPER_NUMBERS: dict[str, PaperNumbers] = {
    "guo2017_densenet40_cifar10": GUO2017_DENSENET40_CIFAR10,
}

#: Claims the book does *not* quote as paper numbers, and why (the results page prints the reason).
NOT_QUOTED: dict[str, str] = {
    "tu2024_avg_ece_after_ts": TU2024_AVG_ECE_NOT_QUOTED,
}
