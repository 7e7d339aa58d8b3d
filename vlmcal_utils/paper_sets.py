"""The papers' full protocols expanded into cells (model × dataset × init × method), with sizes and cost.

(About 680 lines, over the project's 600: the grids, their sizes and costs, and the command line with
its pre-flight report; the report, ``read_set`` to ``preflight_report``, is the part to move out
when it grows.)

``params/paper.yaml`` holds one section per chapter notebook (only that notebook's parameters, as
the runner requires). A paper's grid can be larger than one notebook run: C-TPT's Tables 1–2 use
two backbones, and chapter 4 takes one ``model`` per run. :data:`PAPER_GRIDS` records those extra
axes; :func:`expand_cells` (pure) turns a section plus its grid into :class:`Cell` rows;
:func:`main` prints them (``python -m vlmcal_utils.paper_sets params/paper.yaml --dry-run``).

Image counts are the datasets' published test sizes (:data:`TEST_SIZES`, each with its source;
``--data-root`` counts DomainNet's official test lists instead, :func:`count_domainnet_test_lists`).
Tu et al.'s few-samples, label-mismatch and correlation experiments reuse the grid's logits:
:func:`tu_experiments` gives their sizes (temperature fits) at the section's settings.
GPU-hours come only from measured cost figures (``benchmarks/results/*.json``, see
:func:`load_cost_figures`); without one the cell says "unknown", never an estimate (and
without any GPU figure, one line says so: :func:`cost_note`). ``--check`` is the pre-flight
(:mod:`vlmcal_utils.preflight`): every missing dataset, weights file and GPU at once.

Results and the feature cache of every run go under one ``results_root`` (the runner's
``--output-root`` and ``$VLMCAL_CACHE=<results_root>/cache``): on Colab, a Drive folder makes an
interrupted sweep resumable after the runtime is gone.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from vlmcal_utils import preflight
from vlmcal_utils.tpt.protocol import ctpt_lambda, uses_augmix  # no torch: vlmcal_utils.tpt is lazy

__all__ = ["TestSize", "TEST_SIZES", "PaperGrid", "PAPER_GRIDS", "Cell", "CostFigure", "Experiment", "expand_cells",
           "tu_experiments", "count_domainnet_test_lists", "load_cost_figures", "run_commands", "format_cells",
           "format_experiments", "cost_cards", "cost_note", "read_set", "sections", "preflight_report", "main"]


@dataclass(frozen=True)
class TestSize:
    """A dataset's published number of test images, and where it is published."""

    dataset: str
    n: int | None
    source: str


_COOP = "CoOp (Zhou et al., IJCV 2022), dataset statistics table: test split of split_zhou_*.json"
_DN = ("the reported size of DomainNet's official {}_test.txt (Peng et al., ICCV 2019), not counted here; "
       "the six domains' sizes sum to 176743, the test split of the Hugging Face mirror wltjr1007/DomainNet "
       "(README dataset_info); --data-root counts the official files instead")
#: Test-list sizes of DomainNet's six domains (see ``_DN`` for how they were checked).
_DOMAINNET_TEST = {"clipart": 14604, "infograph": 15582, "painting": 21850, "quickdraw": 51750, "real": 52041,
                   "sketch": 20916}
TEST_SIZES: dict[str, TestSize] = {t.dataset: t for t in (
    TestSize("imagenet", 50000, "ILSVRC-2012 validation set (Russakovsky et al., 2015)"),
    TestSize("imagenet-a", 7500, "ImageNet-A (Hendrycks et al., CVPR 2021)"),
    TestSize("imagenet-r", 30000, "ImageNet-R (Hendrycks et al., ICCV 2021)"),
    TestSize("imagenet-v2", 10000, "ImageNetV2 matched-frequency (Recht et al., ICML 2019)"),
    TestSize("imagenet-sketch", 50889, "ImageNet-Sketch (Wang et al., NeurIPS 2019)"),
    TestSize("caltech101", 2465, _COOP),
    TestSize("oxford-pets", 3669, _COOP),
    TestSize("stanford-cars", 8041, _COOP),
    TestSize("flowers102", 2463, _COOP),
    TestSize("food101", 30300, _COOP),
    TestSize("fgvc-aircraft", 3333, _COOP + " (images_variant_test.txt)"),
    TestSize("sun397", 19850, _COOP),
    TestSize("dtd", 1692, _COOP),
    TestSize("eurosat", 8100, _COOP),
    TestSize("ucf101", 3783, _COOP),
    TestSize("cifar10", 10000, "CIFAR-10 test batch (Krizhevsky, 2009)"),
    TestSize("domainnet", 176743, "DomainNet, all six test lists: the test split of the Hugging Face mirror "
             "wltjr1007/DomainNet (README dataset_info, num_examples)"),
    *(TestSize(f"domainnet-{d}", n, _DN.format(d)) for d, n in _DOMAINNET_TEST.items()),
)}
"""Published test sizes; ``n=None`` where this package holds no checked count. DomainNet's domains
are keyed ``"domainnet-<domain>"``."""


