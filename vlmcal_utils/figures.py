"""How a matplotlib figure is shown in a notebook and on the book's pages, and how small its text gets.

A figure displays as **SVG with its text kept as text** (``svg.fonttype: none``): crisp at any zoom,
searchable, and usually smaller than a PNG. Its natural size is :data:`PX_PER_INCH` CSS px per inch,
the size of the 100-dpi PNGs it replaces, so a page at desktop width looks as before. A figure
whose SVG would be heavier than :data:`SVG_MAX_BYTES` (thousands of markers) is a PNG instead, at
:data:`PNG_SCALE` times that resolution and shown at the same natural size.

Either way the image says how small its smallest text is, so the book can keep it readable on a
phone: an SVG through its ``font-size`` values, a PNG through a text chunk (:data:`SMALLEST_TEXT_KEY`).
:func:`smallest_text` reads that back from the file; the book's Sphinx extension
(``vlmcal_book/sphinx_ext/vlmcal_figures.py``) gives each figure a minimum width on narrow screens
from it, and ``vlmcal_book.browser_check`` fails a page where a figure's text is drawn smaller than
its threshold.

Conventions: sizes in CSS px (1/96 inch on screen) unless named ``_pt`` (1/72 inch, matplotlib's
font sizes). "Natural size": the image's own width (SVG ``width``, PNG pixels), before the page
scales it.

In IPython, ``%load_ext vlmcal_utils.figures`` makes every matplotlib figure display this way (the
book's runner loads it in each kernel: :func:`load_ipython_extension`).
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.text import Text

__all__ = [
    "PX_PER_INCH",
    "PNG_SCALE",
    "SVG_MAX_BYTES",
    "SMALLEST_TEXT_KEY",
    "TextSize",
    "figure_svg",
    "figure_png",
    "figure_bundle",
    "smallest_text",
    "load_ipython_extension",
]

#: A figure's natural width in CSS px per inch of figure size (the 100-dpi PNGs the book showed before).
PX_PER_INCH = 100
#: A PNG has this many pixels per natural CSS px (sharp on high-density phone screens).
PNG_SCALE = 2
#: An SVG heavier than this (bytes) is shown as a PNG instead.
SVG_MAX_BYTES = 300_000
#: The PNG text chunk holding the smallest text's height in the PNG's own pixels.
SMALLEST_TEXT_KEY = "vlmcal:smallest-text-px"

_SAVE_RC = {"svg.fonttype": "none", "svg.hashsalt": "vlmcal"}  # text as text; ids the same on every run
_SVG_SIZE_RE = re.compile(r'(<svg\b[^>]*?\b)width="([\d.]+)pt" height="([\d.]+)pt"')
_FONT_SIZE_RE = re.compile(r"font-size:\s*([\d.]+)px")
_VIEWBOX_RE = re.compile(r'<svg\b[^>]*?\bviewBox="[\d.+-]+ [\d.+-]+ ([\d.]+) [\d.]+"')
_WIDTH_RE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)(px|pt)?"')
_CSS_PX = {None: 1.0, "px": 1.0, "pt": 96 / 72}  # a browser's px per unit of an SVG's width


@dataclass(frozen=True)
class TextSize:
    """An image's smallest text height and its width, both in px at the image's natural size.

    Drawn ``w`` px wide, the smallest text is ``smallest_px * w / natural_width_px`` px high.
    """

    smallest_px: float
    natural_width_px: float

    def at_width(self, width_px: float) -> float:
        """The smallest text's height in px when the image is drawn ``width_px`` wide."""
        return self.smallest_px * width_px / self.natural_width_px

    def width_for(self, text_px: float) -> float:
        """The drawn width (px) at which the smallest text is ``text_px`` high."""
        return self.natural_width_px * text_px / self.smallest_px


def _drawn_font_sizes_pt(fig: Figure) -> list[float]:
    """Font sizes (pt) of the figure's visible, non-empty texts (tick labels exist once it is drawn)."""
    return [t.get_fontsize() for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip()]


def _save(fig: Figure, buf: Any, **kwargs: Any) -> None:
    with plt.rc_context(_SAVE_RC):
        fig.savefig(buf, bbox_inches="tight", **kwargs)


