"""vlmcal_utils.papers.tu2024: Tu et al.'s Figure 1 as package data, its loader and its per-panel numbers."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vlmcal_utils.papers import tu2024

_FILES = ("points.csv", "openclip_matches.csv")


def test_package_copy_equals_the_shared_copy():
    if not os.environ.get("VLMCAL_SHARED"):
        pytest.skip("VLMCAL_SHARED is not set: no shared copy to compare with")
    shared = Path(os.environ["VLMCAL_SHARED"]) / "data" / "papers" / "tu2024-figure1"
    packaged = resources.files("vlmcal_utils.papers").joinpath("data/tu2024_figure1")
    for name in _FILES:
        assert packaged.joinpath(name).read_bytes() == (shared / name).read_bytes(), name


def test_points_are_the_figure_35_vlms_and_23_imagenet_models_on_three_targets():
    pts = tu2024.figure1_points()
    assert tuple(pts.columns) == tu2024.FIGURE1_COLUMNS
    counts = pts.groupby(["target", "group"]).size().to_dict()
    # 35 VLM markers in the R panels, 34 in ID and S (one off the axes there); 23 distinct IN markers each
    assert counts == {("ID", "VLM"): 34, ("R", "VLM"): 35, ("S", "VLM"): 34, ("ID", "IN"): 23, ("R", "IN"): 23,
                      ("S", "IN"): 23}
    assert set(pts["dataset"]) == {"imagenet", "imagenet-r", "imagenet-sketch"}
    for col in ("accuracy", "ece_before_ts", "ece_after_ts"):  # fractions, not percent
        assert pts[col].between(0, 1).all() and pts[col].notna().all()
    assert pts["accuracy"].max() > 0.8  # the percent column was divided by 100, once


def test_summary_is_computed_from_the_points():
    pts = tu2024.figure1_points()
    summary = tu2024.figure1_summary(pts).set_index(["target", "group"])
    assert len(summary) == 6 and summary["n"].sum() == len(pts)
    vlm_id = pts[(pts["target"] == "ID") & (pts["group"] == "VLM")]
    row = summary.loc[("ID", "VLM")]
    assert row["ece_after_mean"] == pytest.approx(vlm_id["ece_after_ts"].mean())
    assert row["ece_before_median"] == pytest.approx(np.median(vlm_id["ece_before_ts"]))
    assert row["n_above_after"] == int((vlm_id["ece_after_ts"] > 0.05).sum())
    # the figure's message: TS brings VLMs below the ImageNet-trained models under shift, not the reverse
    for target in ("R", "S"):
        assert summary.loc[(target, "VLM"), "ece_after_mean"] < summary.loc[(target, "IN"), "ece_after_mean"]
    # a threshold and a subset change the counts as they should
    assert tu2024.figure1_summary(pts, above=1.0)["n_above_after"].sum() == 0
    only_r = tu2024.figure1_summary(pts[pts["target"] == "R"])
    assert list(only_r["target"]) == ["R", "R"]


def test_openclip_matches_are_an_inference_within_the_bound():
    m = tu2024.openclip_matches()
    assert len(m) == 23 and not m.duplicated(["model", "pretrained"]).any()
    assert (m["max_gap"] <= 0.0015).all() and m["imagenet_accuracy"].between(0, 1).all()
    assert "inference, not the paper's list" in tu2024.OPENCLIP_MATCHES_SOURCE
    assert ("ViT-B-16", "openai") in set(zip(m["model"], m["pretrained"], strict=True))


def test_provenance_names_the_repository_commit_and_reading():
    assert "Klaus-Tu/VLM_calibrate" in tu2024.FIGURE1_SOURCE and "e7bd6c57" in tu2024.FIGURE1_SOURCE
    assert "±0.001 ECE" in tu2024.FIGURE1_READ
    readme = resources.files("vlmcal_utils.papers").joinpath("data/tu2024_figure1/README.md").read_text()
    assert "e7bd6c5745ff1adf5662991ef27eb12972621397" in readme and "inference" in readme


def test_loader_reads_package_data_not_the_shared_folder(monkeypatch):
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    assert isinstance(tu2024.figure1_points(), pd.DataFrame) and len(tu2024.openclip_matches()) == 23
