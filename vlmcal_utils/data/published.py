"""Published logits: finding, fetching and verifying the real model outputs the book uses.

The registry itself (one entry per file, as data) is :mod:`vlmcal_utils.data.registry`: every file
in ``$VLMCAL_SHARED/data/logits/`` was made by converting model outputs that a research repository
published (its ``meta["source"]`` names the repository, the commit and the path), and
:data:`PUBLISHED_LOGITS` records where those sources are and a pinned **content hash**. This module
re-exports the registry's names.

- :func:`published_path` — the shared copy ``$VLMCAL_SHARED/data/logits/<name>.npz`` (the later
  VLM outputs: ``data/vlm-outputs/``; an entry's ``shared_dir``) if this
  machine has it, else ``None`` (never downloads; for chapters that fall back to other data).
- :func:`fetch_published_logits` — a path to a hash-verified copy: the shared copy (CI,
  developers), else a download of the source file(s) at the pinned commit from
  ``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<path>``, converted to the book's
  logits format (:mod:`vlmcal_utils.data.converters`), verified and cached in
  ``vlmcal_utils.paths.cache_dir("published")`` — ``$VLMCAL_CACHE/published``, else
  ``$XDG_CACHE_HOME/vlmcal/published``, else ``~/.cache/vlmcal/published`` (Colab, a fresh laptop).

What the hash pins
------------------
The *content* of the file (:func:`~vlmcal_utils.data.content_hash.content_sha256`), not its zip
bytes. The same number is checked for shared copies and for files converted from a download, so
both routes give provably the same arrays.

Which names can be downloaded
-----------------------------
Entries with a ``converter`` (see :data:`~vlmcal_utils.data.converters.CONVERTERS`). If a re-made
file does not reproduce the pinned hash, :func:`fetch_published_logits` raises instead of
returning different numbers. The CLIP/SigLIP CIFAR-10 files merge five CSVs each (English, CIFAR-10H
human labels, three translated class-name variants; converter ``credal_cifar10``). The ``hollance_*``
top-label files merge one CSV per model (converters ``hollance_*_toplabel``; the models and files
are :data:`~vlmcal_utils.data.converters.HOLLANCE_TOPLABEL`); BiomedCLIP's CIFAR-10 file is one CSV
(``credal_cifar10_test``), CLIP ViT-B/16's ImageNet-A top-5 file a pickle of torch tensors read
without running it (``tensor_pickle_top5``, :mod:`~vlmcal_utils.data.torch_pickle`).

:func:`resolve_published` (and :func:`resolve_published_dir` for a folder) is what the chapters'
defaults use: shared copy, else cache, else download, else ``None`` with a reason to print.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vlmcal_utils.checks import close_matches
from vlmcal_utils.data.content_hash import content_sha256, npz_content_sha256
from vlmcal_utils.data.converters import CONVERTERS
from vlmcal_utils.data.download import DownloadError, download_file, download_limits
from vlmcal_utils.data.registry import (
    DEFAULT_BASE_URL,
    PUBLISHED_LOGITS,
    SHARED_LOGITS_DIR,
    PublishedLogits,
    published_entries,
)
from vlmcal_utils.paths import OFFLINE_ENV_VAR, SHARED_ENV_VAR, cache_dir, offline, shared_path
from vlmcal_utils.storage import atomic_write_bytes

__all__ = [
    "BASE_URL_ENV_VAR",
    "DEFAULT_BASE_URL",
    "SHARED_LOGITS_DIR",
    "PublishedLogits",
    "PUBLISHED_LOGITS",
    "published_entries",
    "published_path",
    "fetch_published_logits",
    "OFFLINE_ENV_VAR",
    "Resolved",
    "SourceError",
    "resolve_published",
    "resolve_published_dir",
]

BASE_URL_ENV_VAR = "VLMCAL_PUBLISHED_BASE_URL"
# OFFLINE_ENV_VAR (from vlmcal_utils.paths): set to 1 to make resolve_published use shared copies and
# the cache only (no download)


def _lookup(name: str, registry: dict[str, PublishedLogits]) -> PublishedLogits:
    if name not in registry:
        close = close_matches(name, list(registry))
        raise KeyError(
            f"unknown published logits {name!r}" + (f"; close matches: {close}" if close else "")
            + f"; known names: {', '.join(sorted(registry))}"
        )
    return registry[name]


def published_path(name: str) -> Path | None:
    """The shared copy of the published logits ``name``, if this machine has it; never downloads.

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`, e.g. ``"markus93_densenet40_cifar10"``.

    Returns
    -------
    pathlib.Path or None
        ``$VLMCAL_SHARED/<entry.shared_dir>/<name>.npz`` (``data/logits`` for most), or ``None``
        without a shared folder or copy
        (not hash-checked: :func:`fetch_published_logits` verifies, and downloads where it can).

    Raises
    ------
    KeyError
        ``name`` is not in the registry (the message lists close matches).
    """
    entry = _lookup(name, PUBLISHED_LOGITS)
    return shared_path(*entry.shared_dir, entry.filename)


# ---------------------------------------------------------------------------------------------
# fetching
# ---------------------------------------------------------------------------------------------
class SourceError(ValueError):
    """Downloaded sources that do not give the pinned file: not convertible, refused, or other numbers."""


def _check_hash(got: str, entry: PublishedLogits, origin: str) -> None:
    if got != entry.sha256:
        raise ValueError(
            f"{entry.name}: the {origin} has content hash {got}, but the pinned hash is "
            f"{entry.sha256}: these are not the published numbers. Delete the file and fetch again; "
            f"if it persists, compare with the source {', '.join(entry.source_urls)}"
        )


def _verified(path: Path, entry: PublishedLogits, origin: str) -> Path:
    """``path`` if its content hash is the pinned one; else a ``ValueError`` naming the file and why."""
    try:
        got = content_sha256(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # a damaged file (cut short, not a zip, a bomb, object arrays) is named, never loaded further
        raise ValueError(f"{entry.name}: the {origin} ({path}) is damaged and cannot be read "
                         f"({type(err).__name__}: {err}); delete it and fetch again") from err
    _check_hash(got, entry, f"{origin} ({path})")
    return path


def _shared_copy(entry: PublishedLogits) -> Path | None:
    """The hash-verified shared copy, ``None`` without one; a tampered or damaged copy is an error.

    The one check of a shared copy, used by :func:`fetch_published_logits` and :func:`resolve_published`.
    """
    shared = shared_path(*entry.shared_dir, entry.filename)
    return None if shared is None else _verified(shared, entry, "shared copy")


def _cached_copy(target: Path, entry: PublishedLogits) -> tuple[Path | None, str]:
    """The hash-verified cached copy (or ``None``) and a note; a stale or damaged copy is deleted and named."""
    if not target.is_file():
        return None, ""
    try:
        return _verified(target, entry, "cached copy"), ""
    except ValueError as err:
        target.unlink(missing_ok=True)  # made again from the sources by the caller
        return None, f"the cached copy was deleted ({str(err)[:300]})"


def _download_sources(entry: PublishedLogits, base: str, work: Path) -> list[bytes]:
    """Each source, streamed into ``work`` within its caps (:mod:`~vlmcal_utils.data.download`)."""
    sizes = entry.sizes or (None,) * len(entry.paths)
    sources = []
    for url, size in zip(entry.raw_urls(base), sizes, strict=True):
        max_bytes, seconds = download_limits(size)
        sources.append(download_file(url, work, max_bytes=max_bytes, time_limit_s=seconds).read_bytes())
    return sources


def _why(err: BaseException) -> str:
    """One line on why a source did not convert; numpy's advice to unpickle is never passed on."""
    text = str(err).splitlines()[0][:200] if str(err) else ""
    if "allow_pickle" in text or "pickled" in text:
        text = "it holds Python objects (pickled data), which are never loaded"
    return f"{type(err).__name__}: {text}"


def _convert_verified(entry: PublishedLogits, sources: list[bytes]) -> bytes:
    """The sources converted to the bytes of the ``.npz`` to cache, hash-verified; else :class:`SourceError`."""
    try:
        arrays = CONVERTERS[entry.converter](sources)
    except (ValueError, pickle.UnpicklingError, zipfile.BadZipFile, zlib.error, UnicodeDecodeError, EOFError,
            KeyError, IndexError, TypeError, AttributeError) as err:
        # whatever the server sent, it is not the source: say so in one line (numpy's own advice
        # for object arrays, "load it unsafely with allow_pickle", must never reach a reader)
        raise SourceError(f"{entry.name}: the downloaded sources are not the published files and were "
                          f"discarded ({_why(err)})") from err
    arrays["meta"] = np.array(json.dumps(entry.meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    try:
        _check_hash(npz_content_sha256(io.BytesIO(buffer.getvalue())), entry, "file converted from the download")
    except ValueError as err:
        raise SourceError(str(err)) from err
    return buffer.getvalue()


def _download_convert(entry: PublishedLogits, base: str, cache: Path) -> Path:
    """Download into a temporary folder, convert, verify; only a verified file reaches ``cache``."""
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".fetch-{entry.name}-", dir=cache))
    except OSError as err:
        raise DownloadError(f"{entry.name}: cannot write to the cache {cache} ({err})") from err
    try:
        data = _convert_verified(entry, _download_sources(entry, base, work))
        try:
            return atomic_write_bytes(cache / entry.filename, data)
        except OSError as err:  # a full disk: nothing half-written stays (atomic write)
            raise DownloadError(f"{entry.name}: cannot write {cache / entry.filename} ({err})") from err
    finally:
        shutil.rmtree(work, ignore_errors=True)


def fetch_published_logits(
    name: str,
    root: str | os.PathLike | None = None,
    offline: bool | None = None,
    base_url: str | None = None,
    registry: dict[str, PublishedLogits] | None = None,
) -> Path:
    """Path to a hash-verified copy of the published logits ``name`` (load it with ``load_logits``).

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`, e.g. ``"markus93_densenet40_cifar10"``.
    root : path, optional
        Download cache; default ``vlmcal_utils.paths.cache_dir("published")`` (``$VLMCAL_CACHE``,
        else ``$XDG_CACHE_HOME/vlmcal``, else ``~/.cache/vlmcal``, then ``/published``). Converted
        files are ``root/<name>.npz``; sources are downloaded into a temporary folder inside
        ``root`` and deleted afterwards, whatever happened, so only a verified file is ever cached.
    offline : bool, optional
        ``True``: use the shared copy only. ``False``: download and convert even where a shared
        copy exists. ``None`` (default): the shared copy if there is one, else the cache, else download.
    base_url : str, optional
        Server holding ``<owner>/<repo>/<commit>/<path>`` (default: ``$VLMCAL_PUBLISHED_BASE_URL``
        or raw.githubusercontent.com) — tests point it at a local server.
    registry : dict, optional
        Defaults to :data:`PUBLISHED_LOGITS`.

    Returns
    -------
    pathlib.Path
        The shared copy or the cached converted file; its content hash is the pinned one.

    Raises
    ------
    KeyError
        Unknown ``name``.
    FileNotFoundError
        ``offline=True`` and no shared copy.
    ValueError
        The shared copy is damaged or has another content hash, or ``name`` has no converter and
        no shared copy (the message names the source to fetch by hand); :class:`SourceError` (a
        ``ValueError``): the downloaded sources do not convert or give other numbers.
    ConnectionError
        :class:`~vlmcal_utils.data.download.DownloadError`: the download failed or was refused
        (HTTP error, size or time cap, body cut short, an HTML page), or the cache cannot be written.
    """
    entry = _lookup(name, registry if registry is not None else PUBLISHED_LOGITS)
    if offline is not False:
        shared = _shared_copy(entry)
        if shared is not None:
            return shared
        if offline:
            raise FileNotFoundError(
                f"{name}: no shared copy (set {SHARED_ENV_VAR} to the folder holding "
                f"{'/'.join(entry.shared_dir)}/{entry.filename}), or call with offline=None to download it"
            )
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    cached, _ = _cached_copy(cache / entry.filename, entry)
    if cached is not None:
        return cached
    if entry.converter is None:
        raise ValueError(
            f"{name} cannot be downloaded and converted by vlmcal_utils (its source spans several files "
            f"with no converter here): use a machine with {SHARED_ENV_VAR} set, or the source "
            f"{', '.join(entry.source_urls)}"
        )
    base = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    try:
        return _download_convert(entry, base, cache)
    except DownloadError as err:
        raise DownloadError(f"{err}. Without internet, set {SHARED_ENV_VAR} to a folder holding "
                            f"{'/'.join(entry.shared_dir)}/{entry.filename}, or download the source by hand.") from err


# ---------------------------------------------------------------------------------------------
# the one resolver the chapters use
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resolved:
    """Where a published file was found, or why not.

    Attributes
    ----------
    name : str
        The registry key.
    path : pathlib.Path or None
        The hash-verified file, or ``None``.
    origin : str
        ``"shared"``, ``"cache"``, ``"download"``; not found: ``"missing"`` (downloads off, or no
        converter), ``"unreachable"`` (the download failed or was refused) or ``"unusable"`` (what
        was downloaded is not the published file: it was discarded).
    reason : str
        One line a chapter can print (where it came from, or why it is unavailable).
    """

    name: str
    path: Path | None
    origin: str
    reason: str


def resolve_published(name: str, *, download: bool | None = None, root: str | os.PathLike | None = None,
                      base_url: str | None = None) -> Resolved:
    """The published file ``name``: the shared copy, else the cache, else a download, else ``None``.

    This is what the chapters' defaults use, so a book built with ``$VLMCAL_SHARED`` (CI) or with
    internet (GitHub Pages, Colab) shows the real numbers, and a machine with neither gets
    ``path=None`` and a ``reason`` for its labelled fallback. Never raises for a missing file or
    a failed download: an HTTP error, a body cut short or over its cap, an HTML page, sources that
    do not convert (a refused pickle, object arrays, a decompression bomb) or give other numbers,
    a full disk — each is cleaned up and becomes ``path=None`` with the reason.

    Parameters
    ----------
    name : str
        A key of :data:`PUBLISHED_LOGITS`.
    download : bool, optional
        ``False``: shared copy or cache only. Default: download unless ``$VLMCAL_OFFLINE=1``.
    root, base_url : optional
        As for :func:`fetch_published_logits`.

    Returns
    -------
    Resolved
        ``path`` is hash-verified (same numbers on every route) or ``None``.

    Raises
    ------
    KeyError
        ``name`` is not in the registry (a typo must not look like "offline").
    ValueError
        The shared copy is damaged or has the wrong content hash (someone's data folder holds
        other numbers: that must be fixed there, not hidden by a fallback).
    """
    entry = _lookup(name, PUBLISHED_LOGITS)
    shared = _shared_copy(entry)
    if shared is not None:
        return Resolved(name, shared, "shared", f"{entry.filename} from ${SHARED_ENV_VAR}")
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    if download is None:
        download = not offline()
    cached, note = _cached_copy(cache / entry.filename, entry)
    note = f" ({note})" if note else ""
    if cached is not None:
        return Resolved(name, cached, "cache", f"{entry.filename} converted from {entry.repo}@{entry.commit[:7]} "
                        "(cache)")
    if not download or entry.converter is None:
        why = "downloads are off" if not download else "it has no converter (shared copy only)"
        return Resolved(name, None, "missing",
                        f"{entry.filename}: no shared copy (${SHARED_ENV_VAR}) and {why}{note}")
    try:
        path = fetch_published_logits(name, root=cache, offline=False, base_url=base_url)
    except ConnectionError as err:
        return Resolved(name, None, "unreachable",
                        f"{entry.filename} unavailable, because the download failed{note}: {err}")
    except SourceError as err:
        return Resolved(name, None, "unusable", f"{entry.filename} unavailable, because {err}{note}")
    return Resolved(name, path, "download", f"{entry.filename} converted from {entry.repo}@{entry.commit[:7]} "
                    f"(download){note}")


def resolve_published_dir(names: list[str] | tuple[str, ...], *, download: bool | None = None,
                          root: str | os.PathLike | None = None,
                          base_url: str | None = None) -> tuple[Path | None, dict[str, Resolved]]:
    """One folder holding every file of ``names`` that can be had (for chapters that read a folder).

    Parameters
    ----------
    names : sequence of str
        Registry keys.
    download, root, base_url : optional
        As for :func:`resolve_published`. After the first failed download the others are not
        tried (offline: one timeout, not one per file).

    Returns
    -------
    folder : pathlib.Path or None
        ``$VLMCAL_SHARED/data/logits`` when every found file is a shared copy, else the download
        cache, else (a mix) ``<cache>/resolved`` with links to each found file; ``None`` if none found.
    found : dict of str to Resolved
        One entry per name, found or not.
    """
    found: dict[str, Resolved] = {}
    for name in names:
        found[name] = resolve_published(name, download=download, root=root, base_url=base_url)
        if found[name].origin == "unreachable":
            download = False  # offline: don't wait for every other file's download to fail
    paths = [r.path for r in found.values() if r.path is not None]
    if not paths:
        return None, found
    parents = {p.parent for p in paths}
    if len(parents) == 1:
        return parents.pop(), found
    cache = Path(root).expanduser() if root is not None else cache_dir("published")
    links = cache / "resolved"
    links.mkdir(parents=True, exist_ok=True)
    for path in paths:
        link = links / path.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(path.resolve())
    return links, found
