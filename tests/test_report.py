"""The results page generator (vlmcal_utils.report) on small hand-made results files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vlmcal_utils.report import DEMO_MARK, find_results, main, publish, render_page
from vlmcal_utils.results import save_results


def _ch1(folder: Path, real: bool = True, source: str = "markus93_densenet40_cifar10.npz") -> Path:
    return save_results(
        folder / "01_calibration_basics", "01_calibration_basics",
        {"source": source, "is_real": real, "model": "DenseNet-40, CIFAR-10",
         "description": "DenseNet-40 — published logits from github.com/x/y@abc", "n_val": 5000, "n_test": 10000,
         "temperature": 2.5, "accuracy_before": 0.9, "ece_before": 0.0525, "ece_after": 0.01,
         "ece_before_ci": [0.05, 0.055], "ece_after_ci": [0.008, 0.012]},
        params={"logits_path": "/somewhere/shared/data/logits/x.npz"}, device="cpu",
    )


def _ch4_demo(folder: Path) -> Path:
    return save_results(
        folder / "04_ctpt", "04_ctpt",
        {"model": "vlmcal-demo", "pretrained": None, "demo": True, "paper_comparison": [],
         "table": [{"dataset": "demo", "method": "+TPT", "ece20": 12.5, "acc": 60.0}]},
        params={"datasets": ["demo"], "n_samples": 50},
    )


def test_paper_numbers_beside_real_numbers_with_delta(tmp_path):
    _ch1(tmp_path / "published")
    page = render_page(find_results([tmp_path / "published"]))
    assert page.startswith("(results)=\n# ")
    line = next(ln for ln in page.splitlines() if ln.startswith("| ECE before TS"))
    # paper 3.28 %, ours 5.25 %: delta +1.97 points, and the bootstrap interval in percent
    assert "| 3.28 % | 5.25 % | +1.97 pp | [5.00, 5.50] |" in line
    assert "Guo et al. 2017, Table 1" in page
    assert "device**: cpu" in page
    # chapters without files say so instead of showing numbers
    ch3 = page.split("## Chapter 3")[1].split("## Chapter 4")[0]
    assert "No real results for this chapter yet" in ch3 and "%" not in ch3


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
