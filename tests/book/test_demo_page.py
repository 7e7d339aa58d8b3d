"""The demo-model tables: the package writes its model card only; vlmcal_book.demo_page writes the book page."""

from __future__ import annotations

from vlmcal_book import demo_page
from vlmcal_utils.demo.card import BEGIN, END, write_card


def test_write_card_does_not_touch_the_book(repo_root, tmp_path):
    page = repo_root / "book" / "demo_world.md"
    before = page.read_text()
    card = tmp_path / "MODEL_CARD.md"
    assert write_card(card_path=card) == [card]  # no book page unless one is named
    assert page.read_text() == before
    assert "python -m vlmcal_book.demo_page" in card.read_text()


def test_demo_page_refreshes_only_the_marked_section(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{BEGIN}\nold numbers\n{END}\noutro\n")
    assert not demo_page.is_up_to_date(page)
    assert demo_page.main(["--check", "--page", str(page)]) == 1
    assert page.read_text().count("old numbers") == 1  # --check writes nothing
    assert demo_page.main(["--page", str(page)]) == 0
    text = page.read_text()
    assert text.startswith(f"intro\n{BEGIN}\n") and text.endswith(f"{END}\noutro\n") and "old numbers" not in text
    assert demo_page.is_up_to_date(page)
    (tmp_path / "bad.md").write_text("no markers")
    assert demo_page.main(["--page", str(tmp_path / "bad.md")]) == 1


def test_committed_book_page_is_up_to_date(repo_root):
    """book/demo_world.md shows what metrics.json holds (regenerate: python -m vlmcal_book.demo_page)."""
    assert demo_page.is_up_to_date(repo_root / "book" / "demo_world.md")
