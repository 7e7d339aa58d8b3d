"""vlmcal_utils.views.chapter5: the family's table, verdicts and the published tables' flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils import papers, tpt
from vlmcal_utils.views import chapter5 as ch5


def _record(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    rows = [{"logits": list(rng.normal(size=4) * 2), "label": int(rng.integers(4)), "atfd": 0.3,
             "orthogonality": 0.2, "min_angle": np.pi / 4, "seconds": 0.1} for _ in range(40)]
    return tpt.summarise(rows, (20,))


def _table() -> pd.DataFrame:
    rows = [{"dataset": "d", "init": "hard", "method": m, **_record(i)} for i, m in enumerate(tpt.FAMILY_METHODS)]
    return pd.DataFrame(rows).set_index(["dataset", "init", "method"])


def test_display_table_is_percent_and_degrees():
    table = _table()
    shown = ch5.display_table(table)
    assert shown.loc[("d", "hard", "tpt"), "ece20"] == pytest.approx(100 * table.loc[("d", "hard", "tpt"), "ece_20"],
                                                                     abs=1e-3)
    assert shown["min_angle"].iloc[0] == pytest.approx(45.0)


def test_verdict_lines_compare_with_tpt_and_ctpt():
    table = _table()
    e = table["ece_20"]
    line = ch5.verdict_lines(table, demo=True)
    assert line.startswith("DEMO d/hard, ECE(20 bins, %): ctpt ")
    below = e[("d", "hard", "atpt")] < e[("d", "hard", "tpt")]
    assert f"atpt {100 * e[('d', 'hard', 'atpt')]:.1f} ({'below' if below else 'not below'} TPT's" in line


def test_flagged_lines_name_every_flagged_average():
    averages = pd.DataFrame(papers.recompute_averages())
    text = ch5.flagged_lines(averages)
    assert text.splitlines()[0].startswith(f"{int(averages.flagged.sum())} of {len(averages)} printed averages")
    assert len(text.splitlines()) == 1 + int(averages.flagged.sum())


def test_hparams_and_methods():
    assert {(r["method"], r["family"]) for r in ch5.hparams_table()} == set(tpt.FAMILY_SOURCES)
    with pytest.raises(ValueError, match="methods must come from"):
        ch5._check_methods(["bogus"])
