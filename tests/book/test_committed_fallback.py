"""An offline build's chapters 1–3 show every real number the results page shows.

Offline (no ``$VLMCAL_SHARED``, no download) chapters 1–3 cannot recompute their real numbers;
their fallback cells call :func:`vlmcal_utils.views.committed.fallback` with the parts named in the
notebook. These tests run exactly the parts each notebook names, with the shared folder unset,
and check that every number the results page (:mod:`vlmcal_book.report`, from the same
``results/published`` files) prints is among the numbers they render, to the precision shown.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from vlmcal_book import report
from vlmcal_utils.views import committed
from vlmcal_utils.views.boxes import Box

REPO = Path(__file__).resolve().parents[2]
STEMS = ("01_calibration_basics", "02_zero_shot_clip", "03_empirical_study")
PART = re.compile(r'"(ch[123]_[a-z_0-9]+(?::[^"]*)?)"')
NUMBER = re.compile(r"-?\d+(?:\.(\d+))?")


def _parts(stem: str) -> tuple[list[str], list[str]]:
    """The parts the chapter's notebook shows from the committed run: (tables and boxes, figures)."""
    text = (REPO / "notebooks" / f"{stem}.md").read_text()
    parts = PART.findall(text)
    assert parts, f"{stem}.md calls no committed fallback part"
    figures = [p for p in parts if p.split(":")[0].endswith("_figure")]
    return [p for p in parts if p not in figures], figures


def _rendered(objects: list) -> str:
    """The text a page shows for the displayed objects (tables as HTML, boxes as HTML, unescaped)."""
    out = []
    for obj in objects:
        out.append(obj.to_html() if hasattr(obj, "to_html") else obj._repr_html_())
    return html.unescape(" ".join(out))


def _shown(text: str) -> list[tuple[float, int]]:
    """Every number in ``text`` with its decimals (``12.34`` -> (12.34, 2))."""
    return [(float(m.group(0)), len(m.group(1) or "")) for m in NUMBER.finditer(text)]


def _page_numbers(stem: str) -> list[tuple[str, float]]:
    """Every real number the results page prints for ``stem``: (what, raw value), from report's own extractors."""
    payload = report.load_results(REPO / "results" / "published" / stem, report.SCHEMAS)
    rows, _ = report.EXTRACTORS[stem](payload)
    values = []
    for row in rows:
        values.append((row.quantity, row.ours))
        if row.interval:
            values += [(f"{row.quantity} low", row.interval[0]), (f"{row.quantity} high", row.interval[1])]
    for v in payload["results"].get("verdicts") or []:  # chapter 3: the verdict table's estimate and interval
        if v.get("study") == "published":
            values += [(f"{v['finding']} {key}", v[key]) for key in ("estimate", "low", "high") if v[key] is not None]
    return [(what, float(x)) for what, x in values if x is not None]


@pytest.fixture
def offline(monkeypatch):
    """No shared folder and no downloads: the build the fallback is for."""
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    committed._EXPLAINED.clear()


@pytest.mark.parametrize("stem", STEMS)
def test_offline_chapter_shows_every_number_of_the_results_page(stem, offline):
    tables, _ = _parts(stem)
    shown = _shown(_rendered(committed.fallback(stem, "no published logits here", "section", *tables)))
    wanted = _page_numbers(stem)
    assert wanted
    missing = [(what, x) for what, x in wanted
               if not any(d >= 2 and abs(x - value) <= 0.5 * 10 ** -d + 1e-9 for value, d in shown)]
    assert not missing, f"{stem}: the results page shows these numbers, the offline chapter does not: {missing}"


@pytest.mark.parametrize("stem", STEMS)
def test_offline_figures_are_drawn_from_the_committed_run(stem, offline):
    _, figures = _parts(stem)
    for part in figures:
        fig = committed.fallback_figure(stem, "no published logits here", part, "the published logits")
        assert isinstance(fig, Figure), f"{stem}: {part} drew no figure"
        drawn = [artist for ax in fig.axes for artist in (*ax.patches, *ax.lines, *ax.collections)]
        assert drawn, f"{stem}: {part} is an empty figure"


