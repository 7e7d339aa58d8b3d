"""The built book in headless Chromium (vlmcal_book.browser_check), and proof that the check can fail.

Skipped, with the reason, where Chromium/chromedriver/selenium or the built book are missing;
``VLMCAL_REQUIRE_BROWSER=1`` (set by ``make test`` after the book build) turns those skips into
failures.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
import yaml

from vlmcal_book import browser_check

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("VLMCAL_REQUIRE_BROWSER") == "1"


def _skip_or_fail(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (VLMCAL_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def checker():
    module = browser_check
    missing = []
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install selenium)")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        missing.append("chromium (apt-get install chromium)")
    if not Path(module.CHROMEDRIVER).exists():
        missing.append(f"{module.CHROMEDRIVER} (apt-get install chromium-driver)")
    if missing:
        _skip_or_fail("needs " + ", ".join(missing) + "; `make browser-deps` installs them")
    return module


@pytest.fixture(scope="module")
def driver(checker):
    """One headless Chromium for the module's site checks (each start costs seconds)."""
    with checker.browser() as driver:
        yield driver


def test_built_book_passes_in_the_browser(checker, driver):
    html = REPO_ROOT / "_build" / "html"
    if not (html / "book" / "intro.html").is_file():
        _skip_or_fail(f"no built book at {html}: run `make book` first")
    reports = checker.check_site(html, screenshots=REPO_ROOT / "_build" / "screenshots", toc=REPO_ROOT / "_toc.yml",
                                 driver=driver)
    pages = [r.page for r in reports]
    assert "book/intro.html" in pages and any(p.startswith("notebooks/") for p in pages)
    problems = [f"{r.page}: {p}" for r in reports for p in r.problems]
    assert not problems, "\n".join(problems)
    assert all(r.screenshot and r.screenshot.is_file() for r in reports if r.page != "site")


_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head>
<body><main>{body}</main></body></html>"""


def _figures(folder: Path) -> None:
    """A two-panel figure 900 px wide whose smallest text is 9 pt (12.5 px), as the book writes it (SVG),
    and as a plain matplotlib PNG that declares no text size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from vlmcal_utils.figures import figure_svg

    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    for ax in fig.subplots(1, 2):
        ax.plot([0, 1], [0, 1], label="a 9 pt legend")
        ax.legend(fontsize=9)
    (folder / "figure.svg").write_text(figure_svg(fig))
    fig.savefig(folder / "plain.png", dpi=100)


def _tiny_site(root: Path) -> None:
    from PIL import Image

    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    Image.new("RGB", (8, 8), "red").save(root / "book" / "ok.png")
    _figures(root / "book")
    Image.new("RGB", (16, 16), "blue").save(root / "favicon.ico")  # else the console logs its 404 on every page
    colab = "https://colab.research.google.com/github/o/r/blob/main/notebooks/{}"
    pages = {
        "book/intro.html": '<p>fine</p><img src="ok.png" alt="a red square">',
        "book/broken_image.html": '<img src="does_not_exist.png" alt="x">',
        "book/no_alt.html": '<img src="ok.png">',
        "book/warning.html": "<pre>/home/me/x.py:3: TqdmWarning: IProgress not found</pre>",
        "book/progress.html": "<p>study cells: 100% 40/40 [00:01&lt;00:00, 35.2it/s]</p>",
        "book/fallback.html": '<pre>title = "No published logits"</pre>'
                              '<div class="cell_output"><p>No published logits on this machine</p>'
                              '<p>Finding 1: real numbers from the committed run of 2026-12-06</p></div>',
        "book/placeholder.html": "<p><b>Time:</b> [book run time]</p>",
        # chapter 5's leak: a cell ending in a call that returned the results file's path
        "book/machine_path.html": "<div class=\"cell_output\"><pre>PosixPath('/work/wt/x/r.json')</pre></div>"
                                  "<p>read C:\\Users\\dana\\x.npz</p>",
        "book/home_path.html": "<p>logits from {home}/vlmcal/x.npz</p>",
        "book/too_wide.html": '<p style="white-space: nowrap">' + "wide " * 200 + "</p>",
        "book/unrendered_math.html": '<span class="math notranslate">\\(x^2\\)</span>',
        # at 400 px: a table wider than the window, one that scrolls in its own box (fine), one whose
        # columns are squeezed, a display equation cut by its box, and a script error in the console
        "book/wide_table.html": "<table><tr>" + "<td style='white-space: nowrap'>a wide cell</td>" * 30
                                + "</tr></table>",
        "book/scrolling_table.html": "<div style='overflow-x: auto'><table><tr>"
                                     + "<td style='white-space: nowrap'>a wide cell</td>" * 30 + "</tr></table></div>",
        "book/squeezed_table.html": "<table style='width: 120px; table-layout: fixed'><tr>"
                                    + "<td>squeezed words</td>" * 6 + "</tr></table>",
        "book/cut_equation.html": "<div style='overflow: hidden'><mjx-container display='true' style='display: block; "
                                  "white-space: nowrap'>" + "x + " * 200 + "y</mjx-container></div>",
        "book/console_error.html": "<p>fine</p><script>console.error('boom: a script failed')</script>",
        "book/too_tall.html": "<div style='height: 70000px'>a very long page</div>",
        # a 900 px figure with 12.5 px text shrunk to the 400 px window (~5 px text); the same kept 576 px
        # wide in a box of its own that scrolls (8 px text); a matplotlib PNG that does not say its text size
        "book/unreadable_figure.html": '<img src="figure.svg" alt="a figure" style="max-width: 100%">',
        "book/readable_figure.html": "<div style='overflow-x: auto'><img src='figure.svg' alt='a figure' "
                                     "style='max-width: 100%; min-width: 576px'></div>",
        "book/undeclared_figure.html": '<img src="plain.png" alt="a figure" style="max-width: 100%">',
        "book/two_searches.html": "<button class='search-button__button'>Search</button>"
                                  "<form class='bd-search'><input type='search'></form>",
        "notebooks/01_good.html": f'<a href="{colab.format("01_good.ipynb")}">Colab</a>',
        "notebooks/02_wrong_link.html": f'<a href="{colab.format("02_wrong_link.md")}">Colab</a>',
        "notebooks/03_traceback.html": f'<a href="{colab.format("03_traceback.ipynb")}">Colab</a>'
        "<pre>Traceback (most recent call last):\n  File ...\nValueError: boom</pre>",
    }
    for page, body in pages.items():
        (root / page).write_text(_PAGE.format(body=body.replace("{home}", os.path.expanduser("~"))))


