"""Planning a sweep: chapter 4's parameters, the grid's runs and their disjoint image shards (no Ray)."""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from vlmcal_utils.data import evaluation_subset
from vlmcal_utils.data.datasets import calibration_set
from vlmcal_utils.paper_sets import PAPER_GRIDS, Cell, expand_cells, format_cells
from vlmcal_utils.tpt import RunSettings, run_file_name

__all__ = ["NOTEBOOK_DEFAULTS", "SWEPT_METHODS", "PAPERS", "Shard", "Run", "notebook_values", "run_settings",
           "cell_dataset", "subset_folder", "shard_ranges", "paper_cells", "plan_runs", "format_plan"]

#: Chapter 4's parameter defaults that decide a run's rows (its ``parameters`` cell; a test checks
#: they agree). A ``params/*.yaml`` section overrides them, as the notebook runner does.
NOTEBOOK_DEFAULTS: dict[str, Any] = {
    "model": "vlmcal-demo", "pretrained": None, "datasets": ["demo-photo", "demo-sketch"], "data_root": None,
    "n_samples": 200, "n_cal": 100, "cal_split": "auto", "n_views": 64, "augmix": "auto", "selection": 0.1,
    "lr": 5e-3, "steps": 1, "lam": 50.0, "lam_shifts": 20.0, "batch": 8, "inits": ["hard", "ensemble"],
    "ensemble": "tip7", "seed": 0,
}

#: The grid's methods a sweep computes with :func:`~vlmcal_utils.tpt.run_tpt`; ``"tpt+ts"`` is TPT
#: on the ``n_cal`` calibration images. ``"prompts80"`` (80 zero-shot classifiers on cached
#: features, seconds) stays in the notebook.
SWEPT_METHODS = ("zeroshot", "tpt", "ctpt", "tpt+ts")

#: ``--paper`` name -> :data:`~vlmcal_utils.paper_sets.PAPER_GRIDS` key.
PAPERS = {"ctpt": "ctpt", "tu": "tu2024"}

def notebook_values(section: Mapping[str, Any]) -> dict[str, Any]:
    """Chapter 4's parameters: :data:`NOTEBOOK_DEFAULTS` overridden by a params section.

    Parameters
    ----------
    section : mapping
        The ``04_ctpt`` section of a params file.

    Returns
    -------
    dict
    """
    return {**NOTEBOOK_DEFAULTS, **dict(section or {})}


def run_settings(values: Mapping[str, Any], shard: Shard) -> RunSettings:
    """The :class:`~vlmcal_utils.tpt.RunSettings` chapter 4 gives one shard's run.

    :meth:`~vlmcal_utils.tpt.settings.RunSettings.from_params` with the sweep's values, as chapter 4
    builds them from its parameters: the run fingerprints agree and the rows are shared.

    Parameters
    ----------
    values : mapping
        :func:`notebook_values`.
    shard : Shard
        Its dataset, initialisation and method.

    Returns
    -------
    RunSettings
    """
    return RunSettings.from_params(values, shard.dataset, shard.init, shard.method)


def cell_dataset(values: Mapping[str, Any], dataset: str, pretrained: str | None, calibration: bool = False):
    """The images of one run, exactly as chapter 4 draws them.

    Parameters
    ----------
    values : mapping
        :func:`notebook_values`.
    dataset : str
        The dataset name (:func:`vlmcal_utils.data.load_dataset`).
    pretrained : str or None
        The weights: real weights ask for the papers' split files (``paper_protocol``).
    calibration : bool
        ``False``: the seeded ``n_samples`` test subset; ``True``: TPT+TS's ``n_cal`` calibration
        images (:func:`vlmcal_utils.data.datasets.calibration_set`, disjoint from that subset).

    Returns
    -------
    torch.utils.data.Dataset
        Raw ``(image, label)`` items with ``classnames``.
    """
    test = evaluation_subset(dataset, values["n_samples"], seed=values["seed"], pretrained=pretrained,
                             root=values["data_root"])
    if not calibration:
        return test
    return calibration_set(dataset, test, values["n_cal"], split=values["cal_split"], seed=values["seed"],
                           root=values["data_root"])


