"""C-TPT (Yoon et al., ICLR 2024): Tables 1-2 in full, the cells chapter 4 compares with, Fig. 2, Fig. 4.

Sources
-------
- :func:`ctpt_table` gives C-TPT's two tables in full (Table 1 "fine-grained classification",
  Table 2 "natural distribution shifts": every row, all datasets and the printed average),
  transcribed from the seminar notes' copy of the tables and checked cell by cell against the
  A-TPT README's copy of the HardPrompt rows (:data:`CTPT_PROVENANCE`: confirmed, equal to
  rounding, or a README copy error whose self-consistent side is kept; the Ensemble rows have no
  second source).
- :data:`PAPER_TABLES` holds the cells of the datasets chapter 4 can run, taken from them
  (:func:`paper_results` reads them per model, dataset and initialisation).
- :data:`CTPT_FIG2_MEAN_PEARSON`: the correlations Fig. 2's caption states; :data:`CTPT_FIG4_NOTE`:
  why Fig. 4 has no stored numbers.

Units: percent, as printed (ECE with 20 equal-width bins). Model names are open_clip's (``"RN50"``,
``"ViT-B-16"``, OpenAI weights); dataset names this package's (``"imagenet"``, ``"imagenet-a"``,
``"dtd"``, ...; ``"imagenet-shared"`` is ImageNet's validation photos). The protocol of the runs
(λ, AugMix, bins) is :mod:`vlmcal_utils.tpt.protocol`.

Data only: this module imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ctpt_checked_cells",
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
    "ctpt_provenance_counts",
]


#: Our method names in the order of the paper's three rows per initialisation.
PAPER_METHODS = ("zeroshot", "tpt", "ctpt")
_PAPER_MODELS = {"RN50": "CLIP-RN50", "ViT-B-16": "CLIP-ViT-B/16"}
#: The prompt initialisations (our name -> the name in C-TPT's tables).
INIT_NAMES = {"hard": "HardPrompt", "ensemble": "Ensemble"}
_PAPER_ROWS = {"zeroshot": "(initialisation)", "tpt": "+TPT", "ctpt": "+TPT+C-TPT"}
_PAPER_COLUMNS = {  # our dataset name -> (table, the paper's column)
    "imagenet": ("Table 1", "ImageNet"), "dtd": ("Table 1", "DTD"), "eurosat": ("Table 1", "EuroSAT"),
    "imagenet-a": ("Table 2", "ImageNet-A"), "imagenet-v2": ("Table 2", "ImageNet-V2"),
    "imagenet-r": ("Table 2", "ImageNet-R"), "imagenet-sketch": ("Table 2", "ImageNet-Sketch"),
}


@dataclass(frozen=True)
class PaperResult:
    """One (accuracy, ECE) cell pair of C-TPT's Tables 1–2, with where it stands in the paper.

    Parameters
    ----------
    table : str
        ``"Table 1"`` (fine-grained, ImageNet included) or ``"Table 2"`` (natural shifts).
    row : str
        The paper's row: model, initialisation, method (e.g. ``"CLIP-RN50 / HardPrompt / +TPT"``).
    column : str
        The paper's column (dataset), e.g. ``"ImageNet-A"``.
    model : str
        The open_clip architecture (``"RN50"``, ``"ViT-B-16"``), OpenAI weights.
    dataset : str
        Our dataset name.
    init : str
        ``"hard"`` or ``"ensemble"``.
    method : str
        ``"zeroshot"`` (the initial prompt), ``"tpt"`` or ``"ctpt"``.
    accuracy, ece : float
        Top-1 accuracy and ECE (20 bins), in percent.
    """

    table: str
    row: str
    column: str
    model: str
    dataset: str
    init: str
    method: str
    accuracy: float
    ece: float


def paper_dataset(dataset: str) -> str:
    """Our dataset name as the paper's column: ``"imagenet-shared"`` (ImageNet val photos) is ``"imagenet"``.

    Parameters
    ----------
    dataset : str
        Our dataset name.

    Returns
    -------
    str
        The name :data:`PAPER_TABLES` uses.
    """
    return "imagenet" if dataset in ("imagenet", "imagenet-shared") else dataset


def paper_results(model: str, dataset: str, init: str) -> list[PaperResult]:
    """The paper's three rows (initialisation, +TPT, +TPT+C-TPT) for one model, dataset and init.

    Parameters
    ----------
    model : str
        The open_clip architecture (``"RN50"``, ``"ViT-B-16"``).
    dataset : str
        Our dataset name (``"imagenet-shared"`` counts as ImageNet).
    init : str
        ``"hard"`` or ``"ensemble"``.

    Returns
    -------
    list of PaperResult
        In :data:`PAPER_METHODS` order; empty where the paper has no such cells.
    """
    key = paper_dataset(dataset)
    found = {r.method: r for r in PAPER_TABLES if (r.model, r.dataset, r.init) == (model, key, init)}
    return [found[m] for m in PAPER_METHODS if m in found]


# ------------------------------------------------------------------ C-TPT Tables 1-2 in full, Fig. 2, Fig. 4
#: Where the C-TPT paper can be read (the link every number below is shown with).
CTPT_PAPER_URL = "https://arxiv.org/abs/2403.14119"
_CTPT_TRANSCRIBED = ("Yoon et al., ICLR 2024 (C-TPT), {table}; cells transcribed from the copy of the table "
                     "in the seminar notes (seminar/seminar-notes.txt of the shared data). Of the {hard} "
                     "HardPrompt cells of Tables 1–2 (averages included), checked one by one against the copy "
                     "in the A-TPT README (MB-Shihab-Aaqil-Ahamed/A-TPT@23e1311, tables unchanged at d76ecf61): "
                     "{confirmed} are the same, {rounding} the same to rounding, {copy_error} differ where the "
                     "README's row no longer adds up to its printed average (the seminar's self-consistent "
                     "value kept); the {ensemble} Ensemble cells have no second source "
                     "(papers.ctpt.CTPT_PROVENANCE)")

#: The paper's column headers and our dataset names (``None``: the printed average).
CTPT_TABLE_COLUMNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "Table 1": (("ImageNet", "imagenet"), ("Caltech", "caltech101"), ("Pets", "oxford-pets"),
                ("Cars", "stanford-cars"), ("Flower", "flowers102"), ("Food101", "food101"),
                ("Aircraft", "fgvc-aircraft"), ("SUN397", "sun397"), ("DTD", "dtd"), ("EuroSAT", "eurosat"),
                ("UCF101", "ucf101"), ("Average", None)),
    "Table 2": (("ImageNet-A", "imagenet-a"), ("ImageNet-V2", "imagenet-v2"), ("ImageNet-R", "imagenet-r"),
                ("ImageNet-Sketch", "imagenet-sketch"), ("Average", None)),
}
CTPT_TABLE_TITLES = {"Table 1": "Fine-Grained Classification", "Table 2": "Natural Distribution Shifts"}

# (model, init) -> rows initialisation / +TPT / +TPT+C-TPT, each (acc cells..., average), (ECE cells..., average)
_T1 = {
    ("RN50", "hard"): [
        ((58.1, 85.8, 83.8, 55.7, 61.0, 74.0, 15.6, 58.6, 40.0, 23.7, 58.4, 55.9),
         (2.09, 4.33, 5.91, 4.70, 3.19, 3.11, 6.45, 3.54, 9.91, 15.4, 3.05, 5.61)),
        ((60.7, 87.0, 84.5, 58.0, 62.5, 74.9, 17.0, 61.1, 41.5, 28.3, 59.5, 57.7),
         (11.4, 5.04, 3.65, 3.76, 13.4, 5.25, 16.1, 9.24, 25.7, 22.5, 12.4, 11.7)),
        ((60.2, 86.9, 84.1, 56.5, 65.2, 74.7, 17.0, 61.0, 42.2, 27.8, 59.7, 57.8),
         (3.01, 2.07, 2.77, 1.94, 4.14, 1.86, 10.7, 2.93, 19.8, 15.1, 3.83, 6.20))],
    ("RN50", "ensemble"): [
        ((59.7, 87.1, 82.9, 55.6, 60.5, 75.6, 16.4, 60.2, 41.0, 29.3, 59.8, 57.1),
         (5.15, 6.43, 6.46, 7.34, 5.02, 5.04, 3.92, 6.19, 4.54, 7.70, 3.55, 5.58)),
        ((61.1, 87.4, 83.2, 59.2, 61.4, 76.2, 17.9, 62.0, 42.8, 28.4, 60.2, 58.2),
         (11.2, 4.29, 4.79, 3.08, 14.1, 5.27, 14.6, 7.68, 22.2, 18.9, 11.1, 10.7)),
        ((61.2, 87.4, 84.0, 57.3, 65.3, 76.0, 17.5, 62.1, 43.1, 29.4, 60.7, 58.5),
         (4.13, 2.15, 2.71, 1.68, 3.60, 1.47, 10.9, 2.96, 15.7, 8.70, 3.27, 5.20))],
    ("ViT-B-16", "hard"): [
        ((66.7, 92.9, 88.0, 65.3, 67.3, 83.6, 23.9, 62.5, 44.3, 41.3, 65.0, 63.7),
         (2.12, 5.50, 4.37, 4.25, 3.00, 2.39, 5.11, 2.53, 8.50, 7.40, 3.59, 4.43)),
        ((69.0, 93.8, 87.1, 66.3, 69.0, 84.7, 23.4, 65.5, 46.7, 42.4, 67.3, 65.0),
         (10.6, 4.51, 5.77, 5.16, 13.5, 3.98, 16.8, 11.3, 21.2, 21.5, 13.0, 11.6)),
        ((68.5, 93.6, 88.2, 65.8, 69.8, 83.7, 24.0, 64.8, 46.0, 43.2, 65.7, 64.8),
         (3.15, 4.24, 1.90, 1.59, 5.04, 3.43, 4.36, 5.04, 11.9, 13.2, 2.54, 5.13))],
    ("ViT-B-16", "ensemble"): [
        ((68.2, 93.4, 86.3, 65.4, 65.7, 85.2, 23.5, 64.0, 45.6, 43.0, 66.1, 64.2),
         (3.70, 6.16, 4.88, 7.09, 6.01, 3.78, 4.56, 4.01, 13.8, 6.01, 4.05, 5.82)),
        ((69.6, 94.1, 86.1, 67.1, 67.6, 85.1, 24.4, 66.5, 47.2, 44.0, 68.5, 65.5),
         (9.82, 4.48, 5.72, 4.00, 13.9, 4.27, 14.6, 9.01, 18.6, 14.1, 10.5, 9.91)),
        ((69.3, 94.1, 87.4, 66.7, 69.9, 84.5, 23.9, 66.0, 46.8, 48.7, 66.7, 65.8),
         (4.48, 3.14, 1.54, 1.84, 5.77, 2.38, 6.40, 3.09, 13.7, 5.49, 3.04, 4.62))],
}
_T2 = {
    ("RN50", "hard"): [((21.7, 51.4, 56.0, 33.3, 40.6), (21.3, 3.33, 2.07, 3.15, 7.46)),
                       ((25.2, 54.6, 58.9, 35.1, 43.5), (31.0, 13.1, 9.18, 13.7, 16.7)),
                       ((23.4, 54.7, 58.0, 35.1, 42.8), (25.4, 8.58, 4.57, 9.70, 12.1))],
    ("RN50", "ensemble"): [((22.7, 52.5, 57.9, 34.7, 42.0), (17.0, 2.68, 5.64, 10.9, 9.06)),
                           ((26.9, 55.0, 60.4, 35.6, 44.5), (29.1, 12.7, 7.50, 14.0, 15.8)),
                           ((25.6, 54.8, 59.7, 35.7, 44.0), (27.0, 9.84, 5.17, 12.2, 13.6))],
    ("ViT-B-16", "hard"): [((47.8, 60.8, 74.0, 46.1, 57.2), (8.61, 3.01, 3.58, 4.95, 5.04)),
                           ((52.6, 63.0, 76.7, 47.5, 59.9), (16.4, 11.1, 4.36, 16.1, 12.0)),
                           ((51.6, 62.7, 76.0, 47.9, 59.6), (8.16, 6.23, 1.54, 7.35, 5.82))],
    ("ViT-B-16", "ensemble"): [((50.9, 62.0, 74.5, 46.0, 58.4), (8.85, 3.01, 2.85, 9.70, 6.10)),
                               ((54.2, 63.9, 78.2, 48.5, 61.2), (13.5, 11.2, 3.64, 15.3, 10.9)),
                               ((52.9, 63.4, 78.0, 48.5, 60.7), (10.9, 8.38, 1.40, 12.6, 8.32))],
}


# ------------------------------------------------------------------ where each cell above was checked
@dataclass(frozen=True)
class CellCheck:
    """How a group of cells of :func:`ctpt_table` (the seminar notes' copy) was checked.

    Parameters
    ----------
    kind : str
        One of :data:`CHECK_KINDS`: ``"confirmed"`` (a second copy prints the same number),
        ``"rounding"`` (it prints the same number to more digits, or an average rounded
        differently from the same cells), ``"copy-error"`` (it prints another number, and its
        row no longer adds up to its own printed average while the seminar's row does: the
        seminar's self-consistent value is kept) or ``"single-source"``.
    note : str
        The check in words, with the second source (repository@commit) and the numbers.
    """

    kind: str
    note: str


#: The kinds of :class:`CellCheck`, most certain first.
CHECK_KINDS = ("confirmed", "rounding", "copy-error", "single-source")

# The A-TPT README copies C-TPT's three HardPrompt rows (as "Baseline", "TPT", "C-TPT") for both
# models; its cells are transcribed in papers.family. The O-TPT README's copy (ViT-B/16 only)
# equals the A-TPT README's in every C-TPT cell, so it is no independent third source.
_ATPT_README = ("the A-TPT README (MB-Shihab-Aaqil-Ahamed/A-TPT@23e1311 README.md 'Results', tables unchanged "
                "at d76ecf61; papers.family)")
_CONFIRMED = CellCheck("confirmed", f"confirmed by {_ATPT_README}: the same number")
_SINGLE = CellCheck("single-source", "single source: seminar notes (the O-TPT and A-TPT READMEs copy only the "
                                     "HardPrompt rows; the paper's PDF is not readable on this offline machine)")


def _copy_error(detail: str) -> CellCheck:
    return CellCheck("copy-error", f"README copy error, self-consistent side kept: {detail}")


_VIT_T1 = ("Table 1", "ViT-B-16", "hard")
_RN50_T1 = ("Table 1", "RN50", "hard")

#: Provenance of every cell of :func:`ctpt_table`, per group: a key ``(table, model, init)`` covers
#: a whole block (three rows, acc and ECE, every column and the printed average); a key
#: ``(table, model, init, method, metric, column)`` (``column`` a header of
#: :data:`CTPT_TABLE_COLUMNS`) one cell, and overrides its block. Read with :func:`ctpt_cell_check`.
CTPT_PROVENANCE: dict[tuple[str, ...], CellCheck] = {
    **{(table, model, "hard"): _CONFIRMED for table in ("Table 1", "Table 2") for model in _PAPER_MODELS},
    **{(table, model, "ensemble"): _SINGLE for table in ("Table 1", "Table 2") for model in _PAPER_MODELS},
    (*_VIT_T1, "zeroshot", "ece", "EuroSAT"): _copy_error(
        "the A-TPT README (as the O-TPT README) prints 13.89 for 7.40; the row's printed average 4.43 follows "
        "from the cells with 7.40 (4.433), not with 13.89 (5.023)"),
    (*_VIT_T1, "tpt", "acc", "SUN397"): _copy_error(
        "the README prints 64.5 for 65.5; the printed average 65.0 follows with 65.5 (65.018), less well with "
        "64.5 (64.927)"),
    (*_VIT_T1, "tpt", "ece", "EuroSAT"): _copy_error(
        "the README prints 13.2 for 21.5 (and 2.54 for 13.0 on UCF101): C-TPT's own EuroSAT and UCF101 ECE of "
        "the row below; the printed average 11.6 follows with 21.5 and 13.0 (11.575), not with 13.2 and 2.54 "
        "(9.869)"),
    (*_VIT_T1, "tpt", "ece", "UCF101"): _copy_error(
        "the README prints 2.54 for 13.0 (and 13.2 for 21.5 on EuroSAT): C-TPT's own cells of the row below; "
        "the printed average 11.6 follows with 13.0 and 21.5 (11.575), not with 2.54 and 13.2 (9.869)"),
    (*_VIT_T1, "ctpt", "acc", "Aircraft"): _copy_error(
        "the README prints 24.85 for 24.0 and an average of 64.57 for 64.8; the seminar's cells give 64.845 "
        "(printed 64.8), the README's cells 64.925, not its 64.57"),
    (*_VIT_T1, "ctpt", "acc", "Average"): _copy_error(
        "the README prints 64.57 for 64.8, which its own cells do not give (64.925); the seminar's cells give "
        "64.845"),
    (*_VIT_T1, "ctpt", "acc", "Caltech"): CellCheck(
        "rounding", f"{_ATPT_README} prints 93.63, which is 93.6 to the seminar's digits"),
    (*_RN50_T1, "ctpt", "acc", "Average"): CellCheck(
        "rounding", f"{_ATPT_README} prints 57.75 for 57.8: the same cells give 57.755"),
    (*_RN50_T1, "ctpt", "ece", "Average"): CellCheck(
        "rounding", f"{_ATPT_README} prints 6.19 for 6.20: the same cells give 6.195"),
}


def ctpt_cell_check(table: str, model: str, init: str, method: str, metric: str, column: str) -> CellCheck:
    """How one cell of :func:`ctpt_table` was checked (:data:`CTPT_PROVENANCE`, the cell's own entry first).

    Parameters
    ----------
    table, model, init, method, metric : str
        As in the records of :func:`ctpt_table`.
    column : str
        A column header of :data:`CTPT_TABLE_COLUMNS` (``"Average"``: the printed average).

    Returns
    -------
    CellCheck
    """
    block = (table, model, init)
    found = CTPT_PROVENANCE.get((*block, method, metric, column)) or CTPT_PROVENANCE.get(block)
    if found is None:
        raise KeyError(f"no provenance recorded for {block + (method, metric, column)}")
    return found


def _ctpt_cells():
    """Every cell of Tables 1-2 as ``(table, model, init, method, metric, column header, value)``."""
    for table, blocks in (("Table 1", _T1), ("Table 2", _T2)):
        headers = [h for h, _ in CTPT_TABLE_COLUMNS[table]]
        for (model, init), triple in blocks.items():
            for method, metrics in zip(PAPER_METHODS, triple, strict=True):
                for metric, values in zip(("acc", "ece"), metrics, strict=True):
                    yield from ((table, model, init, method, metric, h, v)
                                for h, v in zip(headers, values, strict=True))


def ctpt_provenance_counts() -> dict[str, dict[str, int]]:
    """How many cells of C-TPT's Tables 1-2 (averages included) each kind of check covers, per init.

    Returns
    -------
    dict
        ``init -> {kind: count}``, the kinds of :data:`CHECK_KINDS` that occur, in that order.
    """
    counts: dict[str, dict[str, int]] = {}
    for *key, _ in _ctpt_cells():
        kind = ctpt_cell_check(*key).kind
        counts.setdefault(key[2], dict.fromkeys(CHECK_KINDS, 0))[kind] += 1
    return {init: {k: n for k, n in by_kind.items() if n} for init, by_kind in counts.items()}


def ctpt_checked_cells(kinds: tuple[str, ...] = ("copy-error", "rounding")) -> list[dict]:
    """The cells of C-TPT's Tables 1-2 whose check is one of ``kinds``, with the seminar's value and the note.

    The chapters show this list instead of quoting the cells in their prose, so that every number
    quoted from the paper stays here.

    Parameters
    ----------
    kinds : tuple of str
        Kinds of :data:`CHECK_KINDS` to list (default: where the second copy prints another number).

    Returns
    -------
    list of dict
        Keys ``table, model, init, method, metric, column, kept`` (the value in :func:`ctpt_table`,
        percent), ``check`` (the kind) and ``note`` (the second copy's number and why ours is kept).

    Examples
    --------
    >>> [(c["method"], c["metric"], c["column"], c["kept"]) for c in ctpt_checked_cells(("copy-error",))][:1]
    [('zeroshot', 'ece', 'EuroSAT', 7.4)]
    """
    unknown = set(kinds) - set(CHECK_KINDS)
    if unknown:
        raise ValueError(f"unknown check kinds {sorted(unknown)}; choose from {CHECK_KINDS}")
    rows = []
    for table, model, init, method, metric, column, value in _ctpt_cells():
        check = ctpt_cell_check(table, model, init, method, metric, column)
        if check.kind in kinds:
            rows.append({"table": table, "model": model, "init": init, "method": method, "metric": metric,
                         "column": column, "kept": value, "check": check.kind, "note": check.note})
    return rows

def ctpt_table(table: str = "Table 1") -> list[dict]:
    """C-TPT's Table 1 or 2 in full, one record per printed row and metric, with provenance.

    Parameters
    ----------
    table : {"Table 1", "Table 2"}
        Table 1: 11 fine-grained sets (ImageNet included); Table 2: ImageNet's four natural shifts.

    Returns
    -------
    list of dict
        Keys ``table, row, model, init, method, metric`` (``"acc"`` or ``"ece"``, percent, ECE
        with 20 equal-width bins), one key per column header of :data:`CTPT_TABLE_COLUMNS` (the
        printed cells, ``"Average"`` the printed average), ``recomputed`` (the mean of the row's
        dataset cells, for checking the printed average) and ``source``.
    """
    cells = {"Table 1": _T1, "Table 2": _T2}.get(table)
    if cells is None:
        raise ValueError(f"table must be 'Table 1' or 'Table 2', got {table!r}")
    headers = [h for h, _ in CTPT_TABLE_COLUMNS[table]]
    checked = ctpt_provenance_counts()
    source = _CTPT_TRANSCRIBED.format(
        table=f"{table} ({CTPT_TABLE_TITLES[table]})", hard=sum(checked["hard"].values()),
        confirmed=checked["hard"].get("confirmed", 0), rounding=checked["hard"].get("rounding", 0),
        copy_error=checked["hard"].get("copy-error", 0), ensemble=sum(checked["ensemble"].values()))
    out = []
    for (model, init), triple in cells.items():
        for method, metrics in zip(PAPER_METHODS, triple, strict=True):
            for metric, values in zip(("acc", "ece"), metrics, strict=True):
                if len(values) != len(headers):
                    raise ValueError(f"{table} {model}/{init}/{method}/{metric}: {len(values)} cells")
                row = f"{_PAPER_MODELS[model]} / {INIT_NAMES[init]} / {_PAPER_ROWS[method]}"
                out.append({"table": table, "row": row, "model": model, "init": init, "method": method,
                            "metric": metric, **dict(zip(headers, values, strict=True)),
                            "recomputed": round(sum(values[:-1]) / (len(values) - 1), 4),
                            "source": source})
    return out


def ctpt_vs_tpt(table: str = "Table 1") -> list[dict]:
    """What C-TPT changes against TPT in one of C-TPT's tables, from the printed averages.

    Parameters
    ----------
    table : {"Table 1", "Table 2"}
        As in :func:`ctpt_table`.

    Returns
    -------
    list of dict
        One record per (model, initialisation) block: ``table, model, init``, ``ece_tpt`` and
        ``ece_ctpt`` (the printed average ECE, percent), ``ece_reduction`` (``1 - ece_ctpt /
        ece_tpt``: the share of TPT's ECE that C-TPT removes), ``acc_tpt``, ``acc_ctpt`` and
        ``acc_change`` (``acc_ctpt - acc_tpt``, points).
    """
    cells = {(r["model"], r["init"], r["method"], r["metric"]): r["Average"] for r in ctpt_table(table)}
    out = []
    for model, init in dict.fromkeys((m, i) for m, i, _, _ in cells):
        ece_tpt, ece_ctpt = cells[model, init, "tpt", "ece"], cells[model, init, "ctpt", "ece"]
        acc_tpt, acc_ctpt = cells[model, init, "tpt", "acc"], cells[model, init, "ctpt", "acc"]
        out.append({"table": table, "model": model, "init": init, "ece_tpt": ece_tpt, "ece_ctpt": ece_ctpt,
                    "ece_reduction": round(1 - ece_ctpt / ece_tpt, 4), "acc_tpt": acc_tpt, "acc_ctpt": acc_ctpt,
                    "acc_change": round(acc_ctpt - acc_tpt, 2)})
    return out


def _paper_tables() -> tuple[PaperResult, ...]:
    """The cells of :func:`ctpt_table` that chapter 4 compares with: the datasets it can run."""
    cells = {(r["table"], r["model"], r["init"], r["method"], r["metric"]): r
             for table in CTPT_TABLE_COLUMNS for r in ctpt_table(table)}
    out = []
    for init in INIT_NAMES:
        for dataset, (table, column) in _PAPER_COLUMNS.items():
            for model in _PAPER_MODELS:
                for method in PAPER_METHODS:
                    acc, ece = (cells[table, model, init, method, metric] for metric in ("acc", "ece"))
                    out.append(PaperResult(table, acc["row"], column, model, dataset, init, method,
                                           acc[column], ece[column]))
    return tuple(out)


#: The C-TPT cells chapter 4 compares with (OpenAI weights; percent), with table/row/column:
#: the datasets of ``_PAPER_COLUMNS`` taken from :func:`ctpt_table`, so each number is stored once.
PAPER_TABLES: tuple[PaperResult, ...] = _paper_tables()


#: C-TPT Fig. 2: what its caption states (per-dataset r values are only drawn, not printed).
CTPT_FIG2_MEAN_PEARSON = {"RN50": -0.70, "ViT-B-16": -0.76}
CTPT_FIG2_SOURCE = ("Yoon et al., ICLR 2024 (C-TPT), Fig. 2 caption: hard prompts within 3 % of the best "
                    "accuracy per dataset; Pearson correlations between ATFD and ECE 'averaging -0.70 and "
                    "-0.76' for CLIP-RN50 and CLIP-ViT-B/16. The per-dataset coefficients are in the plot only")

#: C-TPT Fig. 4 (TPT vs TPT with a temperature vs TPT+C-TPT, CLIP-ViT-B/16): no number is stated in text.
CTPT_FIG4_NOTE = ("C-TPT's Fig. 4 compares the ECE of TPT, temperature-scaled TPT (the temperature fitted on "
                  "ImageNet) and TPT+C-TPT for CLIP-ViT-B/16 as bars; its caption and text state no numbers, "
                  "so none is stored here (reading bar heights off a figure would be invented precision)")
