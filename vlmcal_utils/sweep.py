"""Paper-scale runs on many GPUs: a paper's grid as disjoint image shards, run as Ray tasks, resumable.

``python -m vlmcal_utils.sweep params/paper.yaml --paper ctpt [--address auto] [--dry-run]
[--shard-size N] [--output DIR]`` expands the paper's grid into cells with
:func:`vlmcal_utils.paper_sets.expand_cells` (the same expansion as ``paper_sets --dry-run``),
turns every cell that :func:`vlmcal_utils.tpt.run_tpt` computes into one *run* (one results
file, named as chapter 4 names it: :func:`vlmcal_utils.tpt.run_file_name`) and splits each run's
images into contiguous, disjoint shards of sample positions ``[start, stop)`` — every image in
exactly one shard, no padding (a ``DistributedSampler`` would repeat images to even out the
shards). Each shard is one ``run_tpt(..., indices=range(start, stop))`` call on the *whole*
cell dataset, so its rows carry the same ``index``, ``source_index``, ``source`` digest and run
fingerprint as a sequential run, into its own resumable file (a
:class:`vlmcal_utils.storage.RecordStore`). :func:`merge_shards` then writes the run's rows,
deduplicated by image and sorted by index, and refuses rows of different fingerprints.

Workers are Ray actors, one per GPU (``num_gpus=1``) where the cluster has GPUs, else one per
``cpus_per_worker`` CPUs; each loads a model once and keeps it for every shard it is given. A
worker that dies (a pre-empted node, an out-of-memory kill) loses at most the batch it was
tuning: its shard goes to a fresh worker, which resumes from the rows already in the shard's
file; a rerun of the same command resumes every unfinished shard the same way.

Layout under ``--output DIR``: ``DIR/<model>__<pretrained>/runs/<run file>`` (the merged rows,
where chapter 4 with ``-p results_dir DIR/<model>__<pretrained>`` finds them and recomputes
nothing) and ``DIR/<model>__<pretrained>/shards/<run file stem>/<i>-of-<n>.jsonl``.

Ray is imported only by :func:`run_sweep` (``pip install vlmcal-utils[sweep]``); planning,
one shard (:func:`run_shard`) and merging need no Ray. Chapter 3's feature extraction (Tu et
al.) is listed by ``--dry-run --paper tu`` but not swept yet.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
import yaml

from vlmcal_utils.data import load_dataset, subsample
from vlmcal_utils.data.datasets import calibration_set
from vlmcal_utils.paper_sets import PAPER_GRIDS, Cell, expand_cells, format_cells, load_cost_figures
from vlmcal_utils.storage import RecordStore
from vlmcal_utils.tpt import RunSettings, TPTConfig, ctpt_lambda, ensemble_templates, run_file_name, uses_augmix
from vlmcal_utils.tpt.runner import read_tpt_rows, run_tpt

__all__ = ["NOTEBOOK_DEFAULTS", "SWEPT_METHODS", "PAPERS", "Shard", "Run", "ShardResult", "SweepReport",
           "MergeReport", "SweepError", "notebook_values", "run_settings", "cell_dataset", "shard_ranges",
           "paper_cells", "plan_runs", "run_shard", "merge_shards", "run_sweep", "format_plan", "main"]

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

_INIT_LABEL = {"hard": "a photo of a"}


class SweepError(RuntimeError):
    """Shards failed; their files keep the rows already computed, so rerunning resumes them."""


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


def run_settings(values: Mapping[str, Any], dataset: str, init: str) -> RunSettings:
    """The :class:`~vlmcal_utils.tpt.RunSettings` chapter 4 gives ``dataset`` with ``init``.

    The same settings (so the same run fingerprint) as the notebook's ``run()``: λ and AugMix
    per dataset by the official scripts' rules.

    Parameters
    ----------
    values : mapping
        :func:`notebook_values`.
    dataset : str
        The dataset name.
    init : {"hard", "ensemble"}
        The prompt initialisation.

    Returns
    -------
    RunSettings
    """
    if init not in ("hard", "ensemble"):
        raise ValueError(f"init must be 'hard' or 'ensemble', got {init!r}")
    ctx = _INIT_LABEL["hard"] if init == "hard" else ensemble_templates(values["ensemble"])
    step = TPTConfig(selection=values["selection"], lr=values["lr"], steps=values["steps"],
                     lam=ctpt_lambda(dataset, fine_grained=values["lam"], shifts=values["lam_shifts"]))
    return RunSettings(n_views=values["n_views"], augmix=uses_augmix(dataset, values["augmix"]), ctx_init=ctx,
                       seed=values["seed"], tuning=step)


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
    ds = load_dataset(dataset, split="test", root=values["data_root"],
                      paper_protocol=pretrained not in (None, "random"))
    test = subsample(ds, values["n_samples"], seed=values["seed"])
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


@dataclass
class ShardResult:
    """What one :func:`run_shard` call did: rows ``resumed`` (already there) and ``computed`` now."""

    shard: str
    resumed: int
    computed: int
    rows: int
    seconds: float
    pid: int


@dataclass
class MergeReport:
    """A merge's outcome: rows written, duplicates dropped, positions of the run still missing."""

    path: str
    rows: int
    duplicates: int
    missing: list[int]


