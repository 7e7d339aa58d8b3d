"""The API page's Sphinx extension (vlmcal_book/sphinx_ext/vlmcal_autodoc.py)."""

from __future__ import annotations

from pathlib import Path

from vlmcal_book.sphinx_ext.vlmcal_autodoc import documented_name, lookup, titles_to_rubrics

DOCUMENTED = ["vlmcal_utils.results.io.save_results", "vlmcal_utils.results.schema.ResultsSchema",
              "vlmcal_utils.metrics.ece"]


def test_section_titles_become_rubrics():
    lines = ["Intro.", "", "Conventions", "-----------", "- one"]
    assert titles_to_rubrics(lines) == ["Intro.", "", ".. rubric:: Conventions", "", "- one"]


def test_reexported_names_resolve_to_where_they_are_documented():
    # the name the notebooks import, re-exported by the package's __init__
    assert documented_name("vlmcal_utils.results.save_results", None, DOCUMENTED) == DOCUMENTED[0]
    assert documented_name("vlmcal_utils.results.ResultsSchema", None, DOCUMENTED) == DOCUMENTED[1]
    # a bare name inside a package docstring, or inside a sibling module
    assert documented_name("save_results", "vlmcal_utils.results", DOCUMENTED) == DOCUMENTED[0]
    assert documented_name("save_results", "vlmcal_utils.results.schema", DOCUMENTED) == DOCUMENTED[0]


def test_other_names_are_left_alone():
    assert documented_name("vlmcal_utils.metrics.ece", None, DOCUMENTED) is None  # already documented
    assert documented_name("vlmcal_utils.results.no_such_name", None, DOCUMENTED) is None
    assert documented_name("numpy.ndarray", None, DOCUMENTED) is None
    assert documented_name("ece", "vlmcal_utils.results", DOCUMENTED) is None  # not the same object
    assert lookup("vlmcal_utils.results.io.save_results") is lookup("vlmcal_utils.results.save_results")


def _bib_entries():
    from pybtex.database import parse_file

    return parse_file(str(Path(__file__).resolve().parents[2] / "book" / "references.bib")).entries


def test_bibliography_labels_are_author_year_and_distinct():
    from vlmcal_book.sphinx_ext.vlmcal_bibstyle import AuthorYearStyle, author_year_label

    entries = _bib_entries()
    assert author_year_label(entries["Guo2017"]) == "Guo et al., 2017"
    assert author_year_label(entries["Brier1950"]) == "Brier, 1950"
    assert author_year_label(entries["Zadrozny2001"]) == "Zadrozny and Elkan, 2001"
    assert author_year_label(entries["Blasiok2024"]).startswith("Błasiok")  # LaTeX decoded
    labels = [e.label for e in AuthorYearStyle().format_bibliography(_bib_database())]
    assert len(labels) == len(set(labels)) == len(entries)


def _bib_database():
    from pybtex.database import BibliographyData

    return BibliographyData(entries=_bib_entries())


def test_same_author_and_year_get_letters():
    from pybtex.database import Entry, Person

    from vlmcal_book.sphinx_ext.vlmcal_bibstyle import AuthorYearLabelStyle

    def entry(title):
        return Entry("article", fields={"title": title, "year": "2020"}, persons={"author": [Person("Doe, Jane")]})

    assert list(AuthorYearLabelStyle().format_labels([entry("A"), entry("B")])) == ["Doe, 2020a", "Doe, 2020b"]


def test_every_paper_has_a_doi_arxiv_or_url():
    # every paper is linked (DOI, arXiv or the publisher's page); the exceptions have none of them
    no_link_exists = {
        "Zadrozny2001",  # ICML 2001 proceedings: no DOI, no arXiv, no stable page
        "Bae2025",  # a lab seminar's slides: the project has their text, not a stable address
    }
    missing = {key for key, e in _bib_entries().items() if not {"doi", "eprint", "url"} & {f.lower() for f in e.fields}}
    assert missing == no_link_exists


def test_functions_defined_outside_the_package_are_skipped():
    from vlmcal_book.sphinx_ext.vlmcal_autodoc import _skip_foreign_method
    from vlmcal_utils.temperature import TemperatureScaler
    from vlmcal_utils.views.chapter3_style import ReportFigure

    assert _skip_foreign_method(None, "class", "set", ReportFigure.set, False, {}) is True  # matplotlib's
    assert _skip_foreign_method(None, "class", "fit", TemperatureScaler.fit, False, {}) is None
    assert _skip_foreign_method(None, "class", "n_bins", 15, False, {}) is None  # a class attribute


def test_each_figure_gets_the_width_at_which_its_text_is_readable():
    """vlmcal_figures: an <img> whose image declares its smallest text gets --vlmcal-readable-width; others not."""
    from vlmcal_book.sphinx_ext.vlmcal_figures import READABLE_PX, WIDTH_PROPERTY, readable_width, with_readable_widths
    from vlmcal_utils.figures import TextSize

    sizes = {"../_images/a.svg": TextSize(smallest_px=12.5, natural_width_px=900.0),
             "../_images/b.png": TextSize(smallest_px=25.0, natural_width_px=1800.0)}
    html = ('<p>x</p><img alt="a" src="../_images/a.svg" />'
            '<img alt="b &gt; c" src="../_images/b.png" style="width: 900px;" />'
            '<img alt="logo" src="../_static/logo.png">')
    out = with_readable_widths(html, sizes.get)
    width = readable_width(sizes["../_images/a.svg"])
    assert width == 576 == round(900 * READABLE_PX / 12.5)  # 12.5 px text at 900 px: 8 px at 576 px
    assert f'<img alt="a" src="../_images/a.svg" style="{WIDTH_PROPERTY}: 576px" />' in out
    assert f'src="../_images/b.png" style="width: 900px; {WIDTH_PROPERTY}: 576px" />' in out
    assert '<img alt="logo" src="../_static/logo.png">' in out  # no declared text: left as it is
    assert out.count(WIDTH_PROPERTY) == 2
