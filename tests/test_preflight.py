"""Pre-flight (vlmcal_utils.preflight, paper_sets --check): everything missing at once, before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlmcal_utils import preflight
from vlmcal_utils.preflight import Need

REPO = Path(__file__).resolve().parents[1]
#: C-TPT's datasets (params/paper.yaml, chapters 4 and 5): the 15 a clean clone lacks
CTPT_DATASETS = ("imagenet", "caltech101", "oxford-pets", "stanford-cars", "flowers102", "food101", "fgvc-aircraft",
                 "sun397", "dtd", "eurosat", "ucf101", "imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch")


def test_run_needs_reads_the_chapters_parameters(tmp_path):
    needs = preflight.run_needs("04_ctpt", {"model": "ViT-B-16", "pretrained": "openai", "datasets": ["dtd", "eurosat"],
                                            "device": "cuda", "data_root": str(tmp_path)})
    assert [(n.kind, n.name) for n in needs] == [("dataset", "dtd"), ("dataset", "eurosat"),
                                                ("weights", "ViT-B-16 openai"), ("gpu", "cuda")]
    assert needs[0].query == (str(tmp_path), "paper", "")  # real weights: the papers' split files
    # chapter 3 opens images only where it runs models; "imagenet" stands for the set and its four shifts
    assert preflight.run_needs("03_empirical_study", {"models": [], "datasets": ["imagenet"], "logits_dir": None}) == []
    ch3 = preflight.run_needs("03_empirical_study", {"models": [["RN50", "openai"]], "datasets": ["imagenet"]})
    assert {n.name for n in ch3 if n.kind == "dataset"} == {"imagenet", "imagenet-v2", "imagenet-sketch",
                                                            "imagenet-a", "imagenet-r"}
    assert ("published", "published logits") in {(n.kind, n.name) for n in ch3}  # logits_dir defaults to "auto"
    # a notebook the module does not know: only what its values name
    assert preflight.run_needs("tiny", {"seed": 1}) == []


def test_fallbacks_are_found_without_importing_anything_heavy(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    plumbing = {"model": "ViT-B-32", "pretrained": "random", "dataset": "demo-photo"}
    needs = preflight.merge_needs(preflight.run_needs("04_ctpt", {}) + preflight.run_needs("05_after_ctpt", {})
                                  + preflight.run_needs("02_zero_shot_clip", plumbing))
    checked = {(n.kind, n.name): n for n in preflight.check(needs)}
    assert checked["dataset", "demo-photo"].status == "fallback"
    assert checked["dataset", "demo-photo"].users == ("04_ctpt", "05_after_ctpt", "02_zero_shot_clip")
    assert checked["weights", "vlmcal-demo None"].status == "fallback"
    assert checked["weights", "ViT-B-32 random"].status == "fallback" and "random" in checked[
        "weights", "ViT-B-32 random"].detail
    assert checked["published", "published logits"].status == "fallback"  # offline, no shared copy


def test_blocking_refuses_fallbacks_only_where_the_set_requires_real_data():
    needs = [Need("dataset", "demo-photo", "fallback", users=("04_ctpt",)),
             Need("published", "published logits", "fallback", users=("01_calibration_basics",)),
             Need("gpu", "cuda", "missing", users=("04_ctpt",)), Need("dataset", "dtd", "ok", users=("04_ctpt",)),
             Need("weights", "ViT-B-16 openai", "download", users=("04_ctpt",))]
    assert [n.name for n in preflight.blocking(needs)] == ["cuda"]
    assert [n.name for n in preflight.blocking(needs, True)] == ["demo-photo", "published logits", "cuda"]
    assert [n.name for n in preflight.blocking(needs, ["01_calibration_basics"])] == ["published logits", "cuda"]
    text = preflight.format_needs(needs[:1], {"demo-photo": type("S", (), {"n": 12})()})
    assert "FALLBACK" in text and "demo-photo (12 test images)" in text and "[chapter 04]" in text


def test_a_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    (need,) = preflight.check(preflight.run_needs("04_ctpt", {"model": "RN50", "pretrained": "openai",
                                                              "datasets": ["imagenet-a"], "data_root": str(tmp_path)}
                                                  )[:1])
    assert need.status == "missing" and str(tmp_path / "imagenet-a") in need.detail
    assert "github.com/hendrycks/natural-adv-examples" in need.detail


def _env_without_data(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "VLMCAL_SHARED" and not k.startswith("VLMCAL_DATA")}
    return {**env, "VLMCAL_DATA": str(tmp_path), "VLMCAL_OFFLINE": "1", "PYTHONPATH": str(REPO),
            "HF_HOME": str(tmp_path / "hf")}


@pytest.mark.slow
def test_paper_check_lists_every_missing_dataset_and_the_gpu_at_once(tmp_path):
    """Done-when of issue 24: without data or GPU, the paper set's check fails listing all of it, runs nothing."""
    done = subprocess.run([sys.executable, "-m", "vlmcal_utils.paper_sets", "params/paper.yaml", "--check"],
                          cwd=REPO, env=_env_without_data(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr
    missing = {line.split()[2] for line in done.stdout.splitlines() if line.strip().startswith("MISSING  dataset")}
    assert set(CTPT_DATASETS) <= missing and "domainnet" in missing
    assert "MISSING  weights   ViT-B-16 openai" in done.stdout  # offline, nothing in the (empty) hub cache
    import torch

    if not torch.cuda.is_available():
        assert "MISSING  gpu" in done.stdout
    assert "pre-flight: NOT READY" in done.stdout and "grid cells" in done.stdout
    assert "GPU-hours: not estimated" in done.stdout and " unknown " not in done.stdout
    assert not (REPO / "results" / "paper").exists()


def test_demo_sets_pass_the_check(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vlmcal_utils.paper_sets", "params/sweep-demo.yaml", "--check"],
                          cwd=REPO, env=_env_without_data(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FALLBACK dataset   demo-photo" in done.stdout and "pre-flight: ready" in done.stdout