@dataclass(frozen=True)
class PaperGrid:
    """The axes of one paper's grid beyond its notebook section.

    Parameters
    ----------
    paper : str
        Short name (``"ctpt"``, ``"tu2024"``).
    stem : str
        The notebook (``params/paper.yaml`` section) that runs it.
    models : tuple of (str, str)
        ``(arch, pretrained)`` per notebook run where the notebook takes one ``model``; empty where
        the section lists its models itself (chapter 3's ``models``).
    methods : tuple of str
        The methods of one run.
    extra_datasets : tuple of str
        Datasets of the paper the notebook cannot run yet (listed as cells with a note).
    note : str
        What the grid reproduces.
    """

    paper: str
    stem: str
    models: tuple[tuple[str, str], ...] = ()
    methods: tuple[str, ...] = ()
    extra_datasets: tuple[str, ...] = ()
    note: str = ""


#: The papers' grids by name (``"ctpt"``, ``"tu"``): what a full reproduction runs.
PAPER_GRIDS: dict[str, PaperGrid] = {
    "ctpt": PaperGrid(
        "ctpt", "04_ctpt", models=(("ViT-B-16", "openai"), ("RN50", "openai")),
        methods=("prompts80", "zeroshot", "tpt", "ctpt", "tpt+ts"),
        note="C-TPT (Yoon et al., ICLR 2024) Tables 1-2, Fig. 2 (prompts80: 80 hard prompts, ATFD vs ECE), "
             "Fig. 4 (TPT vs TPT+TS vs C-TPT)"),
    "tu2024": PaperGrid(
        "tu2024", "03_empirical_study", methods=("zeroshot-ts",),
        note="Tu et al. (ICML 2024): zero-shot logits, TS fitted on the calibration half, scored on the "
             "test half and the shifts; label-mismatch, few-samples and correlation from the same logits"),
}

_NO_INIT = ("prompts80", "zeroshot-ts")


@dataclass(frozen=True)
class CostFigure:
    """A measured cost: seconds of GPU time per image for one model and method."""

    model: str
    method: str
    seconds_per_image: float
    n_views: int | None = None
    device: str = ""
    source: str = ""


@dataclass(frozen=True)
class Cell:
    """One cell of a paper's grid: what runs, on how many images, at what measured cost.

    ``gpu_hours`` is ``None`` (printed "unknown") without a measured :class:`CostFigure`;
    ``pretrained`` is ``None`` for a model that has no pretrained tag (the demo models).
    """

    paper: str
    stem: str
    model: str
    pretrained: str | None
    dataset: str
    init: str | None
    method: str
    n_images: int | None
    size_source: str
    n_views: int | None = None
    augmix: bool | None = None
    lam: float | None = None
    gpu_hours: float | None = None
    cost_source: str = "unknown: no measured cost figure"
    note: str = ""


def _n_images(dataset: str, n: int | None, sizes: Mapping[str, TestSize] | None = None) -> tuple[int | None, str]:
    size = (sizes or TEST_SIZES).get(dataset) or TEST_SIZES.get(
        dataset, TestSize(dataset, None, "no published size in vlmcal_utils.paper_sets"))
    if n is not None and size.n is not None:
        return min(int(n), size.n), f"min({n}, {size.n}: {size.source})"
    if n is not None:
        return int(n), "the section's n"
    return size.n, size.source


