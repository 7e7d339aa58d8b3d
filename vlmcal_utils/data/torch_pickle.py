"""Pickled torch tensors read as numpy arrays, without torch and without running the pickle's code.

``pickle.dumps(tensor)`` (and ``torch.save(..., _use_new_zipfile_serialization=False)`` of a
storage) writes a CPU tensor as a call ``torch._utils._rebuild_tensor_v2(storage, offset, size,
stride, requires_grad, backward_hooks)`` whose ``storage`` is ``torch.storage._load_from_bytes(b)``
and ``b`` is torch's *legacy* serialisation of one storage: five small pickles (magic number,
protocol version, system info, the storage record as a persistent id naming a storage class such
as ``torch.LongStorage``, the list of storage keys), then per key an int64 element count and the
raw little-endian bytes. ``backward_hooks`` is an empty ``collections.OrderedDict``.

Unpickling such a file with ``pickle`` would import torch and call whatever globals the file
names — a pickle can name ``os.system``. :func:`load_tensor_pickle` instead resolves exactly
those three globals to this module's own numpy functions (:data:`TENSOR_GLOBALS`) and the storage
classes to dtypes (:data:`STORAGE_DTYPES`); any other global is refused with
``pickle.UnpicklingError`` before anything of the file has run.
"""

from __future__ import annotations

import collections
import io
import pickle
from typing import Any

import numpy as np

__all__ = ["STORAGE_DTYPES", "TENSOR_GLOBALS", "load_tensor_pickle"]

STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"), "FloatStorage": np.dtype("<f4"), "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"), "IntStorage": np.dtype("<i4"), "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"), "ByteStorage": np.dtype("u1"), "BoolStorage": np.dtype("?"),
}
"""torch's legacy storage classes (``torch.<name>``) -> the numpy dtype of their bytes."""

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL = 1001  # torch.serialization.PROTOCOL_VERSION
_MAX_ELEMENTS = 2**31  # a count past this is a damaged or hostile file, not a tensor we read


class _StorageType:
    """What ``torch.<X>Storage`` stands for here: only its dtype (nothing of torch is imported)."""

    def __init__(self, name: str):
        self.name, self.dtype = name, STORAGE_DTYPES[name]


def _refuse(module: str, name: str, what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only {what} are allowed here")


class _StorageRecordUnpickler(pickle.Unpickler):
    """The legacy storage record: storage classes only; the persistent id is returned as data."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise _refuse(module, name, "torch storage classes")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unexpected persistent id in a torch storage: {pid!r:.80}")
        if len(pid) > 5 and pid[5] is not None:
            raise pickle.UnpicklingError("storage views (legacy torch < 0.4 files) are not supported")
        return pid


def _small_pickle(stream: io.BytesIO) -> Any:
    return _StorageRecordUnpickler(stream).load()


def _load_storage(data: bytes) -> np.ndarray:
    """torch's legacy serialisation of one storage -> a flat numpy array (its dtype from the class).

    Stands in for ``torch.storage._load_from_bytes``.
    """
    stream = io.BytesIO(data)
    if _small_pickle(stream) != _LEGACY_MAGIC or _small_pickle(stream) != _LEGACY_PROTOCOL:
        raise pickle.UnpicklingError("not a torch legacy storage (wrong magic number or protocol)")
    info = _small_pickle(stream)
    if not (isinstance(info, dict) and info.get("little_endian") is True):
        raise pickle.UnpicklingError("only little-endian torch storages are read")
    _, storage_type, key, _location, numel = _small_pickle(stream)[:5]
    if _small_pickle(stream) != [key]:
        raise pickle.UnpicklingError("a torch storage record with other storages than its own")
    count = int.from_bytes(stream.read(8), "little", signed=True)
    if count != numel or not 0 <= count <= _MAX_ELEMENTS:
        raise pickle.UnpicklingError(f"storage size {count} does not match its record ({numel})")
    raw = stream.read(count * storage_type.dtype.itemsize)
    if len(raw) != count * storage_type.dtype.itemsize:
        raise pickle.UnpicklingError("the storage's bytes are cut short")
    return np.frombuffer(raw, dtype=storage_type.dtype).copy()


def _rebuild_tensor(storage: np.ndarray, offset: int, size: tuple, stride: tuple, requires_grad: bool = False,
                    backward_hooks: Any = None, metadata: Any = None) -> np.ndarray:
    """Stands in for ``torch._utils._rebuild_tensor_v2``: the strided view of ``storage`` as a new array."""
    if not isinstance(storage, np.ndarray) or len(size) != len(stride):
        raise pickle.UnpicklingError("a tensor rebuild without a storage, or with size and stride of different length")
    shape, steps = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if any(s < 0 for s in shape + steps) or offset < 0:
        raise pickle.UnpicklingError(f"negative size, stride or offset in a tensor rebuild: {shape}, {steps}")
    last = offset + sum((n - 1) * st for n, st in zip(shape, steps, strict=True)) if all(shape) else offset - 1
    if last >= storage.size:
        raise pickle.UnpicklingError(f"tensor of size {shape} and stride {steps} overruns its storage ({storage.size})")
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=shape,
                                           strides=tuple(st * storage.itemsize for st in steps), writeable=False)
    return np.array(view)


TENSOR_GLOBALS: dict[tuple[str, str], Any] = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,  # the (empty) backward_hooks argument
}
"""The only globals a tensor pickle may name, and what each is resolved to here (no torch code)."""


class _TensorUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in TENSOR_GLOBALS:
            return TENSOR_GLOBALS[(module, name)]
        raise _refuse(module, name, "torch tensor rebuilds (torch._utils._rebuild_tensor_v2, "
                      "torch.storage._load_from_bytes, collections.OrderedDict)")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are only allowed inside a torch storage")


def load_tensor_pickle(data: bytes) -> Any:
    """Unpickle ``data`` with every CPU torch tensor in it read as a numpy array; nothing else is allowed.

    Parameters
    ----------
    data : bytes
        A pickle of tensors (and tuples, lists, dicts, numbers, strings), as ``pickle.dump`` of
        CPU tensors writes it.

    Returns
    -------
    object
        The pickled structure with each tensor replaced by a numpy array of its dtype
        (``torch.float16`` -> ``float16``, ``torch.int64`` -> ``int64``, ...) and shape.

    Raises
    ------
    pickle.UnpicklingError
        The pickle names any global other than :data:`TENSOR_GLOBALS` (e.g. ``os.system``,
        ``builtins.eval``) or a storage class outside :data:`STORAGE_DTYPES`, or a storage is
        malformed; nothing named in the file has run.
    """
    return _TensorUnpickler(io.BytesIO(data)).load()
