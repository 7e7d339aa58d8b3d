"""Content hashes of logits files: what the published registry pins.

Not the bytes of the ``.npz``: an ``.npz`` is a zip archive with timestamps, so a file re-made from
the same numbers has different bytes. :func:`content_sha256` hashes the *content* instead — each
array's name, dtype, shape and raw bytes (arrays in sorted name order) and the ``meta`` JSON in
canonical form (sorted keys).

Before an archive is decompressed, :func:`check_npz_size` compares the sizes its members declare
with the archive's own size: a decompression bomb (a small file that inflates to gigabytes) is
refused before a byte of it is inflated (``zipfile`` never inflates a member past its declared size).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["content_sha256", "content_sha256_arrays", "npz_content_sha256", "check_npz_size", "NPZ_MAX_EXPANSION"]

NPZ_MAX_EXPANSION = 20
"""The most an archive's members may inflate, relative to the archive (the registry's files: 1.2-2x)."""
_NPZ_SIZE_FLOOR = 2**20  # tiny archives may inflate more (headers dominate)


def check_npz_size(source: str | os.PathLike | IO[bytes], max_bytes: int | None = None) -> None:
    """Refuse an ``.npz`` whose members would inflate past ``max_bytes``, before inflating any.

    Parameters
    ----------
    source : path or binary file
        The archive (a file object is rewound to where it was).
    max_bytes : int, optional
        The most bytes the members may hold together; default :data:`NPZ_MAX_EXPANSION` × the
        archive's size (at least 1 MiB).

    Raises
    ------
    ValueError
        Not a zip archive, or members declaring more than ``max_bytes`` (a decompression bomb).
    """
    position = source.tell() if hasattr(source, "tell") else None
    try:
        with zipfile.ZipFile(source) as archive:
            declared = sum(info.file_size for info in archive.infolist())
            size = sum(info.compress_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"not a readable .npz archive ({type(err).__name__}: {err})") from err
    finally:
        if position is not None:
            source.seek(position)
    limit = max_bytes if max_bytes is not None else max(NPZ_MAX_EXPANSION * size, _NPZ_SIZE_FLOOR)
    if declared > limit:
        raise ValueError(f"the .npz members would inflate to {declared} bytes, over the limit of {limit} "
                         f"({size} bytes compressed): refused as a decompression bomb")


def _canonical_meta(value: np.ndarray) -> bytes:
    try:
        meta = json.loads(str(value))
    except json.JSONDecodeError:  # not JSON: hash the text itself
        return str(value).encode("utf-8")
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def content_sha256_arrays(arrays: dict[str, np.ndarray]) -> str:
    """:func:`content_sha256` of arrays in memory (``meta`` as a JSON string array).

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        The arrays of a logits file, by name.

    Returns
    -------
    str
        64 hex digits.
    """
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        if name == "meta":
            body = _canonical_meta(array)
            header = "meta\0json\0"
        else:
            body = np.ascontiguousarray(array).tobytes()
            header = f"{name}\0{array.dtype.str}\0{array.shape}\0"
        digest.update(header.encode("utf-8"))
        digest.update(len(body).to_bytes(8, "little"))
        digest.update(body)
    return digest.hexdigest()


def npz_content_sha256(source: str | os.PathLike | IO[bytes]) -> str:
    """:func:`content_sha256` of an ``.npz`` given as a path or an open binary file.

    Parameters
    ----------
    source : path or binary file
        e.g. an ``io.BytesIO`` holding an archive about to be written.

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    ValueError
        A decompression bomb (:func:`check_npz_size`), or object arrays (never unpickled).
    """
    check_npz_size(source)
    with np.load(source, allow_pickle=False) as npz:
        return content_sha256_arrays({name: npz[name] for name in npz.files})


def content_sha256(npz_path: str | os.PathLike) -> str:
    """SHA-256 of an ``.npz`` file's *content*, independent of zip timestamps and compression.

    Hashed, for each array in sorted name order: name, dtype (e.g. ``<f4``), shape and the raw
    C-order bytes; ``meta`` is hashed as canonical JSON (sorted keys), so re-serialising the same
    metadata does not change the hash. Loaded with ``allow_pickle=False``.

    Parameters
    ----------
    npz_path : str or os.PathLike
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    return npz_content_sha256(Path(npz_path))
