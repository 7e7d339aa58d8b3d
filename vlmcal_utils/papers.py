"""Numbers quoted from papers, each with the table or passage it was copied from.

The book compares its own measurements with these (the results page, ``book/results.md``). Only
numbers listed here, checked against the paper, are ever shown beside ours. Units are stated per
entry (ECE in percent).

This module is data only and imports nothing from the package, so any layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["PaperNumbers", "PAPER_NUMBERS", "GUO2017_DENSENET40_CIFAR10", "NOT_QUOTED"]


@dataclass(frozen=True)
class PaperNumbers:
    """Numbers reported by one paper for one setting.

    Parameters
    ----------
    citation : str
        The BibTeX key in ``book/references.bib`` (e.g. ``"Guo2017"``).
    setting : str
        Model and data the numbers are for, as the paper names them.
    values : Mapping[str, float]
        ``quantity -> number`` in ``unit``; quantity names are the results-schema keys they are
        compared with (``"ece_before"``, ``"ece_after"``).
    unit : str
        ``"%"`` for ECE/accuracy in percent.
    where : str
        Table, row and column (or passage) the numbers were copied from.
    checked_in : str
        The rendering of the paper they were checked against.
    approximate : bool
        The paper states the number as "about" (shown as ≈).
    url : str
        A link to the paper (or the repository file at a pinned commit) the numbers are from.
    """

    citation: str
    setting: str
    values: Mapping[str, float] = field(default_factory=dict)
    unit: str = "%"
    where: str = ""
    checked_in: str = ""
    approximate: bool = False
    url: str = ""

    @property
    def source(self) -> str:
        """One line naming the paper, the setting, where the numbers are and how they were checked."""
        text = f"{self.citation}, {self.where}: {self.setting}"
        return text + (f" (checked in {self.checked_in})" if self.checked_in else "")


GUO2017_DENSENET40_CIFAR10 = PaperNumbers(
    citation="Guo et al. 2017",
    setting="ECE with 15 bins: uncalibrated 3.28 %, temperature scaling 0.33 %",
    values={"ece_before": 3.28, "ece_after": 0.33},
    where="Table 1 (ECE), row CIFAR-10 DenseNet 40, columns Uncalibrated and Temp. Scaling",
    checked_in="the arXiv 1706.04599 HTML rendering",
    url="https://arxiv.org/abs/1706.04599",
)

#: Every quoted setting by a stable key (the results page looks them up by these keys).
PAPER_NUMBERS: dict[str, PaperNumbers] = {
    "guo2017_densenet40_cifar10": GUO2017_DENSENET40_CIFAR10,
}

#: Claims the book does *not* quote as paper numbers, and why (the results page prints the reason).
NOT_QUOTED: dict[str, str] = {
    "tu2024_avg_ece_after_ts": (
        "Tu et al. 2024's average ECE after temperature scaling is not quoted: the book has it only as the "
        "seminar deck's rounded summary ('average ECE reduced to ~0.05', seminar notes, finding 2), not from "
        "a table or cell of the paper, so no paper column is shown for it"),
}
