"""vlmcal_book.costs_page: the cost page's tables come from the cards; cards and cost figures fit paper_sets."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from vlmcal_book import costs_page
from vlmcal_utils.paper_sets import load_cost_figures

ROOT = Path(__file__).resolve().parents[2]


def _cost_card_module():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("cost_card", ROOT / "benchmarks" / "cost_card.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _gpu_card() -> dict:
    tuning = []
    for k, (slow, fast, batched) in {10: (0.5, 0.1, 0.03), 100: (0.8, 0.12, 0.08), 1000: (2.0, 0.5, 0.4)}.items():
        tuning += [
            {"kind": "tuning", "arch": "RN50", "classes": k, "mode": "straightforward", "images": 4,
             "seconds_per_image": slow, "cpu_seconds_per_image": slow, "peak_mb": 3000.0, "reserved_mb": 3500.0},
            {"kind": "tuning", "arch": "RN50", "classes": k, "mode": "default", "images": 4,
             "seconds_per_image": fast, "cpu_seconds_per_image": fast, "peak_mb": 2000.0,
             "reserved_mb": 20000.0 if k == 1000 else 2500.0, "max_abs_logit_diff": 0.01},
            {"kind": "tuning", "arch": "RN50", "classes": k, "mode": "batched", "batch": 8,
             "seconds_per_image": batched, "cpu_seconds_per_image": batched, "peak_mb": 9000.0, "reserved_mb": 9500.0},
        ]
    return {
        "schema": costs_page.SCHEMA, "created": "2026-12-02T07:00:00+00:00",
        "command": "python benchmarks/cost_card.py",
        "device": {"type": "cuda", "name": "NVIDIA Test GPU", "slug": "nvidia-test-gpu", "cpus": 16,
                   "torch": "2", "open_clip": "3", "cuda": "13"},
        "config": {"archs": ["RN50"], "classes": [10, 100, 1000], "threads": 16, "views": 64, "method": "ctpt",
                   "weights": "random", "view_image": [375, 500], "note": ""},
        "tuning": tuning, "features": [{"arch": "RN50", "batch": 256, "images": 2560, "images_per_second": 900.0}],
        "views": [{"kind": "views", "augmix": True, "num_workers": 4, "images": 32, "seconds_per_image": 0.25,
                   "view_seconds_per_image": 0.9}],
        "end_to_end": [{"kind": "end_to_end", "arch": "RN50", "classes": 1000, "method": "ctpt", "images": 32,
                        "augmix": True, "num_workers": None, "workers_used": 8, "seconds_per_image": 0.6,
                        "row_seconds": 0.58, "view_seconds": 0.9},
                       {"kind": "end_to_end", "arch": "RN50", "classes": 1000, "method": "ctpt", "images": 32,
                        "augmix": True, "num_workers": 0, "workers_used": 0, "seconds_per_image": 1.5,
                        "row_seconds": 1.5, "view_seconds": 0.9}],
        "skipped": [{"kind": "tuning", "arch": "RN50", "classes": 1000, "mode": "batched", "batch": 32,
                     "skipped": "time budget spent"}],
        "wall_seconds": 400.0,
    }


def test_the_book_page_is_up_to_date():
    page = ROOT / "book" / "costs.md"
    assert costs_page.is_up_to_date(page, ROOT / "benchmarks" / "results", ROOT / "params" / "paper.yaml"), \
        "run `python -m vlmcal_book.costs_page`"


def test_targets_are_checked_from_the_numbers():
    targets = {(t["target"], t["arch"]): t for t in _cost_card_module().check_targets(_gpu_card())}
    assert targets["K=1000 C-TPT within 16 GB", "RN50"]["status"] == "missed"  # 20000 MiB reserved > 16 GB
    assert targets["batched >= 2x default images/s at K=10", "RN50"]["status"] == "met"  # 0.1 / 0.03 = 3.3x
    assert targets["batched >= 2x default images/s at K=100", "RN50"]["status"] == "missed"  # 1.5x
    assert "1.50x" in targets["batched >= 2x default images/s at K=100", "RN50"]["detail"]
    assert targets["default >= 3x straightforward images/s at K=1000", "RN50"]["status"] == "met"  # 4x


def test_a_gpu_card_and_its_cost_figures_make_the_page(tmp_path):
    cc = _cost_card_module()
    card = _gpu_card()
    card["targets"] = cc.check_targets(card)
    (tmp_path / "nvidia-test-gpu.json").write_text(json.dumps(card))
    # the card is not a cost figure; the figures file is, with the model and method names paper_sets uses
    assert load_cost_figures(tmp_path) == {}
    (tmp_path / "nvidia-test-gpu-cost-figures.json").write_text(json.dumps(cc.cost_figures(card)))
    figs = load_cost_figures(tmp_path)
    assert set(figs) == {("RN50", "ctpt")} and figs["RN50", "ctpt"].seconds_per_image == 0.6
    assert figs["RN50", "ctpt"].n_views == 64
    text = costs_page.costs_section(tmp_path, ROOT / "params" / "paper.yaml")
    assert "no GPU measured yet" not in text
    assert "| RN50 | 1000 | library default | 1 | 0.50 | 2.00 | 0.50 | 20000 | 0.01 |" in text
    assert "| K=1000 C-TPT within 16 GB | RN50 | missed | peak 20.97 GB |" in text
    assert "Not measured (time budget spent): tuning RN50 K=1000 batched B=32." in text
    # GPU-hours: only the RN50 C-TPT cells have a measured cost; the paper's total stays unknown
    assert "| ctpt |" in text and "cells without a measured cost" in text
    assert "| RN50 | ctpt | 1000 | 8 (the default) | 0.600 |" in text and "| RN50 | ctpt | 1000 | 0 | 1.500 |" in text
    # a CPU card gives no cost figures: paper_sets reads them as GPU seconds
    cpu = {**card, "device": {**card["device"], "type": "cpu"}}
    assert cc.cost_figures(cpu) == []


def test_without_a_gpu_card_the_page_says_so(tmp_path):
    text = costs_page.costs_section(tmp_path / "none", ROOT / "params" / "paper.yaml")
    assert "CPU only; no GPU measured yet" in text and "No cost card" in text
    assert "Unknown until a GPU cost card is measured" in text
    page = tmp_path / "page.md"
    page.write_text("# t\n\ntext\n")
    with pytest.raises(ValueError, match="marker"):
        costs_page.write_page(page, tmp_path, ROOT / "params" / "paper.yaml")
    page.write_text(f"# t\n\n{costs_page.BEGIN}\nold\n{costs_page.END}\n\nafter\n")
    costs_page.write_page(page, tmp_path / "none", ROOT / "params" / "paper.yaml")
    out = page.read_text()
    assert "old" not in out and out.endswith(f"{costs_page.END}\n\nafter\n") and "No cost card" in out