def _cost(costs: Mapping[tuple[str, str], CostFigure], model: str, method: str,
          n_images: int | None, n_views: int | None) -> tuple[float | None, str]:
    fig = costs.get((model, method))
    if fig is None or n_images is None or (fig.n_views is not None and n_views is not None and fig.n_views != n_views):
        return None, "unknown: no measured cost figure" if fig is None or n_images is None else \
            f"unknown: measured with {fig.n_views} views, not {n_views}"
    return n_images * fig.seconds_per_image / 3600.0, f"{fig.seconds_per_image} s/image ({fig.device}; {fig.source})"


def _ctpt_cells(grid: PaperGrid, section: Mapping[str, Any], costs) -> list[Cell]:
    models = grid.models or ((section.get("model"), section.get("pretrained")),)
    n, n_cal, n_views = section.get("n_samples"), section.get("n_cal"), section.get("n_views", 64)
    augmix = section.get("augmix", "auto")
    lam, lam_shifts = section.get("lam", 50.0), section.get("lam_shifts", 20.0)
    out = []
    for model, pretrained in models:
        for dataset in section.get("datasets", []):
            for method in grid.methods:
                inits = [None] if method in _NO_INIT else list(section.get("inits", ["hard", "ensemble"]))
                for init in inits:
                    count, src = _n_images(dataset, n)
                    tuned = method in ("tpt", "ctpt", "tpt+ts")
                    note = ""
                    if method == "tpt+ts":  # TPT on n_cal disjoint calibration images; test logits are TPT's
                        count, src = (n_cal, "n_cal calibration images (tpt.run_tpt on them)")
                        note = "test rows reuse the tpt cell; official fixed T needs no extra run"
                    # TPT+TS tunes like TPT (on the calibration images): TPT's measured cost applies
                    hours, cost_src = _cost(costs, model, "tpt" if method == "tpt+ts" else method, count,
                                            n_views if tuned else None)
                    out.append(Cell(
                        grid.paper, grid.stem, model, pretrained, dataset, init, method, count, src,
                        n_views=n_views if tuned else None,
                        augmix=uses_augmix(dataset, augmix) if tuned else None,
                        lam=ctpt_lambda(dataset, lam, lam_shifts) if method == "ctpt" else None,
                        gpu_hours=hours, cost_source=cost_src, note=note))
    return out


def _tu_targets(dataset: str) -> list[tuple[str, bool]]:
    """``(cell dataset, halved)`` of one chapter-3 dataset: its own test list (halved) and its shifts."""
    # study.tasks imports torch: only when a grid is expanded, never for --help
    from vlmcal_utils.study.tasks import DOMAINNET_CAL_DOMAIN, IMAGENET_SHIFTS, domainnet_shifts

    if dataset == "domainnet" or dataset.startswith("domainnet-"):
        cal = dataset.partition("-")[2] or DOMAINNET_CAL_DOMAIN
        return [(f"domainnet-{cal}", True)] + [(f"domainnet-{d}", False) for d in domainnet_shifts(cal)]
    return [(dataset, True)] + [(s, False) for s in (IMAGENET_SHIFTS if dataset == "imagenet" else ())]


def _tu_cells(grid: PaperGrid, section: Mapping[str, Any], costs,
              sizes: Mapping[str, TestSize] | None = None) -> list[Cell]:
    out = []
    n_cal, n_test = section.get("n_images_cal"), section.get("n_images_test")
    runs = [(m[0], str(m[1]), list(section.get("datasets", [])) + list(grid.extra_datasets))
            for m in section.get("models", [])]
    runs += [(b[0], "timm" if b[1] is True else str(b[1]), list(section.get("baseline_datasets") or ["imagenet"]))
             for b in section.get("baselines", [])]
    for model, pretrained, datasets in runs:
        for dataset in datasets:
            for target, halved in _tu_targets(dataset):
                count, src = _n_images(target, None, sizes)
                if halved and count is not None:  # chapter 3 splits the test list in halves
                    half = count // 2
                    count = min(half, n_cal) + min(half, n_test) if n_cal and n_test else count
                    src += "; split in a calibration and a test half (study.tasks.dataset_specs)"
                elif count is not None and n_test:
                    count = min(count, int(n_test))
                hours, cost_src = _cost(costs, model, grid.methods[0], count, None)
                note = ("not runnable yet: study.tasks.dataset_specs has no such dataset"
                        if target in grid.extra_datasets else ("T fitted on half of it" if halved else "shift"))
                out.append(Cell(grid.paper, grid.stem, model, pretrained, target, None, grid.methods[0], count,
                                src, gpu_hours=hours, cost_source=cost_src, note=note))
    return out


