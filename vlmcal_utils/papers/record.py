"""The record of one paper's numbers for one setting, with the table or passage they were copied from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

__all__ = ["PaperNumbers"]


@dataclass(frozen=True)
class PaperNumbers:
    """Numbers reported by one paper for one setting.

    Parameters
    ----------
    citation : str
        The paper, as the results page names it (e.g. ``"Guo et al. 2017"``).
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
