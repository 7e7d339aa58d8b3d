"""The results page generator (vlmcal_book.report) on small hand-made results files."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from vlmcal_book.report import DEMO_MARK, Row, ctpt_paper_table, find_results, main, publish, render_page
from vlmcal_utils.papers import CTPT_TABLE_COLUMNS, NOT_QUOTED, PAPER_NUMBERS
from vlmcal_utils.results import RESULTS_FILENAME, SchemaError, save_results
from vlmcal_utils.scores import Scores
from vlmcal_utils.views.chapter_results import SCHEMAS, chapter1_results, chapter4_results

# hand-made records (the page's arithmetic is checked, not the scoring)
_BEFORE = Scores(n=10000, accuracy=0.9, mean_confidence=0.95, ece={15: 0.0525}, mce=0.2, nll=0.4, brier=0.12,
                 smooth_ece=0.06, debiased_ece=0.052, ece_interval=(0.05, 0.055))
_AFTER = Scores(n=10000, accuracy=0.9, mean_confidence=0.9, ece={15: 0.01}, mce=0.1, nll=0.3, brier=0.11,
                smooth_ece=0.012, debiased_ece=0.009, ece_interval=(0.008, 0.012), temperature=2.5)


def _ch1(folder: Path, real: bool = True, source: str = "markus93_densenet40_cifar10.npz",
         extra_models: list | None = None) -> Path:
    results = chapter1_results(
        data=dict(source=source, is_real=real, model="DenseNet-40, CIFAR-10",
                  description="DenseNet-40 — published logits from github.com/x/y@abc", n_val=5000),
        before=_BEFORE, after=_AFTER, toy=dict(mean_confidence={"model 1": 0.788}, accuracy=0.8),
        extra_models=extra_models or [],
    )
    save_results(folder / "01_calibration_basics", results,
                 params={"logits_path": "/somewhere/shared/data/logits/x.npz"}, device="cpu")
    return folder / "01_calibration_basics" / RESULTS_FILENAME


def _ch4_demo(folder: Path) -> Path:
    results = chapter4_results(
        model="vlmcal-demo", pretrained=None, demo=True, prompt_correlation={}, temperatures={},
        # the scoring record of a TPT run (vlmcal_utils.tpt.summarise), fractions
        table=[{"dataset": "demo", "init": "hard", "method": "tpt", "n": 50, "accuracy": 0.6, "mean_confidence": 0.7,
                "ece_20": 0.125, "ece_15": 0.11, "ece_lo": 0.08, "ece_hi": 0.17, "mce": 0.3, "nll": 1.1, "brier": 0.5,
                "smooth_ece": 0.0925, "debiased_ece": 0.085, "temperature": 1.0, "atfd": 0.1, "seconds": 0.2,
                "orthogonality": 0.4, "min_angle": 1.0}],
        paper_comparison=[],
    )
    save_results(folder / "04_ctpt", results, params={"datasets": ["demo"], "n_samples": 50})
    return folder / "04_ctpt" / RESULTS_FILENAME


def test_paper_numbers_beside_real_numbers_with_delta(tmp_path):
    _ch1(tmp_path / "published")
    page = render_page(find_results([tmp_path / "published"]))
    assert page.startswith("(results)=\n# ")
    line = next(ln for ln in page.splitlines() if ln.startswith("| ECE before TS"))
    # paper 3.28 %, ours 5.25 %: delta +1.97 points, and the bootstrap interval in percent
    assert "| 3.28 % | 5.25 % | +1.97 pp | [5.00, 5.50] |" in line
    # the verdict is stated when it is unfavourable too, with a link to where the number is printed
    assert "differs: ours higher (paper outside our interval)" in line and "(https://arxiv.org/abs/1706.04599)" in line
    assert "Guo et al. 2017, Table 1" in page
    assert "device**: cpu" in page
    # chapters without files say so instead of showing numbers
    ch3 = page.split("## Chapter 3")[1].split("## Chapter 4")[0]
    assert "No real results for this chapter yet" in ch3 and "%" not in ch3


def test_paper_numbers_come_from_the_package_with_provenance():
    guo = PAPER_NUMBERS["guo2017_densenet40_cifar10"]
    assert guo.values == {"ece_before": 3.28, "ece_after": 0.33}
    assert "Table 1" in guo.where and "DenseNet 40" in guo.where
    assert guo.url.startswith("https://")
    # the seminar deck's rounded summary of Tu et al. is not a paper number: refused, with the reason
    assert "tu2024_avg_ece_after_ts" not in PAPER_NUMBERS and "seminar" in NOT_QUOTED["tu2024_avg_ece_after_ts"]


def test_verdicts_go_both_ways():
    assert Row("q", 5.0, 3.0, (4.0, 6.0)).verdict == "differs: ours higher (paper outside our interval)"
    assert Row("q", 1.0, 3.0, (0.5, 2.0)).verdict == "differs: ours lower (paper outside our interval)"
    assert Row("q", 3.1, 3.0, (2.0, 4.0)).verdict == "paper inside our interval"
    assert Row("q", 2.0, 3.0).verdict == "ours lower (no interval)"
    assert Row("q", 2.0).verdict == "—"


def test_ctpt_paper_table_shows_ours_only_for_a_real_run_covering_the_table():
    datasets = [d for _, d in CTPT_TABLE_COLUMNS["Table 2"] if d is not None]
    rows = [{"dataset": d, "init": "hard", "method": "tpt", "paper_accuracy": 0.0, "accuracy": (50.0 + i) / 100,
             "paper_ece_20": 0.0, "ece_20": 0.05} for i, d in enumerate(datasets)]  # fractions: percent on the page
    real = {"results": {"demo": False, "model": "ViT-B-16", "paper_comparison": rows}}
    line = next(x for x in ctpt_paper_table([real]).splitlines()
                if x.startswith("| Table 2 | CLIP-ViT-B/16 / HardPrompt / +TPT | acc"))
    assert "| 59.90 | 59.95 | 51.50 |" in line and "arxiv.org/abs/2403.14119" in line
    for other in ({"results": {**real["results"], "demo": True}},
                  {"results": {**real["results"], "paper_comparison": rows[:3]}}):
        assert "51.50" not in ctpt_paper_table([other])
    # a run of the other backbone fills that backbone's rows only
    rn50 = ctpt_paper_table([{"results": {**real["results"], "model": "RN50"}}]).splitlines()
    assert "51.50" in next(x for x in rn50 if x.startswith("| Table 2 | CLIP-RN50 / HardPrompt / +TPT | acc"))
    assert "51.50" not in next(x for x in rn50 if x.startswith("| Table 2 | CLIP-ViT-B/16 / HardPrompt / +TPT | acc"))


def test_extra_models_are_read_by_key(tmp_path):
    """Rows of the chapter's extra models (stage keys and records) are stored and read as keys."""
    rows = [{"model": "DenseNet-BC-100", "stage": "before_ts",
             **replace(_BEFORE, ece={15: 0.1447}, accuracy=0.75).as_row()},
            {"model": "DenseNet-BC-100", "stage": "after_ts",
             **replace(_AFTER, ece={15: 0.0137}, accuracy=0.75).as_row()}]
    path = _ch1(tmp_path / "published", extra_models=rows)
    saved = json.loads(path.read_text())["results"]["extra_models"]
    assert [r["stage"] for r in saved] == ["before_ts", "after_ts"] and saved[0]["ece_15"] == 0.1447
    page = render_page(find_results([tmp_path / "published"]))
    assert "| DenseNet-BC-100: ECE before TS | — | 14.47 % |" in page
    assert "| DenseNet-BC-100: ECE after TS | — | 1.37 % |" in page