@dataclass(frozen=True)
class Experiment:
    """One of Tu et al.'s experiments that reuse the grid's logits (no extra images), and its size.

    Parameters
    ----------
    name : str
        ``"few-samples"``, ``"label-mismatch"`` or ``"correlation"``.
    per_task : str
        What one (model, dataset) task runs.
    n_tasks : int
        (model, dataset) tasks it runs on.
    n_fits : int
        Temperature fits in all (``0`` for the correlation, which reads the label-mismatch rows).
    settings : str
        The section's parameters it uses.
    """

    name: str
    per_task: str
    n_tasks: int
    n_fits: int
    settings: str


def tu_experiments(section: Mapping[str, Any]) -> tuple[Experiment, ...]:
    """Tu et al.'s few-samples, label-mismatch and correlation experiments at a section's sizes.

    Parameters
    ----------
    section : mapping
        Chapter 3's parameters (``params/paper.yaml`` section ``03_empirical_study``): ``models``,
        ``datasets``, ``baselines``, ``baseline_datasets``, ``n_calib_grid``, ``n_repeats``.

    Returns
    -------
    tuple of Experiment
        Empty without models and baselines.
    """
    datasets = list(section.get("datasets") or [])
    vlm_tasks = len(section.get("models") or []) * len(datasets)
    base_tasks = len(section.get("baselines") or []) * len(section.get("baseline_datasets") or ["imagenet"])
    if not vlm_tasks + base_tasks:
        return ()
    grid = list(section.get("n_calib_grid") or ["all"])
    sizes = [n for n in grid if n not in (None, "all")]
    repeats = int(section.get("n_repeats") or 1)
    fits_per_task = len(sizes) * repeats + 1  # the "all" cell is always fitted
    return (
        Experiment("few-samples", f"T refitted on {repeats} random draws of each size {sizes}, plus the whole "
                   "calibration split; every fit scored on every evaluation split",
                   vlm_tasks + base_tasks, (vlm_tasks + base_tasks) * fits_per_task,
                   f"n_calib_grid={grid}, n_repeats={repeats}"),
        Experiment("label-mismatch", "classes cut in two halves; T fitted on one half's calibration images, "
                   "scored on the other half's test images, both directions (study.label_mismatch_rows)",
                   vlm_tasks, vlm_tasks * 2 * 2, "the VLM tasks' cal/test splits"),
        Experiment("correlation", "mean confidence vs accuracy over the label-mismatch rows: R^2 and Spearman "
                   "per method (study.confidence_accuracy_correlation)", vlm_tasks, 0,
                   f"{vlm_tasks * 2} points per method"),
    )


def format_experiments(experiments: Sequence[Experiment]) -> str:
    """Plain-text lines for :func:`tu_experiments` (one per experiment).

    Parameters
    ----------
    experiments : sequence of Experiment

    Returns
    -------
    str
    """
    return "\n".join(f"  {e.name}: {e.n_tasks} tasks, {e.n_fits} temperature fits, no extra images "
                     f"({e.settings}): {e.per_task}" for e in experiments)


def count_domainnet_test_lists(root: str | Path) -> dict[str, TestSize]:
    """``{"domainnet-<domain>": TestSize}`` counted from the official ``<domain>_test.txt`` under ``root``.

    Looks in ``root/domainnet``, ``root/DomainNet`` and ``root`` (as
    :func:`vlmcal_utils.data.load_domainnet` does); a domain without its file is left out.

    Parameters
    ----------
    root : path
        The data root.

    Returns
    -------
    dict
        Non-empty lines per file.
    """
    from vlmcal_utils.data.imagenet import DOMAINNET_DOMAINS

    root = Path(root).expanduser()
    out = {}
    for domain in DOMAINNET_DOMAINS:
        for base in (root / "domainnet", root / "DomainNet", root):
            path = base / f"{domain}_test.txt"
            if path.is_file():
                n = sum(1 for line in path.read_text().splitlines() if line.strip())
                out[f"domainnet-{domain}"] = TestSize(f"domainnet-{domain}", n, f"counted in {path}")
                break
    return out


