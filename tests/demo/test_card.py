"""vlmcal_utils.demo.card: the model card and the book's metrics table come from metrics.json."""

from __future__ import annotations

import json

import pytest

from vlmcal_utils.demo.card import BEGIN, END, METRICS_PATH, write_card


def test_card_and_book_table(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{BEGIN}\nold numbers\n{END}\noutro\n")
    written = write_card(book_page=page, card_path=tmp_path / "MODEL_CARD.md")
    text = page.read_text()
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    metrics = json.loads(METRICS_PATH.read_text())
    cell = next(c for c in metrics["models"]["vlmcal-demo"]["cells"]
                if c["domain"] == "photo" and c["classes"] == "heldout")
    assert f"{cell['accuracy']:.3f}" in text  # numbers come from metrics.json, not typed by hand
    with pytest.raises(ValueError, match="marker"):
        (tmp_path / "bad.md").write_text("no markers")
        write_card(book_page=tmp_path / "bad.md", card_path=tmp_path / "card2.md")
    assert written[0].name == "MODEL_CARD.md"
