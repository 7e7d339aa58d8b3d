"""Where things live: the shared real-data folder, image data, caches — every environment variable.

==================  ==========================================================================
variable            meaning
==================  ==========================================================================
``VLMCAL_SHARED``   the project's read-only real-data folder (CI: ``../shared``); optional
``VLMCAL_DATA``     root of image datasets (default ``./data``)
``VLMCAL_CACHE``    root of every cache (features, published files, demo pools); default
                    ``$XDG_CACHE_HOME/vlmcal``, else ``~/.cache/vlmcal``
==================  ==========================================================================

A fresh user machine has no shared folder: :func:`shared_dir` is then ``None`` and callers fall
back (the demo world, a download) and say so.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "SHARED_ENV_VAR",
    "DATA_ENV_VAR",
    "CACHE_ENV_VAR",
    "shared_dir",
    "shared_path",
    "data_root",
    "cache_root",
    "cache_dir",
]

SHARED_ENV_VAR = "VLMCAL_SHARED"
DATA_ENV_VAR = "VLMCAL_DATA"
CACHE_ENV_VAR = "VLMCAL_CACHE"


def shared_dir() -> Path | None:
    """The read-only folder of real data (``$VLMCAL_SHARED``), or ``None`` when there is none.

    Returns
    -------
    pathlib.Path or None
        ``None`` when the variable is unset, empty, or names no folder.
    """
    value = os.environ.get(SHARED_ENV_VAR)
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_dir() else None


def shared_path(*parts: str) -> Path | None:
    """``shared_dir() / parts`` if that file or folder exists, else ``None``."""
    root = shared_dir()
    if root is None:
        return None
    path = root.joinpath(*parts)
    return path if path.exists() else None


def data_root() -> Path:
    """Root of image datasets: ``$VLMCAL_DATA`` if set, else ``./data`` (relative to the cwd)."""
    return Path(os.environ.get(DATA_ENV_VAR) or "data").expanduser()


def cache_root() -> Path:
    """Root of every vlmcal cache: ``$VLMCAL_CACHE``, else ``$XDG_CACHE_HOME/vlmcal``, else ``~/.cache/vlmcal``."""
    explicit = os.environ.get(CACHE_ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vlmcal"


def cache_dir(kind: str) -> Path:
    """The cache folder of one kind of artefact (``"features"``, ``"published"``, ``"demo"``)."""
    if not kind or "/" in kind or kind.startswith("."):
        raise ValueError(f"cache kind must be a plain folder name, got {kind!r}")
    return cache_root() / kind
