"""Running a sweep's shards on Ray workers (one per GPU, else per CPUs), retrying those whose worker died.

The driver draws one overall bar on stderr (:mod:`vlmcal_utils.progress`: rows and shards done of
the total, rate, ETA, failures; none where bars are off) and Ray forwards the workers' warnings and
errors to it (``log_to_driver``). A local Ray started here is shut down when the sweep ends, also on
Ctrl-C, ``SIGTERM`` or ``SIGHUP``, and a small reaper process kills what is left of it after a
``kill -9`` of the driver (Ray's own agents outlive that), so no Ray process outlives the driver.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from vlmcal_utils.progress import progress_bar
from vlmcal_utils.sweep.plan import Run, Shard, cell_dataset
from vlmcal_utils.sweep.shards import MergeReport, ShardResult, finish_runs, pending_shards, run_shard
from vlmcal_utils.tpt.runner import read_tpt_rows

__all__ = ["SweepError", "SweepReport", "run_sweep"]


class SweepError(RuntimeError):
    """Shards failed; their files keep the rows already computed, so rerunning resumes them."""


@dataclass
class SweepReport:
    """A sweep's outcome.

    ``results`` holds every finished :func:`run_shard` call (a retried shard appears once per
    finished attempt); ``failed`` maps a shard's name to its error; ``merged`` the runs whose
    shards all finished; ``died`` the shards whose worker died (each then retried, up to
    ``max_retries``); ``errors`` the failed shards whose code raised (a rerun meets the same
    error; the others' workers died and a rerun resumes them); ``skipped`` the shards whose images
    all had rows already (any shard size). ``startup_seconds`` is the time to start or reach Ray.
    """

    results: list[ShardResult] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    died: list[str] = field(default_factory=list)
    skipped: int = 0
    merged: dict[str, MergeReport] = field(default_factory=dict)
    workers: int = 0
    use_gpu: bool = False
    startup_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def computed(self) -> int:
        """Rows computed by this sweep (all attempts)."""
        return sum(r.computed for r in self.results)


def _require_ray():
    try:
        import ray
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("vlmcal_utils.sweep needs Ray to run shards: pip install 'vlmcal-utils[sweep]' "
                          "(--dry-run and merge_shards work without it)") from err
    return ray


#: The test seam for worker deaths: ``{shard name: rows}`` kills that shard's worker process, on its
#: first attempt only, once the shard's file holds that many rows (when it loads the next image; views
#: made in line, as on CPU); a list gives the rows for each attempt (``[2, 2]``: the retry dies too, at
#: once). Empty outside tests, which monkeypatch it; read in the driver when a shard is submitted.
FAULTS: dict[str, int | Sequence[int]] = {}


class _ExitAfter(torch.utils.data.Subset):
    """A worker killed mid-shard (the :data:`FAULTS` seam): exits once ``path`` holds ``rows`` rows.

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


def _fault(shard: Shard, attempt: int) -> int | None:
    """The rows after which :data:`FAULTS` kills ``shard``'s worker on this attempt (``None``: never)."""
    hooks = FAULTS.get(shard.name)
    hooks = [hooks] if isinstance(hooks, int) else list(hooks or [])
    return hooks[attempt] if attempt < len(hooks) else None


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
        data = self.data[dkey] if exit_after is None else _ExitAfter(self.data[dkey], shard.path, exit_after)
        return run_shard(shard, self.values, model, tokenizer, dataset=data)

    def pid(self) -> int:
        return os.getpid()


class _Pool:
    """The sweep's worker slots and the shards in flight on them; a dead worker's slot gets a fresh one."""

    def __init__(self, ray, actor_cls, values: Mapping[str, Any], cpus_per_worker: int, shards: Sequence[Shard],
                 n_workers: int):
        self.ray, self.actor_cls = ray, actor_cls
        self.values, self.cpus = dict(values), cpus_per_worker
        self.pending = deque((s, 0) for s in shards)
        self.actors: list = [self._spawn() for _ in range(n_workers if shards else 0)]
        self.inflight: dict = {}

    def _spawn(self):
        return self.actor_cls.remote(self.values, self.cpus)

    def submit(self, slot: int) -> None:
        """Give the next pending shard to ``slot`` (a fresh worker if its last one died)."""
        if self.pending:
            if self.actors[slot] is None:
                self.actors[slot] = self._spawn()
            shard, attempt = self.pending.popleft()
            self.inflight[self.actors[slot].run.remote(shard, _fault(shard, attempt))] = (slot, shard, attempt)

    def next_finished(self):
        """``(slot, shard, attempt, ref)`` of the next finished shard."""
        ready, _ = self.ray.wait(list(self.inflight), num_returns=1)
        return (*self.inflight.pop(ready[0]), ready[0])


def _outcome(ray, ref, pool: _Pool, report: SweepReport, slot: int, shard: Shard, attempt: int,
             max_retries: int) -> ShardResult | None:
    """One finished shard: its result, or ``None`` after recording a retry or a failure."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayActorError as err:
        report.died.append(shard.name)
        pool.actors[slot] = None
        if attempt < max_retries:
            pool.pending.appendleft((shard, attempt + 1))
        else:
            report.failed[shard.name] = f"worker died {attempt + 1} times: {type(err).__name__}"
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        why = f"{type(cause).__name__}: {cause}" if cause is not None else str(err).splitlines()[0]
        report.failed[shard.name] = report.errors[shard.name] = why
    return None


def _collect(pool: _Pool, report: SweepReport, max_retries: int, log: Callable[[str], None] | None,
             bar) -> None:
    """Wait for every shard: record results, retry those whose worker died, record failures; advance ``bar``."""
    ray = pool.ray
    for slot in range(len(pool.actors)):
        pool.submit(slot)
    n_shards, done = len(pool.pending) + len(pool.inflight), 0
    while pool.inflight:
        slot, shard, attempt, ref = pool.next_finished()
        res = _outcome(ray, ref, pool, report, slot, shard, attempt, max_retries)
        if res is not None:
            report.results.append(res)
            if log:
                log(f"{shard.name} [{shard.start}:{shard.stop}]: {res.computed} computed, "
                    f"{res.resumed} resumed, {res.seconds:.1f} s")
        if res is not None or shard.name in report.failed:
            done += 1
            bar.set_postfix_str(f"shards {done}/{n_shards}, failed {len(report.failed)}", refresh=False)
            bar.update(len(shard) if res is not None else 0)  # redraws, with the new counts
        pool.submit(slot)


def _raise_exit(signum, frame) -> None:
    raise SystemExit(128 + signum)


#: The reaper of a local Ray (a process of its own): once the driver ``argv[1]`` is gone, it kills the
#: Ray processes ``argv[2:]`` still alive (psutil refuses a reused pid).
_REAPER = """
import sys, psutil
try:
    driver = psutil.Process(int(sys.argv[1]))
except psutil.NoSuchProcess:
    driver = None
procs = []
for pid in sys.argv[2:]:
    try:
        procs.append(psutil.Process(int(pid)))
    except psutil.NoSuchProcess:
        pass
if driver is not None:
    driver.wait()
for p in procs:
    try:
        p.kill()
    except psutil.Error:
        pass
"""


def _start_reaper(ray_pids: Sequence[int]):
    """A process that kills ``ray_pids`` once this driver is gone, also after a ``kill -9``.

    Ray's agents (``DashboardAgent``, ``RuntimeEnvAgent``) outlive a driver killed that way; its own
    session, so a Ctrl-C to the terminal's process group does not stop it first.
    """
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _REAPER, str(os.getpid()), *map(str, ray_pids)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


@contextlib.contextmanager
def _ray_ends_with_driver(ray, started: bool) -> Iterator[None]:
    """While a Ray started here runs: no Ray process outlives the driver.

    ``SIGTERM``/``SIGHUP`` end the driver through this ``finally`` (``ray.shutdown()``; their default
    would skip it) and a reaper process kills what is left after a ``kill -9``. Only the main thread
    may set handlers; Ray's processes are found as this process's descendants (psutil, a Ray dependency).
    """
    if not started:
        yield
        return
    import psutil

    reaper = _start_reaper([p.pid for p in psutil.Process().children(recursive=True)])
    main = threading.current_thread() is threading.main_thread()
    sigs = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None and main]
    old = {s: signal.signal(s, _raise_exit) for s in sigs}
    try:
        yield
    finally:
        ray.shutdown()
        reaper.kill()
        reaper.wait()
        for s, handler in old.items():
            signal.signal(s, handler)


def run_sweep(runs: Sequence[Run], values: Mapping[str, Any], *, address: str | None = None,
              workers: int | None = None, cpus_per_worker: int = 1, max_retries: int = 2,
              ray_init: Mapping[str, Any] | None = None, log: Callable[[str], None] | None = None,
              progress: bool = True) -> SweepReport:
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
    ray_init : mapping, optional
        Extra ``ray.init`` arguments when a local Ray is started here.
    log : callable, optional
        Called with one line per finished shard.
    progress : bool
        Draw the overall bar (:func:`vlmcal_utils.progress.progress_bar`, stderr).

    Returns
    -------
    SweepReport

    Examples
    --------
    C-TPT on four demo images (two runs: the plain prompt and the ensemble), one shard each, on a
    local Ray (started here unless one runs already); a second call finds every row and computes
    nothing. tests/sweep/test_sweep.py runs this example::

        >>> import tempfile
        >>> from vlmcal_utils import sweep
        >>> sets = {"04_ctpt": {"datasets": ["demo-photo"], "n_samples": 4, "n_views": 4, "selection": 0.5}}
        >>> runs = sweep.plan_runs(sets, tempfile.mkdtemp(), models=[("vlmcal-demo", None)], methods=["ctpt"],
        ...                        shard_size=4)
        >>> [(run.method, run.n_images, len(run.shards)) for run in runs]
        [('ctpt', 4, 1), ('ctpt', 4, 1)]
        >>> report = sweep.run_sweep(runs, sweep.notebook_values(sets["04_ctpt"]), progress=False)
        >>> report.computed, report.failed, sorted(report.merged) == sorted(run.name for run in runs)
        (8, {}, True)
        >>> sweep.run_sweep(runs, sweep.notebook_values(sets["04_ctpt"]), progress=False).computed
        0
    """
    ray = _require_ray()
    t0 = time.perf_counter()
    todo, done = [], 0
    for run in runs:  # rows already there, by image (any shard size): only the rest is run
        shards, n = pending_shards(run)
        todo += shards
        done += n
    report = SweepReport(skipped=sum(len(r.shards) for r in runs) - len(todo))
    started = False
    if todo and not ray.is_initialized():
        # log_to_driver: the workers' warnings and errors reach this terminal (their bars are off)
        ray.init(address=address, **{"include_dashboard": False, "log_to_driver": True, **dict(ray_init or {})})
        started = True
    report.startup_seconds = time.perf_counter() - t0
    with _ray_ends_with_driver(ray, started), progress_bar(
            total=sum(r.n_images for r in runs), initial=done, progress=progress, unit="row", desc="sweep",
            smoothing=0.1) as bar:
        bar.set_postfix_str(f"shards 0/{len(todo)} ({report.skipped} done before), failed 0", refresh=False)
        if todo:
            _run_shards(ray, todo, values, report, workers=workers, cpus_per_worker=cpus_per_worker,
                        max_retries=max_retries, log=log, bar=bar)
    report.merged.update(finish_runs(runs, report.failed, {r.shard.split("#")[0]: r.official_temperature
                                                           for r in report.results}))
    report.seconds = time.perf_counter() - t0
    return report


def _run_shards(ray, todo: Sequence[Shard], values: Mapping[str, Any], report: SweepReport, *,
                workers: int | None, cpus_per_worker: int, max_retries: int, log, bar) -> None:
    """Size the worker pool to the cluster and run ``todo`` on it."""
    resources = ray.cluster_resources()
    report.use_gpu = resources.get("GPU", 0) >= 1
    n_default = int(resources["GPU"]) if report.use_gpu else max(1, int(resources.get("CPU", 1)) // cpus_per_worker)
    report.workers = max(1, min(workers or n_default, len(todo)))
    opts = {"num_gpus": 1, "num_cpus": cpus_per_worker} if report.use_gpu else {"num_cpus": cpus_per_worker}
    actor_cls = ray.remote(_Worker).options(max_restarts=0, **opts)
    _collect(_Pool(ray, actor_cls, values, cpus_per_worker, todo, report.workers), report, max_retries, log, bar)

