"""The study's grid runner: every (task, calibration draw) cell, resumable, in one tidy table.

A *task* (:class:`StudyTask`) is one (model, dataset) with a calibration split and evaluation
splits. A *cell* is one temperature fit: on the whole calibration split (cell ``"all"``) or on a
random draw of ``n`` samples; it writes one row per evaluation split and method (``"none"``, only
for the ``"all"`` cell since it does not depend on the draw, and ``"ts"``). Findings 1 and 2 of
Tu et al. read the ``"all"`` cells (every evaluation split is scored with the *same* ``T``), finding
4 the draws.

Results rows (see :data:`RESULT_COLUMNS`) are keyed by :data:`KEY_COLUMNS` and stored as JSON
lines in a :class:`vlmcal_utils.storage.RecordStore`, one append per finished cell. Each row also
records its identity: ``settings`` (the JSON of :meth:`GridConfig.settings`, the grid ``seed``
included) and ``cell_digest`` (a digest of the task's name, source and family, the cell and the
settings, and the task's ``inputs``: which images, sizes and subset seed). A resumed run
reuses only rows whose identity matches and refuses a file written with other settings or
from other inputs, instead of mixing the two.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.metrics import nll
from vlmcal_utils.progress import progress_bar
from vlmcal_utils.scores import ROW_KEYS, score_logits
from vlmcal_utils.storage import RecordStore
from vlmcal_utils.study.grid_config import GridConfig, grid_config
from vlmcal_utils.study.scoring import fit_temperature_flagged, logits_and_labels
from vlmcal_utils.study.subsets import draw_calibration_subset, grid_values

__all__ = [
    "KEY_COLUMNS",
    "RESULT_COLUMNS",
    "StudyTask",
    "grid_key",
    "run_grid",
    "read_grid",
]

#: The columns that identify a results row: one (model, dataset, evaluation split, method,
#: calibration-set size, seed). ``seed`` is the seed of the cell's draw (``GridConfig.seed + r``
#: for repeat ``r``; ``GridConfig.seed`` for the ``"all"`` cell).
KEY_COLUMNS = ("model", "dataset", "split", "method", "n_calib", "seed")
#: Every results row holds these, one ``ece_<n_bins>`` column (e.g. ``ece_15``), then ``cell,
#: T_at_bound, nll_cal_before, nll_cal_after, cell_rows, settings, cell_digest``. The score columns
#: are :meth:`vlmcal_utils.scores.Scores.as_row` of the evaluation split scored at the row's
#: ``temperature`` (``ece_lo/ece_hi`` NaN for draws; ``smooth_ece/debiased_ece`` NaN: not computed),
#: ``source`` is where the logits came from, ``family`` ``"vlm"`` or ``"baseline"``.
RESULT_COLUMNS = KEY_COLUMNS + ROW_KEYS + ("source", "family")


@dataclass
class StudyTask:
    """One (model, dataset) of the study.

    ``load()`` returns a mapping ``{"cal": (logits, labels), split_name: (logits, labels), ...}``
    of ``(N, K)`` logits and ``(N,)`` labels: the temperature is fitted on ``"cal"`` and every
    other entry is an evaluation split scored with that same ``T`` (e.g. ``"test"`` plus shifted
    splits such as ``"test_french"``). It is called only if some cell of the task still has to be
    computed.

    ``inputs`` names exactly which samples ``load()`` reads (datasets, index ranges, subset sizes
    and the subset seed; :func:`~vlmcal_utils.study.zeroshot_task` fills it in). It is part of
    every cell's identity, so a rerun with other sizes or another subset seed into the same file
    is refused instead of reusing rows computed on other images.
    """

    model: str
    dataset: str
    load: Callable[[], Mapping[str, tuple[Any, Any]]]
    source: str = ""
    family: str = "vlm"  # "vlm" or "baseline": colours the plots, and only VLMs count for the claims
    splits: tuple[str, ...] | None = None  # evaluation split names, if known before loading
    inputs: str = ""  # which samples load() reads (sizes, subset seed): part of each cell's identity


def grid_key(row: Mapping[str, Any]) -> tuple:
    """The :data:`KEY_COLUMNS` of a results row as a hashable tuple (the store's key).

    Parameters
    ----------
    row : mapping
        A results row (a dict read from the file, or a frame row).

    Returns
    -------
    tuple
        ``(model, dataset, split, method, n_calib, seed)`` with ``n_calib`` and ``seed`` as ``int``.
    """
    return tuple(int(row[c]) if c in ("n_calib", "seed") else str(row[c]) for c in KEY_COLUMNS)


def _cell_id(row: Mapping[str, Any]) -> tuple:
    return row["model"], row["dataset"], str(row.get("cell", "")), int(row["seed"])


def _cell_digest(task: StudyTask, cell: int | str, seed: int, settings: Mapping[str, Any]) -> str:
    """A digest of everything a cell's rows are computed from, short of the logits themselves."""
    payload = {"model": task.model, "dataset": task.dataset, "source": task.source, "family": task.family,
               "cell": str(cell), "seed": int(seed), "settings": dict(settings)}
    if task.inputs:  # absent for tasks without it, so their digests (and files) are unchanged
        payload["inputs"] = task.inputs
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _frame(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=list(RESULT_COLUMNS))
    df = pd.DataFrame(rows)
    # the key columns first, then the rows' own order (the scores in as_row() order, ece_<b> included)
    cols = [c for c in KEY_COLUMNS if c in df.columns] + [c for c in df.columns if c not in KEY_COLUMNS]
    return df[cols].sort_values(list(KEY_COLUMNS)).reset_index(drop=True)


def read_grid(path: str | os.PathLike) -> pd.DataFrame:
    """The whole results table of a :func:`run_grid` file (complete rows only).

    Parameters
    ----------
    path : str or os.PathLike
        The JSON-lines file.

    Returns
    -------
    pandas.DataFrame
        One row per key, :data:`RESULT_COLUMNS` first, sorted by :data:`KEY_COLUMNS`; empty (with
        those columns) for a missing file.
    """
    return _frame(RecordStore(path, key=grid_key).read())


def _check_settings(rows: list[dict], settings: str, out: Path) -> None:
    other = {r.get("settings") for r in rows} - {settings}
    if not other:
        return
    ours = json.loads(settings)
    theirs = json.loads(sorted(map(str, other))[0]) if all(other) else {}
    diff = ", ".join(f"{k}: file {theirs.get(k, '(not recorded)')!r}, this run {v!r}"
                     for k, v in ours.items() if theirs.get(k, "(not recorded)") != v)
    raise ValueError(
        f"{out} holds results computed with other settings ({diff or sorted(map(str, other))}): "
        "delete the file or pass another out_path"
    )


def _check_format(rows: list[dict], out: Path) -> None:
    old = [r for r in rows if "accuracy" not in r]
    if old:
        raise ValueError(f"{out} holds rows in the format before vlmcal_utils.scores (columns acc, conf, ece, T): "
                         "delete the file or pass another out_path")


def _resume(store: RecordStore, settings: str) -> list[dict]:
    """The store's rows, after dropping a torn last line and any cell not entirely on disk."""
    store.repair()
    rows = store.read()
    _check_format(rows, store.path)
    _check_settings(rows, settings, store.path)
    # A cell is done only if all of its rows are on disk (a kill in the middle of its single
    # write can leave the first rows complete and the rest torn): drop incomplete cells.
    counts: dict[tuple, int] = {}
    for r in rows:
        counts[_cell_id(r)] = counts.get(_cell_id(r), 0) + 1
    complete = [r for r in rows if counts[_cell_id(r)] == r.get("cell_rows", counts[_cell_id(r)])]
    if len(complete) != len(rows):  # rewrite without them: their cells are computed again, whole
        store.replace_all(complete)
    return complete


def _check_identity(done: Mapping[tuple, str], task: StudyTask, cell: int | str, seed: int, digest: str,
                    out: Path) -> None:
    found = done[(task.model, task.dataset, str(cell), seed)]
    if found != digest:
        raise ValueError(
            f"{out}: the rows of {task.model!r} on {task.dataset!r} (cell {cell}, seed {seed}) were "
            f"computed from other inputs than this task (source {task.source!r}, family {task.family!r}, "
            f"inputs {task.inputs or '(not given)'!r}: other images, sizes or subset seed?; digest {found} "
            f"on file, {digest} now): delete the file or pass another out_path"
        )


def _load_task(task: StudyTask, config: GridConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    name = (task.model, task.dataset)
    data = dict(task.load())
    if "cal" not in data:
        raise ValueError(f"task {name}: load() must return a 'cal' split, got {sorted(data)}")
    if len(data) < 2:
        raise ValueError(f"task {name}: load() returned no evaluation split besides 'cal'")
    data = {k: logits_and_labels(*v, f"{name} {k}") for k, v in data.items()}
    # Check the grid against this task's calibration size before any draw is written.
    n_total = data["cal"][1].size
    grid_values(list(config.n_calib_grid) or ["all"], n_total)
    if n_total in config.n_calib_grid:
        raise ValueError(
            f"task {name}: n_calib={n_total} is the whole calibration split, whose rows the "
            "'all' cell already writes (same key): drop it from n_calib_grid"
        )
    return data


def _cell_rows(task: StudyTask, data: Mapping[str, tuple[np.ndarray, np.ndarray]], n: int | str, seed: int,
               config: GridConfig) -> list[dict]:
    """The rows of one cell: fit ``T`` on its calibration draw, score every evaluation split."""
    z_cal, y_cal = data["cal"]
    if n == "all":
        idx, n_cal = np.arange(y_cal.size), y_cal.size
    else:
        idx, n_cal = draw_calibration_subset(y_cal, int(n), seed, 0, config.stratified), int(n)
    T, at_bound = fit_temperature_flagged(z_cal[idx], y_cal[idx], config.method)
    # NLL on the calibration draw itself: TS minimises it, so "after" can never exceed "before"
    # (a check the notebook-results tests make on every cell).
    nll_cal = {"nll_cal_before": nll(z_cal[idx], y_cal[idx]), "nll_cal_after": nll(z_cal[idx] / T, y_cal[idx])}
    methods = [("none", 1.0), ("ts", T)] if n == "all" else [("ts", T)]
    rows = []
    for split, (z, y) in data.items():
        if split == "cal":
            continue
        for method, t in methods:
            score = score_logits(z, y, temperature=t, bins=config.n_bins, estimators=False,
                                 n_boot=config.n_boot if n == "all" else 0, alpha=config.alpha, seed=seed)
            rows.append({
                "model": task.model, "dataset": task.dataset, "split": split, "method": method,
                "n_calib": n_cal, "seed": seed, **score.as_row(), "source": task.source,
                "family": task.family, "cell": str(n), "T_at_bound": bool(at_bound and method == "ts"),
                **nll_cal,
            })
    return rows


def run_grid(
    tasks: Sequence[StudyTask],
    out_path: str | os.PathLike,
    config: GridConfig | None = None,
    *,
    on_cell: Callable[[list[dict]], None] | None = None,
    progress: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Run every cell of ``tasks`` not yet in ``out_path`` and return this run's table.

    For each task: the ``"all"`` cell (``n_calib`` = the calibration split's size, seed
    ``config.seed``) and, for each ``n`` in ``config.n_calib_grid``, ``config.n_repeats`` random
    draws of ``n`` samples (seeds ``seed .. seed + n_repeats - 1``, see
    :func:`~vlmcal_utils.study.draw_calibration_subset`). Bootstrap intervals are computed only for
    ``"all"`` cells; draws get NaN.

    Rows are appended to ``out_path`` as each cell finishes, so an interrupted run resumes where it
    stopped: cells whose rows are all present (and whose identity matches) are skipped, a torn
    last line is dropped and its cell recomputed, nothing is written twice.

    Parameters
    ----------
    tasks : sequence of StudyTask
        Unique (model, dataset) pairs.
    out_path : str or os.PathLike
        The JSON-lines results file (created with its folder).
    config : GridConfig, optional
        The protocol (default ``GridConfig()``).
    on_cell : callable, optional
        Called with a cell's rows after they are saved (tests use it to interrupt a run).
    progress : bool
        Show a progress bar over the cells still to compute.
    **settings
        :class:`GridConfig` fields overriding ``config`` (e.g. ``n_calib_grid=[10, 50]``,
        ``n_boot=0``).

    Returns
    -------
    pandas.DataFrame
        The rows of this run's cells (rows of other tasks or cells in the file are left out),
        :data:`RESULT_COLUMNS` first, sorted by :data:`KEY_COLUMNS`.

    Raises
    ------
    ValueError
        Bad settings, repeated tasks, a grid size that does not fit a task, or a file holding rows
        computed with other settings (the grid ``seed`` included) or from other task inputs.

    Examples
    --------
    One task of synthetic, overconfident logits: the uncalibrated ``"none"`` row, temperature
    scaling fitted on all 300 calibration samples, and on two random draws of 50.

    >>> import os, tempfile
    >>> import numpy as np
    >>> def load():
    ...     rng = np.random.default_rng(1)
    ...     y = rng.integers(0, 5, 600)
    ...     z = 3 * (2 * np.eye(5)[y] + rng.normal(size=(600, 5)))
    ...     return {"cal": (z[:300], y[:300]), "test": (z[300:], y[300:])}
    >>> out = os.path.join(tempfile.mkdtemp(), "grid.jsonl")
    >>> table = run_grid([StudyTask("toy", "synthetic", load)], out, n_calib_grid=[50], n_repeats=2,
    ...                  n_boot=0, progress=False)
    >>> table[["split", "method", "n_calib", "seed"]].values.tolist()
    [['test', 'none', 300, 0], ['test', 'ts', 50, 0], ['test', 'ts', 50, 1], ['test', 'ts', 300, 0]]
    >>> bool(table.ece_15[table.method == "ts"].max() < table.ece_15[table.method == "none"].min())
    True
    >>> len(run_grid([StudyTask("toy", "synthetic", load)], out, n_calib_grid=[50], n_repeats=2, n_boot=0,
    ...              progress=False))  # a rerun reads every cell back from the file
    4
    """
    config = grid_config(config, **settings)
    names = [(t.model, t.dataset) for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"tasks repeat a (model, dataset) pair: {names}; each must be unique")
    out = Path(out_path)
    store = RecordStore(out, key=grid_key)
    identity = config.settings()
    settings_json = json.dumps(identity, sort_keys=True)
    rows = _resume(store, settings_json)
    done = {_cell_id(r): r.get("cell_digest") for r in rows}

    wanted, todo = set(), []
    for task in tasks:
        for n, seed in config.cells():
            digest = _cell_digest(task, n, seed, identity)
            wanted.add((task.model, task.dataset, str(n), seed))
            if (task.model, task.dataset, str(n), seed) in done:
                _check_identity(done, task, n, seed, digest, out)
            else:
                todo.append((task, n, seed, digest))
    loaded: dict[tuple[str, str], dict] = {}
    for task, n, seed, digest in progress_bar(todo, desc="study cells", progress=progress and bool(todo)):
        name = (task.model, task.dataset)
        if name not in loaded:
            loaded.clear()  # one task's logits in memory at a time
            loaded[name] = _load_task(task, config)
        cell_rows = _cell_rows(task, loaded[name], n, seed, config)
        for r in cell_rows:
            r.update(cell_rows=len(cell_rows), settings=settings_json, cell_digest=digest)
        store.append(cell_rows)
        if on_cell is not None:
            on_cell(cell_rows)
    return _frame([r for r in store.read() if _cell_id(r) in wanted])
