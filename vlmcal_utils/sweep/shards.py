"""One shard in this process (:func:`run_shard`, no Ray), the rows a run already has, and the merge.

A run's rows are keyed by image (``source_index``), never by shard: :func:`pending_shards` finds the
images already computed in the merged file and in shard files of *any* shard size, so a rerun with
another ``--shard-size`` computes only what is missing. :func:`merge_shards` writes the merged file
with the run's identity columns and its logits in a binary sidecar
(:func:`~vlmcal_utils.tpt.runner.save_logits_sidecar`); :func:`clean_run` then removes the shard
files and lock files of a complete run.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping, Sequence

from vlmcal_utils.storage import RecordStore, atomic_write_json
from vlmcal_utils.sweep.plan import Run, Shard, cell_dataset, run_settings
from vlmcal_utils.tpt.runner import COMPUTED_ROWS, read_tpt_rows, run_tpt, save_logits_sidecar
from vlmcal_utils.tpt.tuning import official_temperature

__all__ = ["ShardResult", "MergeReport", "MODEL_FILE", "run_shard", "merge_shards", "pending_shards", "clean_run",
           "run_files", "finish_runs"]

#: Beside each model's runs (``<output>/<model>__<pretrained>/model.json``): what the summary needs of
#: the model without loading it (the C-TPT code's fixed TPT+TS temperature).
MODEL_FILE = "model.json"


@dataclass
class ShardResult:
    """What one :func:`run_shard` call did: rows ``resumed`` (already there) and ``computed`` now."""

    shard: str
    resumed: int
    computed: int
    rows: int
    seconds: float
    pid: int
    official_temperature: float | None = None


@dataclass
class MergeReport:
    """A merge's outcome: rows written, duplicates dropped, positions of the run still missing."""

    path: str
    rows: int
    duplicates: int
    missing: list[int]


def run_shard(shard: Shard, values: Mapping[str, Any], model, tokenizer, *, dataset=None) -> ShardResult:
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

    Returns
    -------
    ShardResult
        ``computed``: the rows :func:`~vlmcal_utils.tpt.run_tpt` tuned in this call (counted where
        they are computed, :data:`~vlmcal_utils.tpt.runner.COMPUTED_ROWS`, not as rows after minus
        before), ``resumed``: the rows already in the file.
    """
    t0 = time.perf_counter()
    ds = dataset if dataset is not None else cell_dataset(values, shard.dataset, shard.pretrained, shard.calibration)
    before = len(read_tpt_rows(shard.path))
    computed = COMPUTED_ROWS[str(shard.path)]
    rows = run_tpt(model, tokenizer, ds, ds.classnames, shard.method, shard.path, run_settings(values, shard),
                   indices=range(shard.start, shard.stop), batch_size=int(values["batch"]), progress=False)
    _unlock(shard.path)  # the shard's writer is done (a resumed shard takes the lock again)
    return ShardResult(shard.name, before, COMPUTED_ROWS[str(shard.path)] - computed, len(rows),
                       time.perf_counter() - t0, os.getpid(), official_temperature(model))


def _key(row: Mapping[str, Any]) -> int:
    return int(row.get("source_index", row["index"]))


def _run_of(row: Mapping[str, Any]) -> tuple:
    return row.get("run"), row.get("method"), row.get("source"), row.get("dataset")


def _unlock(path: str | os.PathLike) -> None:
    """Remove ``path``'s writer lock file (:class:`~vlmcal_utils.storage.RecordStore`) once its writer is done."""
    Path(f"{os.fspath(path)}.lock").unlink(missing_ok=True)


def run_files(run: Run) -> list[Path]:
    """Every shard file in the run's shard folder, whatever shard size wrote it."""
    return sorted(run.shard_dir.glob("*.jsonl")) if run.shard_dir.is_dir() else []


def pending_shards(run: Run) -> tuple[list[Shard], int]:
    """The run's shards with images still to compute, their files seeded with the rows already computed.

    Rows are found by image in the merged file and in every shard file of the run (another shard
    size included); a shard whose images all have rows is not run, one with some gets them copied
    into its file, where :func:`~vlmcal_utils.tpt.run_tpt` resumes them.

    Parameters
    ----------
    run : Run

    Returns
    -------
    shards : list of Shard
        The shards to run.
    done : int
        Images of the shards not run (every one has a row); rows already in a shard that is run
        count when it finishes.
    """
    sources = [p for p in [Path(run.merged), *run_files(run)] if p.is_file()]
    have: dict[int, dict] = {}
    for path in sources:
        for r in read_tpt_rows(path):
            have.setdefault(int(r["index"]), r)
    todo, done = [], 0
    for shard in run.shards:
        known = [have[i] for i in range(shard.start, shard.stop) if i in have]
        if len(known) == len(shard):
            done += len(shard)
            continue
        if known:
            RecordStore(shard.path, key=_key).append(known)  # skips rows already in the shard's file
            _unlock(shard.path)
        todo.append(shard)
    return todo, done