def figure_svg(fig: Figure) -> str:
    """The figure as SVG text: text as ``<text>`` elements, ``width``/``height`` in px at :data:`PX_PER_INCH`.

    matplotlib writes the size in pt (72 per inch, i.e. 96 px per inch in a browser); the viewBox is
    kept, so only the natural size changes, to what the 100-dpi PNG had.
    """
    buf = io.StringIO()
    _save(fig, buf, format="svg", metadata={"Date": None})
    scale = PX_PER_INCH / 72

    def px(match: re.Match) -> str:
        width, height = float(match.group(2)) * scale, float(match.group(3)) * scale
        return f'{match.group(1)}width="{width:.2f}px" height="{height:.2f}px"'

    return _SVG_SIZE_RE.sub(px, buf.getvalue(), count=1)


def figure_png(fig: Figure) -> tuple[bytes, dict[str, int]]:
    """The figure as PNG at ``PX_PER_INCH * PNG_SCALE`` dpi, with its smallest text in a text chunk.

    The smallest text is the smallest font size of the figure's drawn text artists (an SVG's
    ``font-size`` values also count a mathtext superscript, drawn at 70 %: the PNG's may be higher).

    Returns the PNG's bytes and ``{"width": w}``, its natural width in CSS px (the pixels divided by
    :data:`PNG_SCALE`): the display metadata that shows it at that size. No height: a page turns
    both into a fixed style, and a fixed height would stretch the image where the column is narrower.
    """
    from PIL import Image

    dpi = PX_PER_INCH * PNG_SCALE
    fig.draw_without_rendering()  # lays the figure out, so its tick labels exist, without rasterising it
    sizes = _drawn_font_sizes_pt(fig)
    buf = io.BytesIO()
    _save(fig, buf, format="png", dpi=dpi,
          metadata={SMALLEST_TEXT_KEY: f"{min(sizes) * dpi / 72:.2f}"} if sizes else None)
    data = buf.getvalue()
    width = Image.open(io.BytesIO(data)).size[0]
    return data, {"width": round(width / PNG_SCALE)}


def figure_bundle(fig: Figure) -> tuple[dict[str, str], dict[str, Any]] | None:
    """What a notebook shows for ``fig``: ``({mime type: data}, {mime type: metadata})``.

    SVG (:func:`figure_svg`) unless it is over :data:`SVG_MAX_BYTES`, then PNG (:func:`figure_png`,
    base64 as in a notebook file). ``None`` for a figure with nothing drawn (as IPython's own).
    """
    if not fig.axes and not fig.lines:
        return None
    svg = figure_svg(fig)
    if len(svg.encode()) <= SVG_MAX_BYTES:
        return {"image/svg+xml": svg}, {}
    png, size = figure_png(fig)
    return {"image/png": base64.b64encode(png).decode("ascii")}, {"image/png": size}


def _svg_text_size(svg: str) -> TextSize | None:
    sizes = [float(s) for s in _FONT_SIZE_RE.findall(svg)]
    viewbox, width = _VIEWBOX_RE.search(svg), _WIDTH_RE.search(svg)
    if not sizes or viewbox is None or width is None:
        return None
    natural = float(width.group(1)) * _CSS_PX[width.group(2)]
    return TextSize(min(sizes) * natural / float(viewbox.group(1)), natural)


def smallest_text(data: bytes) -> TextSize | None:
    """The smallest text of an image file's bytes (SVG or PNG written here), or ``None``.

    ``None``: the image has no text it declares (an SVG without ``font-size``, e.g. text drawn as
    paths; a PNG without the :data:`SMALLEST_TEXT_KEY` chunk; any other format).
    """
    if data.startswith(b"\x89PNG"):
        from PIL import Image

        image = Image.open(io.BytesIO(data))
        value = image.info.get(SMALLEST_TEXT_KEY)
        return TextSize(float(value), float(image.size[0])) if value else None
    head = data[:4096].lstrip()
    if head.startswith(b"<?xml") or head.startswith(b"<svg") or b"<svg" in head:
        return _svg_text_size(data.decode("utf-8", errors="replace"))
    return None


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext vlmcal_utils.figures``: every matplotlib figure displays as :func:`figure_bundle`.

    The inline backend's own formats are turned off, or each figure would come twice (its PNG as well).
    """
    ip.display_formatter.mimebundle_formatter.for_type(Figure, figure_bundle)
    try:
        from matplotlib_inline.config import InlineBackend
    except ImportError:  # IPython without the inline backend (a terminal): no second format to turn off
        return
    InlineBackend.instance(parent=ip).figure_formats = set()