def test_a_file_without_the_schema_keys_is_refused(tmp_path, capsys):
    """An old, free-form results file (a key named "", display labels) is an error, not a blank page."""
    path = _ch1(tmp_path / "published")
    payload = json.loads(path.read_text())
    payload["results"]["extra_models"] = [{"model": "m", "": "after TS", "ECE": 0.1}]
    path.write_text(json.dumps(payload))
    with pytest.raises(SchemaError, match="extra_models"):
        render_page(find_results([tmp_path / "published"]))
    assert main(["--out", str(tmp_path / "page.md"), "--published", str(tmp_path / "published")]) == 1
    assert "SchemaError" in capsys.readouterr().err


def test_no_paper_number_for_synthetic_or_other_models(tmp_path):
    _ch1(tmp_path / "a", real=False)
    page = render_page(find_results([tmp_path / "a"])).split("## Chapter 1")[1]
    assert "3.28" not in page and DEMO_MARK in page
    _ch1(tmp_path / "b", real=True, source="netcal_lenet5_cifar10.npz")
    page = render_page(find_results([tmp_path / "b"])).split("## Chapter 1")[1]
    assert "3.28" not in page and DEMO_MARK not in page


def test_demo_rows_are_marked_and_never_published(tmp_path, capsys):
    run = tmp_path / "run"
    _ch4_demo(run)
    _ch1(run)
    page = render_page(find_results([run]))
    ch4 = page.split("## Chapter 4")[1]
    assert f"+TPT: ECE (20 bins) {DEMO_MARK}" in ch4 and "paper" not in ch4.split("\n\n")[1]
    # the bin-free and the debiased ECE stand beside the 20-bin one
    assert f"| demo hard +TPT: smooth ECE {DEMO_MARK} | 9.25 % |" in ch4
    assert f"| demo hard +TPT: debiased ECE (20 bins) {DEMO_MARK} | 8.50 % |" in ch4
    written = publish(run, tmp_path / "published")
    assert [p.parent.name for p in written] == ["01_calibration_basics"]
    assert "skipping" in capsys.readouterr().out


