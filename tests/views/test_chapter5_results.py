"""vlmcal_utils.views.chapter5_results: chapter 5's fixed keys, registered with the other chapters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import papers, tpt
from vlmcal_utils.results import SchemaError, load_results, save_results
from vlmcal_utils.views.chapter5_results import CHAPTER5, chapter5_results
from vlmcal_utils.views.chapter_results import SCHEMAS


def _record(seed: int = 0) -> dict:
    """The scoring record of 40 synthetic TPT rows (vlmcal_utils.tpt.summarise), fractions."""
    rng = np.random.default_rng(seed)
    rows = [{"logits": list(rng.normal(size=5) * 3), "label": int(rng.integers(5)), "atfd": 0.3,
             "orthogonality": 0.5, "min_angle": 1.2, "seconds": 0.1} for _ in range(40)]
    return tpt.summarise(rows, (20,), n_boot=50)


def _table():
    rows = [{"dataset": "demo-photo", "init": "hard", "method": m, **_record(i)}
            for i, m in enumerate(tpt.FAMILY_METHODS)]
    return pd.DataFrame(rows).set_index(["dataset", "init", "method"])


def test_chapter5_builds_saves_and_loads(tmp_path):
    assert SCHEMAS["05_after_ctpt"] is CHAPTER5
    hp = [{"method": "atpt", "family": "fine-grained", "lam": 80.0, "tau": 0.99999, "source": "x"}]
    res = chapter5_results(model="vlmcal-demo", pretrained=None, demo=True, table=_table(), hparams=hp,
                           recomputed_averages=papers.recompute_averages(), cell_conflicts=papers.cell_conflicts())
    save_results(tmp_path, res, params={})
    back = load_results(tmp_path, SCHEMAS)
    rows = back["results"]["table"] if "results" in back else back["table"]
    assert [r["method"] for r in rows] == list(tpt.FAMILY_METHODS)
    assert rows[0]["mean_confidence"] == pytest.approx(_record(0)["mean_confidence"]) and rows[0]["accuracy"] <= 1
    assert rows[0]["smooth_ece"] == pytest.approx(_record(0)["smooth_ece"]) and rows[0]["ece_lo"] <= rows[0]["ece_20"]
    missing = [{k: v for k, v in rows[0].items() if k != "smooth_ece"}]  # the estimators are fixed keys
    with pytest.raises(SchemaError, match="smooth_ece"):
        chapter5_results(model="m", pretrained=None, demo=True, table=missing, hparams=hp,
                         recomputed_averages=[], cell_conflicts=[])
    with pytest.raises(SchemaError, match="unknown 'bogus'"):
        chapter5_results(model="m", pretrained=None, demo=True, table=[{**rows[0], "bogus": 1}], hparams=hp,
                         recomputed_averages=[], cell_conflicts=[])


def test_results_page_family_table_shows_paper_cells_and_ours_only_for_real_full_runs():
    from vlmcal_book.report import family_table  # book tooling, not in the wheel (imported here only)

    t = papers.FAMILY_TABLES["ctpt-table2-vitb16-hard"]
    rows = [{"dataset": d, "init": "hard", "method": "ctpt", "paper_accuracy": 0.0, "accuracy": (50.0 + i) / 100,
             "paper_ece_20": 0.0, "ece_20": 0.05, "source": t.key} for i, d in enumerate(t.columns)]
    real = {"results": {"demo": False, "paper_comparison": rows}}
    text = family_table([real])
    line = next(x for x in text.splitlines() if x.startswith(f"| {t.key} | +TPT HardPrompt +C-TPT | acc"))
    assert "| 59.60 | 59.55 | 51.50 |" in line  # printed, cells, ours = mean(50, 51, 52, 53)
    assert line.endswith("(https://arxiv.org/abs/2403.14119) |")  # a link to where the numbers are printed
    assert "⚠" in next(x for x in text.splitlines() if x.startswith("| otpt-readme-vitb16 | C-TPT | acc"))
    demo = {"results": {"demo": True, "paper_comparison": rows}}
    partial = {"results": {"demo": False, "paper_comparison": rows[:2]}}
    for other in (demo, partial):
        assert "51.50" not in family_table([other])
