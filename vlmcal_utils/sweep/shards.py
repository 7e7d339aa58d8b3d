"""One shard in this process (:func:`run_shard`, no Ray) and the merge of a run's shard files."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from vlmcal_utils.storage import RecordStore
from vlmcal_utils.sweep.plan import Shard, cell_dataset, run_settings
from vlmcal_utils.tpt.runner import COMPUTED_ROWS, read_tpt_rows, run_tpt

__all__ = ["ShardResult", "MergeReport", "run_shard", "merge_shards"]


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
    return ShardResult(shard.name, before, COMPUTED_ROWS[str(shard.path)] - computed, len(rows),
                       time.perf_counter() - t0, os.getpid())


def _key(row: Mapping[str, Any]) -> int:
    return int(row.get("source_index", row["index"]))


def _run_of(row: Mapping[str, Any]) -> tuple:
    return row.get("run"), row.get("method"), row.get("source"), row.get("dataset")


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
                                     f"{r['index']} in {path}: the files come from different datasets")
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
                         f"settings or another draw of images) into {out_path}: {detail}")
    merged = sorted(rows.values(), key=lambda r: r["index"])
    if merged:
        RecordStore(out_path, key=_key).replace_all(merged)
    have = {r["index"] for r in merged}
    missing = [i for i in range(n_images) if i not in have] if n_images is not None else []
    return MergeReport(str(out_path), len(merged), duplicates, missing)
