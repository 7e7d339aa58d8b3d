"""vlmcal_utils.paper_sets: the papers' grids expanded into cells, sizes with sources, measured costs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from vlmcal_utils import paper_sets
from vlmcal_utils.paper_sets import PAPER_GRIDS, TEST_SIZES, Cell, CostFigure, expand_cells

REPO = Path(__file__).resolve().parents[1]
SHIFTS = {"imagenet-a", "imagenet-v2", "imagenet-r", "imagenet-sketch"}
FINE = {"caltech101", "oxford-pets", "stanford-cars", "flowers102", "food101", "fgvc-aircraft", "sun397", "dtd",
        "eurosat", "ucf101"}


@pytest.fixture(scope="module")
def paper():
    return yaml.safe_load((REPO / "params" / "paper.yaml").read_text())


def test_ctpt_grid_is_the_papers(paper):
    cells = [c for c in expand_cells(paper) if c.paper == "ctpt"]
    assert {c.dataset for c in cells} == FINE | SHIFTS | {"imagenet"}
    assert {(c.model, c.pretrained) for c in cells} == {("ViT-B-16", "openai"), ("RN50", "openai")}
    tuned = [c for c in cells if c.method in ("tpt", "ctpt")]
    assert {c.init for c in tuned} == {"hard", "ensemble"} and all(c.n_views == 64 for c in tuned)
    # 15 datasets x 2 backbones x 2 inits x 4 methods, plus the 80-prompt pass once per model x dataset
    assert len([c for c in cells if c.method != "prompts80"]) == 15 * 2 * 2 * 4
    assert len([c for c in cells if c.method == "prompts80"]) == 15 * 2
    for c in cells:
        if c.method == "ctpt":
            assert c.lam == (20.0 if c.dataset in SHIFTS else 50.0)
        if c.method in ("tpt", "ctpt"):  # the official scripts' AugMix rule
            assert c.augmix is (c.dataset != "imagenet")
    imagenet = next(c for c in cells if c.dataset == "imagenet" and c.method == "tpt")
    assert imagenet.n_images == 50000 and "ILSVRC" in imagenet.size_source


def test_costs_are_measured_or_unknown(paper):
    cells = expand_cells(paper)
    assert all(c.gpu_hours is None and c.cost_source.startswith("unknown") for c in cells)
    fig = CostFigure("RN50", "tpt", 0.36, n_views=64, device="test GPU", source="bench")
    priced = expand_cells(paper, costs={("RN50", "tpt"): fig})
    dtd = next(c for c in priced if (c.model, c.dataset, c.method, c.init) == ("RN50", "dtd", "tpt", "hard"))
    assert dtd.gpu_hours == pytest.approx(1692 * 0.36 / 3600)
    ts = next(c for c in priced if (c.model, c.dataset, c.method, c.init) == ("RN50", "dtd", "tpt+ts", "hard"))
    assert ts.n_images == paper["04_ctpt"]["n_cal"] and ts.gpu_hours == pytest.approx(ts.n_images * 0.36 / 3600)
    other_views = expand_cells(paper, costs={("RN50", "tpt"): CostFigure("RN50", "tpt", 0.36, n_views=16)})
    assert all(c.gpu_hours is None for c in other_views)
    assert all(c.gpu_hours is None for c in priced if c.model == "ViT-B-16")


def test_expand_cells_is_pure_and_small(paper):
    a, b = expand_cells(paper), expand_cells(paper)
    assert a == b and isinstance(a, tuple) and all(isinstance(c, Cell) for c in a)
    assert expand_cells({}) == () and expand_cells({"04_ctpt": {}}) == ()
    small = expand_cells({"04_ctpt": {"model": "ViT-B-32", "pretrained": "random", "datasets": ["dtd"],
                                      "n_samples": 10, "n_cal": 4, "inits": ["hard"]}},
                         grids={"x": paper_sets.PaperGrid("x", "04_ctpt", methods=("tpt",))})
    assert [(c.model, c.dataset, c.n_images) for c in small] == [("ViT-B-32", "dtd", 10)]



def test_format_cells_prints_a_model_without_a_pretrained_tag():
    cells = expand_cells({"04_ctpt": {"model": "vlmcal-demo", "pretrained": None, "datasets": ["demo-photo"],
                                      "n_samples": 10, "inits": ["hard"]}},
                         grids={"x": paper_sets.PaperGrid("x", "04_ctpt", methods=("tpt",))})
    assert cells[0].pretrained is None
    row = paper_sets.format_cells(cells).splitlines()[1]
    assert row.split()[1:3] == ["vlmcal-demo", "-"]


DOMAINS = {"clipart", "infograph", "painting", "quickdraw", "real", "sketch"}


def test_tu_grid_lists_models_shifts_and_domainnet(paper):
    cells = [c for c in expand_cells(paper) if c.paper == "tu2024"]
    assert {c.dataset for c in cells} == {"cifar10", "imagenet"} | SHIFTS | {f"domainnet-{d}" for d in DOMAINS}
    assert not any("not runnable" in c.note for c in cells)
    from vlmcal_utils.study.paper_models import loadable_models
    assert {(m, p) for m, p in loadable_models("open_clip")} <= {(c.model, c.pretrained) for c in cells}
    vit = {c.dataset: c for c in cells if (c.model, c.pretrained) == ("ViT-B-16", "openai")}
    assert vit["domainnet-real"].note == "T fitted on half of it" and vit["domainnet-sketch"].note == "shift"
    assert vit["domainnet-real"].n_images == 52041 and vit["domainnet-quickdraw"].n_images == 51750
    assert sum(vit[f"domainnet-{d}"].n_images for d in DOMAINS) == TEST_SIZES["domainnet"].n == 176743
    assert vit["imagenet"].n_images == 50000 and vit["imagenet-a"].n_images == 7500
    # baselines only on ImageNet: no DomainNet cell (they have no 345-class head)
    assert not [c for c in cells if c.pretrained == "timm" and c.dataset.startswith("domainnet")]
    # another calibration domain, and image caps
    small = expand_cells({"03_empirical_study": {"models": [["RN50", "openai"]], "datasets": ["domainnet-sketch"],
                                                 "n_images_cal": 100, "n_images_test": 60}})
    by = {c.dataset: c.n_images for c in small}
    assert by == {"domainnet-sketch": 160, **{f"domainnet-{d}": 60 for d in DOMAINS - {"sketch"}}}


def test_tu_experiments_at_the_sections_sizes(paper):
    section = paper["03_empirical_study"]
    few, mismatch, corr = paper_sets.tu_experiments(section)
    n_vlm = len(section["models"]) * len(section["datasets"])
    n_tasks = n_vlm + len(section["baselines"])  # baselines: ImageNet only
    sizes = [n for n in section["n_calib_grid"] if n != "all"]
    assert 40 in sizes and 50 in sizes and section["n_calib_grid"][-1] == "all"
    assert few.n_tasks == n_tasks and few.n_fits == n_tasks * (len(sizes) * section["n_repeats"] + 1)
    assert mismatch.n_tasks == n_vlm and mismatch.n_fits == 4 * n_vlm and corr.n_fits == 0
    assert paper_sets.tu_experiments({}) == ()


def test_domainnet_sizes_counted_from_the_official_files(tmp_path, capsys):
    from tests.data.test_imagenet import write_domainnet
    write_domainnet(tmp_path / "domainnet", "real")
    counted = paper_sets.count_domainnet_test_lists(tmp_path)
    assert list(counted) == ["domainnet-real"] and counted["domainnet-real"].n == 4
    cells = expand_cells({"03_empirical_study": {"models": [["RN50", "openai"]], "datasets": ["domainnet"]}},
                         sizes=counted)
    by = {c.dataset: c for c in cells}
    assert by["domainnet-real"].n_images == 4 and "counted in" in by["domainnet-real"].size_source
    assert by["domainnet-clipart"].n_images == 14604  # not counted here: the stored size
    assert paper_sets.main([str(REPO / "params" / "paper.yaml"), "--dry-run", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "domainnet-real" in out and "few-samples" in out and "label-mismatch" in out


def test_dry_run_lists_the_papers_models_marked_inferred(capsys):
    assert paper_sets.main([str(REPO / "params" / "paper.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    listing = out[out.index("tu2024 models"):]
    assert listing.count("INFERRED from Figure 1") >= 20
    assert "NOT IDENTIFIED" in listing and "NOT LOADABLE" in listing and "not matched" in listing


def test_published_sizes_carry_a_source():
    for t in TEST_SIZES.values():
        assert t.source and (t.n is None or t.n > 0)
    assert TEST_SIZES["fgvc-aircraft"].n == 3333 and "wltjr1007/DomainNet" in TEST_SIZES["domainnet"].source


def test_cost_files_and_cli(tmp_path, paper, capsys):
    (tmp_path / "other.json").write_text(json.dumps({"mode": "tpt", "times": [1.0]}))  # not a cost figure
    (tmp_path / "tpt.json").write_text(json.dumps([{"model": "RN50", "method": "tpt", "seconds_per_image": 0.5,
                                                     "n_views": 64, "device": "H100"}]))
    figs = paper_sets.load_cost_figures(tmp_path)
    assert list(figs) == [("RN50", "tpt")] and figs["RN50", "tpt"].seconds_per_image == 0.5
    assert paper_sets.load_cost_figures(tmp_path / "absent") == {}
    assert paper_sets.main([str(REPO / "params" / "paper.yaml"), "--dry-run", "--costs", str(tmp_path),
                            "--results-root", "/drive/vlmcal"]) == 0
    out = capsys.readouterr().out
    # some cells measured: their GPU-hours, the others "unknown", a total that says it is a lower bound
    assert "GPU-hours: at least" in out and " unknown " in out and "without a measured cost" in out
    assert "-p model RN50" in out and "--output-root /drive/vlmcal" in out
    assert "VLMCAL_CACHE=/drive/vlmcal/cache" in out
    with pytest.raises(SystemExit):
        paper_sets.main([str(REPO / "params" / "paper.yaml")])


def test_paper_yaml_needs_no_shared_folder():
    text = (REPO / "params" / "paper.yaml").read_text()
    assert "${VLMCAL_SHARED}" not in "\n".join(ln.split("#")[0] for ln in text.splitlines())
    assert set(PAPER_GRIDS["ctpt"].models) == {("ViT-B-16", "openai"), ("RN50", "openai")}