def expand_cells(sets: Mapping[str, Mapping[str, Any]], grids: Mapping[str, PaperGrid] = PAPER_GRIDS,
                 costs: Mapping[tuple[str, str], CostFigure] | None = None,
                 sizes: Mapping[str, TestSize] | None = None) -> tuple[Cell, ...]:
    """Every paper's cells from the paper set's sections (pure: no file or network access).

    Parameters
    ----------
    sets : mapping
        ``{notebook stem: {parameter: value}}``, as ``params/paper.yaml`` holds it.
    grids : mapping
        :data:`PAPER_GRIDS` (default) or a subset.
    costs : mapping, optional
        ``{(model, method): CostFigure}`` (:func:`load_cost_figures`); none: every cost "unknown".
    sizes : mapping, optional
        Test sizes that override :data:`TEST_SIZES` for Tu et al.'s cells (e.g. DomainNet's counted
        by :func:`count_domainnet_test_lists`).

    Returns
    -------
    tuple of Cell
        In grid, model, dataset, method, init order. A grid whose section is absent gives no cells.
    """
    costs = dict(costs or {})
    out: list[Cell] = []
    for grid in grids.values():
        section = sets.get(grid.stem)
        if not section:
            continue
        out += (_ctpt_cells(grid, section, costs) if grid.stem == "04_ctpt"
                else _tu_cells(grid, section, costs, sizes))
    return tuple(out)


def load_cost_figures(folder: str | Path) -> dict[tuple[str, str], CostFigure]:
    """Measured cost figures from ``folder/*.json`` (absent folder: none).

    Each file holds one object or a list of objects with ``model``, ``method``,
    ``seconds_per_image`` (GPU wall time per test image, views included) and optionally
    ``n_views``, ``device``, ``source``.

    Parameters
    ----------
    folder : path

    Returns
    -------
    dict
        ``{(model, method): CostFigure}``; a later file overrides an earlier one (sorted names).
    """
    out: dict[tuple[str, str], CostFigure] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict) or not {"model", "method", "seconds_per_image"} <= set(item):
                continue  # another benchmark's output: not a cost figure
            fig = CostFigure(str(item["model"]), str(item["method"]), float(item["seconds_per_image"]),
                             item.get("n_views"), str(item.get("device", "")), str(item.get("source", path.name)))
            out[fig.model, fig.method] = fig
    return out


def run_commands(grids: Mapping[str, PaperGrid], sets: Mapping[str, Mapping[str, Any]],
                 results_root: str = "<results_root>") -> list[str]:
    """The runner commands that produce every cell: one per notebook run.

    Parameters
    ----------
    grids, sets
        As for :func:`expand_cells`.
    results_root : str
        One folder for results (``--output-root``) and the feature cache (``$VLMCAL_CACHE``).

    Returns
    -------
    list of str
    """
    out = []
    for grid in grids.values():
        if not sets.get(grid.stem):
            continue
        base = (f"VLMCAL_CACHE={results_root}/cache python -m vlmcal_book.reproduce notebooks/{grid.stem}.md "
                f"--set paper --output-root {results_root}")
        section_model = (sets[grid.stem].get("model"), sets[grid.stem].get("pretrained"))
        for model, pretrained in grid.models or ((None, None),):
            extra = "" if model is None or (model, pretrained) == section_model else \
                f" -p model {model} -p pretrained {pretrained}"
            out.append(base + extra)
    return out


def cost_cards(folder: str | Path) -> dict[str, str]:
    """The cost cards in ``folder`` (``benchmarks/cost_card.py``'s JSON files): ``{file name: device type}``.

    Parameters
    ----------
    folder : path

    Returns
    -------
    dict
        ``"cpu"`` or ``"cuda"`` per card; files of other schemas are left out.
    """
    out = {}
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and str(data.get("schema", "")).startswith("vlmcal-cost-card"):
            out[path.name] = str((data.get("device") or {}).get("type", "?"))
    return out


