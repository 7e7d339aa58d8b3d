"""vlmcal_utils.study.paper_models: Tu et al.'s models as data, loadable by the named loader."""

from __future__ import annotations

import open_clip

from vlmcal_utils.papers.tu2024 import TU2024_N_VLMS
from vlmcal_utils.study import paper_models as pm


def test_every_open_clip_entry_is_a_published_pair():
    published = set(open_clip.list_pretrained())
    for m in pm.PAPER_MODELS:
        assert m.loader == "open_clip" and (m.arch, m.pretrained) in published, m
        assert m.paper_name and m.source
    assert len({(m.arch, m.pretrained) for m in pm.PAPER_MODELS}) == len(pm.PAPER_MODELS)


def test_unloadable_ones_say_why_and_the_list_says_it_is_unchecked():
    assert any(m.paper_name == "BLIP" for m in pm.UNLOADABLE_MODELS)
    assert all(m.loader is None and m.why_not for m in pm.UNLOADABLE_MODELS)
    assert pm.PAPER_LIST_CHECKED is False  # flips to True only after comparing with the paper's list
    assert "supplementary" in pm.PAPER_LIST_MISSING and "35 VLMs" in pm.PAPER_LIST_MISSING
    # while unchecked, no entry may claim to be the paper's: each source says it is not checked
    assert all("not checked" in m.source for m in (*pm.PAPER_MODELS, *pm.PAPER_BASELINES))
    assert "LAVIS" in next(m for m in pm.UNLOADABLE_MODELS if m.paper_name == "BLIP").source
    assert pm.missing_from_paper_list() == TU2024_N_VLMS - len(pm.PAPER_MODELS) - len(pm.UNLOADABLE_MODELS) > 0


def test_loadable_models_match_chapter_3s_parameter_form():
    assert ["RN50", "openai"] in pm.loadable_models("open_clip")
    assert all(p is True for _, p in pm.loadable_models("timm"))
    assert all(m.loader == "timm" for m in pm.PAPER_BASELINES)
