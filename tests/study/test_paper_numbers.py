"""vlmcal_utils.study.paper_numbers: our grid rows beside the paper's numbers, NaN where it has none."""

from __future__ import annotations

import numpy as np
import pytest

from vlmcal_utils import study
from vlmcal_utils.papers.tu2024 import TU2024_CELLS, PaperCell
from vlmcal_utils.study import paper_models as pm
from vlmcal_utils.study.paper_numbers import COMPARE_COLUMNS, compare_with_paper, model_label


def _task(model, seed):
    rng = np.random.default_rng(seed)

    def load():
        def split(n):
            y = rng.integers(0, 5, n)
            z = rng.normal(size=(n, 5)) + 3.0 * np.eye(5)[y]
            return z, y
        return {"cal": split(200), "test": split(150), "shifted": split(100)}

    return study.StudyTask(model, "toy", load, source=f"synthetic {seed}")


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    path = tmp_path_factory.mktemp("grid") / "g.jsonl"
    tasks = [_task("RN50 (openai)", 0), _task("ViT-B-16 (openai)", 1)]
    return study.run_grid(tasks, path, n_calib_grid=[20], n_repeats=2, n_boot=0, progress=False)


def test_no_paper_number_is_stored_unchecked():
    assert TU2024_CELLS == ()  # nothing read in the paper itself yet (see the module docstring)
    assert pm.PAPER_LIST_CHECKED is False


def test_every_our_cell_gets_a_nan_paper_column_by_default(table):
    out = compare_with_paper(table)
    assert tuple(out.columns) == COMPARE_COLUMNS
    # 2 models x 2 splits x (none, ts) x (ece, acc): the "all" cells only, no few-samples draws
    assert len(out) == 2 * 2 * 2 * 2 and out["paper"].isna().all() and out["difference"].isna().all()
    full = table[(table["cell"] == "all") & (table["model"] == "RN50 (openai)") & (table["split"] == "test")]
    ece_ts = full.loc[full["method"] == "ts", "ece_15"].item()
    row = out[(out["model"] == "RN50 (openai)") & (out["split"] == "test") & (out["method"] == "ts")
              & (out["quantity"] == "ece_15")]
    assert row["ours"].item() == pytest.approx(ece_ts)


def test_paper_cells_line_up_cell_by_cell(table):
    rn50 = next(m for m in pm.PAPER_MODELS if m.arch == "RN50")
    assert model_label(rn50) == "RN50 (openai)"
    assert model_label(pm.PAPER_BASELINES[0]) == pm.PAPER_BASELINES[0].arch
    cells = [PaperCell(model_label(rn50), "CLIP RN50", "toy", "test", "ts", "ece_15", 0.05, "Table X, row RN50"),
             PaperCell("absent model", "X", "toy", "test", "ts", "ece_15", 0.02, "Table X, row X")]
    out = compare_with_paper(table, cells, quantities=("ece_15",))
    hit = out[(out["model"] == "RN50 (openai)") & (out["split"] == "test") & (out["method"] == "ts")]
    assert hit["paper"].item() == 0.05 and hit["paper_where"].item() == "Table X, row RN50"
    assert hit["difference"].item() == pytest.approx(hit["ours"].item() - 0.05)
    absent = out[out["model"] == "absent model"]
    assert absent["ours"].isna().all() and absent["paper"].item() == 0.02  # the paper's cell we lack
    others = out[(out["model"] != "absent model") & ~out.index.isin(hit.index)]
    assert others["paper"].isna().all() and len(out) == 2 * 2 * 2 + 1
    with pytest.raises(ValueError, match="two paper cells"):
        compare_with_paper(table, cells + cells[:1])
    with pytest.raises(ValueError, match="not a run_grid table"):
        compare_with_paper(table.drop(columns=["cell"]))
