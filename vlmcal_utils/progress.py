"""Progress bars for long loops: shown to people, never in executed notebooks or built pages.

Every loop of the package that can take minutes (feature extraction, text features, the TPT runner,
the study grid, demo training) draws its bar through :func:`progress_bar`. A bar is shown when the
caller asks for one (``progress=True``) and ``$VLMCAL_PROGRESS`` is not ``"0"``. With
``VLMCAL_PROGRESS=text`` a bar is plain text on stderr even inside a Jupyter kernel (no widget): the
book's runner sets it for a run started from a terminal, which then sees the kernel's bars, and
``"0"`` otherwise; the staging step (``vlmcal_book.stage``) strips bars from the executed
notebooks, so the book's pages hold none.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, Iterable

from tqdm import TqdmWarning, std

with warnings.catch_warnings():
    # tqdm.auto warns "IProgress not found" (two lines on stderr) when imported in a kernel without
    # ipywidgets, as every executed chapter is: the lines landed on every page. Bars are off there
    # anyway (VLMCAL_PROGRESS=0); where a bar is wanted, tqdm.auto still picks widget or text.
    warnings.simplefilter("ignore", TqdmWarning)
    from tqdm.auto import tqdm

__all__ = ["PROGRESS_ENV_VAR", "PROGRESS_TEXT", "progress_enabled", "progress_bar"]

PROGRESS_ENV_VAR = "VLMCAL_PROGRESS"

#: ``$VLMCAL_PROGRESS`` value for text bars on stderr, also in a kernel (whose stderr the runner forwards).
PROGRESS_TEXT = "text"


def progress_enabled(progress: bool = True) -> bool:
    """Whether a bar asked for with ``progress`` is shown (``$VLMCAL_PROGRESS=0`` turns all off)."""
    return bool(progress) and os.environ.get(PROGRESS_ENV_VAR, "1").strip() != "0"


def progress_bar(iterable: Iterable | None = None, *, progress: bool = True, **kwargs: Any) -> tqdm:
    """A tqdm bar (notebook widget or terminal text), disabled unless :func:`progress_enabled`.

    Parameters
    ----------
    iterable : iterable, optional
        What to iterate over (or ``None`` and ``total=`` for a manually updated bar).
    progress : bool
        The caller's wish; a disabled bar costs nothing and prints nothing.
    **kwargs
        Passed to ``tqdm`` (``desc``, ``total``, ``initial``, ``leave``, ``mininterval`` ...).

    Returns
    -------
    tqdm.tqdm
    """
    text = os.environ.get(PROGRESS_ENV_VAR, "").strip() == PROGRESS_TEXT
    return (std.tqdm if text else tqdm)(iterable, disable=not progress_enabled(progress), **kwargs)