def test_publish_rewrites_machine_paths(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    monkeypatch.setenv("VLMCAL_SHARED", str(shared))
    run = tmp_path / "run"
    path = _ch1(run)
    payload = json.loads(path.read_text())
    payload["params"]["logits_path"] = str(shared / "data/logits/x.npz")
    path.write_text(json.dumps(payload))
    (out,) = publish(run, tmp_path / "pub")
    assert json.loads(out.read_text())["params"]["logits_path"] == "${VLMCAL_SHARED}/data/logits/x.npz"


def test_command_line(tmp_path):
    _ch1(tmp_path / "published")
    out = tmp_path / "page.md"
    assert main(["--out", str(out), "--published", str(tmp_path / "published")]) == 0
    assert "| ECE after TS (15 bins) | 0.33 % | 1.00 % | +0.67 pp |" in out.read_text()
    assert main(["--publish", str(tmp_path / "empty"), "--published", str(tmp_path / "p")]) == 1
    with pytest.raises(SystemExit):
        main([])


def test_committed_results_page_is_up_to_date(repo_root, tmp_path):
    """book/results.md is what the report makes of results/published/ (regenerate: make results-page)."""
    page = render_page(find_results([repo_root / "results" / "published"]))
    assert (repo_root / "book" / "results.md").read_text() == page


def test_committed_page_shows_chapter_2_and_every_chapter_3_verdict(repo_root):
    """The published runs' chapter 2 numbers and all six verdicts (unfavourable ones too) reach the page."""
    from vlmcal_book.report import VERDICTS_BEGIN, VERDICTS_END, chapter2, verdicts_table
    from vlmcal_utils.results import load_results

    published = repo_root / "results" / "published"
    ch3 = load_results(published / "03_empirical_study" / "results.json", SCHEMAS)
    table = verdicts_table(ch3, detailed=False)
    verdicts = [v for v in ch3["results"]["verdicts"] if v["study"] == "published"]
    assert table is not None and len(table.splitlines()) == 2 + len(verdicts)
    assert all(f"**{v['verdict']}**" in table for v in verdicts)
    page = (repo_root / "book" / "results.md").read_text()
    assert page.index(VERDICTS_BEGIN) < page.index(table) < page.index(VERDICTS_END)  # the short one, included
    assert verdicts_table(ch3, detailed=True) in page and "rule" in verdicts_table(ch3, detailed=True)
    # the conclusion page includes exactly that block
    conclusion = (repo_root / "book" / "conclusion.md").read_text()
    assert VERDICTS_BEGIN in conclusion and VERDICTS_END in conclusion
    rows, _ = chapter2(load_results(published / "02_zero_shot_clip" / "results.json", SCHEMAS))
    assert any("swahili" in r.quantity and r.interval for r in rows)
    assert chapter2({"results": {"published_clip_cifar10": None}}) is None  # no file: no rows
