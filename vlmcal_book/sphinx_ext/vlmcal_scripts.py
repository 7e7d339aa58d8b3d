"""Sphinx extension: each page loads each script once.

Under this Jupyter Book (1.0.4, Sphinx 7.4), the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton are added twice to every page; the second ``const THEBE_JS_URL = ...`` is a
``SyntaxError`` in the browser console of every page ("Identifier 'THEBE_JS_URL' has already been
declared"). This drops repeated scripts (same file or same inline body, same attributes) from a
page's ``script_files``, keeping the first, whatever adds them. ``vlmcal_book.browser_check``
fails on any console error. Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from typing import Any, Iterable


def script_key(script: Any) -> tuple:
    """What makes two scripts the same: the file (or inline body) and the attributes."""
    attributes = getattr(script, "attributes", {}) or {}
    return str(getattr(script, "filename", script) or ""), tuple(sorted((k, str(v)) for k, v in attributes.items()))


def unique_scripts(scripts: Iterable[Any]) -> list:
    """``scripts`` without repeats, in their order (the first of each kept)."""
    seen, kept = set(), []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _on_page(app, pagename, templatename, context, doctree):
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def setup(app):
    """Sphinx entry point: drop repeated scripts from every page (after the other extensions add theirs)."""
    app.connect("html-page-context", _on_page, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
