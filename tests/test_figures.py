"""How figures are shown (vlmcal_utils.figures): SVG with text as text at the old PNG's size, a
sharp PNG when the SVG is too heavy, and the smallest text read back from either."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from vlmcal_utils import figures


def _figure(width_in: float = 6.0, small_pt: float = 8.0) -> Figure:
    fig = Figure(figsize=(width_in, 3.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1])
    ax.set_title("a title", fontsize=14)
    ax.set_xlabel("small label", fontsize=small_pt)
    ax.tick_params(labelsize=11)
    return fig


def _png_width(fig: Figure, dpi: float) -> int:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return Image.open(buf).size[0]


def test_svg_keeps_text_as_text_at_the_old_png_size():
    fig = _figure()
    svg = figures.figure_svg(fig)
    assert "<text" in svg and "a title" in svg and "small label" in svg
    size = figures.smallest_text(svg.encode())
    # natural width: what the same figure had as a 100-dpi PNG (within a pixel or two of rounding)
    assert size.natural_width_px == pytest.approx(_png_width(fig, figures.PX_PER_INCH), abs=3)
    # the smallest text is the 8 pt label: 8 pt at 100 px per inch
    assert size.smallest_px == pytest.approx(8 * figures.PX_PER_INCH / 72, rel=1e-3)
    assert figures.figure_svg(fig) == svg  # the same bytes on every run (the book names images by hash)
    # matplotlib's own size in pt (96 px per 72 pt in a browser) is read too
    in_pt = figures.smallest_text(b'<svg width="72pt" height="36pt" viewBox="0 0 72 36"><text style="font-size: 9px">x'
                                  b'</text></svg>')
    assert in_pt == figures.TextSize(smallest_px=12.0, natural_width_px=96.0)


def test_a_light_figure_is_svg_and_a_heavy_one_a_sharp_png(monkeypatch):
    fig = _figure()
    data, meta = figures.figure_bundle(fig)
    assert list(data) == ["image/svg+xml"] and meta == {}
    monkeypatch.setattr(figures, "SVG_MAX_BYTES", 1000)
    data, meta = figures.figure_bundle(fig)
    assert list(data) == ["image/png"]
    png = base64.b64decode(data["image/png"])
    pixels = Image.open(io.BytesIO(png)).size
    assert meta["image/png"] == {"width": round(pixels[0] / figures.PNG_SCALE)}  # no height: it would stretch
    size = figures.smallest_text(png)
    assert size.natural_width_px == pixels[0]
    assert size.smallest_px == pytest.approx(8 * figures.PX_PER_INCH * figures.PNG_SCALE / 72, rel=1e-2)
    # drawn at its natural CSS width the PNG's text is as high as the SVG's
    svg_size = figures.smallest_text(figures.figure_svg(fig).encode())
    assert size.at_width(meta["image/png"]["width"]) == pytest.approx(svg_size.smallest_px, rel=0.02)


def test_text_size_scales_with_the_drawn_width():
    size = figures.TextSize(smallest_px=12.0, natural_width_px=900.0)
    assert size.at_width(300) == pytest.approx(4.0)
    assert size.width_for(8.0) == pytest.approx(600.0)


def test_images_without_declared_text():
    buf = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buf, format="PNG")
    assert figures.smallest_text(buf.getvalue()) is None  # a PNG without the chunk
    assert figures.smallest_text(b'<svg width="10px" viewBox="0 0 10 10"><path d="M0 0"/></svg>') is None
    assert figures.smallest_text(b"\xff\xd8\xff\xe0 a jpeg") is None
    assert figures.figure_bundle(Figure()) is None  # nothing drawn: nothing shown


def test_the_ipython_extension_shows_figures_once_as_svg():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    figures.load_ipython_extension(shell)
    data, _ = shell.display_formatter.format(_figure())
    assert "image/svg+xml" in data and "image/png" not in data
    scatter = Figure()
    rng = np.random.default_rng(0)
    scatter.subplots().scatter(*rng.random((2, 20_000)))  # ~20 000 markers: too heavy for SVG
    data, meta = shell.display_formatter.format(scatter)
    assert "image/png" in data and "image/svg+xml" not in data and meta["image/png"]["width"] > 0
