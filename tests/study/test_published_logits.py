"""Tests for vlmcal_utils.study.published_logits: tasks on the published logits files."""

from __future__ import annotations

import numpy as np

from vlmcal_utils import study
from vlmcal_utils.data import published_entries
from vlmcal_utils.study.published_logits import cifar10_entries


def test_cifar10_study_files_come_from_the_registry():
    entries = cifar10_entries()
    assert [e.family for e in entries] == ["vlm"] * 4 + ["baseline"] * 4  # VLMs first
    everything = published_entries(dataset="CIFAR-10")
    assert {e.name for e in everything} - {e.name for e in entries} == {"cleanlab_cv_cifar10_test"}
    assert [e.model for e in entries[:4]] == study.study_vlms() == [
        "CLIP ViT-B/32", "SigLIP ViT-B/16", "SigLIP2 ViT-B/16", "BiomedCLIP"]
    assert set(study.OFF_DOMAIN) <= set(study.study_vlms())


def test_missing_files_are_skipped(tmp_path):
    assert study.published_tasks(tmp_path) == [] and study.published_pairs(tmp_path) == []


def test_published_tasks_use_common_test_images(shared, tmp_path, monkeypatch):
    from vlmcal_utils.data import resolve_published_dir

    monkeypatch.setenv("VLMCAL_CACHE", str(tmp_path))  # the folder of links is made in the cache
    names = [e.name for e in cifar10_entries() + published_entries(dataset="DermaMNIST", family="vlm")]
    folder, _ = resolve_published_dir(names, download=False)  # two shared folders: a folder of links
    tasks = {t.model: t for t in study.published_tasks(folder)}
    assert {t.model for t in tasks.values() if t.family == "vlm"} == set(study.study_vlms())
    assert set(tasks) == {e.model for e in cifar10_entries()}
    assert {t.family for t in tasks.values()} == {"vlm", "baseline"}
    clip, dense = tasks["CLIP ViT-B/32"].load(), tasks["DenseNet-40"].load()
    assert tasks["CLIP ViT-B/32"].source == "clip_vitb32_cifar10_zeroshot.npz"
    assert set(clip) == {"cal", "test", "test_french", "test_chinese", "test_swahili", "dermamnist"}
    assert set(dense) == {"cal", "test"}
    np.testing.assert_array_equal(clip["test"][1], dense["test"][1])  # test[5000:] for both
    assert dense["test"][0].shape == (5000, 10) and clip["dermamnist"][0].shape[1] == 7
    no_shift = study.published_tasks(shared / "data/logits", with_shifts=False)[0].load()
    assert set(no_shift) == {"cal", "test"}


def test_published_pairs_order_and_count(shared):
    pairs = study.published_pairs(shared / "data/logits")  # BiomedCLIP's CIFAR-10 file is elsewhere: DermaMNIST only
    assert len(pairs) == 16  # 3 VLMs x 4 languages on CIFAR-10 + 4 models on DermaMNIST
    assert {p["model"] for p in pairs} <= set(study.study_vlms())
    assert [(p["model"], p["dataset"]) for p in pairs[:4]] == [
        ("CLIP ViT-B/32", "CIFAR-10"), ("CLIP ViT-B/32", "CIFAR-10 (french names)"),
        ("CLIP ViT-B/32", "CIFAR-10 (chinese names)"), ("CLIP ViT-B/32", "CIFAR-10 (swahili names)")]
    # DermaMNIST: the CIFAR-10 models' weights first, in the same order, then BiomedCLIP
    assert [p["model"] for p in pairs if p["dataset"] == "DermaMNIST"] == [
        "CLIP ViT-B/32", "SigLIP ViT-B/16", "SigLIP2 ViT-B/16", "BiomedCLIP"]
    derma = pairs[-1]
    assert derma["cal"][0].shape == (7007, 7) and derma["test"][0].shape == (2005, 7)
