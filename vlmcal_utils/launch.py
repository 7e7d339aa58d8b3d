"""The console scripts that run a clone's book tooling (``vlmcal-reproduce``), from any folder of the clone.

``pip install -e .`` (and ``make setup``) put the project's commands on the ``PATH``
(``[project.scripts]`` in ``pyproject.toml``): ``vlmcal-paper-sets``, ``vlmcal-sweep`` and
``vlmcal-demo`` are the package's own command lines; ``vlmcal-reproduce`` runs the clone's
notebooks with the clone's ``params/``, so it needs the clone's ``vlmcal_book`` (not part of the
wheel). :func:`reproduce` finds the clone (the current folder or one above it that holds
``vlmcal_book/`` and ``params/``), puts it first on ``sys.path`` and hands over to
``vlmcal_book.reproduce.main``; outside a clone it says so in one line. This launcher is the
only place the library names the book tooling, and it does so by name at run time, not by import.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Sequence

__all__ = ["find_clone", "reproduce"]


def find_clone(start: str | Path | None = None) -> Path | None:
    """The first folder at or above ``start`` (default: the current folder) with ``vlmcal_book/`` and ``params/``.

    Parameters
    ----------
    start : path, optional

    Returns
    -------
    pathlib.Path or None
    """
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "vlmcal_book" / "reproduce.py").is_file() and (folder / "params").is_dir():
            return folder
    return None


def reproduce(argv: Sequence[str] | None = None) -> int:
    """``vlmcal-reproduce``: ``vlmcal_book.reproduce.main`` of the clone around the current folder.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        Its exit status; 1 with one line outside a clone.
    """
    clone = find_clone()
    if clone is None:
        print("vlmcal-reproduce: run it inside a clone of the vlmcal repository (it runs the clone's notebooks/ "
              "with its params/); git clone the repository, then cd into it", file=sys.stderr)
        return 1
    sys.path.insert(0, str(clone))
    return importlib.import_module("vlmcal_book.reproduce").main(list(argv) if argv is not None else None)
