"""vlmcal_utils.papers.ctpt: C-TPT's Tables 1-2, the cells chapter 4 compares with, Fig. 2's caption."""

from __future__ import annotations

import pytest

from vlmcal_utils import papers
from vlmcal_utils.papers import ctpt

SHIFTS = ["imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch"]


def test_paper_tables_carry_their_provenance():
    rows = papers.PAPER_TABLES
    assert len(rows) == 2 * 2 * 7 * 3  # inits x models x datasets x methods
    assert len({(r.model, r.dataset, r.init, r.method) for r in rows}) == len(rows)
    for r in rows:
        assert r.table == ("Table 2" if r.dataset in SHIFTS else "Table 1")
        assert r.column and r.row.startswith("CLIP-") and 0 < r.accuracy < 100 and 0 < r.ece < 100
    vit = papers.paper_results("ViT-B-16", "imagenet", "hard")
    assert [(r.method, r.accuracy, r.ece) for r in vit] == [("zeroshot", 66.7, 2.12), ("tpt", 69.0, 10.6),
                                                            ("ctpt", 68.5, 3.15)]
    assert vit[2].row == "CLIP-ViT-B/16 / HardPrompt / +TPT+C-TPT" and vit[2].column == "ImageNet"
    ens = papers.paper_results("RN50", "imagenet-a", "ensemble")
    assert [(r.accuracy, r.ece) for r in ens] == [(22.7, 17.0), (26.9, 29.1), (25.6, 27.0)]
    assert ens[0].table == "Table 2" and ens[0].column == "ImageNet-A"
    # ImageNet's shared validation photos compare with the paper's ImageNet column
    assert papers.paper_results("RN50", "imagenet-shared", "hard") == papers.paper_results("RN50", "imagenet", "hard")
    assert papers.paper_results("ViT-B-32", "imagenet", "hard") == []
    assert papers.paper_results("RN50", "demo-photo", "hard") == []


def test_paper_results_are_immutable():
    with pytest.raises(AttributeError):
        papers.PAPER_TABLES[0].accuracy = 1.0


def test_ctpt_tables_in_full_with_provenance():
    t1, t2 = ctpt.ctpt_table("Table 1"), ctpt.ctpt_table("Table 2")
    # 2 models x 2 initialisations x 3 rows x 2 metrics
    assert len(t1) == len(t2) == 24
    headers1 = [h for h, _ in ctpt.CTPT_TABLE_COLUMNS["Table 1"]]
    assert len(headers1) == 12 and headers1[-1] == "Average"
    for row in t1 + t2:
        assert "Yoon et al., ICLR 2024" in row["source"] and row["table"] in row["source"]
        # every printed average follows from its row's cells, to the printed rounding
        assert row["Average"] == pytest.approx(row["recomputed"], abs=0.051), (row["row"], row["metric"])
    cell = next(r for r in t1
                if (r["model"], r["init"], r["method"], r["metric"]) == ("ViT-B-16", "hard", "tpt", "ece"))
    assert (cell["ImageNet"], cell["EuroSAT"], cell["Average"]) == (10.6, 21.5, 11.6)
    assert cell["row"] == "CLIP-ViT-B/16 / HardPrompt / +TPT"
    with pytest.raises(ValueError, match="Table 1"):
        ctpt.ctpt_table("Table 3")


def test_figures_store_only_what_their_captions_state():
    assert ctpt.CTPT_FIG2_MEAN_PEARSON == {"RN50": -0.70, "ViT-B-16": -0.76}
    assert "caption" in ctpt.CTPT_FIG2_SOURCE
    assert "no numbers" in ctpt.CTPT_FIG4_NOTE
    assert ctpt.CTPT_PAPER_URL.startswith("https://arxiv.org/abs/2403.14119")


def test_ctpt_against_tpt_from_the_printed_averages():
    t1, t2 = ctpt.ctpt_vs_tpt("Table 1"), ctpt.ctpt_vs_tpt("Table 2")
    assert len(t1) == len(t2) == 4  # 2 models x 2 initialisations
    vit = next(r for r in t1 if (r["model"], r["init"]) == ("ViT-B-16", "hard"))
    assert (vit["ece_tpt"], vit["ece_ctpt"]) == (11.6, 5.13)
    assert vit["ece_reduction"] == pytest.approx(1 - 5.13 / 11.6, abs=1e-4)
    # the paper's summary: about half of TPT's ECE removed on Table 1, accuracy within a point
    assert all(0.45 < r["ece_reduction"] < 0.6 for r in t1)
    assert max(r["ece_reduction"] for r in t2) == pytest.approx(0.515, abs=1e-3)
    assert all(abs(r["acc_change"]) < 1 for r in t1 + t2)
