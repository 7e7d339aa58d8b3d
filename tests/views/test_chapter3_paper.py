"""vlmcal_utils.views.chapter3_paper: Tu et al.'s Figure 1 from package data, ours in a panel apart."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from tests.study.synthetic import make_tasks
from vlmcal_utils import study
from vlmcal_utils.papers import tu2024
from vlmcal_utils.views import chapter3 as report
from vlmcal_utils.views import chapter3_paper as paper
from vlmcal_utils.views.chapter_results import chapter3_results


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return report.run_study(make_tasks(), tmp_path_factory.mktemp("r") / "g.jsonl", ["all"], 1, n_boot=20)


def test_figure_draws_the_papers_points_and_ours_apart(run):
    table, _ = run
    alone = paper.figure1_figure()
    assert len(alone.axes) == 6 and not plt.get_fignums()
    pts = tu2024.figure1_points()
    first = alone.axes[0]  # before TS, ImageNet: one scatter per marker group, every marker drawn
    sizes = sorted(len(c.get_offsets()) for c in first.collections)
    assert sizes == sorted(pts[pts["target"] == "ID"].groupby("group").size())
    fig = paper.figure1_figure(table)
    FigureCanvasAgg(fig).draw()
    assert len(fig.axes) == 8
    ours = [ax for ax in fig.axes if ax.get_title().startswith("OURS")]
    assert len(ours) == 2 and all(ax.get_facecolor() != first.get_facecolor() for ax in ours)
    # our points are never drawn into the paper's panels: each panel holds exactly its own markers
    ours_rows = table[(table["cell"] == "all") & (table["split"] == "test")]
    titles = {title: target for target, (_, title) in tu2024.FIGURE1_TARGETS.items()}
    for ax in fig.axes:
        n = sum(len(c.get_offsets()) for c in ax.collections)
        if ax in ours:
            assert n == len(ours_rows) // 2  # one method (before or after TS) per row of panels
        else:
            target = titles[ax.get_title().removeprefix("paper: ").rsplit(",", 1)[0]]
            assert n == len(pts[pts["target"] == target])


def test_verdict_boxes_and_results_carry_the_papers_number(run):
    table, lm = run
    _, verdicts = report.judge(table, lm, reference_ece=0.05, n_boot=20)
    assert verdicts and all("paper_detail" in v for v in verdicts)
    one_b = next(v for v in verdicts if v["finding"] == "1b")
    assert "Figure 1" in paper.paper_number_line(one_b) and f"{one_b['paper_estimate']:.3f}" in str(
        report.verdict_box(one_b).paragraphs)
    assert paper.paper_number_line({"finding": "4"}) == ""
    t = paper.paper_table(verdicts)
    assert list(t["finding"]) == [v["finding"] for v in verdicts] and t["paper_verdict"].notna().all()
    r = chapter3_results(logits_dir=None, verdicts=[{"study": "demo", **v} for v in verdicts])
    assert len(r["paper_figure1"]) == 6 and all("Klaus-Tu" in row["source"] for row in r["paper_figure1"])
    assert r["verdicts"][0]["paper_source"].startswith("Tu et al. 2024, Figure 1")


def test_figure_table_is_the_summary_by_panel():
    t = paper.figure1_table()
    assert t.index.names == ["panel", "group"] and len(t) == 6
    assert t.loc[("ImageNet-R", "VLM"), "n"] == 35
    assert study.CLAIMS["1b"].threshold == 0.05  # the summary's default threshold is the claim's


def test_beside_figure1_lines_up_only_inferred_checkpoints_on_imagenet(run):
    table, _ = run
    assert "No model" in paper.beside_figure1(table).title  # synthetic models: no marker beside them
    one = table[table["model"] == table["model"].iloc[0]]
    renamed = one.assign(model="ViT-B-16 (openai)", dataset="imagenet")
    both = paper.beside_figure1(renamed)
    assert set(both["split"]) == {"test"} and both["paper"].notna().all() and both["ours"].notna().all()
    assert "15 equal-width bins" in str(paper.beside_figure1(renamed.rename(columns={"ece_15": "ece_10"})))
