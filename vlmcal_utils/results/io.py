"""Results files: every notebook writes its key numbers to JSON, and CI tests read those files.

A results file holds ``{"notebook", "results", "params", "vlmcal_utils_version", "torch_version",
"device", "created"}``; ``results`` has the keys of the notebook's schema
(:mod:`vlmcal_utils.views.chapter_results`). Values must be JSON-serialisable after :func:`to_jsonable`
(numpy/torch scalars and arrays, pandas frames and paths are converted).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from vlmcal_utils import __version__
from vlmcal_utils.paths import portable_paths
from vlmcal_utils.results.schema import ChapterResults, ResultsSchema
from vlmcal_utils.storage import atomic_write_text

__all__ = ["RESULTS_FILENAME", "to_jsonable", "save_results", "load_results"]

RESULTS_FILENAME = "results.json"


def to_jsonable(value: Any) -> Any:
    """Convert numpy/torch/pandas values (recursively) into plain JSON types.

    Parameters
    ----------
    value : Any
        Nested dicts/lists/tuples of numbers, strings, arrays, tensors, frames and paths.

    Returns
    -------
    Any
        The same structure in plain Python types; frames become lists of row dicts, non-finite
        floats become ``None`` so the file stays strict JSON.
    """
    if isinstance(value, ChapterResults):
        value = value.values
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    return _jsonable_leaf(value)


def _jsonable_leaf(value: Any) -> Any:
    """A tensor or array (as nested lists), a numpy scalar, a path or a number in plain JSON types."""
    # torch is not imported here: reading results (the results page, a --help) needs none, and a
    # tensor can only exist where its caller has imported torch
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    return _scalar(value)


def _scalar(value: Any) -> Any:
    """A numpy scalar as Python's, a non-finite float as ``None``, a path as a string."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def save_results(
    results_dir: str | os.PathLike,
    results: ChapterResults,
    params: dict | None = None,
    device: str | None = None,
) -> None:
    """Write ``results_dir/results.json`` atomically, with no machine path in it.

    Paths in ``results`` and ``params`` under ``$VLMCAL_SHARED``, ``$VLMCAL_CACHE`` or ``$HOME`` are
    written portably (``${VLMCAL_SHARED}/data/...``, ``~/...``: :func:`vlmcal_utils.paths.portable_paths`).

    Parameters
    ----------
    results_dir : str or os.PathLike
        Folder for this notebook's outputs (created if missing).
    results : ChapterResults
        Built by the chapter's schema, e.g. :func:`~vlmcal_utils.views.chapter_results.chapter1_results`
        (or ``ResultsSchema(...).build(...)`` for a notebook of one's own); checked again here.
    params : dict, optional
        The parameters the notebook ran with. The book's runner (``python -m vlmcal_book.reproduce``)
        writes them into the file after the run from what it injected (the parameters cell's
        defaults, the parameter set, the overrides), so a chapter need not copy its parameters cell;
        ``{}`` when neither gives them.
    device : str, optional
        Where it ran (``"cpu"``, ``"cuda"``), if known.

    Returns
    -------
    None
        Nothing, on purpose: a chapter's last cell ends with this call, and a returned path would be
        shown under it on the built page as the build machine's absolute path. The file is
        ``Path(results_dir) / RESULTS_FILENAME``.

    Raises
    ------
    TypeError
        ``results`` is not a :class:`~vlmcal_utils.results.ChapterResults` (a plain dict has no
        schema).
    vlmcal_utils.results.SchemaError
        A key is missing or not in the schema.
    """
    if not isinstance(results, ChapterResults):
        raise TypeError(
            "save_results(results_dir, results, params=None, device=None) takes results built by the chapter's "
            "schema, e.g. chapter1_results(...) from vlmcal_utils.views.chapter_results "
            "(or ResultsSchema(...).build(...)); "
            f"got {type(results).__name__}"
        )
    results.schema.validate(results.values)
    import torch  # the version beside the numbers (a chapter that saves results has imported it)

    payload = {
        "notebook": results.notebook,
        "results": portable_paths(to_jsonable(results.values)),
        "params": portable_paths(to_jsonable(params or {})),
        "vlmcal_utils_version": __version__,
        "torch_version": torch.__version__,
        "device": device,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    text = json.dumps(payload, indent=2, allow_nan=False) + "\n"
    atomic_write_text(Path(results_dir) / RESULTS_FILENAME, text)


def load_results(path: str | os.PathLike, schemas: Mapping[str, ResultsSchema] | None = None) -> dict:
    """Read a results file written by :func:`save_results`.

    Parameters
    ----------
    path : str or os.PathLike
        The JSON file, or the folder holding ``results.json``.
    schemas : mapping of str to ResultsSchema, optional
        Notebook stem -> schema: the file's ``results`` are checked against the schema of its
        notebook where the mapping has one (the chapters': :data:`vlmcal_utils.views.chapter_results.SCHEMAS`).
        Without it the file is read unchecked.

    Returns
    -------
    dict
        The whole payload (``notebook``, ``results``, ``params``, versions, ``device``, ``created``).

    Raises
    ------
    FileNotFoundError
        No results file there.
    vlmcal_utils.results.SchemaError
        The keys do not match the notebook's schema in ``schemas`` (e.g. a file from before the
        schema existed).
    """
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}: run the notebook first")
    payload = json.loads(path.read_text())
    schema = (schemas or {}).get(payload.get("notebook"))
    if schema is not None:
        schema.validate(payload.get("results") or {})
    return payload
