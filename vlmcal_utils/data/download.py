"""Bounded downloads: streamed to a temporary file, capped in bytes and in total time, never an HTML page.

A download that goes wrong must leave nothing behind that a later call could mistake for data:
:func:`download_file` streams the body into a temporary file in a folder the caller chooses and
returns it only when the whole body arrived within its limits. Everything else raises
:class:`DownloadError` (a ``ConnectionError``) with the URL and the reason, and removes the
temporary file:

- an HTTP error or no connection;
- a body longer than ``max_bytes`` (an endless body is cut at the cap, not at the disk's end);
- a download that takes longer than ``time_limit_s`` in total (a server trickling bytes slowly
  enough to beat a per-read timeout is still stopped);
- a body shorter than its declared ``Content-Length`` (a connection cut short);
- an HTML page served with status 200 (a proxy, a captive portal, an error page): no source file
  of the registry is HTML;
- a disk that fills up while writing.

:func:`download_limits` turns an expected size (from the published registry) into the two caps.
"""

from __future__ import annotations

import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["DownloadError", "download_file", "download_limits", "SIZE_MARGIN", "DEFAULT_MAX_BYTES"]

SIZE_MARGIN = 1.5
"""A source may be this many times its expected size (a mirror may re-encode line endings)."""
DEFAULT_MAX_BYTES = 64 * 2**20
"""The cap for a source whose size the registry does not know."""
_BASE_SECONDS = 60.0
_MIN_BYTES_PER_SECOND = 50_000  # slower than this over the whole file is not a working download
_CHUNK = 64 * 2**10
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")


class DownloadError(ConnectionError):
    """A download failed or was refused (HTTP error, cap, time limit, short body, HTML page, full disk)."""


def download_limits(expected_bytes: int | None) -> tuple[int, float]:
    """The byte cap and the total-time cap of a download whose expected size is ``expected_bytes``.

    Parameters
    ----------
    expected_bytes : int or None
        The source's size as recorded in the registry; ``None``: unknown.

    Returns
    -------
    max_bytes : int
        ``expected × SIZE_MARGIN`` (at least 64 KiB more than expected), else :data:`DEFAULT_MAX_BYTES`.
    time_limit_s : float
        60 s plus the time ``max_bytes`` takes at 50 kB/s.
    """
    if expected_bytes is None:
        max_bytes = DEFAULT_MAX_BYTES
    else:
        max_bytes = max(int(expected_bytes * SIZE_MARGIN), expected_bytes + _CHUNK)
    return max_bytes, _BASE_SECONDS + max_bytes / _MIN_BYTES_PER_SECOND


def _looks_like_html(head: bytes, content_type: str) -> bool:
    return "text/html" in content_type.lower() or head.lstrip()[:16].lower().startswith(_HTML_STARTS)


def _declared_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def _stream(response: http.client.HTTPResponse, out, url: str, max_bytes: int, deadline: float) -> int:
    """Copy the body to ``out`` chunk by chunk, checking the byte cap and the deadline after each."""
    total = 0
    while True:
        chunk = response.read1(_CHUNK)  # read1: returns what has arrived, so the deadline is checked often
        if not chunk:
            return total
        total += len(chunk)
        if total > max_bytes:
            raise DownloadError(f"{url}: the body is larger than the cap of {max_bytes} bytes "
                                "(the file the registry expects is smaller): refused")
        if time.monotonic() > deadline:
            raise DownloadError(f"{url}: the download took longer than its time limit "
                                f"({total} bytes so far): refused")
        out.write(chunk)


def _fetch_into(url: str, out, max_bytes: int, time_limit_s: float, read_timeout_s: float) -> None:
    deadline = time.monotonic() + time_limit_s
    with urllib.request.urlopen(url, timeout=min(read_timeout_s, time_limit_s)) as response:  # noqa: S310
        declared = _declared_length(response)
        if declared is not None and declared > max_bytes:
            raise DownloadError(f"{url}: the server announces {declared} bytes, over the cap of {max_bytes}: refused")
        head = response.peek(64)[:64] if hasattr(response, "peek") else b""
        if _looks_like_html(head, response.headers.get("Content-Type", "")):
            raise DownloadError(f"{url}: the server sent an HTML page (a proxy, a captive portal or an error "
                                "page?), not the data file")
        total = _stream(response, out, url, max_bytes, deadline)
    if declared is not None and total != declared:
        raise DownloadError(f"{url}: the body was cut short ({total} of {declared} bytes)")


def download_file(url: str, folder: str | os.PathLike, *, max_bytes: int, time_limit_s: float,
                  read_timeout_s: float = 30.0) -> Path:
    """Download ``url`` into a new temporary file in ``folder``, within a byte cap and a time limit.

    Parameters
    ----------
    url : str
        An http(s) URL.
    folder : path
        Where the temporary file is made (created if missing); the caller deletes it when done.
    max_bytes : int
        The most bytes accepted.
    time_limit_s : float
        The most seconds the whole download may take.
    read_timeout_s : float
        The most seconds one read may wait.

    Returns
    -------
    pathlib.Path
        The complete body, in ``folder`` (a name starting with ``.download-``).

    Raises
    ------
    DownloadError
        Any failure or refusal listed in the module docstring; no file is left behind.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    except OSError as err:
        raise DownloadError(f"{url}: cannot make a temporary file in {folder} ({err})") from err
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch_into(url, out, max_bytes, time_limit_s, read_timeout_s)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, DownloadError):
            raise
        if isinstance(err, (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)):
            # OSError covers a full disk and timeouts; HTTPException a body cut short (IncompleteRead)
            raise DownloadError(f"could not download {url} ({type(err).__name__}: {err})") from err
        raise
    return Path(tmp)
