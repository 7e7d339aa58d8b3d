"""Results files: every notebook writes its key numbers to JSON, and CI tests read those files.

A results file holds ``{"notebook", "results", "params", "vlmcal_utils_version", "created",
"torch_version", "device"}``. Values must be JSON-serialisable after :func:`to_jsonable`
(numpy/torch scalars and arrays, pandas frames and paths are converted).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_FILENAME = "results.json"


def to_jsonable(value: Any) -> Any:
    """Convert numpy/torch/pandas values (recursively) into plain JSON types.

    Non-finite floats become ``None`` so the file stays strict JSON.
    """
    try:  # pandas and torch are optional here: only convert what is present
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if pd is not None and isinstance(value, pd.DataFrame):
        return to_jsonable(value.to_dict(orient="records"))
    if pd is not None and isinstance(value, pd.Series):
        return to_jsonable(value.to_dict())
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def save_results(
    results_dir: str | os.PathLike,
    notebook: str,
    results: dict,
    params: dict,
    device: str | None = None,
) -> Path:
    """Write ``results_dir/results.json`` atomically and return its path.

    Parameters
    ----------
    results_dir: folder for this notebook's outputs (created if missing).
    notebook: the notebook's stem, e.g. ``"01_calibration_basics"``.
    results: the key numbers (nested dicts/lists of numbers and strings).
    params: the parameters the notebook ran with.
    device: where it ran (``"cpu"``, ``"cuda"``), if known.
    """
    from vlmcal_utils import __version__

    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover
        torch_version = None
    out_dir = Path(results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "notebook": notebook,
        "results": to_jsonable(results),
        "params": to_jsonable(params),
        "vlmcal_utils_version": __version__,
        "torch_version": torch_version,
        "device": device,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path = out_dir / RESULTS_FILENAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def load_results(path: str | os.PathLike) -> dict:
    """Read a results file written by :func:`save_results` (a folder or the JSON itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"no results file at {path}: run the notebook first")
    return json.loads(path.read_text())