def cost_note(cells: Sequence[Cell], folder: str | Path) -> str:
    """One line saying where the GPU-hours come from, or why there are none (said once, not per cell).

    Parameters
    ----------
    cells : sequence of Cell
    folder : path
        Where the cost figures and cards are (``benchmarks/results``).

    Returns
    -------
    str
        Empty when every cell has its GPU-hours.
    """
    if all(c.gpu_hours is not None for c in cells):
        return ""
    cards = cost_cards(folder)
    if not any(c.gpu_hours is not None for c in cells):
        gpu = [name for name, kind in cards.items() if kind != "cpu"]
        have = (f"only a CPU cost card ({', '.join(cards)})" if cards and not gpu else
                f"GPU cost card(s) {', '.join(gpu)} without cost figures" if gpu else "no cost card")
        return (f"GPU-hours: not estimated: {folder} holds {have}; measure one on a GPU with "
                "python benchmarks/cost_card.py --figures")
    return f"GPU-hours: cells without a measured cost figure in {folder} say 'unknown'"


def format_cells(cells: Sequence[Cell], note: str = "") -> str:
    """A plain-text table of cells and per-paper totals (images; GPU-hours where measured).

    Parameters
    ----------
    cells : sequence of Cell
    note : str
        :func:`cost_note`; printed once at the end. Without any measured cost the GPU-hours column
        shows ``-`` instead of "unknown" in every row.

    Returns
    -------
    str
    """
    none_known = not any(c.gpu_hours is not None for c in cells)
    lines = [f"{'paper':7s} {'model':14s} {'pretrained':20s} {'dataset':19s} {'init':9s} {'method':11s} "
             f"{'images':>7s} {'augmix':6s} {'lam':>5s} {'GPU-h':>8s}  note"]
    for c in cells:
        hours = ("-" if none_known else "unknown") if c.gpu_hours is None else f"{c.gpu_hours:.2f}"
        lines.append(f"{c.paper:7s} {c.model:14s} {c.pretrained or '-':20s} {c.dataset:19s} {c.init or '-':9s} "
                     f"{c.method:11s} {c.n_images if c.n_images is not None else 'unknown':>7} "
                     f"{'-' if c.augmix is None else ('on' if c.augmix else 'off'):6s} "
                     f"{'-' if c.lam is None else c.lam:>5} {hours:>8s}  {c.note}")
    for paper in dict.fromkeys(c.paper for c in cells):
        mine = [c for c in cells if c.paper == paper]
        lines.append(f"{paper}: {len(mine)} cells, {sum(c.n_images or 0 for c in mine)} images, "
                     f"GPU-hours: {_total_hours(mine)}")
    return "\n".join(lines + ([note] if note else []))


def _total_hours(cells: Sequence[Cell]) -> str:
    known = [c.gpu_hours for c in cells if c.gpu_hours is not None]
    if not known:
        return "not estimated"
    if len(known) == len(cells):
        return f"{sum(known):.1f}"
    return f"at least {sum(known):.1f} ({len(cells) - len(known)} of {len(cells)} cells without a measured cost)"


