"""Where things live: the shared real-data folder, image data, caches — every environment variable.

==================  ==========================================================================
variable            meaning
==================  ==========================================================================
``VLMCAL_SHARED``   the project's read-only real-data folder (CI: ``../shared``); optional
``VLMCAL_DATA``     root of image datasets (default ``./data``)
``VLMCAL_CACHE``    root of every cache (features, published files, demo pools); default
                    ``$XDG_CACHE_HOME/vlmcal``, else ``~/.cache/vlmcal``
``VLMCAL_OFFLINE``  ``1``: no downloads (published files, and the Hugging Face hub: :func:`offline`)
==================  ==========================================================================

A fresh user machine has no shared folder: :func:`shared_dir` is then ``None`` and callers fall
back (the demo world, a download) and say so.

Machine paths (an absolute path naming a user, a home folder or a build machine's checkout) must not
reach a built page or a results file: :func:`portable_paths` rewrites the known prefixes before a
file is written, and :func:`machine_paths` finds any that are left (the browser check and the
results tests fail on them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

__all__ = [
    "SHARED_ENV_VAR",
    "DATA_ENV_VAR",
    "CACHE_ENV_VAR",
    "shared_dir",
    "shared_path",
    "data_root",
    "cache_root",
    "cache_dir",
    "portable_paths",
    "machine_paths",
    "expand_vars",
    "OFFLINE_ENV_VAR",
    "offline",
]

SHARED_ENV_VAR = "VLMCAL_SHARED"
DATA_ENV_VAR = "VLMCAL_DATA"
CACHE_ENV_VAR = "VLMCAL_CACHE"
OFFLINE_ENV_VAR = "VLMCAL_OFFLINE"


def offline() -> bool:
    """Whether downloads are off: ``$VLMCAL_OFFLINE`` is ``1``, ``true`` or ``yes``.

    ``import vlmcal_utils`` then also sets ``HF_HUB_OFFLINE=1`` (unless it is set), so open_clip's
    hub client fails at once instead of retrying.
    """
    return os.environ.get(OFFLINE_ENV_VAR, "").strip().lower() in {"1", "true", "yes"}


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


# ${NAME}, ${NAME:-default} (shell's "unset or empty: default") and $NAME
_VAR_RE = re.compile(r"\$\{(\w+)(:-([^}]*))?\}|\$(\w+)")


def _expand_text(text: str, where: str) -> str | None:
    """One string with its variables expanded; ``None`` when a ``${NAME:-}`` with an empty default is unset."""
    dropped = []

    def sub(match: re.Match) -> str:
        name = match.group(1) or match.group(4)
        got = os.environ.get(name)
        if got:
            return got
        if match.group(2) is None:
            raise ValueError(f"{where}: ${{{name}}} is not set: set {name}, or write ${{{name}:-}} in the "
                             "parameter set to let the notebook fall back (or ${" + name + ":-<default>})")
        if not match.group(3):
            dropped.append(name)
        return match.group(3)

    expanded = _VAR_RE.sub(sub, text)
    return None if dropped else expanded


def expand_vars(value: Any, where: str = "value") -> Any:
    """``value`` (nested str / list / dict, as read from a parameter set) with environment variables expanded.

    ``${NAME}`` and ``$NAME`` must be set (and non-empty): an unset one is a ``ValueError`` naming
    it, never a silent fallback. ``${NAME:-default}`` gives ``default`` when ``NAME`` is unset or
    empty; ``${NAME:-}`` makes the whole string ``None`` (the notebook's fallback, e.g. synthetic
    data without ``$VLMCAL_SHARED``), and a list drops such an item.

    Parameters
    ----------
    value : object
        Strings are expanded, lists and dicts recursively, anything else returned as is.
    where : str
        Named in the error (e.g. ``"parameter 'logits_path'"``).

    Returns
    -------
    object
    """
    if isinstance(value, str):
        return _expand_text(value, where)
    if isinstance(value, list):
        items = [expand_vars(v, where) for v in value]
        return [new for old, new in zip(value, items, strict=True) if not (isinstance(old, str) and new is None)]
    if isinstance(value, dict):
        return {k: expand_vars(v, f"{where}: {k}") for k, v in value.items()}
    return value


# Absolute paths that name a machine: a user's home (Linux /home/<user>, macOS /Users/<user>, root's
# /root, Windows C:\Users\<user>), a temporary folder, and /work/ (where CI and our machines keep
# checkouts and the shared data). Not preceded by a word character, ":" "/" "." "~" or "$" (so URLs,
# "~/.cache" and "${VLMCAL_SHARED}/data" are not matches).
_MACHINE_PATH_RE = re.compile(
    r"(?<![\w:/.~$-])(?:/(?:home|Users)/[\w.-]+|/root(?![\w.-])|/(?:tmp|work|private/var|var/folders)/[\w.-]+)"
    r"|\b[A-Za-z]:\\{1,2}(?:Users|Documents and Settings)\\{1,2}[\w.-]+"
)
_MIN_LITERAL = 5  # a literal prefix shorter than "/a/bc" (e.g. HOME=/) would match everything


def _local_prefixes() -> list[str]:
    """The folders of this machine, as text: ``$HOME``, the current folder and this package's checkout."""
    candidates = [os.environ.get("HOME", ""), os.getcwd(), str(Path(__file__).resolve().parents[1])]
    found = []
    for text in candidates:
        for form in {text, str(Path(text).resolve())} if text else ():
            if len(form.rstrip("/")) >= _MIN_LITERAL and form not in found:
                found.append(form.rstrip("/"))
    return found


