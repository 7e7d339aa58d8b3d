"""Admonition boxes for notebooks and the book: HTML where a notebook renders, plain text elsewhere.

A chapter section that cannot show its real-data part on this machine shows a box instead, so a
reader never meets a silently empty section. :func:`figure_not_drawn` is the box that stands in a
numbered figure's place: the figure keeps its number and caption (cross-references resolve), and
its body says what is missing.
"""

from __future__ import annotations

import html
import re
from typing import Sequence

__all__ = ["Box", "figure_not_drawn", "said_once", "GET_PUBLISHED_OUTPUTS"]


class Box:
    """An admonition box: HTML in notebooks and the book, plain text in a console.

    Parameters
    ----------
    title : str
        The box's title (plain text).
    paragraphs : sequence of str
        Its paragraphs (plain text; escaped for HTML).
    kind : str
        The admonition class: ``"note"``, ``"tip"``, ``"warning"``, ``"danger"``...
    """

    def __init__(self, title: str, paragraphs: Sequence[str], kind: str = "note"):
        if not title.strip():
            raise ValueError("a box needs a title: say in a few words what the box is about")
        self.title, self.paragraphs, self.kind = title, list(paragraphs), kind

    def _repr_html_(self) -> str:
        body = "".join(f"<p>{html.escape(p)}</p>" for p in self.paragraphs)
        return (f'<div class="admonition {self.kind}"><p class="admonition-title">{html.escape(self.title)}</p>'
                f"{body}</div>")

    def __repr__(self) -> str:
        return "\n".join([self.title, *self.paragraphs])


#: How to get a published-outputs figure drawn (the remedy of :func:`figure_not_drawn` by default).
GET_PUBLISHED_OUTPUTS = (
    "Set VLMCAL_SHARED to a folder holding data/logits, or build online (the files are then downloaded "
    "and checked against their pinned hashes).")


_EXPLAINED: set[tuple[str, str]] = set()  # (needs, reason) pairs already explained in full in this process
_CAUSES_SAID: set[str] = set()  # causes (addresses left out) already given in full in this process
_ADDRESS = re.compile(r"https?://\S+")


def said_once(reason: str) -> str:
    """``reason`` in full the first time this process shows its cause; afterwards, what it is about.

    A resolver's reason reads ``"<file> unavailable, because <cause>"``. Offline, every real-data box
    of a page has the same cause (a failed download, with its address and error): the first box
    gives it, the later ones keep ``"<file> unavailable"`` and point to the first. Causes that differ
    only in the address count as the same.

    Parameters
    ----------
    reason : str
        Why something is missing here, e.g. ``"x.npz unavailable, because the download failed: ..."``.

    Returns
    -------
    str
        ``reason``, or its part before ``", because "`` with a pointer to the first box.

    Examples
    --------
    >>> _ = said_once("a.npz unavailable, because the download failed: could not download https://h/a")
    >>> said_once("b.npz unavailable, because the download failed: could not download https://h/b")
    'b.npz unavailable, for the same reason as in the first such box of this page'
    """
    subject, because, cause = reason.partition(", because ")
    key = _ADDRESS.sub("<address>", cause if because else reason)
    if key not in _CAUSES_SAID:
        _CAUSES_SAID.add(key)
        return reason
    return f"{subject if because else 'unavailable'}, for the same reason as in the first such box of this page"


def figure_not_drawn(needs: str, reason: str, remedy: str = GET_PUBLISHED_OUTPUTS) -> Box:
    """The body of a numbered figure whose data is not on this machine.

    Parameters
    ----------
    needs : str
        What the figure is drawn from, e.g. ``"clip_vitb32_cifar10_zeroshot.npz"``.
    reason : str
        Why it is missing here (e.g. the resolver's reason).
    remedy : str
        What a reader does to see the figure (default: get the published outputs).

    Returns
    -------
    Box
        A warning box: the figure is not drawn, why, and how to get it drawn; for the same
        ``needs`` and ``reason`` again in this process (the same chapter), one line that refers to
        the first box.
    """
    if (needs, reason) in _EXPLAINED:  # a chapter with several such figures explains once, then refers to it
        return Box("Figure not drawn on this machine", [f"It is drawn from {needs}: see the first such box above."],
                   kind="warning")
    _EXPLAINED.add((needs, reason))
    return Box("Figure not drawn on this machine", [
        f"It is drawn from {needs}, which could not be read here: {said_once(reason)}.",
        f"{remedy} The caption below describes the figure as it is drawn from that data.",
    ], kind="warning")
