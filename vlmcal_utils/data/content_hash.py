"""Content hashes of logits files: what the published registry pins.

Not the bytes of the ``.npz``: an ``.npz`` is a zip archive with timestamps, so a file re-made from
the same numbers has different bytes. :func:`content_sha256` hashes the *content* instead — each
array's name, dtype, shape and raw bytes (arrays in sorted name order) and the ``meta`` JSON in
canonical form (sorted keys).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO

import numpy as np

__all__ = ["content_sha256", "content_sha256_arrays", "npz_content_sha256"]


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
    """
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
