"""Running a sweep's shards on Ray workers (one per GPU, else per CPUs), retrying those whose worker died."""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from vlmcal_utils.sweep.plan import Run, Shard, cell_dataset
from vlmcal_utils.sweep.shards import MergeReport, ShardResult, merge_shards, run_shard

__all__ = ["SweepError", "SweepReport", "run_sweep"]


class SweepError(RuntimeError):
    """Shards failed; their files keep the rows already computed, so rerunning resumes them."""


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
