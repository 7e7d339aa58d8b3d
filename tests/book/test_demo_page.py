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


def test_the_page_shows_the_demo_world_and_its_picture_is_current(repo_root, tmp_path):
    """The demo-world page has a picture of the world (it had none), drawn from the world's seeds."""
    from vlmcal_utils.demo.world import DEMO_DOMAINS, HELDOUT_CLASSES

    page = (repo_root / "book" / "demo_world.md").read_text()
    assert "```{figure} images/demo_world.png" in page
    assert demo_page.picture_is_up_to_date(repo_root / demo_page.PICTURE)
    caption = page.split("```{figure} images/demo_world.png", 1)[1].split("```", 1)[0]
    held_out = [c for c in demo_page.PICTURE_CLASSES if c in HELDOUT_CLASSES]
    assert held_out and all(c in caption for c in demo_page.PICTURE_CLASSES)
    assert f"The {held_out[0]} and the {held_out[1]} are held-out classes" in caption.replace("\n", " ")
    grid = demo_page.sample_grid()
    assert grid.height < grid.width and grid.height > 32 * len(DEMO_DOMAINS) * 3
    stale = tmp_path / "stale.png"
    grid.transpose(0).save(stale)  # mirrored: not what the world renders
    assert not demo_page.picture_is_up_to_date(stale) and not demo_page.picture_is_up_to_date(tmp_path / "none.png")
