"""Tu et al. (ICML 2024), "A Closer Look at the Robustness of Contrastive Language-Image Pre-Training".

The numbers of the paper the book quotes, with where each was read.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TU2024_N_VLMS", "PaperCell", "TU2024_CELLS", "TU2024_AVG_ECE_NOT_QUOTED"]

#: How many VLMs Tu et al. evaluate ("Models: 35 VLMs (including CLIP, BLIP)": the seminar deck's
#: slide "Paper review (1)"; not in the abstract).
TU2024_N_VLMS = 35


@dataclass(frozen=True)
class PaperCell:
    """One number of the paper for one (model, dataset, split, method, quantity).

    Parameters
    ----------
    model : str
        The model's label in our results table
        (:func:`vlmcal_utils.study.paper_numbers.model_label` of its paper model).
    paper_name : str
        The name the paper uses.
    dataset, split : str
        Our dataset name and evaluation split (e.g. ``"imagenet"``, ``"imagenet-v2"``).
    method : str
        ``"none"`` (before TS) or ``"ts"`` (after TS fitted on the calibration split).
    quantity : str
        A column of the results table (a record key): ``"ece_15"`` or ``"accuracy"``.
    value : float
        In the results table's units: fractions (a paper's "5.0 %" is stored as ``0.05``).
    where : str
        Table, row and column (or the sentence) the number was read from.
    """

    model: str
    paper_name: str
    dataset: str
    split: str
    method: str
    quantity: str
    value: float
    where: str


TU2024_CELLS: tuple[PaperCell, ...] = ()
"""Tu et al.'s per-model numbers checked in the paper: none yet (the per-model tables are in parts
of the paper the stored copies do not hold)."""

#: Why the paper's average ECE after TS is not quoted as a number (the results page prints it).
TU2024_AVG_ECE_NOT_QUOTED = (
    "Tu et al. 2024's average ECE after temperature scaling is not quoted: the book has it only as the "
    "seminar deck's rounded summary ('average ECE reduced to ~0.05', seminar notes, finding 2), not from "
    "a table or cell of the paper, so no paper column is shown for it")