def test_checker_reports_each_kind_of_fault(checker, driver, tmp_path):
    site = tmp_path / "site"
    _tiny_site(site)
    assert checker.find_pages(site)[0] == "book/intro.html"
    toc = tmp_path / "_toc.yml"
    toc.write_text(yaml.safe_dump({"format": "jb-book", "root": "book/intro", "chapters": [
        {"file": f"book/{n}"} for n in ("broken_image", "no_alt", "warning", "progress", "fallback", "placeholder",
                                        "machine_path", "home_path", "too_wide", "unrendered_math", "wide_table",
                                        "scrolling_table", "squeezed_table", "cut_equation", "console_error",
                                        "two_searches", "too_tall", "unreadable_figure", "readable_figure",
                                        "undeclared_figure",
                                        "not_built")] + [
        {"file": f"notebooks/{n}"} for n in ("01_good", "02_wrong_link", "03_traceback")]}))
    # no screenshots here: the built book's check saves and checks them
    reports = {r.page: r.problems for r in checker.check_site(site, math_timeout=2, toc=toc, real_data=True,
                                                              driver=driver)}
    assert reports["site"] == ["page of _toc.yml not built: book/not_built.html"]
    assert reports["book/intro.html"] == []
    assert reports["book/no_alt.html"] == ["image without alt text: ok.png"]
    assert reports["book/warning.html"] == ["a warning is shown: TqdmWarning:", "a machine path is shown: /home/me"]
    assert reports["book/progress.html"] == ["a progress bar is shown: ...it/s]"]
    assert reports["book/fallback.html"] == ['"No published logits" is shown although the real data is there',
                                             '"real numbers from the committed run" is shown although the real '
                                             'data is there']
    assert reports["book/placeholder.html"] == ["a placeholder is left on the page: [book run time]"]
    assert reports["book/machine_path.html"] == ["a machine path is shown: /work/wt",
                                                 "a machine path is shown: C:\\Users\\dana",
                                                 "a path object is shown: PosixPath(..."]
    home = os.path.expanduser("~")
    assert f"a machine path is shown: {home}" in reports["book/home_path.html"]
    assert len(reports["book/too_wide.html"]) == 1 and "wider than a 400 px window" in reports["book/too_wide.html"][0]
    assert any(p.startswith("a table runs past the 400 px window") for p in reports["book/wide_table.html"])
    assert reports["book/scrolling_table.html"] == []
    assert any(p.startswith("a table column is squeezed") for p in reports["book/squeezed_table.html"])
    assert any(p.startswith("an equation is cut") for p in reports["book/cut_equation.html"])
    assert any("a JavaScript console error" in p and "boom" in p for p in reports["book/console_error.html"])
    (unreadable,) = reports["book/unreadable_figure.html"]
    assert unreadable.startswith("a figure's smallest text is ") and unreadable.endswith(": figure.svg")
    assert float(unreadable.split(" is ")[1].split(" px")[0]) < checker.MIN_FIGURE_TEXT_PX
    assert reports["book/readable_figure.html"] == []
    assert reports["book/undeclared_figure.html"] == [
        "a figure does not declare its smallest text (text drawn as pixels or paths): plain.png"]
    assert reports["book/two_searches.html"] == ["2 search boxes are shown (one is enough)"]
    assert [p for p in reports["book/too_tall.html"] if "px tall" in p] == [
        f"the page is {70000 + 16} px tall (over {checker.MAX_PAGE_HEIGHT} px): split it"]
    # without the real data, a labelled fallback is what the page must show
    (fallback,) = checker.check_site(site, pages=["book/fallback.html"], real_data=False, driver=driver)
    assert fallback.problems == []
    assert reports["notebooks/01_good.html"] == []
    assert any("image did not load: does_not_exist.png" in p for p in reports["book/broken_image.html"])
    assert any("missing file (404): /book/does_not_exist.png" in p for p in reports["book/broken_image.html"])
    assert any("math not rendered" in p for p in reports["book/unrendered_math.html"])
    assert any("Colab link does not open notebooks/02_wrong_link.ipynb" in p
               for p in reports["notebooks/02_wrong_link.html"])
    assert reports["notebooks/03_traceback.html"] == ["a Python traceback is shown on the page"]
    # and the command line turns any of that into a non-zero exit status
    assert checker.main(["--html", str(site), "book/broken_image.html"]) == 1
    assert checker.main(["--html", str(site), "book/intro.html"]) == 0