@dataclass
class SweepReport:
    """A sweep's outcome.

    ``results`` holds every finished :func:`run_shard` call (a retried shard appears once per
    finished attempt); ``failed`` maps a shard's name to its error; ``merged`` the runs whose
    shards all finished; ``died`` the shards whose worker died (each then retried, up to
    ``max_retries``). ``startup_seconds`` is the time to start or reach Ray.
    """

    results: list[ShardResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    died: list[str] = field(default_factory=list)
    merged: dict[str, MergeReport] = field(default_factory=dict)
    workers: int = 0
    use_gpu: bool = False
    startup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def computed(self) -> int:
        """Rows computed by this sweep (all attempts)."""
        return sum(r.computed for r in self.results)


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
        folder = Path(output) / _model_dir(cell.model, cell.pretrained)
        name = f"{_model_dir(cell.model, cell.pretrained)}/{fname}"
        n = int(sizes(cell, calibration))
        ranges = shard_ranges(n, shard_size)
        shards = tuple(
            Shard(name, cell.model, cell.pretrained, cell.dataset, cell.init, method, calibration, a, b, i,
                  len(ranges), str(folder / "shards" / Path(fname).stem / f"{i:05d}-of-{len(ranges):05d}.jsonl"))
            for i, (a, b) in enumerate(ranges))
        runs.append(Run(name, cell, method, calibration, n, str(folder / "runs" / fname), shards))
    return runs


class _ExitAfter(torch.utils.data.Subset):
    """A worker killed mid-shard (tests): exits once ``path`` holds ``rows`` rows.

    The whole dataset, through a ``Subset`` of all positions, so rows keep their identity.
    """

    def __init__(self, dataset, path: str, rows: int):
        super().__init__(dataset, range(len(dataset)))
        self.classnames = list(dataset.classnames)
        self.path, self.rows = path, rows

    def __getitem__(self, i):
        if len(read_tpt_rows(self.path)) >= self.rows:
            os._exit(17)  # no cleanup, no exception: as a kill -9
        return super().__getitem__(i)

    def __getitems__(self, indices):
        return [self[i] for i in indices]


def run_shard(shard: Shard, values: Mapping[str, Any], model, tokenizer, *, dataset=None,
              exit_after: int | None = None) -> ShardResult:
    """Compute one shard's missing rows into its file (no Ray needed).

    Parameters
    ----------
    shard : Shard
        What to run.
    values : mapping
        :func:`notebook_values` of the sweep.
    model, tokenizer
        The loaded model (:func:`vlmcal_utils.models.load_model`) of ``shard.model``.
    dataset : torch.utils.data.Dataset, optional
        The run's :func:`cell_dataset` (default: loaded here).
    exit_after : int, optional
        Fault injection for tests: the process ``os._exit`` s once the shard's file holds this
        many rows, when it loads the next image (views made in line, as on CPU: a view worker
        process would exit instead).

    Returns
    -------
    ShardResult
    """
    t0 = time.perf_counter()
    ds = dataset if dataset is not None else cell_dataset(values, shard.dataset, shard.pretrained, shard.calibration)
    before = len(read_tpt_rows(shard.path))
    if exit_after is not None:
        ds = _ExitAfter(ds, shard.path, exit_after)
    rows = run_tpt(model, tokenizer, ds, ds.classnames, shard.method, shard.path,
                   run_settings(values, shard.dataset, shard.init), indices=range(shard.start, shard.stop),
                   batch_size=int(values["batch"]), progress=False)
    return ShardResult(shard.name, before, len(rows) - before, len(rows), time.perf_counter() - t0, os.getpid())


def _key(row: Mapping[str, Any]) -> int:
    return int(row.get("source_index", row["index"]))


def merge_shards(paths: Sequence[str | os.PathLike], out_path: str | os.PathLike,
                 n_images: int | None = None) -> MergeReport:
    """Merge shard files (and the rows already in ``out_path``) into ``out_path``.

    Parameters
    ----------
    paths : sequence of path
        Shard files of one run (missing ones hold no rows).
    out_path : path
        The merged file; rows already there are kept (it is a resumable run file too).
    n_images : int, optional
        The run's size: positions ``0 .. n_images - 1`` absent from every file are reported.

    Returns
    -------
    MergeReport

    Raises
    ------
    ValueError
        Rows of more than one run fingerprint or method (another model or other settings): the
        files are left as they were. Also two rows of one image at different positions.
    """
    rows, duplicates, origin = {}, 0, {}
    for path in [out_path, *paths]:
        for r in read_tpt_rows(path):
            k = _key(r)
            if k in rows:
                duplicates += 1
                if rows[k]["index"] != r["index"]:
                    raise ValueError(f"image {k} is at position {rows[k]['index']} in {origin[k]} and "
                                     f"{r['index']} in {path}: the files come from different datasets")
                continue
            rows[k], origin[k] = r, path
    runs = {(r.get("run"), r.get("method")) for r in rows.values()}
    if len(runs) > 1:
        where = {}
        for k, r in rows.items():
            where.setdefault((r.get("run"), r.get("method")), set()).add(str(origin[k]))
        detail = "; ".join(f"run {run} ({method}): {sorted(files)}" for (run, method), files in sorted(
            where.items(), key=str))
        raise ValueError(f"refusing to merge rows of {len(runs)} different runs (another model or other "
                         f"settings) into {out_path}: {detail}")
    merged = sorted(rows.values(), key=lambda r: r["index"])
    if merged:
        RecordStore(out_path, key=_key).replace_all(merged)
    have = {r["index"] for r in merged}
    missing = [i for i in range(n_images) if i not in have] if n_images is not None else []
    return MergeReport(str(out_path), len(merged), duplicates, missing)


def _require_ray():
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("vlmcal_utils.sweep needs Ray to run shards: pip install 'vlmcal-utils[sweep]' "
                          "(--dry-run and merge_shards work without it)") from err
    return ray


class _Worker:
    """A Ray actor's state: loaded models and datasets, kept for every shard it is given."""

    def __init__(self, values: Mapping[str, Any], threads: int):
        from vlmcal_utils.device import get_device

        torch.set_num_threads(max(1, int(threads)))
        self.values = dict(values)
        self.device = get_device("auto", verbose=False)
        self.models: dict = {}
        self.data: dict = {}

    def run(self, shard: Shard, exit_after: int | None = None) -> ShardResult:
        from vlmcal_utils.models import load_model

        mkey = (shard.model, shard.pretrained)
        if mkey not in self.models:  # one load per worker per model
            model, _, tokenizer = load_model(shard.model, shard.pretrained, device=self.device,
                                             seed=self.values["seed"])
            self.models[mkey] = (model, tokenizer)
        dkey = (shard.dataset, shard.pretrained, shard.calibration)
        if dkey not in self.data:
            self.data[dkey] = cell_dataset(self.values, shard.dataset, shard.pretrained, shard.calibration)
        model, tokenizer = self.models[mkey]
        return run_shard(shard, self.values, model, tokenizer, dataset=self.data[dkey], exit_after=exit_after)

    def pid(self) -> int:
        return os.getpid()


def run_sweep(runs: Sequence[Run], values: Mapping[str, Any], *, address: str | None = None,
              workers: int | None = None, cpus_per_worker: int = 1, max_retries: int = 2,
              fail_after: Mapping[str, int | Sequence[int]] | None = None, ray_init: Mapping[str, Any] | None = None,
              log: Callable[[str], None] | None = None) -> SweepReport:
    """Run every unfinished shard on Ray workers, then merge each run whose shards all finished.

    Parameters
    ----------
    runs : sequence of Run
        :func:`plan_runs`.
    values : mapping
        :func:`notebook_values` of the sweep.
    address : str, optional
        ``None``: use the Ray already initialised in this process, else start a local one;
        ``"auto"`` (or ``ray://…``): join an existing cluster.
    workers : int, optional
        Worker actors; default one per GPU of the cluster, or ``CPUs // cpus_per_worker``
        without GPUs (never more than there are shards).
    cpus_per_worker : int
        CPUs (torch threads) of a CPU worker.
    max_retries : int
        How often a shard whose worker died is given to a fresh worker (which resumes it).
        An exception inside a shard (bad data, a fingerprint mismatch) is not retried.
    fail_after : mapping, optional
        Fault injection for tests: ``{shard name: rows}`` kills that shard's worker process, on
        its first attempt only, once its file holds that many rows; a list gives the rows for
        each attempt (``[2, 2]``: the retry dies too, at once).
    ray_init : mapping, optional
        Extra ``ray.init`` arguments when a local Ray is started here.
    log : callable, optional
        Called with one line per finished shard (the CLI prints them).

    Returns
    -------
    SweepReport
    """
    ray = _require_ray()
    t0 = time.perf_counter()
    started = False
    if not ray.is_initialized():
        kw = {"include_dashboard": False, "log_to_driver": False, **dict(ray_init or {})}
        ray.init(address=address, **kw)
        started = True
    report = SweepReport(startup_seconds=time.perf_counter() - t0)
    try:
        resources = ray.cluster_resources()
        report.use_gpu = resources.get("GPU", 0) >= 1
        todo = [s for run in runs for s in run.shards]
        n_default = int(resources["GPU"]) if report.use_gpu else max(1, int(resources.get("CPU", 1)) // cpus_per_worker)
        n_workers = max(1, min(workers or n_default, len(todo) or 1))
        report.workers = n_workers
        opts = {"num_gpus": 1, "num_cpus": cpus_per_worker} if report.use_gpu else {"num_cpus": cpus_per_worker}
        actor_cls = ray.remote(_Worker).options(max_restarts=0, **opts)

        def spawn():
            return actor_cls.remote(dict(values), cpus_per_worker)

        pending = deque((s, 0) for s in todo)
        actors: list = [spawn() for _ in range(n_workers if todo else 0)]
        inflight: dict = {}
        fail_after = dict(fail_after or {})

        def submit(slot: int) -> None:
            if pending:
                if actors[slot] is None:
                    actors[slot] = spawn()  # a fresh worker for the slot of one that died
                shard, attempt = pending.popleft()
                hooks = fail_after.get(shard.name)
                hooks = [hooks] if isinstance(hooks, int) else list(hooks or [])
                hook = hooks[attempt] if attempt < len(hooks) else None
                inflight[actors[slot].run.remote(shard, hook)] = (slot, shard, attempt)

        for slot in range(len(actors)):
            submit(slot)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            slot, shard, attempt = inflight.pop(ready[0])
            try:
                res = ray.get(ready[0])
            except ray.exceptions.RayActorError as err:
                report.died.append(shard.name)
                actors[slot] = None
                if attempt < max_retries:
                    pending.appendleft((shard, attempt + 1))
                else:
                    report.failed[shard.name] = f"worker died {attempt + 1} times: {type(err).__name__}"
            except ray.exceptions.RayTaskError as err:
                cause = getattr(err, "cause", None)
                report.failed[shard.name] = f"{type(cause).__name__}: {cause}" if cause is not None else str(err)
            else:
                report.results.append(res)
                if log:
                    log(f"{shard.name} [{shard.start}:{shard.stop}]: {res.computed} computed, "
                        f"{res.resumed} resumed, {res.seconds:.1f} s")
            submit(slot)
    finally:
        if started:
            ray.shutdown()
    for run in runs:
        if not any(s.name in report.failed for s in run.shards):
            report.merged[run.name] = merge_shards([s.path for s in run.shards], run.merged, run.n_images)
    report.seconds = time.perf_counter() - t0
    return report


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


def _parse_model(text: str, section: Mapping[str, Any]) -> tuple[str, str | None]:
    if text == "section":
        return section.get("model", NOTEBOOK_DEFAULTS["model"]), section.get("pretrained")
    arch, _, tag = text.partition(":")
    return arch, (tag if tag and tag.lower() != "none" else None)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``python -m vlmcal_utils.sweep PARAMS --paper ctpt|tu [--dry-run] [--address auto] ...``.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        Exit status: 0, or 1 when shards failed (rerun the same command to resume them).
    """
    parser = argparse.ArgumentParser(prog="python -m vlmcal_utils.sweep", description=__doc__.splitlines()[0])
    parser.add_argument("params", type=Path, help="a params file, e.g. params/paper.yaml")
    parser.add_argument("--paper", choices=sorted(PAPERS), default="ctpt")
    parser.add_argument("--dry-run", action="store_true", help="print the cells, images, GPU-hours and shards")
    parser.add_argument("--address", default=None, help="'auto': join the running Ray cluster (default: local)")
    parser.add_argument("--shard-size", type=int, default=500, help="images per shard (default 500)")
    parser.add_argument("--output", type=Path, default=Path("results/sweep"), help="default results/sweep")
    parser.add_argument("--model", action="append", default=None, metavar="ARCH[:PRETRAINED]",
                        help="instead of the grid's models (repeatable); 'section': the section's model")
    parser.add_argument("--methods", default=None, help=f"comma-separated subset of {','.join(SWEPT_METHODS)}")
    parser.add_argument("--workers", type=int, default=None, help="default: one per GPU, else per CPU")
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    parser.add_argument("--max-retries", type=int, default=2, help="per shard whose worker died")
    parser.add_argument("--merge-only", action="store_true", help="merge the shard files there, run nothing")
    parser.add_argument("--costs", type=Path, default=Path("benchmarks/results"), help="measured cost figures")
    args = parser.parse_args(argv)
    sets = yaml.safe_load(args.params.read_text()) or {}
    section = sets.get(PAPER_GRIDS[PAPERS[args.paper]].stem) or {}
    models = [_parse_model(m, section) for m in args.model] if args.model else None
    methods = args.methods.split(",") if args.methods else None
    if args.dry_run:
        cells = paper_cells(sets, args.paper, models, load_cost_figures(args.costs))
        if methods:
            cells = tuple(c for c in cells if c.method in methods)
        print(format_plan(cells, args.shard_size))
        if args.paper != "ctpt":
            print("\nnot swept yet: run this grid with the notebook runner (paper_sets --dry-run prints the commands)")
        return 0
    if args.paper != "ctpt":
        parser.error(f"--paper {args.paper}: only --dry-run so far (the sweep runs C-TPT's grid)")
    runs = plan_runs(sets, args.output, paper=args.paper, models=models, methods=methods, shard_size=args.shard_size)
    values = notebook_values(section)
    if args.merge_only:
        for run in runs:
            rep = merge_shards([s.path for s in run.shards], run.merged, run.n_images)
            print(f"{run.name}: {rep.rows} rows, {len(rep.missing)} missing")
        return 0
    n = sum(len(r.shards) for r in runs)
    print(f"{len(runs)} runs, {n} shards, {sum(r.n_images for r in runs)} images -> {args.output}")
    report = run_sweep(runs, values, address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker,
                       max_retries=args.max_retries, log=print)
    print(f"{report.workers} {'GPU' if report.use_gpu else 'CPU'} workers; Ray up in {report.startup_seconds:.1f} s; "
          f"{report.computed} rows computed in {report.seconds:.1f} s")
    for name, rep in report.merged.items():
        print(f"merged {name}: {rep.rows} rows" + (f", {len(rep.missing)} missing" if rep.missing else ""))
    for name, why in report.failed.items():
        print(f"FAILED {name}: {why}")
    if report.failed:
        print("rerun the same command: finished rows are kept and only the missing ones are computed")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
