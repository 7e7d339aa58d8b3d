"""Sphinx extension: a chapter's Colab button always opens the committed ``.ipynb`` twin.

sphinx-book-theme builds the Colab URL from the page's source file. For a MyST notebook
``notebooks/NN_x.md`` it switches to ``.ipynb`` only when ``notebooks/NN_x.ipynb`` exists in the
checkout at build time; otherwise the button opens the Markdown file, which Colab cannot run.
Every chapter has a committed twin (``make test`` checks it with ``vlmcal_book.nbsync --check``),
so the link is rewritten to the twin whatever the build machine holds. Runs after the theme
(priority 600 > the theme's 501). Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import re

_MD_NOTEBOOK = re.compile(r"^(https://colab\.research\.google\.com/github/.+/notebooks/[^/]+)\.md$")


def fix_colab_urls(buttons: list) -> int:
    """Rewrite Colab button URLs ending in ``notebooks/<stem>.md`` to ``.ipynb`` (in place); count them."""
    changed = 0
    for button in buttons or []:
        if not isinstance(button, dict):
            continue
        changed += fix_colab_urls(button.get("buttons"))
        url = button.get("url")
        if isinstance(url, str):
            match = _MD_NOTEBOOK.match(url)
            if match:
                button["url"] = match.group(1) + ".ipynb"
                changed += 1
    return changed


def _on_page(app, pagename, templatename, context, doctree):
    fix_colab_urls(context.get("header_buttons"))


def setup(app):
    """Sphinx entry point: fix the Colab buttons of every page."""
    app.connect("html-page-context", _on_page, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
