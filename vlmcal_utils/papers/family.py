"""C-TPT's family (O-TPT, A-TPT): the published tables as cells, their averages recomputed from the cells.

Each fork of the C-TPT code (O-TPT, A-TPT) copies its baseline rows from earlier papers instead of
running them, and the copies carry errors. The cells are stored here as printed, with their
printed averages, so chapter 5 recomputes every average by code (:func:`recompute_averages`) and
lines up every cell that two sources print for the same method, metric and dataset
(:func:`cell_conflicts`).

Sources
-------
- ``"ctpt-table1-vitb16-hard"``: C-TPT (Yoon et al., ICLR 2024) Table 1, rows
  "CLIP-ViT-B/16 HardPrompt", "+TPT", "+TPT+C-TPT", as copied in the seminar notes
  (``seminar/seminar-notes.txt`` of the shared data, "Paper review (1)").
- ``"ctpt-table2-vitb16-hard"``: C-TPT Table 2, the same rows (natural shifts), seminar notes.
  Every cell of both is checked against the A-TPT README's copy below:
  :data:`vlmcal_utils.papers.ctpt.CTPT_PROVENANCE` says, per cell group, which are the same,
  the same to rounding, or a README copy error (the seminar's self-consistent side kept).
- ``"otpt-readme-vitb16"`` and ``"otpt-readme-vitb16-shifts"``: ``ashshaksharifdeen/O-TPT``
  ``README.md`` at commit ``010276a2409e4e6467dca7fea1708a2b7ff640d0``, "Comparison of
  calibration performance with CLIP-ViTB/16 backbone" (fine-grained) and "... on Natural
  distribution shift datasets".
- ``"atpt-readme-vitb16"`` and ``"atpt-readme-vitb16-shifts"``: ``MB-Shihab-Aaqil-Ahamed/A-TPT``
  ``README.md`` at commit ``23e1311faa3a0d98ab13be83ae22c184715ae902`` (A-TPT, Ahamed et al.,
  ICLR 2026), "Results", "Comparison on Fine-grained Datasets" and "Comparison on Natural
  Distribution Shift Datasets", "CLIP ViT-B/16 (512-d)". The README at commit
  ``3202bc1c1d2a916378ad5f388ec616594a894351`` prints the same tables. Its row "Baseline" is our
  ``"zeroshot"``.

Both READMEs' tables are unchanged at the repositories' current commits (O-TPT
``a09933f54d9da4cc2549a9b2d5a6ad4d183b51a1``, A-TPT ``d76ecf61692f1355b7e27e0ea5b54add279ffb67``;
checked with ``git diff`` of ``README.md``, which touches only titles, links and the citation).

The same README's "CLIP RN50 (1024-d)" tables are in :data:`FAMILY_TABLES_RN50`, apart from
:data:`FAMILY_TABLES` (which is ViT-B/16 only, so that :func:`cell_conflicts` never sets a cell of
one backbone against the other's); pass them explicitly, e.g. ``recompute_averages(FAMILY_TABLES_RN50)``.

The family's hyper-parameters (λ, τ per dataset family) are protocol, in :mod:`vlmcal_utils.tpt.family`.
Data only: this module imports nothing from the package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["PublishedTable", "FAMILY_TABLES", "FAMILY_TABLES_RN50", "recompute_averages", "cell_conflicts",
           "AVERAGE_TOLERANCE"]

#: ``abs(printed - recomputed)`` above this is flagged (cells are printed to 2-3 significant digits).
AVERAGE_TOLERANCE = 0.051


@dataclass(frozen=True)
class PublishedTable:
    """One published table: columns, and per (method, metric) the cells and the printed average.

    Parameters
    ----------
    key : str
        Short name (a key of :data:`FAMILY_TABLES`).
    source : str
        Paper or repository (with commit), table and its title.
    columns : tuple of str
        Our dataset names, in the table's order (its column headers in ``headers``).
    headers : tuple of str
        The table's own column headers.
    rows : dict
        ``(method, metric) -> (cells, printed average)``; ``method`` in our names
        (``"zeroshot"``, ``"tpt"``, ``"ctpt"``, ``"otpt"``, ...), ``metric`` ``"acc"`` or ``"ece"``,
        percent.
    row_labels : dict
        ``method -> the table's row label``.
    """

    key: str
    source: str
    columns: tuple[str, ...]
    headers: tuple[str, ...]
    rows: dict[tuple[str, str], tuple[tuple[float, ...], float]]
    row_labels: dict[str, str]


_FG = ("imagenet", "caltech101", "pets", "cars", "flowers", "food101", "aircraft", "sun397", "dtd", "eurosat",
       "ucf101")
_SHIFTS = ("imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch")
_CTPT = "C-TPT (Yoon et al., ICLR 2024), seminar notes' copy"
_OTPT = "ashshaksharifdeen/O-TPT@010276a2409e4e6467dca7fea1708a2b7ff640d0 README.md"
_ATPT = "MB-Shihab-Aaqil-Ahamed/A-TPT@23e1311faa3a0d98ab13be83ae22c184715ae902 README.md"
_ATPT_FG_COLUMNS = ("imagenet", "dtd", "flowers", "food101", "sun397", "aircraft", "pets", "caltech101", "ucf101",
                    "eurosat", "cars")
_ATPT_FG_HEADERS = ("ImageNet", "DTD", "Flowers102", "Food101", "SUN397", "Aircrafts", "OxfordPets", "Caltech101",
                    "UCF101", "EuroSAT", "Stanford Cars")
_ATPT_SHIFT_HEADERS = ("ImageNet-A", "ImageNet-V2", "ImageNet-R", "ImageNet-S")
_ATPT_LABELS = {"zeroshot": "Baseline", "tpt": "TPT", "ctpt": "C-TPT", "otpt": "O-TPT", "atpt": "A-TPT (Ours)"}

_TABLES = (
    PublishedTable(
        "ctpt-table1-vitb16-hard", f"{_CTPT}, Table 1 (fine-grained), CLIP-ViT-B/16 HardPrompt rows", _FG,
        ("ImageNet", "Caltech", "Pets", "Cars", "Flower", "Food101", "Aircraft", "SUN397", "DTD", "EuroSAT",
         "UCF101"),
        {
            ("zeroshot", "acc"): ((66.7, 92.9, 88.0, 65.3, 67.3, 83.6, 23.9, 62.5, 44.3, 41.3, 65.0), 63.7),
            ("zeroshot", "ece"): ((2.12, 5.50, 4.37, 4.25, 3.00, 2.39, 5.11, 2.53, 8.50, 7.40, 3.59), 4.43),
            ("tpt", "acc"): ((69.0, 93.8, 87.1, 66.3, 69.0, 84.7, 23.4, 65.5, 46.7, 42.4, 67.3), 65.0),
            ("tpt", "ece"): ((10.6, 4.51, 5.77, 5.16, 13.5, 3.98, 16.8, 11.3, 21.2, 21.5, 13.0), 11.6),
            ("ctpt", "acc"): ((68.5, 93.6, 88.2, 65.8, 69.8, 83.7, 24.0, 64.8, 46.0, 43.2, 65.7), 64.8),
            ("ctpt", "ece"): ((3.15, 4.24, 1.90, 1.59, 5.04, 3.43, 4.36, 5.04, 11.9, 13.2, 2.54), 5.13),
        },
        {"zeroshot": "CLIP-ViT-B/16 HardPrompt", "tpt": "+TPT HardPrompt", "ctpt": "+TPT HardPrompt +C-TPT"},
    ),
    PublishedTable(
        "ctpt-table2-vitb16-hard", f"{_CTPT}, Table 2 (natural shifts), CLIP-ViT-B/16 HardPrompt rows", _SHIFTS,
        ("ImageNet-A", "ImageNet-V2", "ImageNet-R", "ImageNet-Sketch"),
        {
            ("zeroshot", "acc"): ((47.8, 60.8, 74.0, 46.1), 57.2),
            ("zeroshot", "ece"): ((8.61, 3.01, 3.58, 4.95), 5.04),
            ("tpt", "acc"): ((52.6, 63.0, 76.7, 47.5), 59.9),
            ("tpt", "ece"): ((16.4, 11.1, 4.36, 16.1), 12.0),
            ("ctpt", "acc"): ((51.6, 62.7, 76.0, 47.9), 59.6),
            ("ctpt", "ece"): ((8.16, 6.23, 1.54, 7.35), 5.82),
        },
        {"zeroshot": "CLIP-ViT-B/16 HardPrompt", "tpt": "+TPT HardPrompt", "ctpt": "+TPT HardPrompt +C-TPT"},
    ),
    PublishedTable(
        "otpt-readme-vitb16", f"{_OTPT}, 'Comparison of calibration performance with CLIP-ViTB/16 backbone'", (
            "imagenet", "dtd", "flowers", "food101", "sun397", "aircraft", "pets", "caltech101", "ucf101",
            "eurosat", "cars"),
        ("INet", "DfID", "FLW", "Food", "SUN", "Air", "Pets", "Calt", "UCF", "SAT", "Car"),
        {
            ("zeroshot", "acc"): ((66.7, 44.3, 67.3, 83.6, 62.5, 23.9, 88.0, 92.9, 65.0, 41.3, 65.3), 63.7),
            ("zeroshot", "ece"): ((2.12, 8.50, 3.00, 2.39, 2.53, 5.11, 4.37, 5.50, 3.59, 13.89, 4.25), 4.43),
            ("tpt", "acc"): ((69.0, 46.7, 69.0, 84.7, 64.5, 23.4, 87.1, 93.8, 67.3, 42.4, 66.3), 65.0),
            ("tpt", "ece"): ((10.6, 21.2, 13.5, 3.98, 11.3, 16.8, 5.77, 4.51, 2.54, 13.2, 5.16), 11.6),
            ("ctpt", "acc"): ((68.5, 46.0, 69.8, 83.7, 64.8, 24.85, 88.2, 93.63, 65.7, 43.2, 65.8), 64.57),
            ("ctpt", "ece"): ((3.15, 11.9, 5.04, 3.43, 5.04, 4.36, 1.9, 4.24, 2.54, 13.2, 1.59), 5.13),
            ("otpt", "acc"): ((67.33, 45.68, 70.07, 84.13, 64.23, 23.64, 87.95, 93.95, 64.16, 42.84, 64.53), 64.41),
            ("otpt", "ece"): ((1.96, 7.88, 3.87, 1.46, 4.93, 3.68, 1.9, 3.8, 2.34, 12.98, 1.78), 4.21),
        },
        {"zeroshot": "Zero Shot", "tpt": "TPT", "ctpt": "C-TPT", "otpt": "O-TPT (Ours)"},
    ),
    PublishedTable(
        "otpt-readme-vitb16-shifts", f"{_OTPT}, '... CLIP-ViTB/16 backbone on Natural distribution shift datasets'",
        _SHIFTS, ("I-A", "I-V2", "I-R", "I-S"),
        {
            ("zeroshot", "acc"): ((47.8, 60.8, 74.0, 46.1), 57.2),
            ("zeroshot", "ece"): ((8.61, 3.01, 3.58, 4.95), 5.04),
            ("tpt", "acc"): ((52.6, 63.0, 76.7, 47.5), 59.9),
            ("tpt", "ece"): ((16.4, 11.1, 4.36, 16.1), 12.0),
            ("ctpt", "acc"): ((51.6, 62.7, 76.0, 47.9), 59.6),
            ("ctpt", "ece"): ((8.16, 6.23, 1.54, 7.35), 5.82),
            ("otpt", "acc"): ((49.87, 61.65, 72.55, 47.12), 57.80),
            ("otpt", "ece"): ((7.22, 3.97, 1.46, 6.87), 4.88),
        },
        {"zeroshot": "CLIP-ViT-B/16", "tpt": "TPT", "ctpt": "C-TPT", "otpt": "O-TPT (Ours)"},
    ),
    PublishedTable(
        "atpt-readme-vitb16",
        f"{_ATPT}, 'Comparison on Fine-grained Datasets', 'CLIP ViT-B/16 (512-d)'",
        _ATPT_FG_COLUMNS, _ATPT_FG_HEADERS,
        {
            ("zeroshot", "acc"): ((66.70, 44.30, 67.30, 83.60, 62.50, 23.90, 88.00, 92.90, 65.00, 41.30, 65.30), 63.70),
            ("zeroshot", "ece"): ((2.12, 8.50, 3.00, 2.39, 2.53, 5.11, 4.37, 5.50, 3.59, 13.89, 4.25), 4.43),
            ("tpt", "acc"): ((69.00, 46.70, 69.00, 84.70, 64.50, 23.40, 87.10, 93.80, 67.30, 42.40, 66.30), 65.00),
            ("tpt", "ece"): ((10.60, 21.20, 13.50, 3.98, 11.30, 16.80, 5.77, 4.51, 2.54, 13.20, 5.16), 11.60),
            ("ctpt", "acc"): ((68.50, 46.00, 69.80, 83.70, 64.80, 24.85, 88.20, 93.63, 65.70, 43.20, 65.80), 64.57),
            ("ctpt", "ece"): ((3.15, 11.90, 5.04, 3.43, 5.04, 4.36, 1.90, 4.24, 2.54, 13.20, 1.59), 5.13),
            ("otpt", "acc"): ((67.33, 45.68, 70.07, 84.13, 64.23, 23.64, 87.95, 93.95, 64.16, 42.84, 64.53), 64.41),
            ("otpt", "ece"): ((1.96, 7.88, 3.87, 1.46, 4.93, 3.68, 1.90, 3.80, 2.34, 12.98, 1.78), 4.23),
            ("atpt", "acc"): ((67.70, 45.51, 69.22, 83.64, 66.04, 23.76, 88.33, 93.87, 66.16, 44.06, 65.78), 64.92),
            ("atpt", "ece"): ((1.45, 4.76, 3.61, 1.37, 3.28, 3.14, 1.17, 2.76, 2.12, 3.92, 1.09), 2.61),
        },
        _ATPT_LABELS,
    ),
    PublishedTable(
        "atpt-readme-vitb16-shifts",
        f"{_ATPT}, 'Comparison on Natural Distribution Shift Datasets', 'CLIP ViT-B/16 (512-d)'",
        _SHIFTS, _ATPT_SHIFT_HEADERS,
        {
            ("zeroshot", "acc"): ((47.80, 60.80, 74.00, 46.10), 57.20),
            ("zeroshot", "ece"): ((8.61, 3.01, 3.58, 4.95), 5.04),
            ("tpt", "acc"): ((52.60, 63.00, 76.70, 47.50), 59.90),
            ("tpt", "ece"): ((16.40, 11.10, 4.36, 16.10), 12.00),
            ("ctpt", "acc"): ((51.60, 62.70, 76.00, 47.90), 59.60),
            ("ctpt", "ece"): ((8.16, 6.23, 1.54, 7.35), 5.82),
            ("otpt", "acc"): ((49.87, 61.65, 72.55, 47.12), 57.80),
            ("otpt", "ece"): ((7.22, 3.97, 1.46, 6.87), 4.88),
            ("atpt", "acc"): ((50.39, 60.90, 74.87, 46.09), 58.06),
            ("atpt", "ece"): ((6.45, 2.96, 1.39, 4.87), 3.92),
        },
        _ATPT_LABELS,
    ),
)

#: The published tables by key (model CLIP ViT-B/16, OpenAI weights, HardPrompt "a photo of a").
FAMILY_TABLES: dict[str, PublishedTable] = {t.key: t for t in _TABLES}

_TABLES_RN50 = (
    PublishedTable(
        "atpt-readme-rn50",
        f"{_ATPT}, 'Comparison on Fine-grained Datasets', 'CLIP RN50 (1024-d)'",
        _ATPT_FG_COLUMNS, _ATPT_FG_HEADERS,
        {
            ("zeroshot", "acc"): ((58.10, 40.00, 61.00, 74.00, 58.60, 15.60, 83.80, 85.80, 58.40, 23.70, 55.70), 55.90),
            ("zeroshot", "ece"): ((2.09, 9.91, 3.19, 3.11, 3.54, 6.45, 5.91, 4.33, 3.05, 15.40, 4.70), 5.61),
            ("tpt", "acc"): ((60.70, 41.50, 62.50, 74.90, 61.10, 17.00, 84.50, 87.00, 59.50, 28.30, 58.00), 57.70),
            ("tpt", "ece"): ((11.40, 25.70, 13.40, 5.25, 9.24, 16.10, 3.65, 5.04, 12.40, 22.50, 3.76), 11.70),
            ("ctpt", "acc"): ((60.20, 42.20, 65.20, 74.70, 61.00, 17.00, 84.10, 86.90, 59.70, 27.80, 56.50), 57.75),
            ("ctpt", "ece"): ((3.01, 19.80, 4.14, 1.86, 2.93, 10.70, 2.77, 2.07, 3.83, 15.10, 1.94), 6.19),
            ("otpt", "acc"): ((58.97, 41.90, 65.61, 74.22, 60.85, 16.77, 83.40, 86.86, 58.84, 28.35, 56.44), 57.47),
            ("otpt", "ece"): ((3.10, 16.53, 2.50, 1.20, 3.20, 8.18, 3.50, 2.75, 2.60, 14.71, 1.69), 5.45),
            ("atpt", "acc"): ((58.44, 40.90, 64.89, 74.10, 60.46, 14.58, 83.48, 86.57, 60.24, 32.14, 57.08), 57.53),
            ("atpt", "ece"): ((2.49, 6.41, 2.39, 1.11, 2.90, 6.14, 2.47, 1.98, 2.34, 2.51, 1.38), 2.92),
        },
        _ATPT_LABELS,
    ),
    PublishedTable(
        "atpt-readme-rn50-shifts",
        f"{_ATPT}, 'Comparison on Natural Distribution Shift Datasets', 'CLIP RN50 (1024-d)'",
        _SHIFTS, _ATPT_SHIFT_HEADERS,
        {
            ("zeroshot", "acc"): ((21.70, 51.40, 56.00, 33.30), 40.60),
            ("zeroshot", "ece"): ((21.30, 3.33, 2.07, 3.15), 7.46),
            ("tpt", "acc"): ((25.20, 54.60, 58.90, 35.10), 43.50),
            ("tpt", "ece"): ((31.00, 13.10, 9.18, 13.70), 16.70),
            ("ctpt", "acc"): ((23.40, 54.70, 58.00, 35.10), 42.80),
            ("ctpt", "ece"): ((25.40, 8.58, 4.57, 9.70), 12.10),
            ("otpt", "acc"): ((23.07, 53.11, 54.47, 33.98), 41.16),
            ("otpt", "ece"): ((24.56, 3.87, 4.47, 5.85), 9.69),
            ("atpt", "acc"): ((21.66, 51.48, 55.78, 33.37), 40.57),
            ("atpt", "ece"): ((21.14, 3.10, 3.96, 3.09), 7.82),
        },
        _ATPT_LABELS,
    ),
)

#: The A-TPT README's CLIP RN50 tables (another backbone: not in :data:`FAMILY_TABLES`).
FAMILY_TABLES_RN50: dict[str, PublishedTable] = {t.key: t for t in _TABLES_RN50}


def recompute_averages(tables: dict[str, PublishedTable] | None = None,
                       tolerance: float = AVERAGE_TOLERANCE) -> list[dict[str, Any]]:
    """Each printed average next to the mean of its own cells.

    Parameters
    ----------
    tables : dict, optional
        Default :data:`FAMILY_TABLES`.
    tolerance : float
        ``flagged`` where ``|printed - recomputed| > tolerance`` (percentage points).

    Returns
    -------
    list of dict
        Keys ``table, source, method, row, metric, printed, recomputed, difference, flagged``.
    """
    out = []
    for t in (tables or FAMILY_TABLES).values():
        for (method, metric), (cells, printed) in t.rows.items():
            if len(cells) != len(t.columns):
                raise ValueError(f"{t.key} {method}/{metric}: {len(cells)} cells for {len(t.columns)} columns")
            mean = sum(cells) / len(cells)
            out.append({"table": t.key, "source": t.source, "method": method, "row": t.row_labels[method],
                        "metric": metric, "printed": printed, "recomputed": round(mean, 4),
                        "difference": round(printed - mean, 4), "flagged": abs(printed - mean) > tolerance})
    return out


def cell_conflicts(tables: dict[str, PublishedTable] | None = None) -> list[dict[str, Any]]:
    """Cells that two tables print differently for the same method, metric and dataset.

    Parameters
    ----------
    tables : dict, optional
        Default :data:`FAMILY_TABLES`.

    Returns
    -------
    list of dict
        Keys ``method, metric, dataset`` and, per side, ``table_a, column_a, value_a`` /
        ``table_b, column_b, value_b`` (the table's own column header).
    """
    cells: dict[tuple[str, str, str], list[tuple[str, str, float]]] = {}
    for t in (tables or FAMILY_TABLES).values():
        for (method, metric), (values, _) in t.rows.items():
            for dataset, header, v in zip(t.columns, t.headers, values, strict=True):
                cells.setdefault((method, metric, dataset), []).append((t.key, header, v))
    out = []
    for (method, metric, dataset), seen in cells.items():
        first = seen[0]
        for other in seen[1:]:
            if abs(other[2] - first[2]) > 1e-9:
                out.append({"method": method, "metric": metric, "dataset": dataset,
                            "table_a": first[0], "column_a": first[1], "value_a": first[2],
                            "table_b": other[0], "column_b": other[1], "value_b": other[2]})
    return out
