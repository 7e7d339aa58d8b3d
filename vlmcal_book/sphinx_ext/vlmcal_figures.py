"""Sphinx extension: each figure says how narrow it may be drawn before its text gets too small.

A notebook's figures are images that the theme shrinks to the column's width (``max-width: 100%``):
on a 400 px phone a 900 px wide two-panel figure is drawn ~360 px wide, and its 9 pt legend ~5 px
high. Each figure written by :mod:`vlmcal_utils.figures` declares its smallest text
(:func:`vlmcal_utils.figures.smallest_text`); this extension gives its ``<img>`` the CSS property
``--vlmcal-readable-width``, the width at which that text is :data:`READABLE_PX` px high.
``vlmcal_book/static/vlmcal.css`` makes it the image's ``min-width`` on narrow screens only, where
a wider figure then scrolls sideways inside its output box instead of shrinking its text; at desktop
widths nothing changes. ``vlmcal_book.browser_check`` fails a page whose figure text is drawn below
its own threshold at 400 px. Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

from vlmcal_utils.figures import TextSize, smallest_text

#: The smallest text height (px) a figure keeps on a narrow screen (browser_check's floor is lower).
READABLE_PX = 8.0
WIDTH_PROPERTY = "--vlmcal-readable-width"
_IMG_RE = re.compile(r'<img\b[^>]*>')
_SRC_RE = re.compile(r'\bsrc="([^"]+)"')
_STYLE_RE = re.compile(r'\bstyle="([^"]*)"')


def readable_width(size: TextSize, readable_px: float = READABLE_PX) -> int:
    """The width (px, rounded up) at which an image of text ``size`` shows its smallest text ``readable_px`` high."""
    return math.ceil(size.width_for(readable_px))


def with_readable_widths(html: str, text_size: Callable[[str], TextSize | None]) -> str:
    """``html`` with :data:`WIDTH_PROPERTY` in the ``style`` of each ``<img>`` whose text size is known.

    ``text_size(src)``: the image's :class:`~vlmcal_utils.figures.TextSize` from its ``src``
    attribute, or ``None`` (not a figure, or one that declares no text): that tag stays as it is.
    """

    def rewrite(match: re.Match) -> str:
        tag = match.group(0)
        src = _SRC_RE.search(tag)
        size = text_size(src.group(1)) if src else None
        if size is None:
            return tag
        declaration = f"{WIDTH_PROPERTY}: {readable_width(size)}px"
        style = _STYLE_RE.search(tag)
        if style:
            joined = f"{style.group(1).rstrip().rstrip(';')}; {declaration}".lstrip("; ")
            return tag[:style.start()] + f'style="{joined}"' + tag[style.end():]
        end = len(tag) - (2 if tag.endswith("/>") else 1)
        return f'{tag[:end].rstrip()} style="{declaration}"{" " if end < len(tag) - 1 else ""}{tag[end:]}'

    return _IMG_RE.sub(rewrite, html)


def _image_sizes(app) -> Callable[[str], TextSize | None]:
    """``src`` (``…/_images/<name>``, as a page writes it) -> the text size of that image's source file."""
    sources = {name: Path(app.srcdir) / src for src, name in app.builder.images.items()}
    cache: dict[str, TextSize | None] = {}

    def size(src: str) -> TextSize | None:
        name = src.rsplit("/", 1)[-1]
        if name not in cache:
            path = sources.get(name)
            cache[name] = smallest_text(path.read_bytes()) if path is not None and path.is_file() else None
        return cache[name]

    return size


def _on_page(app, pagename, templatename, context, doctree):
    if "body" in context and "<img" in context["body"]:
        context["body"] = with_readable_widths(context["body"], _image_sizes(app))


def setup(app):
    """Sphinx entry point: figures get their readable width on every HTML page."""
    app.connect("html-page-context", _on_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