def read_set(path: str | Path) -> dict[str, Any]:
    """A parameter set file: ``{notebook stem: section}`` plus its flags (``requires_real``), variables expanded.

    ``${VAR}`` must be set (:func:`vlmcal_utils.paths.expand_vars`); a one-line ``ValueError`` otherwise.

    Parameters
    ----------
    path : path
        E.g. ``params/paper.yaml``.

    Returns
    -------
    dict
    """
    from vlmcal_utils.paths import expand_vars

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no parameter set {path}: pass one of params/*.yaml")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map notebook stems to parameter sections")
    return {k: expand_vars(v, where=f"{path}: {k}") if isinstance(v, dict) else v for k, v in data.items()}


def sections(sets: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The notebook sections of a set (its flags, such as ``requires_real``, left out)."""
    return {k: v for k, v in sets.items() if isinstance(v, dict) or (v is None and k[:2].isdigit())}


def preflight_report(sets: Mapping[str, Any], costs_folder: str | Path = "benchmarks/results",
                     results_root: str = "<results_root>") -> tuple[str, bool]:
    """Check everything a set needs at once; the report and whether the set can run.

    Parameters
    ----------
    sets : mapping
        :func:`read_set`.
    costs_folder : path
        Cost figures and cards (:func:`load_cost_figures`, :func:`cost_cards`).
    results_root : str
        As in :func:`run_commands` (not used for the check itself).

    Returns
    -------
    (str, bool)
        The report (every need and its status, then what can run: cells, images, GPU-hours) and
        ``True`` when nothing blocks (no missing data, weights or GPU; no fallback where the set
        says ``requires_real: true``).
    """
    requires_real = sets.get("requires_real") or False
    needs = preflight.merge_needs(n for stem, section in sections(sets).items()
                                  for n in preflight.run_needs(stem, section or {}))
    checked = preflight.check(needs)
    stop = preflight.blocking(checked, requires_real)
    lines = ["pre-flight: " + (f"requires real data (requires_real: {requires_real}): demo world, random weights "
                               "and synthetic data are refused there" if requires_real else "fallbacks allowed"),
             preflight.format_needs(checked, TEST_SIZES)]
    lines += _runnable_lines(sets, checked, costs_folder)
    missing = [n for n in stop if n.kind == "dataset"]
    if stop:
        lines.append(f"pre-flight: NOT READY: {len(stop)} blocking ({len(missing)} dataset(s) missing: "
                     f"{', '.join(n.name for n in missing) or 'none'}; "
                     f"{', '.join(f'{n.kind} {n.name}' for n in stop if n.kind != 'dataset') or 'nothing else'})")
    else:
        lines.append("pre-flight: ready")
    return "\n".join(lines), not stop


def _runnable_lines(sets: Mapping[str, Any], checked: Sequence[preflight.Need], costs_folder) -> list[str]:
    """What the papers' grids would run with the data that is here: cells, images, GPU-hours."""
    cells = expand_cells(sections(sets), costs=load_cost_figures(costs_folder))
    if not cells:
        return []
    here = {n.name for n in checked if n.kind == "dataset" and n.status in ("ok", "download")}
    runnable = [c for c in cells if c.dataset in here or (c.dataset.startswith("domainnet-") and "domainnet" in here)]
    hours = _total_hours(runnable) if runnable else "-"
    return [f"can run with the data here: {len(runnable)} of {len(cells)} grid cells, "
            f"{sum(c.n_images or 0 for c in runnable)} of {sum(c.n_images or 0 for c in cells)} images; "
            f"GPU-hours: {hours}", cost_note(cells, costs_folder) or "GPU-hours from measured cost figures"]


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m vlmcal_utils.paper_sets params/paper.yaml --dry-run|--check [--costs DIR]``.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        Exit status: 0; 1 when ``--check`` finds something missing; 2 for a usage error; 1 with one
        line for an expected error (a missing or unreadable file).
    """
    parser = argparse.ArgumentParser(prog="vlmcal-paper-sets", description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path, help="e.g. params/paper.yaml")
    parser.add_argument("--dry-run", action="store_true", help="print the cells and commands, run nothing")
    parser.add_argument("--check", action="store_true",
                        help="pre-flight: list every missing dataset, weights file and GPU at once (exit 1 if any); "
                        "no download, no model loading")
    parser.add_argument("--costs", type=Path, default=Path("benchmarks/results"), help="measured cost figures")
    parser.add_argument("--results-root", default="<results_root>", help="results + feature cache folder")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="count DomainNet's official <domain>_test.txt files here instead of the stored sizes")
    args = parser.parse_args(argv)
    if not (args.dry_run or args.check):
        parser.error("give --dry-run (the cells and commands) or --check (what is missing here)")
    try:
        sets = read_set(args.params)
        if args.check:
            report, ready = preflight_report(sets, args.costs, args.results_root)
            print(report)
            return 0 if ready else 1
        _dry_run(sets, args)
    except (OSError, ValueError, yaml.YAMLError) as err:
        print(f"paper_sets: {args.params}: {type(err).__name__}: {err}".replace("\n", " "), file=sys.stderr)
        return 1
    return 0


def _dry_run(sets: Mapping[str, Any], args: argparse.Namespace) -> None:
    sizes = count_domainnet_test_lists(args.data_root) if args.data_root is not None else None
    cells = expand_cells(sections(sets), costs=load_cost_figures(args.costs), sizes=sizes)
    print(format_cells(cells, cost_note(cells, args.costs)))
    experiments = tu_experiments(sets.get(PAPER_GRIDS["tu2024"].stem) or {})
    if experiments:
        from vlmcal_utils.study.paper_models import describe_paper_models  # reads package data: not for --help

        print("\ntu2024 experiments on the same logits:")
        print(format_experiments(experiments))
        print("\ntu2024 models, as far as they can be known (study.paper_models; the paper's list is not available):")
        print("\n".join(describe_paper_models()))
    print("\nruns:")
    print("\n".join("  " + c for c in run_commands(PAPER_GRIDS, sections(sets), args.results_root)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