def shard_ranges(n: int, shard_size: int) -> list[tuple[int, int]]:
    """Contiguous, disjoint ``[start, stop)`` ranges covering ``range(n)``; no padding.

    Parameters
    ----------
    n : int
        Images in the run (``>= 0``).
    shard_size : int
        Images per shard (``>= 1``); the last shard holds the rest.

    Returns
    -------
    list of (int, int)
        ``ceil(n / shard_size)`` ranges; ``[]`` for ``n = 0``.
    """
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [(a, min(a + shard_size, n)) for a in range(0, n, shard_size)]


@dataclass(frozen=True)
class Shard:
    """One unit of work: positions ``[start, stop)`` of one run's dataset, into its own file.

    ``number`` counts from 0 of ``of`` shards; ``run`` names the :class:`Run` it belongs to.
    """

    run: str
    model: str
    pretrained: str | None
    dataset: str
    init: str
    method: str
    calibration: bool
    start: int
    stop: int
    number: int
    of: int
    path: str

    @property
    def name(self) -> str:
        """``<run>#<number>``: unique in a sweep."""
        return f"{self.run}#{self.number}"

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Run:
    """One results file of the grid (model, dataset, init, method) and its shards.

    ``method`` is what :func:`~vlmcal_utils.tpt.run_tpt` runs (``"tpt"`` for the grid's
    ``"tpt+ts"`` cell, on the calibration images); ``merged`` is the merged file's path.
    """

    name: str
    cell: Cell
    method: str
    calibration: bool
    n_images: int
    merged: str
    shards: tuple[Shard, ...]
    split: str = "test"

    @property
    def shard_dir(self) -> Path:
        """The folder of the run's shard files (of any shard size)."""
        return Path(self.merged).parent.parent / "shards" / Path(self.merged).stem

    @property
    def identity(self) -> dict[str, Any]:
        """The columns naming the run in each of its merged rows, so one file loads alone.

        ``dataset_name``: the rows' ``dataset`` key is already the dataset's content digest.
        """
        return {"model": self.cell.model, "pretrained": self.cell.pretrained, "dataset_name": self.cell.dataset,
                "split": self.split, "init": self.cell.init}


def subset_folder(values: Mapping[str, Any]) -> str:
    """The folder of one draw of images, e.g. ``"n200-cal100-auto-seed0"``.

    A rerun that draws other images (another ``seed``, ``n_samples``, ``n_cal`` or ``cal_split``) gets its own run
    files and shards, so a merge never meets rows of another draw.

    Parameters
    ----------
    values : mapping
        :func:`notebook_values`.

    Returns
    -------
    str
    """
    n = "all" if values["n_samples"] is None else int(values["n_samples"])
    n_cal = "all" if values["n_cal"] is None else int(values["n_cal"])
    return f"n{n}-cal{n_cal}-{values['cal_split']}-seed{int(values['seed'])}".replace("/", "_")


def _model_dir(model: str, pretrained: str | None) -> str:
    return f"{model}__{pretrained}".replace("/", "_").replace(os.sep, "_")


def paper_cells(sets: Mapping[str, Mapping[str, Any]], paper: str = "ctpt",
                models: Sequence[tuple[str, str | None]] | None = None, costs=None) -> tuple[Cell, ...]:
    """The paper's cells (:func:`~vlmcal_utils.paper_sets.expand_cells`), optionally for other models.

    Parameters
    ----------
    sets : mapping
        A params file (``{notebook stem: section}``).
    paper : {"ctpt", "tu"}
        Which grid.
    models : sequence of (str, str or None), optional
        Replace the grid's models (C-TPT: ViT-B/16 and RN50 with OpenAI weights), e.g.
        ``[("vlmcal-demo", None)]``.
    costs : mapping, optional
        Cost figures (:func:`~vlmcal_utils.paper_sets.load_cost_figures`).

    Returns
    -------
    tuple of Cell
    """
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {sorted(PAPERS)}, got {paper!r}")
    grid = PAPER_GRIDS[PAPERS[paper]]
    if models is not None:
        if not grid.models:
            raise ValueError(f"the {paper} grid takes its models from its section; --model does not apply")
        grid = dataclasses.replace(grid, models=tuple(models))
    return expand_cells(sets, {grid.paper: grid}, costs)