def clean_run(run: Run) -> list[Path]:
    """Remove a complete run's shard files, their folder and lock files (the merged file holds every row).

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = [p for p in run_files(run) + sorted(run.shard_dir.glob("*.lock")) if p.exists()] \
        if run.shard_dir.is_dir() else []
    for p in removed:
        p.unlink(missing_ok=True)
    if run.shard_dir.is_dir() and not any(run.shard_dir.iterdir()):
        run.shard_dir.rmdir()
    _unlock(run.merged)
    return removed


def merge_shards(paths: Sequence[str | os.PathLike], out_path: str | os.PathLike,
                 n_images: int | None = None, identity: Mapping[str, Any] | None = None) -> MergeReport:
    """Merge shard files (and the rows already in ``out_path``) into ``out_path``.

    Parameters
    ----------
    paths : sequence of path
        Shard files of one run (missing ones hold no rows).
    out_path : path
        The merged file; rows already there are kept (it is a resumable run file too).
    n_images : int, optional
        The run's size: positions ``0 .. n_images - 1`` absent from every file are reported.
    identity : mapping, optional
        Columns added to every merged row (:attr:`Run.identity`: model, pretrained, dataset name,
        split, init), so the file loads alone with pandas.

    Returns
    -------
    MergeReport

    Raises
    ------
    ValueError
        Rows of more than one run fingerprint, method, draw of images (``source``) or dataset
        (``dataset``): the files are left as they were. Also two rows of one image at different positions.
    """
    rows, duplicates, origin = {}, 0, {}
    for path in [out_path, *paths]:
        for r in read_tpt_rows(path):
            k = _key(r)
            if k in rows:
                duplicates += 1
                if rows[k]["index"] != r["index"]:
                    raise ValueError(f"image {k} is at position {rows[k]['index']} in {origin[k]} and "
                                     f"{r['index']} in {path}: the files come from different datasets; "
                                     "move one of them away, or sweep into another --output")
                continue
            rows[k], origin[k] = r, path
    # one run: one fingerprint and method, one draw of images (``source``), one dataset's images
    runs = {_run_of(r) for r in rows.values()}
    if len(runs) > 1:
        where = {}
        for k, r in rows.items():
            where.setdefault(_run_of(r), set()).add(str(origin[k]))
        detail = "; ".join(f"run {run} ({method}, images {source}/{data}): {sorted(files)}"
                           for (run, method, source, data), files in sorted(where.items(), key=str))
        raise ValueError(f"refusing to merge rows of {len(runs)} different runs (another model, other "
                         f"settings or another draw of images) into {out_path}: {detail}; rerunning cannot "
                         "change that: move the files of the other run out of the folder, or sweep into "
                         "another --output")
    merged = sorted(({**r, **dict(identity or {})} for r in rows.values()), key=lambda r: r["index"])
    if merged:
        # the logits first: the rows written next find theirs there (4 bytes a logit, not ~11 in JSON)
        lean = save_logits_sidecar(out_path, merged)
        RecordStore(out_path, key=_key).replace_all(lean)
        _unlock(out_path)
    have = {r["index"] for r in merged}
    missing = [i for i in range(n_images) if i not in have] if n_images is not None else []
    return MergeReport(str(out_path), len(merged), duplicates, missing)


def finish_runs(runs: Sequence[Run], failed: Collection[str] = (),
                official_temperatures: Mapping[str, float | None] | None = None) -> dict[str, MergeReport]:
    """Merge each run none of whose shards failed; a complete one loses its shard and lock files.

    Parameters
    ----------
    runs : sequence of Run
    failed : collection of str
        Names of failed shards (their runs are left as they are, for a rerun).
    official_temperatures : mapping, optional
        Run name -> the model's fixed TPT+TS temperature (:attr:`ShardResult.official_temperature`),
        written to the model folder's :data:`MODEL_FILE` for the summary.

    Returns
    -------
    dict
        Run name -> :class:`MergeReport` of the merged runs.
    """
    merged, temps = {}, dict(official_temperatures or {})
    for run in runs:
        if any(s.name in failed for s in run.shards):
            continue
        merged[run.name] = rep = merge_shards(run_files(run), run.merged, run.n_images, identity=run.identity)
        if not rep.missing:
            clean_run(run)
        if temps.get(run.name) is not None:
            atomic_write_json(Path(run.merged).parents[2] / MODEL_FILE,
                              {"model": run.cell.model, "pretrained": run.cell.pretrained,
                               "official_temperature": temps[run.name]})
    return merged
