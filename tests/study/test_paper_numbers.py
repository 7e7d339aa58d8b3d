"""vlmcal_utils.study.paper_numbers: the paper's figure-level numbers beside our verdicts, per-model cells."""

from __future__ import annotations

import numpy as np
import pytest

from vlmcal_utils import study
from vlmcal_utils.papers import tu2024
from vlmcal_utils.study import paper_models as pm
from vlmcal_utils.study.paper_numbers import (
    COMPARE_COLUMNS,
    PAPER_KEYS,
    PaperCell,
    compare_with_paper,
    figure1_cells,
    figure1_claim_numbers,
    model_label,
    with_paper_numbers,
)


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


def test_every_our_cell_gets_a_nan_paper_column_without_paper_cells(table):
    out = compare_with_paper(table, cells=())
    assert tuple(out.columns) == COMPARE_COLUMNS
    # 2 models x 2 splits x (none, ts) x (ece, acc): the "all" cells only, no few-samples draws
    assert len(out) == 2 * 2 * 2 * 2 and out["paper"].isna().all() and out["difference"].isna().all()
    full = table[(table["cell"] == "all") & (table["model"] == "RN50 (openai)") & (table["split"] == "test")]
    ece_ts = full.loc[full["method"] == "ts", "ece_15"].item()
    row = out[(out["model"] == "RN50 (openai)") & (out["split"] == "test") & (out["method"] == "ts")
              & (out["quantity"] == "ece_15")]
    assert row["ours"].item() == pytest.approx(ece_ts)


def test_paper_cells_line_up_cell_by_cell(table):
    rn50 = pm.PaperModel("CLIP RN50", "open_clip", "RN50", "openai")
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


def test_figure1_cells_are_the_markers_nearest_each_inferred_checkpoint():
    cells = figure1_cells()
    matches = tu2024.openclip_matches()
    # every inferred checkpoint finds a marker in all three panels: 4 cells (acc x2, ECE none/ts) each
    assert len(cells) == len(matches) * 3 * 4
    assert all("inference, not the paper's list" in c.where and c.dataset == "imagenet" for c in cells)
    vit = {(c.split, c.method, c.quantity): c.value for c in cells if c.model == "ViT-B-16 (openai)"}
    pts = tu2024.figure1_points()
    row = matches[(matches["model"] == "ViT-B-16") & (matches["pretrained"] == "openai")].iloc[0]
    sketch = pts[(pts["target"] == "S") & (pts["group"] == "VLM")]
    marker = sketch.loc[(sketch["accuracy"] - row["imagenet_sketch_accuracy"]).abs().idxmin()]
    assert vit["imagenet-sketch", "ts", "ece_15"] == marker["ece_after_ts"]
    assert vit["imagenet-sketch", "none", "accuracy"] == vit["imagenet-sketch", "ts", "accuracy"]
    assert abs(vit["test", "none", "accuracy"] - row["imagenet_accuracy"]) <= 0.0025
    # a checkpoint far from every marker gets no cell
    far = matches.head(1).assign(imagenet_accuracy=0.999, imagenet_r_accuracy=0.999, imagenet_sketch_accuracy=0.999)
    assert figure1_cells(pts, far) == ()


def test_default_comparison_lines_our_imagenet_rows_up_with_the_figure(table):
    names = {"RN50 (openai)": "ViT-B-16 (openai)", "ViT-B-16 (openai)": "a model of ours only"}
    renamed = table.assign(model=table["model"].map(names),
                           dataset="imagenet", split=table["split"].replace({"shifted": "imagenet-r"}))
    out = compare_with_paper(renamed)
    both = out.dropna(subset=["ours", "paper"])
    assert set(both["split"]) == {"test", "imagenet-r"} and set(both["model"]) == {"ViT-B-16 (openai)"}
    assert len(both) == 2 * 2 * 2  # two splits x (none, ts) x (ece, accuracy)


def test_claim_numbers_apply_our_rules_to_the_figure():
    numbers = figure1_claim_numbers()
    assert set(numbers) == set(study.CLAIMS)
    pts = tu2024.figure1_points()
    vlm_id = pts[(pts["target"] == "ID") & (pts["group"] == "VLM")]
    assert numbers["1b"]["paper_estimate"] == vlm_id["ece_after_ts"].max()
    assert numbers["1b"]["paper_verdict"] == ("holds" if (vlm_id["ece_after_ts"] <= 0.05).all() else "partly")
    shifted = pts[pts["target"].isin(["R", "S"]) & (pts["group"] == "VLM")]
    assert numbers["2"]["paper_estimate"] == pytest.approx((shifted["ece_after_ts"] < shifted["ece_before_ts"]).mean())
    assert "ImageNet-trained models" in numbers["2"]["paper_detail"]
    for cid in ("3a", "3b", "4"):  # the figure has no number for these
        assert numbers[cid]["paper_estimate"] is None and "no number" in numbers[cid]["paper_detail"]
    assert all("Klaus-Tu/VLM_calibrate" in n["paper_source"] for n in numbers.values())
    # on a figure where every VLM stays above 0.05 after TS, 1b does not hold by the same rule
    worse = pts.assign(ece_after_ts=0.2)
    assert figure1_claim_numbers(worse)["1b"]["paper_verdict"] == "does not hold here"


def test_verdict_rows_get_the_paper_keys():
    rows = [{"finding": "1b", "estimate": 0.01}, {"finding": "4", "estimate": 0.02}]
    out = with_paper_numbers(rows)
    assert all(set(PAPER_KEYS) <= set(r) for r in out) and out[0]["estimate"] == 0.01
    assert "paper_quantity" not in rows[0]  # new rows, the input is left alone