def test_the_box_names_the_committed_run(offline):
    box = committed.fallback("03_empirical_study", "no published logits here", "Finding 1")[0]
    run = committed.find_committed("03_empirical_study")
    assert run is not None and run.date in box.title
    assert "results/published/03_empirical_study/results.json" in repr(box)
    assert "no published logits here" in repr(box)
    again = committed.fallback("03_empirical_study", "no published logits here", "Finding 2")[0]
    assert len(repr(again)) < len(repr(box))  # the second box of a chapter refers to the first


def test_without_a_committed_run_the_section_says_so(offline, monkeypatch, tmp_path):
    assert committed.find_committed("01_calibration_basics", roots=[tmp_path]) is None
    monkeypatch.setattr(committed, "find_committed", lambda stem, roots=None: None)
    out = committed.fallback("01_calibration_basics", "no logits", "ImageNet", "ch1_table")
    assert len(out) == 1 and isinstance(out[0], Box) and out[0].kind == "warning"
    assert isinstance(committed.fallback_figure("01_calibration_basics", "no logits", "ch1_figure", "x"), Box)


def test_chapter1_deferral_shows_every_committed_row(offline):
    run = committed.find_committed("01_calibration_basics")
    rows = run.results["deferral"]
    assert rows
    table = committed.fallback(
        "01_calibration_basics", "no published logits here", "Deferral", "ch1_deferral_table")[-1]
    assert len(table) == len(rows)
    for row in rows:
        shown = table.loc[(row["threshold"], row["stage"])]
        for key in ("coverage", "promised", "delivered"):
            assert shown[f"{key} (%)"] == pytest.approx(100 * row[key], abs=0.005)


def test_the_chapter3_box_names_every_model_of_the_committed_run(offline):
    """The provenance box's model list is typed by hand: it must name every VLM and baseline the run scored."""
    run = committed.find_committed("03_empirical_study")
    box = repr(committed.fallback("03_empirical_study", "no published logits here", "Finding 1")[0])
    models = [*run.results["published"]["vlm_ece_before"], *run.results["published"]["baseline_ece_before"]]
    assert len(models) >= 2
    assert not [m for m in models if m not in box], f"the box leaves out: {[m for m in models if m not in box]}"


#: the "not drawn" boxes chapters 1–3 may still show offline: figures of runs whose results are never
#: published (the demo world's study runs only in some parameter sets), never of published real data
NOT_PUBLISHED = ("the demo world's study",)


@pytest.mark.parametrize("stem", STEMS)
def test_offline_chapter_draws_no_blank_figure_where_real_data_was_published(stem):
    """Every figure of a real-data section goes through ``committed.fallback_figure`` (drawn from the
    committed file), never straight to a "not drawn" box; and every kept record is shown somewhere."""
    text = (REPO / "notebooks" / f"{stem}.md").read_text()
    direct = re.findall(r"figure_not_drawn\(\s*(\"[^\"]*\"|[^,]+),", text)
    blank = [needs for needs in direct if not any(allowed in needs for allowed in NOT_PUBLISHED)]
    assert not blank, f"{stem}: figures left blank offline though their data is published: {blank}"
    assert "Figure not drawn" not in text


def test_every_kept_figure_record_is_drawn_by_a_chapter():
    from vlmcal_utils.views.committed_figures import FIGURE_PARTS

    used = {p.split(":")[0] for stem in STEMS for p in PART.findall((REPO / "notebooks" / f"{stem}.md").read_text())}
    assert set(FIGURE_PARTS) <= used, f"records no chapter draws: {sorted(set(FIGURE_PARTS) - used)}"
    unknown = used - set(committed.PARTS)
    assert not unknown, f"parts the chapters name but committed.PARTS lacks: {unknown}"
