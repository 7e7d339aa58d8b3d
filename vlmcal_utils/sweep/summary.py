"""A sweep's summary table: one row per (model, pretrained, subset, dataset, init, method, bins), in fractions.

``python -m vlmcal_utils.sweep summarize DIR`` reads every merged run file under ``DIR``
(``DIR/<model>__<pretrained>/<subset>/runs/*.jsonl``, their logits from the binary sidecars) and
writes ``DIR/summary.csv`` (and ``DIR/summary.parquet`` where pyarrow is installed). Each row is the
one scoring record (:meth:`vlmcal_utils.scores.Scores.as_row` through
:func:`vlmcal_utils.tpt.summarise`: ``n, accuracy, mean_confidence, ece_20, ece_15, ece_lo, ece_hi,
mce, nll, brier, smooth_ece, debiased_ece, temperature``, all fractions) plus the run's mean ``atfd``,
``orthogonality``, ``min_angle`` and ``seconds`` (per image), exactly as chapter 4's results table
(:func:`table_rows` builds both): the methods ``zeroshot``, ``tpt``, ``ctpt`` and TPT's test rows at
the two TPT+TS temperatures, ``ts_official`` (the C-TPT code's fixed one, from the model's
``model.json``) and ``ts_fitted`` (fitted by NLL on TPT's calibration rows). ``bins`` is the primary
bin count (MCE, debiased ECE, the interval); ``provenance`` says what the numbers come from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from vlmcal_utils.models import weights_provenance
from vlmcal_utils.papers.ctpt import INIT_NAMES
from vlmcal_utils.storage import atomic_write_text
from vlmcal_utils.sweep.plan import SWEPT_METHODS
from vlmcal_utils.sweep.shards import MODEL_FILE
from vlmcal_utils.temperature import fit_temperature
from vlmcal_utils.tpt import ECE_BINS, read_tpt_rows, summarise

__all__ = ["N_BOOT", "SUMMARY_CSV", "SUMMARY_PARQUET", "KEY_COLUMNS", "table_rows", "summarize",
           "write_summary"]

#: Bootstrap replicates of each row's ECE interval (``ece_lo``, ``ece_hi``): chapter 4's.
N_BOOT = 1000

SUMMARY_CSV = "summary.csv"
SUMMARY_PARQUET = "summary.parquet"

#: The columns that name a summary row.
KEY_COLUMNS = ("model", "pretrained", "subset", "dataset", "init", "method", "bins")



def table_rows(runs: Mapping[tuple[str, str, str], Sequence[Mapping[str, Any]]],
               temperatures: Mapping[str, Mapping[str, float]], bins: Sequence[int] = (ECE_BINS, 15),
               n_boot: int = N_BOOT) -> list[dict[str, Any]]:
    """Chapter 4's results rows: the scoring record of every run, and of TPT's rows at each TS temperature.

    Parameters
    ----------
    runs : mapping
        ``(dataset, init, method) -> rows`` (:func:`vlmcal_utils.tpt.run_tpt`).
    temperatures : mapping
        ``"<dataset>/<init>" -> {"official": T, "fitted": T}``; a key or temperature that is missing
        leaves out that TS row.
    bins : sequence of int
        ECE bin counts; C-TPT's 20 (:data:`vlmcal_utils.tpt.ECE_BINS`), where among them, is the
        primary one, else the first.
    n_boot : int
        Bootstrap replicates of the primary ECE's interval.

    Returns
    -------
    list of dict
        ``dataset, init, method`` (``ts_official``, ``ts_fitted`` for TPT+TS) and the columns of
        :func:`vlmcal_utils.tpt.summarise` (fractions).
    """
    bins = sorted(bins, key=lambda b: b != ECE_BINS)
    table = []
    for (name, init, method), rows in runs.items():
        table.append({"dataset": name, "init": init, "method": method, **summarise(rows, bins, n_boot=n_boot)})
        if method == "tpt":
            for key, T in temperatures.get(f"{name}/{init}", {}).items():
                if T is not None:
                    table.append({"dataset": name, "init": init, "method": f"ts_{key}",
                                  **summarise(rows, bins, temperature=T, n_boot=n_boot)})
    return table


def _runs_of(subset_dir: Path) -> tuple[dict, dict, dict]:
    """The merged rows under ``subset_dir/runs``: test runs by (dataset, init, method), calibration rows, identity."""
    runs, cal, identity = {}, {}, {}
    for path in sorted((subset_dir / "runs").glob("*.jsonl")):
        rows = read_tpt_rows(path)
        if not rows:
            continue
        first = rows[0]
        if any("logits" not in r for r in rows):
            raise ValueError(f"{path}: its logits sidecar {path.name}.logits.npz is missing; "
                             "delete the run file and rerun the sweep to recompute it")
        if "dataset_name" not in first:
            raise ValueError(f"{path}: its rows carry no identity columns (merged before they did); "
                             "rerun the sweep with --merge-only to rewrite it")
        identity = {"model": first["model"], "pretrained": first["pretrained"]}
        key = (first["dataset_name"], first["init"])
        if first["split"] == "test":
            runs[(*key, first["method"])] = rows
        else:
            cal[key] = rows
    inits, methods = list(INIT_NAMES), list(SWEPT_METHODS)  # chapter 4's order: dataset, init, method
    order = sorted(runs, key=lambda k: (k[0], inits.index(k[1]) if k[1] in inits else len(inits), k[1],
                                        methods.index(k[2]) if k[2] in methods else len(methods), k[2]))
    return {k: runs[k] for k in order}, cal, identity


def _temperatures(cal: Mapping[tuple[str, str], Sequence[Mapping[str, Any]]], official: float | None) -> dict:
    """Chapter 4's TPT+TS temperatures: the fixed one and one fitted on TPT's calibration rows."""
    out = {}
    for (name, init), rows in cal.items():
        z, y = np.array([r["logits"] for r in rows]), np.array([r["label"] for r in rows])
        out[f"{name}/{init}"] = {"official": official, "fitted": fit_temperature(z, y)}
    return out


def summarize(output: str | os.PathLike, *, bins: Sequence[int] = (ECE_BINS, 15), n_boot: int = N_BOOT) -> pd.DataFrame:
    """The summary table of every merged run under a sweep's output folder.

    Parameters
    ----------
    output : path
        The sweep's ``--output``.
    bins : sequence of int
        ECE bin counts (default C-TPT's 20, then 15).
    n_boot : int
        Bootstrap replicates of the ECE interval (default chapter 4's).

    Returns
    -------
    DataFrame
        One row per (model, pretrained, subset, dataset, init, method, bins); columns
        :data:`KEY_COLUMNS`, ``provenance`` and those of :func:`table_rows` (fractions).

    Raises
    ------
    FileNotFoundError
        No merged run under ``output``.
    """
    records = []
    for subset_dir in sorted(p.parent for p in Path(output).glob("*/*/runs")):
        runs, cal, identity = _runs_of(subset_dir)
        if not runs:
            continue
        model_file = subset_dir.parent / MODEL_FILE
        official = json.loads(model_file.read_text())["official_temperature"] if model_file.is_file() else None
        primary = sorted(bins, key=lambda b: b != ECE_BINS)[0]
        for row in table_rows(runs, _temperatures(cal, official), bins, n_boot):
            records.append({**identity, "subset": subset_dir.name, "bins": primary,
                            "provenance": weights_provenance(identity["model"], identity["pretrained"]), **row})
    if not records:
        raise FileNotFoundError(f"no merged run under {output} (expected <model>__<pretrained>/<subset>/runs/*.jsonl): "
                                "run the sweep there first, or pass its --output")
    table = pd.DataFrame(records)
    return table[[*KEY_COLUMNS, *[c for c in table.columns if c not in KEY_COLUMNS]]]


def write_summary(table: pd.DataFrame, output: str | os.PathLike) -> list[Path]:
    """Write ``table`` as ``output/summary.csv`` and, where pyarrow is installed, ``summary.parquet``.

    Returns
    -------
    list of Path
        The files written.
    """
    written = [atomic_write_text(Path(output) / SUMMARY_CSV, table.to_csv(index=False))]
    try:
        import pyarrow  # noqa: F401  (pandas' Parquet engine)
    except ImportError:
        return written
    path = Path(output) / SUMMARY_PARQUET
    table.to_parquet(path, index=False)
    return [*written, path]
