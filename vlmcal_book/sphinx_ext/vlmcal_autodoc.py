"""Sphinx extension for the API page: section titles become rubrics; re-exported names resolve.

1. Module docstrings in ``vlmcal_utils`` use reStructuredText section titles ("Conventions",
"Command line", ...). Rendered by ``automodule`` on one page, each becomes a real section with
an ID, so two modules with a "Conventions" section collide ("Duplicate ID", an error under
``-W``) and the titles clutter the page's table of contents. As rubrics they look the same and
create no IDs.

2. The API page documents every object in the module that defines it
   (``vlmcal_utils.results.io.save_results``), while docstrings and chapters name it where the
   notebooks import it from (``vlmcal_utils.results.save_results``, re-exported by the package's
   ``__init__``) or by its bare name inside a package docstring. Such a reference is resolved to the
   documented object that *is* the same Python object, so the nitpicky build (``-n``) accepts
   every name a user can import.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def titles_to_rubrics(lines: list[str]) -> list[str]:
    """Rewrite ``Title`` + underline (3+ of one punctuation character) as ``.. rubric:: Title``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        prev_blank = not out or not out[-1].strip()
        if line.strip() and not line.startswith(" ") and _UNDERLINE.match(nxt) and prev_blank:
            out += [f".. rubric:: {line.strip()}", ""]
            i += 2
            continue
        out.append(line)
        i += 1
    return out


def _process(app, what, name, obj, options, lines):
    if what == "module":
        lines[:] = titles_to_rubrics(lines)


_MISSING = object()


def lookup(dotted: str) -> Any:
    """The Python object named ``dotted`` (a module, or an attribute path inside one), or a sentinel."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            obj = getattr(obj, attribute, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def documented_name(target: str, current_module: str | None, documented: list[str]) -> str | None:
    """The documented name of the object ``target`` refers to, when it is documented under another name.

    ``target`` is tried as written and, if it is a bare name, inside ``current_module`` and the
    packages above it; a candidate must import as the very same object as one of ``documented``
    with the same last component.
    """
    candidates = [target]
    if current_module and not target.startswith("vlmcal_utils."):
        # the bare name inside the current module, then inside each package above it
        parts = current_module.split(".")
        candidates += [".".join(parts[:cut] + [target]) for cut in range(len(parts), 0, -1)]
    for candidate in candidates:
        if not candidate.startswith("vlmcal_utils."):
            continue
        obj = lookup(candidate)
        if obj is _MISSING:
            continue
        last = candidate.rsplit(".", 1)[-1]
        for name in documented:
            if name != candidate and name.rsplit(".", 1)[-1] == last and lookup(name) is obj:
                return name
    return None


def _resolve_reexport(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    name = documented_name(node["reftarget"], node.get("py:module"), list(domain.objects))
    if name is None:
        return None
    return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], name, node, contnode)


def _skip_foreign_method(app, what, name, obj, skip, options):
    """Skip a class's functions defined outside vlmcal_utils: not our API.

    E.g. the ``set`` that matplotlib writes into every Artist subclass (``ReportFigure``), whose
    docstring uses matplotlib's own roles (an "Unknown interpreted text role" error under ``-W``).
    """
    module = getattr(obj, "__module__", None) if inspect.isfunction(obj) else None
    if what == "class" and isinstance(module, str) and not module.startswith("vlmcal_utils"):
        return True
    return None


def setup(app):
    """Sphinx entry point: rewrite module docstrings as they are read; resolve re-exported names."""
    # priority > napoleon's (500) is not needed: napoleon leaves unknown section titles alone
    app.connect("autodoc-process-docstring", _process)
    app.connect("missing-reference", _resolve_reexport)
    app.connect("autodoc-skip-member", _skip_foreign_method)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
