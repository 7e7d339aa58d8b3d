"""Every number quoted from a paper, each with its table, row and column (or figure) and its source.

This subpackage is the one home of the papers' numbers: no other module of the package stores a
number copied from a paper. Protocol (λ, AugMix, bins, official temperatures) is not here: it is
in the modules that run it (:mod:`vlmcal_utils.tpt.protocol`, :mod:`vlmcal_utils.tpt.family`).
Units are stated per entry (the tables keep the papers' percent).

Data only: nothing here imports from the rest of the package, so every layer may use it.

Modules
-------
- :mod:`~vlmcal_utils.papers.record` — :class:`PaperNumbers`, one paper's numbers for one setting.
- :mod:`~vlmcal_utils.papers.guo2017` — Guo et al. (ICML 2017), Table 1's DenseNet-40 CIFAR-10 cells.
- :mod:`~vlmcal_utils.papers.tu2024` — Tu et al. (ICML 2024): Figure 1's points (shipped as package data),
  their per-panel summary, the OpenCLIP checkpoints inferred behind them, the study's size.
- :mod:`~vlmcal_utils.papers.ctpt` — C-TPT (Yoon et al., ICLR 2024): Tables 1-2 in full with the
  provenance of every cell, the cells chapter 4 compares with, Fig. 2's caption.
- :mod:`~vlmcal_utils.papers.family` — O-TPT and A-TPT: their README tables as cells, the printed
  averages recomputed, conflicting copies of one cell.
- :mod:`~vlmcal_utils.papers.registry` — :data:`PAPER_NUMBERS` (the results page's lookup) and
  :data:`NOT_QUOTED` (claims not quoted, with why).
"""

from vlmcal_utils.papers.ctpt import (
    CHECK_KINDS,
    CTPT_FIG2_MEAN_PEARSON,
    CTPT_FIG2_SOURCE,
    CTPT_FIG4_NOTE,
    CTPT_PAPER_URL,
    CTPT_PROVENANCE,
    CTPT_TABLE_COLUMNS,
    CTPT_TABLE_TITLES,
    INIT_NAMES,
    PAPER_METHODS,
    PAPER_TABLES,
    CellCheck,
    PaperResult,
    ctpt_cell_check,
    ctpt_checked_cells,
    ctpt_provenance_counts,
    ctpt_table,
    ctpt_vs_tpt,
    paper_dataset,
    paper_results,
)
from vlmcal_utils.papers.family import (
    AVERAGE_TOLERANCE,
    FAMILY_TABLES,
    FAMILY_TABLES_RN50,
    PublishedTable,
    cell_conflicts,
    recompute_averages,
)
from vlmcal_utils.papers.guo2017 import GUO2017_DENSENET40_CIFAR10
from vlmcal_utils.papers.record import PaperNumbers
from vlmcal_utils.papers.registry import NOT_QUOTED, PAPER_NUMBERS
from vlmcal_utils.papers.tu2024 import (
    FIGURE1_READ,
    FIGURE1_SOURCE,
    TU2024_N_VLMS,
    figure1_points,
    figure1_summary,
    openclip_matches,
)

__all__ = [
    # record, registry
    "PaperNumbers",
    "PAPER_NUMBERS",
    "NOT_QUOTED",
    # Guo et al. 2017
    "GUO2017_DENSENET40_CIFAR10",
    # Tu et al. 2024
    "TU2024_N_VLMS",
    "FIGURE1_SOURCE",
    "FIGURE1_READ",
    "figure1_points",
    "figure1_summary",
    "openclip_matches",
    # C-TPT
    "PaperResult",
    "PAPER_TABLES",
    "INIT_NAMES",
    "PAPER_METHODS",
    "paper_dataset",
    "paper_results",
    "CTPT_PAPER_URL",
    "CTPT_TABLE_COLUMNS",
    "CTPT_TABLE_TITLES",
    "ctpt_table",
    "ctpt_vs_tpt",
    "CTPT_FIG2_MEAN_PEARSON",
    "CTPT_FIG2_SOURCE",
    "CTPT_FIG4_NOTE",
    "CellCheck",
    "CHECK_KINDS",
    "CTPT_PROVENANCE",
    "ctpt_cell_check",
    "ctpt_checked_cells",
    "ctpt_provenance_counts",
    # O-TPT / A-TPT
    "PublishedTable",
    "FAMILY_TABLES",
    "FAMILY_TABLES_RN50",
    "AVERAGE_TOLERANCE",
    "recompute_averages",
    "cell_conflicts",
]
