"""vlmcal_utils.papers.ctpt.CTPT_PROVENANCE: every C-TPT cell has a recorded check, and the checks hold."""

from __future__ import annotations

import re

import pytest

from vlmcal_utils import papers
from vlmcal_utils.papers import ctpt
from vlmcal_utils.papers.family import AVERAGE_TOLERANCE, FAMILY_TABLES, FAMILY_TABLES_RN50

# the A-TPT README's copies of C-TPT's HardPrompt rows (transcribed in papers.family), per (table, model)
_README_TABLES = {("Table 1", "ViT-B-16"): FAMILY_TABLES["atpt-readme-vitb16"],
                  ("Table 2", "ViT-B-16"): FAMILY_TABLES["atpt-readme-vitb16-shifts"],
                  ("Table 1", "RN50"): FAMILY_TABLES_RN50["atpt-readme-rn50"],
                  ("Table 2", "RN50"): FAMILY_TABLES_RN50["atpt-readme-rn50-shifts"]}
# papers.ctpt's dataset names -> papers.family's (the two modules name four fine-grained sets differently)
_FT_NAME = {"oxford-pets": "pets", "stanford-cars": "cars", "flowers102": "flowers", "fgvc-aircraft": "aircraft"}


def _cells():
    """``(table, model, init, method, metric, header, dataset or None, value, row)`` for every cell."""
    for table, columns in ctpt.CTPT_TABLE_COLUMNS.items():
        for row in ctpt.ctpt_table(table):
            for header, dataset in columns:
                yield (table, row["model"], row["init"], row["method"], row["metric"], header, dataset,
                       row[header], row)


def _readme_value(table, model, method, metric, dataset):
    """The A-TPT README's cell (its printed average for ``dataset=None``)."""
    t = _README_TABLES[table, model]
    cells, average = t.rows[method, metric]
    if dataset is None:
        return average
    return cells[t.columns.index(_FT_NAME.get(dataset, dataset))]


def _numbers(text):
    return {float(x) for x in re.findall(r"\d+\.\d+", text)}


def test_every_cell_has_a_check_and_every_entry_names_cells():
    cells = list(_cells())
    assert len(cells) == 2 * 2 * 3 * 2 * (12 + 5)  # models, inits, rows, metrics; 11 + 4 datasets and 2 averages
    checks = {c[:6]: ctpt.ctpt_cell_check(*c[:6]) for c in cells}
    assert {c.kind for c in checks.values()} <= set(ctpt.CHECK_KINDS)
    blocks = {c[:3] for c in cells}
    for key in ctpt.CTPT_PROVENANCE:  # no entry for a block or a cell that does not exist
        assert key in blocks if len(key) == 3 else key in checks, key
    # the Ensemble rows have no second source; no HardPrompt cell lacks one
    assert all((c.kind == "single-source") == (key[2] == "ensemble") for key, c in checks.items())
    with pytest.raises(KeyError, match="no provenance"):
        ctpt.ctpt_cell_check("Table 3", "RN50", "hard", "tpt", "acc", "DTD")


def test_confirmed_cells_are_the_readme_numbers_and_the_rest_differ():
    for table, model, init, method, metric, header, dataset, value, _ in _cells():
        if init != "hard":
            continue
        readme = _readme_value(table, model, method, metric, dataset)
        kind = ctpt.ctpt_cell_check(table, model, init, method, metric, header).kind
        assert (kind == "confirmed") == (readme == value), (table, model, method, metric, header, value, readme)


def test_rounding_cells_agree_to_the_printed_digits():
    for table, model, init, method, metric, header, dataset, value, row in _cells():
        check = ctpt.ctpt_cell_check(table, model, init, method, metric, header)
        if check.kind != "rounding":
            continue
        readme = _readme_value(table, model, method, metric, dataset)
        assert 0 < abs(readme - value) <= AVERAGE_TOLERANCE and {readme, value} <= _numbers(check.note)
        if dataset is None:  # an average: both sides are the mean of the same cells, rounded
            assert abs(readme - row["recomputed"]) <= AVERAGE_TOLERANCE >= abs(value - row["recomputed"])


def test_copy_errors_keep_the_side_whose_row_adds_up():
    rows_with_errors = set()
    for table, model, init, method, metric, header, dataset, value, row in _cells():
        check = ctpt.ctpt_cell_check(table, model, init, method, metric, header)
        if check.kind != "copy-error":
            continue
        readme = _readme_value(table, model, method, metric, dataset)
        assert readme != value and {readme, value} <= _numbers(check.note), check.note
        # the seminar's row: its printed average is the mean of its cells
        assert abs(row["Average"] - row["recomputed"]) <= AVERAGE_TOLERANCE
        rows_with_errors.add((table, model, method, metric))
    # the README's same rows: its printed average is not the mean of its own cells
    readme_vit = {"t": _README_TABLES["Table 1", "ViT-B-16"]}
    flagged = {(r["method"], r["metric"]) for r in papers.recompute_averages(readme_vit) if r["flagged"]}
    assert rows_with_errors == {("Table 1", "ViT-B-16", m, k) for m, k in flagged}
    assert flagged == {("zeroshot", "ece"), ("tpt", "acc"), ("tpt", "ece"), ("ctpt", "acc")}


def test_counts_reach_the_source_line_the_pages_print():
    counts = ctpt.ctpt_provenance_counts()
    assert counts == {"hard": {"confirmed": 195, "rounding": 3, "copy-error": 6}, "ensemble": {"single-source": 204}}
    source = ctpt.ctpt_table("Table 2")[0]["source"]
    assert "195 are the same, 3 the same to rounding, 6 differ" in source and "204 Ensemble cells" in source
    assert "not re-read" not in source


def test_the_checked_cells_listed_on_the_page_are_those_the_counts_count():
    """Chapter 4 lists these cells instead of quoting them: every copy error and rounding, none twice."""
    counts = ctpt.ctpt_provenance_counts()
    for kind in ("copy-error", "rounding"):
        listed = ctpt.ctpt_checked_cells((kind,))
        assert len(listed) == sum(by_kind.get(kind, 0) for by_kind in counts.values()) > 0
        assert all(row["check"] == kind and row["note"] for row in listed)
        keys = [tuple(row[k] for k in ("table", "model", "init", "method", "metric", "column")) for row in listed]
        assert len(set(keys)) == len(keys)
        for row, key in zip(listed, keys, strict=True):  # the value kept is the one the table prints
            printed = next(r for r in ctpt.ctpt_table(key[0])
                           if (r["model"], r["init"], r["method"], r["metric"]) == key[1:5])
            assert printed[key[5]] == row["kept"]
    with pytest.raises(ValueError, match="unknown check kinds"):
        ctpt.ctpt_checked_cells(("typo",))
