"""vlmcal_utils.study.paper_models: Tu et al.'s models as far as they can be known, each saying how."""

from __future__ import annotations

from pathlib import Path

import open_clip
import yaml

from vlmcal_utils.papers import tu2024
from vlmcal_utils.papers.tu2024 import TU2024_N_VLMS
from vlmcal_utils.study import paper_models as pm

REPO = Path(__file__).resolve().parents[2]


def test_every_open_clip_entry_is_a_published_pair_inferred_from_the_figure():
    published = set(open_clip.list_pretrained())
    for m in pm.PAPER_MODELS:
        assert m.loader == "open_clip" and (m.arch, m.pretrained) in published, m
        assert m.inferred and "inferred from Tu et al.'s Figure 1, not the paper's list" in m.source
        assert m.accuracy_gap is not None and 0 <= m.accuracy_gap <= 0.0015
    assert len({(m.arch, m.pretrained) for m in pm.PAPER_MODELS}) == len(pm.PAPER_MODELS) >= 20
    matches = tu2024.openclip_matches()
    assert {(m.arch, m.pretrained) for m in pm.PAPER_MODELS} == set(
        zip(matches["model"], matches["pretrained"], strict=True))


def test_markers_are_identified_or_listed_as_not_identified():
    counts = pm.marker_counts()
    # the ImageNet-R panel holds all of the paper's VLMs: identified + not identified = 35
    assert counts["markers"] == counts["paper_n_vlms"] == TU2024_N_VLMS
    assert counts["not_identified"] == len(pm.UNIDENTIFIED_MARKERS) > 0
    assert all(m.loader is None and m.why_not.startswith("not identified") and not m.inferred
               for m in pm.UNIDENTIFIED_MARKERS)


def test_unloadable_and_baselines_say_why():
    assert all(m.loader is None and "not loadable" in m.why_not for m in pm.UNLOADABLE_MODELS)
    assert any("BLIP" in m.paper_name and "LAVIS" in m.source for m in pm.UNLOADABLE_MODELS)
    assert pm.PAPER_LIST_CHECKED is False  # flips to True only after comparing with the paper's list
    assert "supplementary" in pm.PAPER_LIST_MISSING and "35 VLMs" in pm.PAPER_LIST_MISSING
    # the baselines are ours: never claimed to be the figure's ImageNet-trained models
    assert all("not matched" in m.source and not m.inferred for m in pm.PAPER_BASELINES)
    assert "timm" in pm.BASELINES_NOT_MATCHED and "results" in pm.BASELINES_NOT_MATCHED


def test_loadable_models_match_chapter_3s_parameter_form_and_the_paper_set():
    assert ["ViT-B-16", "openai"] in pm.loadable_models("open_clip")
    assert all(p is True for _, p in pm.loadable_models("timm"))
    section = yaml.safe_load((REPO / "params" / "paper.yaml").read_text())["03_empirical_study"]
    assert section["models"] == pm.loadable_models("open_clip")
    assert section["baselines"] == pm.loadable_models("timm")


def test_the_listing_marks_every_model():
    lines = pm.describe_paper_models()
    assert sum("INFERRED" in line for line in lines) == len(pm.PAPER_MODELS)
    assert sum("NOT IDENTIFIED" in line for line in lines) == len(pm.UNIDENTIFIED_MARKERS)
    assert sum("NOT LOADABLE" in line for line in lines) == len(pm.UNLOADABLE_MODELS)
