"""vlmcal_utils.papers.family: the published cells, their averages recomputed, conflicts found."""

from __future__ import annotations

import dataclasses

import pytest

from vlmcal_utils import papers


def _row(key, method, metric):
    return next(r for r in papers.recompute_averages()
                if (r["table"], r["method"], r["metric"]) == (key, method, metric))


def test_ctpt_accuracy_average_in_the_otpt_readme_against_hand_arithmetic():
    # O-TPT README, ViT-B/16 table, row "C-TPT", "Acc.": the 11 cells as printed
    hand = (68.5 + 46.0 + 69.8 + 83.7 + 64.8 + 24.85 + 88.2 + 93.63 + 65.7 + 43.2 + 65.8) / 11  # = 714.18 / 11
    row = _row("otpt-readme-vitb16", "ctpt", "acc")
    assert row["printed"] == 64.57 and row["recomputed"] == pytest.approx(hand, abs=1e-4)
    assert row["recomputed"] == pytest.approx(64.9255, abs=1e-4) and row["flagged"]
    # C-TPT's own Table 1 row is consistent: 713.3 / 11 = 64.845 -> printed 64.8
    own = _row("ctpt-table1-vitb16-hard", "ctpt", "acc")
    assert own["recomputed"] == pytest.approx(713.3 / 11, abs=1e-4) and not own["flagged"]


def test_atpt_averages_in_the_atpt_readme_against_hand_arithmetic():
    # A-TPT README, "Comparison on Fine-grained Datasets", CLIP ViT-B/16, row "A-TPT (Ours)", "ECE"
    hand = (1.45 + 4.76 + 3.61 + 1.37 + 3.28 + 3.14 + 1.17 + 2.76 + 2.12 + 3.92 + 1.09) / 11  # = 28.67 / 11
    row = _row("atpt-readme-vitb16", "atpt", "ece")
    assert row["printed"] == 2.61 and row["recomputed"] == pytest.approx(hand, abs=1e-4)
    assert row["recomputed"] == pytest.approx(2.6064, abs=1e-4) and not row["flagged"]
    # its copied TPT ECE row keeps C-TPT's printed 11.6 over the O-TPT README's changed cells
    tpt_ece = _row("atpt-readme-vitb16", "tpt", "ece")
    hand = (10.60 + 21.20 + 13.50 + 3.98 + 11.30 + 16.80 + 5.77 + 4.51 + 2.54 + 13.20 + 5.16) / 11  # = 108.56 / 11
    assert tpt_ece["printed"] == 11.6 and tpt_ece["recomputed"] == pytest.approx(hand, abs=1e-4) and tpt_ece["flagged"]
    # the RN50 tables are kept apart (another backbone) and every printed average follows from its cells
    assert not set(papers.FAMILY_TABLES_RN50) & set(papers.FAMILY_TABLES)
    assert not any(r["flagged"] for r in papers.recompute_averages(papers.FAMILY_TABLES_RN50))


def test_conflicts_name_the_copied_cells():
    found = {(c["method"], c["metric"], c["dataset"]): (c["value_a"], c["value_b"]) for c in papers.cell_conflicts()}
    assert found[("zeroshot", "ece", "eurosat")] == (7.40, 13.89)  # C-TPT Table 1 vs the O-TPT README
    assert found[("tpt", "ece", "eurosat")] == (21.5, 13.2)
    assert ("ctpt", "ece", "imagenet-a") not in found  # Table 2 is copied faithfully
    atpt = {(c["method"], c["metric"], c["dataset"]): (c["table_a"], c["value_a"], c["value_b"])
            for c in papers.cell_conflicts() if c["table_b"] == "atpt-readme-vitb16"}
    assert atpt[("tpt", "ece", "ucf101")] == ("ctpt-table1-vitb16-hard", 13.0, 2.54)  # copied from the O-TPT README
    assert not any(c["table_b"] == "atpt-readme-vitb16-shifts" for c in papers.cell_conflicts())


def test_every_table_has_one_cell_per_column():
    for t in (*papers.FAMILY_TABLES.values(), *papers.FAMILY_TABLES_RN50.values()):
        assert len(t.columns) == len(t.headers) and set(t.row_labels) == {m for m, _ in t.rows}
    bad = dataclasses.replace(papers.FAMILY_TABLES["ctpt-table2-vitb16-hard"], rows={("tpt", "acc"): ((1.0,), 1.0)})
    with pytest.raises(ValueError, match="1 cells for 4 columns"):
        papers.recompute_averages({"bad": bad})