def plan_runs(sets: Mapping[str, Mapping[str, Any]], output: str | os.PathLike, *, paper: str = "ctpt",
              models: Sequence[tuple[str, str | None]] | None = None, methods: Sequence[str] | None = None,
              shard_size: int = 500, sizes: Callable[[Cell, bool], int] | None = None) -> list[Run]:
    """The runs of a C-TPT grid and their shards.

    Parameters
    ----------
    sets : mapping
        A params file with a ``04_ctpt`` section.
    output : path
        The sweep's folder (see the module docstring for the layout).
    paper : {"ctpt"}
        Only C-TPT's grid is swept so far.
    models : sequence of (str, str or None), optional
        See :func:`paper_cells`.
    methods : sequence of str, optional
        A subset of :data:`SWEPT_METHODS` (default all).
    shard_size : int
        Images per shard.
    sizes : callable, optional
        ``sizes(cell, calibration) -> n`` images of a run; default: the length of
        :func:`cell_dataset` (loads the dataset's file list, not its images).

    Returns
    -------
    list of Run
        In the grid's order.
    """
    if paper != "ctpt":
        raise ValueError(f"only the C-TPT grid is swept so far; {paper!r} has --dry-run only")
    methods = tuple(methods or SWEPT_METHODS)
    unknown = set(methods) - set(SWEPT_METHODS)
    if unknown:
        raise ValueError(f"methods {sorted(unknown)} are not swept; choose from {SWEPT_METHODS}")
    values = notebook_values(sets.get(PAPER_GRIDS["ctpt"].stem, {}))

    def default_size(cell: Cell, calibration: bool) -> int:
        return len(cell_dataset(values, cell.dataset, cell.pretrained, calibration))

    sizes = sizes or default_size
    runs = []
    for cell in paper_cells(sets, paper, models):
        if cell.method not in methods:
            continue
        calibration = cell.method == "tpt+ts"
        method = "tpt" if calibration else cell.method
        split = f"cal-{values['cal_split']}" if calibration else "test"
        fname = run_file_name(cell.dataset, split, method, cell.init, values["ensemble"])
        where = f"{_model_dir(cell.model, cell.pretrained)}/{subset_folder(values)}"
        folder = Path(output) / where
        name = f"{where}/{fname}"
        n = int(sizes(cell, calibration))
        ranges = shard_ranges(n, shard_size)
        shards = tuple(
            Shard(name, cell.model, cell.pretrained, cell.dataset, cell.init, method, calibration, a, b, i,
                  len(ranges), str(folder / "shards" / Path(fname).stem / f"{i:05d}-of-{len(ranges):05d}.jsonl"))
            for i, (a, b) in enumerate(ranges))
        runs.append(Run(name, cell, method, calibration, n, str(folder / "runs" / fname), shards, split))
    return runs


def format_plan(cells: Sequence[Cell], shard_size: int) -> str:
    """The cells (:func:`~vlmcal_utils.paper_sets.format_cells`) and each swept cell's shard count.

    Parameters
    ----------
    cells : sequence of Cell
    shard_size : int

    Returns
    -------
    str
    """
    lines = [format_cells(cells), "", f"shards of {shard_size} images:"]
    total, kept = 0, []
    for c in cells:
        if c.method not in SWEPT_METHODS:
            kept.append(c.method)
            continue
        n = "unknown" if c.n_images is None else math.ceil(c.n_images / shard_size)
        total += n if isinstance(n, int) else 0
        lines.append(f"  {c.model} {c.pretrained} {c.dataset} {c.init or '-'} {c.method}: {n} shards")
    lines.append(f"{total} shards in all (cells of unknown size not counted)")
    if kept:
        lines.append(f"{len(kept)} cells not swept (methods {', '.join(sorted(set(kept)))}): they run in the notebook")
    return "\n".join(lines)
