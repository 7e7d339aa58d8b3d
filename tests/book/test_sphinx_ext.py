"""The API page's Sphinx extension (vlmcal_book/sphinx_ext/vlmcal_autodoc.py)."""

from __future__ import annotations

from vlmcal_book.sphinx_ext.vlmcal_autodoc import documented_name, lookup, titles_to_rubrics

DOCUMENTED = ["vlmcal_utils.results.io.save_results", "vlmcal_utils.results.chapters.SCHEMAS",
              "vlmcal_utils.metrics.ece"]


def test_section_titles_become_rubrics():
    lines = ["Intro.", "", "Conventions", "-----------", "- one"]
    assert titles_to_rubrics(lines) == ["Intro.", "", ".. rubric:: Conventions", "", "- one"]


def test_reexported_names_resolve_to_where_they_are_documented():
    # the name the notebooks import, re-exported by the package's __init__
    assert documented_name("vlmcal_utils.results.save_results", None, DOCUMENTED) == DOCUMENTED[0]
    assert documented_name("vlmcal_utils.results.SCHEMAS", None, DOCUMENTED) == DOCUMENTED[1]
    # a bare name inside a package docstring, or inside a sibling module
    assert documented_name("save_results", "vlmcal_utils.results", DOCUMENTED) == DOCUMENTED[0]
    assert documented_name("save_results", "vlmcal_utils.results.schema", DOCUMENTED) == DOCUMENTED[0]


def test_other_names_are_left_alone():
    assert documented_name("vlmcal_utils.metrics.ece", None, DOCUMENTED) is None  # already documented
    assert documented_name("vlmcal_utils.results.no_such_name", None, DOCUMENTED) is None
    assert documented_name("numpy.ndarray", None, DOCUMENTED) is None
    assert documented_name("ece", "vlmcal_utils.results", DOCUMENTED) is None  # not the same object
    assert lookup("vlmcal_utils.results.io.save_results") is lookup("vlmcal_utils.results.save_results")
