"""Sphinx extension: an author-year bibliography, to match the author-year citations in the text.

``bibtex_reference_style: author_year`` (``_config.yml``) makes ``{cite}`` print "Guo et al.
[2017]", but the bibliography's own labels come from the pybtex *formatting* style, and pybtex's
built-in styles label entries by number (``unsrt``) or by initials (``alpha``: "[GPSW17]"). This
extension registers a pybtex style, ``vlmcal_authoryear``, that formats entries as ``unsrt`` does
(DOI and arXiv links included), labels them "Guo et al., 2017" and sorts them by author, year and
title. ``book/references.md`` selects it with ``:style: vlmcal_authoryear``.

Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from string import ascii_lowercase

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle

STYLE_NAME = "vlmcal_authoryear"


def _last_name(person) -> str:
    r"""A person's last name as plain text (LaTeX accents and braces decoded: ``B{\l}asiok`` → Błasiok)."""
    return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")


def author_year_label(entry) -> str:
    """``"Guo et al., 2017"``, ``"Zadrozny and Elkan, 2001"`` or ``"Brier, 1950"`` for one entry."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [_last_name(p) for p in people]
    if not names:
        who = entry.key
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Author-year labels; equal labels get a letter after the year (2017a, 2017b) in sorted order."""

    def format_labels(self, sorted_entries: Iterable) -> Iterator[str]:
        """One label per entry, in the entries' (sorted) order."""
        labels = [author_year_label(e) for e in sorted_entries]
        counts, seen = Counter(labels), Counter()
        for label in labels:
            if counts[label] > 1:
                yield label + ascii_lowercase[seen[label]]
                seen[label] += 1
            else:
                yield label


class AuthorYearStyle(UnsrtStyle):
    """``unsrt`` entry formatting with author-year labels, sorted by author, year and title."""

    default_label_style = STYLE_NAME
    default_sorting_style = "author_year_title"


def register() -> None:
    """Make both styles known to pybtex under :data:`STYLE_NAME` (idempotent)."""
    register_plugin("pybtex.style.labels", STYLE_NAME, AuthorYearLabelStyle, force=True)
    register_plugin("pybtex.style.formatting", STYLE_NAME, AuthorYearStyle, force=True)


register()  # on import, so the style also works outside a Sphinx build (tests, scripts)


def setup(app):
    """Sphinx entry point: register the style (the build's bibliography directive names it)."""
    register()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
