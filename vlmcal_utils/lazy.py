"""Lazy package exports (PEP 562): a package's names are imported from their modules on first use.

``import vlmcal_utils.tpt.protocol`` runs ``vlmcal_utils/tpt/__init__.py`` first; when that file
imports every module of the package, a command line that needs one small module (or only its
``--help``) pays for torch and open_clip. With :func:`lazy_exports` an ``__init__`` lists its names
and the module of each; ``from vlmcal_utils.tpt import run_tpt`` still works, and imports
``vlmcal_utils.tpt.runner`` only then::

    __getattr__, __dir__ = lazy_exports(__name__, {"runner": ["run_tpt", "summarise"], ...})
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Iterable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, modules: Mapping[str, Iterable[str]]) -> tuple[Callable[[str], Any], Callable[[], list]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose names come from its modules on first use.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    modules : mapping
        ``{submodule (relative, e.g. "runner"): names it exports}``; a name may be listed once only.

    Returns
    -------
    (callable, callable)
        ``__getattr__(name)`` imports ``package.<submodule>`` and returns its ``name`` (then cached in
        the package's namespace, so the hook runs once per name); any other name raises
        ``AttributeError`` as usual. ``__dir__()`` lists the exported names and the package's own.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list:
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
