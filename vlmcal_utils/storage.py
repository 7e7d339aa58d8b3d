"""Files that survive a kill: atomic writes, and JSON-lines record stores with a writer lock.

Every file the package writes goes through here:

- :func:`atomic_write_bytes` / :func:`atomic_write_text` / :func:`atomic_write_json` write to a
  temporary file in the same folder, ``fsync`` it and rename it over the target, so a reader sees
  the old file or the new one, never half of one.
- :class:`RecordStore` is an append-only JSON-lines file of records (one dict per line) with a
  key. Appends hold an exclusive lock (``filelock``, a ``<file>.lock`` beside it) so two processes
  never interleave or double rows; a torn last line (a write cut short by a kill) is dropped on
  read, and readers keep the *first* record of each key, so duplicates can never double a count.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping

from filelock import FileLock

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "RecordStore",
    "DamagedFileError",
    "file_digest",
]


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    # keyed by size and mtime too: a file rewritten in place is hashed again, an unchanged one once
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hashed once per process while the file is unchanged).

    A cache id built from it names the *content*: a fresh clone or a copy (new modification
    time) finds the same cache entries; a changed file does not.

    Parameters
    ----------
    path : path
        The file.

    Returns
    -------
    str
        64 hex digits.
    """
    resolved = Path(path).expanduser().resolve()
    stat = resolved.stat()
    return _digest_of(str(resolved), stat.st_size, stat.st_mtime_ns)


class DamagedFileError(ValueError):
    """A results file has a bad line that is not the last one: it was not written by a kill."""


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same folder, fsync, rename).

    Parameters
    ----------
    path : str or os.PathLike
        The target; its folder is created if missing.
    data : bytes
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates the file owner-only (0600); give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, payload: Any, **dumps_kw: Any) -> Path:
    """Write ``payload`` as indented, key-sorted JSON, atomically."""
    dumps_kw = {"indent": 2, "sort_keys": True, **dumps_kw}
    return atomic_write_text(path, json.dumps(payload, **dumps_kw) + "\n")


def _dump(record: Mapping[str, Any]) -> str:
    return json.dumps(record, allow_nan=True, sort_keys=False) + "\n"


class RecordStore:
    """An append-only JSON-lines file of records, safe under kills and concurrent writers.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.jsonl`` file (created on the first append, with its folder).
    key : callable
        Maps a record (dict) to its hashable identity; readers keep the first record per key.

    Notes
    -----
    A torn *last* line is what a kill mid-write leaves: it is dropped (and :meth:`repair`
    rewrites the file without it). An unreadable line elsewhere means the file was edited or
    damaged: :meth:`read` raises :class:`DamagedFileError` naming the line, unless
    ``skip_damaged=True``.
    """

    def __init__(self, path: str | os.PathLike, key: Callable[[Mapping[str, Any]], Hashable]):
        self.path = Path(path)
        self.key = key
        # what this store last saw in the file, and its keys: appends parse only the lines added since
        self._seen: tuple[bytes, set] = (b"", set())

    @property
    def lock(self) -> FileLock:
        """The writer lock (a ``<name>.lock`` file beside the store)."""
        return FileLock(str(self.path.with_name(self.path.name + ".lock")))

    def _parse(self, skip_damaged: bool) -> tuple[list[dict], bool]:
        if not self.path.exists():
            return [], False
        lines = self.path.read_text(encoding="utf-8").split("\n")
        # split("\n") leaves "" after a final newline; anything else last was cut short.
        complete, tail = lines[:-1], lines[-1]
        rows, torn = [], bool(tail.strip())
        for i, line in enumerate(complete):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                if skip_damaged:
                    torn = True
                    continue
                raise DamagedFileError(
                    f"{self.path}: line {i + 1} is not valid JSON and is not the last line, so a "
                    "kill did not cause it; the file was edited or damaged — move it away to start over"
                ) from None
        return rows, torn

    def read(self, skip_damaged: bool = False) -> list[dict]:
        """The complete records, first one per key, in file order."""
        rows, _ = self._parse(skip_damaged)
        seen: set = set()
        unique = []
        for row in rows:
            k = self.key(row)
            if k not in seen:
                seen.add(k)
                unique.append(row)
        return unique

    def keys(self) -> set:
        """The keys of the complete records."""
        return {self.key(r) for r in self.read()}

    def append(self, records: Iterable[Mapping[str, Any]], skip_existing: bool = True) -> int:
        """Append ``records`` under the writer lock, in one write call and fsync.

        With ``skip_existing`` (default) records whose key is already in the file are not
        written again (another process may have written them meanwhile). A torn last line is
        repaired first, so the new lines never join it.

        Returns
        -------
        int
            The number of records written.
        """
        records = list(records)
        if not records:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            data, keys = self._keys_in_file()
            have = set(keys) if skip_existing else set()
            new = []
            for r in records:
                k = self.key(r)
                if k not in have:
                    have.add(k)
                    new.append(r)
            if new:
                text = "".join(_dump(r) for r in new).encode("utf-8")
                with open(self.path, "ab") as fh:
                    fh.write(text)
                    fh.flush()
                    os.fsync(fh.fileno())
                self._seen = (data + text, keys | {self.key(r) for r in new})
        return len(new)

    def _keys_in_file(self) -> tuple[bytes, set]:
        """The file's bytes and the keys of its records, a torn last line repaired (under the lock).

        Appends only add lines, so while the file still begins with what this store saw last,
        only the lines after that are parsed: thousands of appends (a study grid, one per cell)
        cost linear, not quadratic, time. Anything else (a rewrite, a torn or bad line) takes
        the full path of :meth:`_parse`, with its repair and its errors.
        """
        data = self.path.read_bytes() if self.path.exists() else b""
        seen, keys = self._seen
        if not data.startswith(seen):
            seen, keys = b"", set()
        lines = data[len(seen):].decode("utf-8").split("\n")
        try:
            if lines[-1].strip():  # torn
                raise ValueError
            keys = keys | {self.key(json.loads(line)) for line in lines[:-1] if line.strip()}
        except ValueError:  # json.JSONDecodeError is a ValueError
            rows, torn = self._parse(skip_damaged=False)
            if torn:
                self._rewrite(rows)
            data = self.path.read_bytes() if self.path.exists() else b""
            keys = {self.key(r) for r in rows}
        self._seen = (data, keys)
        return data, keys

    def _rewrite(self, rows: list[dict]) -> None:
        atomic_write_text(self.path, "".join(_dump(r) for r in rows))

    def repair(self) -> bool:
        """Rewrite the file without a torn last line and duplicate keys; True if it changed."""
        if not self.path.exists():
            return False
        with self.lock:
            rows, torn = self._parse(skip_damaged=False)
            unique = self.read()
            if torn or len(unique) != len(rows):
                self._rewrite(unique)
                return True
        return False

    def replace_all(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Replace the whole file with ``records`` (atomically, under the lock)."""
        with self.lock:
            self._rewrite([dict(r) for r in records])
