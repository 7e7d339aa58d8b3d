import pytest

from vlmcal_utils.views.boxes import Box, figure_not_drawn, said_once


def test_box_renders_html_escaped_and_plain_text():
    box = Box("A <title>", ["first & only"], kind="tip")
    html = box._repr_html_()
    assert html.startswith('<div class="admonition tip">')
    assert "A &lt;title&gt;" in html and "<p>first &amp; only</p>" in html
    assert repr(box) == "A <title>\nfirst & only"


def test_box_without_a_title_is_refused():
    with pytest.raises(ValueError, match="needs a title"):
        Box("  ", ["text"])


def test_figure_not_drawn_says_what_is_missing_and_how_to_get_it():
    box = figure_not_drawn("clip.npz", "no network")
    text = repr(box)
    assert box.kind == "warning" and "clip.npz" in text and "no network" in text
    assert "VLMCAL_SHARED" in text


def test_figure_not_drawn_takes_another_remedy():
    text = repr(figure_not_drawn("the demo study", "not run", remedy="Run the defaults."))
    assert "Run the defaults." in text and "VLMCAL_SHARED" not in text


def test_figure_not_drawn_explains_once_then_refers_to_the_first_box():
    first = repr(figure_not_drawn("once.npz", "offline"))
    again = repr(figure_not_drawn("once.npz", "offline"))
    assert "VLMCAL_SHARED" in first and "offline" in first
    assert "VLMCAL_SHARED" not in again and "once.npz" in again and "first such box above" in again
    assert "VLMCAL_SHARED" in repr(figure_not_drawn("once.npz", "another reason"))


def test_a_cause_is_given_once_then_each_later_box_names_only_what_is_missing():
    """Before: an offline page repeated the same failed-download text (address and URLError) in every box."""
    cause = "because the download failed: could not download {} (URLError: Name or service not known)"
    first = said_once(f"a.npz unavailable, {cause.format('https://h/a')}")
    second = said_once(f"b.npz unavailable, {cause.format('https://h/b')}")
    other = said_once("c.npz unavailable, because its hash differs")
    assert "URLError" in first and "https://h/a" in first
    assert second.startswith("b.npz unavailable") and "URLError" not in second and "first such box" in second
    assert other == "c.npz unavailable, because its hash differs"


def test_figure_not_drawn_for_another_file_keeps_the_cause_short():
    figure_not_drawn("a.npz", "a.npz unavailable, because no network")
    text = repr(figure_not_drawn("b.npz", "b.npz unavailable, because no network"))
    assert "b.npz unavailable" in text and "no network" not in text
