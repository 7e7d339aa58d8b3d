"""The look of chapter 3's figures: readable text on a phone, legends off the data, SVG in notebooks.

Figures are made without pyplot (:class:`ReportFigure`), so a notebook shows each one only where
it is displayed, never twice.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from vlmcal_utils.figures import figure_bundle

__all__ = ["STYLE", "METHOD_LABELS", "ReportFigure", "report_style", "legend_outside"]

#: The style of every figure here: text that stays readable when the figure is shrunk to a phone.
STYLE = {"font.size": 13, "axes.titlesize": 13, "axes.labelsize": 13, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 11}
METHOD_LABELS = {"none": "no calibration", "ts": "temperature scaling (1 parameter)",
                 "vector_scaling": "vector scaling (2K)", "histogram_binning": "histogram binning (15K)",
                 "isotonic": "isotonic regression (K maps)"}


class ReportFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that renders itself in a notebook (``_repr_mimebundle_``).

    The figures here are made without pyplot, so they are never shown twice; a plain ``Figure``
    made that way has no notebook rendering until pyplot's inline backend has been started by some
    pyplot figure (the chapter's first run showed its first figure only). This one renders as
    :func:`vlmcal_utils.figures.figure_bundle` does (SVG with text as text, or a sharp PNG),
    whatever the backend.
    """

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> Any:
        return figure_bundle(self)


@contextmanager
def report_style() -> Iterator[None]:
    """Matplotlib's settings as :data:`STYLE` inside the ``with`` block."""
    with plt.rc_context(STYLE):
        yield


def legend_outside(ax: Any, where: str = "right") -> None:
    """Move an Axes' legend off the data (right of the panel, or below it)."""
    legend = ax.get_legend()
    if legend is None:
        return
    labels = [t.get_text() for t in legend.get_texts()]
    handles, own = ax.get_legend_handles_labels()  # the plotted artists keep their line styles
    if own != labels:  # proxy handles (patches made for the legend only): reuse the legend's
        handles = legend.legend_handles
    legend.remove()
    if where == "right":
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
    else:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.0, -0.18), frameon=False)