def machine_paths(text: str, extra: Iterable[str] = ()) -> list[str]:
    r"""Every machine path in ``text``, in order of appearance (``[]``: none).

    Parameters
    ----------
    text : str
        A page's text, or a results file's JSON text.
    extra : iterable of str
        More literal prefixes that must not appear (e.g. a build folder). ``$HOME``, the current
        folder and the checkout holding :mod:`vlmcal_utils` are always looked for, wherever they are.

    Returns
    -------
    list of str
        The matches: ``/home/<user>``, ``/Users/<user>``, root's home folder, ``/tmp/<x>``,
        ``/work/<x>``, ``C:\Users\<user>`` (and macOS temporary folders), and the literal prefixes
        found. (This text names no real path: it is shown on the API page, which the check reads.)
    """
    hits = [(m.start(), m.group(0)) for m in _MACHINE_PATH_RE.finditer(text)]
    for prefix in [*_local_prefixes(), *extra]:
        if len(prefix) >= _MIN_LITERAL:
            hits += [(m.start(), prefix) for m in _literal_re(prefix).finditer(text)]
    return list(dict.fromkeys(hit for _, hit in sorted(hits)))


def _literal_re(prefix: str) -> re.Pattern:
    """``prefix`` as a whole path prefix, not inside a longer name (``/ab`` is not in ``/abc``)."""
    return re.compile(rf"(?<![\w/.-]){re.escape(prefix)}(?![\w.-])")


def portable_paths(value: Any) -> Any:
    """``value`` (nested str / list / dict) with this machine's folders written portably.

    ``$VLMCAL_SHARED``'s folder becomes ``${VLMCAL_SHARED}``, ``$VLMCAL_CACHE``'s ``${VLMCAL_CACHE}``
    and ``$HOME`` ``~`` (both as written in the variable and resolved), so a results file names the
    files it read without naming the machine. Other values are returned unchanged.
    """
    replacements: list[tuple[str, str]] = []
    for name, new in ((SHARED_ENV_VAR, "${" + SHARED_ENV_VAR + "}"), (CACHE_ENV_VAR, "${" + CACHE_ENV_VAR + "}"),
                      ("HOME", "~")):
        text = os.environ.get(name, "").rstrip("/")
        for form in dict.fromkeys([text, str(Path(text).expanduser().resolve())] if text else []):
            if len(form) >= _MIN_LITERAL:
                replacements.append((form, new))
    return _replace_prefixes(value, replacements)


def _replace_prefixes(value: Any, replacements: list[tuple[str, str]]) -> Any:
    if isinstance(value, str):
        for old, new in replacements:  # the shared folder first: it may lie under $HOME
            value = _literal_re(old).sub(lambda _, new=new: new, value)  # a function: no escapes in `new`
        return value
    if isinstance(value, (list, tuple)):
        return [_replace_prefixes(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _replace_prefixes(v, replacements) for k, v in value.items()}
    return value
