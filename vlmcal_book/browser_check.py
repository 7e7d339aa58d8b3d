r"""Open the built book in headless Chromium and check what a reader sees.

    python -m vlmcal_book.browser_check --html _build/html --screenshots _build/screenshots   # make browser-check

The HTML folder is served on 127.0.0.1 (a free port, ``http.server`` in a thread); Chromium runs
headless with every other host unresolvable, so the check also proves the book works offline
(MathJax served from the book itself, no CDN). Pages: ``book/*.html`` (the intro and the other
book pages) and ``notebooks/*.html`` (the chapters). For each page:

- every ``<img>`` has loaded (``complete && naturalWidth > 0``; lazy images are made eager first);
- where the page has math (``.math`` elements), MathJax has rendered it (``mjx-container``
  elements exist after ``MathJax.startup.promise`` resolved);
- no Python traceback (``Traceback (most recent call last)``, or an error output cell) is shown;
- on chapter pages, the Colab link opens ``…/blob/<branch>/notebooks/<stem>.ipynb`` (the committed
  Colab twin, not the Markdown source);
- no file the page asked the server for was missing (HTTP 404), apart from ``favicon.ico``;
- no warning (``SomethingWarning:``, ``Warning:``) and no progress bar (tqdm's ``it/s]``) in the text;
- no machine path in the text (``/home/<user>``, root's home, ``/tmp/<x>``, ``/work/<x>``,
  ``C:\Users\<user>``, this machine's ``$HOME``, checkout and build folder:
  :func:`vlmcal_utils.paths.machine_paths`), and no ``PosixPath(...)``/``WindowsPath(...)`` at all
  (a cell whose last expression is a path: even a relative one names the build's layout);
- every ``<img>`` has a non-empty ``alt`` text;
- with real data (``$VLMCAL_SHARED`` set, or ``real_data=True``) no fallback in a cell output:
  neither "No published logits" nor the committed run's numbers standing in for a recomputation;
- no JavaScript error in the browser console (a failed script, a missing resource);
- at a 400 px wide window nothing is wider than the viewport (no horizontal page scroll), no
  table or display equation runs past the window or is cut off without a scroll bar of its own,
  and no table column is squeezed narrower than a few characters;
- at that width every figure's smallest text is at least :data:`MIN_FIGURE_TEXT_PX` px high: the
  image declares its smallest text (:func:`vlmcal_utils.figures.smallest_text`: an SVG's
  ``font-size``, a PNG's text chunk), drawn at ``w`` px of its natural width ``W`` that text is
  ``smallest * w / W`` px high; a matplotlib image that declares none (text drawn as pixels or
  paths) fails too, since its size cannot be checked;
- no page taller than :data:`MAX_PAGE_HEIGHT` px at full width (the single API page was 243 000 px;
  split pages stay findable);
- one search control (the theme adds a search field to the sidebar beside the header's button);
- no placeholder left in the text (``TODO``, or the ``[book run time]`` token that
  :mod:`vlmcal_book.stage` replaces by the measured run time).

And for the site: the pages found are the pages of ``_toc.yml`` (``--toc``), no more, no fewer.

Exit status 0 when every page passes, 1 otherwise (each problem printed on its own line), 2 when
the browser cannot be started. Needs ``selenium``, ``chromium`` and ``chromedriver``
(Debian: ``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from vlmcal_utils.figures import TextSize, smallest_text
from vlmcal_utils.paths import machine_paths

CHROMEDRIVER = "/usr/bin/chromedriver"
TRACEBACK_TEXT = "Traceback (most recent call last)"
NO_LOGITS_TEXT = "No published logits"
#: What a chapter's cell output shows only where it could not recompute its real numbers.
FALLBACK_TEXTS = (NO_LOGITS_TEXT, "real numbers from the committed run")
WARNING_RE = re.compile(r"\b\w*Warning:")
PROGRESS_RE = re.compile(r"(it/s|s/it)\]")
PATH_REPR_RE = re.compile(r"\b(Posix|Windows|Pure\w*)Path\(")
PLACEHOLDER_RE = re.compile(r"\[book run time\]|\bTODO\b")
NARROW_WIDTH = 400
#: The smallest figure text (px high) a page may draw at NARROW_WIDTH (the book aims for 8: vlmcal_figures).
MIN_FIGURE_TEXT_PX = 7.0
MAX_PAGE_HEIGHT = 60_000  # px at WINDOW's width: about 40 screens
WINDOW = (1280, 1600)
PAGE_TIMEOUT_S = 30
MATH_TIMEOUT_S = 20


@dataclass
class PageReport:
    """What :func:`check_page` found on one page (``problems`` empty: the page passes)."""

    page: str
    problems: list[str] = field(default_factory=list)
    n_images: int = 0
    n_math: int = 0
    screenshot: Path | None = None
    seconds: float = 0.0
    #: at NARROW_WIDTH: each figure that declares its text, as (src, smallest text height in px)
    figure_text_px: list[tuple[str, float]] = field(default_factory=list)


class _Server:
    """A quiet static server for ``root`` that remembers which paths were missing (404)."""

    def __init__(self, root: Path):
        self.missing: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send_error(self, code, message=None, explain=None):
                if code == 404:
                    outer.missing.append(self.path.split("?")[0])
                super().send_error(code, message, explain)

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def find_pages(html_dir: Path) -> list[str]:
    """The pages to check, relative to ``html_dir``: ``book/**/*.html``, then ``notebooks/*.html``.

    ``book/api/`` holds the API reference, one page per layer or subpackage.
    """
    pages = [p.relative_to(html_dir).as_posix() for sub in ("book", "notebooks")
             for p in sorted((html_dir / sub).rglob("*.html"))]
    # the intro first: it is the landing page
    pages.sort(key=lambda p: (p != "book/intro.html", p))
    return pages


def make_driver(user_data_dir: str, chromedriver: str = CHROMEDRIVER):
    """A headless Chromium driver that can reach only 127.0.0.1 (so the check proves the book is offline)."""
    # selenium is imported here, not at the top: the module (and its tests) load without it
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console, for check_page
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-dev-shm-usage", f"--user-data-dir={user_data_dir}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        # only the local server is reachable: a page that needs the internet fails here
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    driver.set_script_timeout(MATH_TIMEOUT_S + 5)
    return driver


_WAIT_MATHJAX = """
const done = arguments[arguments.length - 1];
const limit = Date.now() + arguments[0] * 1000;
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done("ok"), (e) => done("error: " + e));
  } else if (Date.now() > limit) {
    done("MathJax never started");
  } else {
    setTimeout(poll, 100);
  }
})();
"""

_WAIT_IMAGES = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
imgs.forEach((img) => { img.loading = "eager"; });
const limit = Date.now() + 10000;
(function poll() {
  if (imgs.every((img) => img.complete) || Date.now() > limit) {
    done(imgs.filter((img) => !(img.complete && img.naturalWidth > 0))
             .map((img) => img.getAttribute("src")));
  } else {
    setTimeout(poll, 100);
  }
})();
"""


def toc_pages(toc: str | Path) -> list[str]:
    """The HTML pages a Jupyter Book ``_toc.yml`` lists (``root`` and every ``file``), as ``<file>.html``."""
    import yaml  # only the site check needs it (the module loads without the book extras)

    data = yaml.safe_load(Path(toc).read_text())
    files = [data["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in data.items() if k != "root"})
    return sorted(f"{Path(f).with_suffix('').as_posix()}.html" for f in files)


#: At the narrow width: tables and display equations that run past the window or are cut (content
#: wider than their box, which does not scroll), and table cells squeezed below SQUEEZED_PX.
SQUEEZED_PX = 40
_NARROW_PROBLEMS = """
const squeezed = arguments[0];
const view = document.documentElement.clientWidth;
const scrolls = (el) => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
const scrollBox = (el) => { for (let e = el; e && e !== document.body; e = e.parentElement) {
  if (scrolls(e)) return e; } return null; };
const problems = [];
const name = (el) => (el.innerText || el.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 40);
function check(el, what) {
  const box = scrollBox(el);
  const right = (box || el).getBoundingClientRect().right;
  if (right > view + 1) {
    problems.push(`${what} runs past the ${view} px window (to ${Math.round(right)} px): ${name(el)}`); return; }
  if (!box && el.scrollWidth > el.clientWidth + 1) {
    problems.push(`${what} is cut (${el.scrollWidth} px of content in ${el.clientWidth} px, no scroll bar): `
                  + name(el)); }
}
document.querySelectorAll("table").forEach((t) => check(t, "a table"));
document.querySelectorAll('mjx-container[display="true"], div.math').forEach((m) => check(m, "an equation"));
for (const cell of document.querySelectorAll("td, th")) {
  const text = (cell.innerText || "").trim();
  if (text.length >= 6 && cell.clientWidth > 0 && cell.clientWidth < squeezed) {
    problems.push(`a table column is squeezed to ${cell.clientWidth} px: ${name(cell)}`); break; }
}
return problems;
"""


#: Search controls a reader sees (the theme's button and field; the overlay's input is hidden until opened).
_VISIBLE_SEARCH = """
return Array.from(document.querySelectorAll('.search-button__button, form.bd-search'))
  .filter((e) => e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden').length;
"""


#: Each loaded image at the current width: [src as the browser resolved it, drawn width in px].
_DRAWN_IMAGES = """
return Array.from(document.images).filter((i) => i.complete && i.naturalWidth > 0)
  .map((i) => [i.currentSrc || i.src, i.getBoundingClientRect().width]).filter((p) => p[1] > 0);
"""


def _image_text(url: str, cache: dict) -> tuple[TextSize | None, bool]:
    """The declared smallest text of the image at ``url``, and whether matplotlib made it (``cache``: by url)."""
    if url not in cache:
        with urllib.request.urlopen(url, timeout=PAGE_TIMEOUT_S) as response:  # noqa: S310 (the local server)
            data = response.read()
        cache[url] = smallest_text(data), b"Matplotlib" in data[:4096]
    return cache[url]


def _figure_text(driver, cache: dict) -> tuple[list[tuple[str, float]], list[str]]:
    """At the window's current width: (src, smallest text px) of each figure, and the problems found."""
    drawn, problems = [], []
    for url, width in driver.execute_script(_DRAWN_IMAGES):
        size, matplotlib = _image_text(url, cache)
        name = url.rsplit("/", 1)[-1]
        if size is None:
            if matplotlib:
                problems.append(f"a figure does not declare its smallest text (text drawn as pixels or paths): {name}")
            continue
        px = size.at_width(width)
        drawn.append((name, px))
        if px < MIN_FIGURE_TEXT_PX:
            problems.append(f"a figure's smallest text is {px:.1f} px high at {NARROW_WIDTH} px (under "
                            f"{MIN_FIGURE_TEXT_PX:g} px; drawn {width:.0f} of {size.natural_width_px:.0f} px): {name}")
    return drawn, problems


def _console_errors(driver) -> list[str]:
    """The console's errors since the last call (reading the log empties it); ``[]`` where it cannot be read."""
    try:
        entries = driver.get_log("browser")
    except Exception:  # a driver without the log endpoint: nothing to report  # noqa: BLE001
        return []
    return [e.get("message", "") for e in entries if e.get("level") == "SEVERE"]


def _check_math(driver, report: PageReport, math_timeout: float) -> None:
    """Where the page has math, wait for MathJax and check that it rendered."""
    if not driver.execute_script("return document.querySelectorAll('.math').length > 0"):
        return
    state = driver.execute_async_script(_WAIT_MATHJAX, math_timeout)
    report.n_math = driver.execute_script("return document.querySelectorAll('mjx-container').length")
    if state != "ok":
        report.problems.append(f"math not rendered: {state}")
    elif report.n_math == 0:
        report.problems.append("math not rendered: the page has math but no mjx-container after MathJax started")


_NEXT_FRAMES = """
const done = arguments[arguments.length - 1];
const want = arguments[0];
const limit = Date.now() + 2000;
let finished = false;
const finish = () => { if (!finished) { finished = true; done(window.innerWidth); } };
(function poll() {
  if (want === null || window.innerWidth === want || Date.now() > limit) {
    // two frames: the layout (and anything drawn) of the new width or scroll position is done
    requestAnimationFrame(() => requestAnimationFrame(finish));
    setTimeout(finish, 500);  // a page that draws no frame must not stall the check
  } else {
    setTimeout(poll, 10);
  }
})();
"""


def _settle(driver, width: int | None = None) -> None:
    """Wait until the window is ``width`` px wide (if given), then two animation frames.

    Replaces fixed sleeps after a resize or a scroll: Chromium resizes before ``set_window_size``
    returns and lays out on the next frame, so this takes milliseconds, not a guessed 0.2-0.3 s.
    """
    driver.execute_async_script(_NEXT_FRAMES, width)


def _check_text(driver, report: PageReport, real_data: bool, local_paths: tuple[str, ...]) -> None:
    """Tracebacks, warnings, progress bars, placeholders, machine paths and fallbacks in the page's text."""
    text = driver.execute_script("return document.body.innerText")
    n_error_cells = driver.execute_script(
        "return document.querySelectorAll('.output.traceback, .output.error, .cell_output .traceback').length"
    )
    if TRACEBACK_TEXT in text or n_error_cells:
        report.problems.append("a Python traceback is shown on the page")
    report.problems += [f"a warning is shown: {m.group(0)}" for m in [WARNING_RE.search(text)] if m]
    report.problems += [f"a progress bar is shown: ...{m.group(0)}" for m in [PROGRESS_RE.search(text)] if m]
    report.problems += [f"a placeholder is left on the page: {m.group(0)}" for m in [PLACEHOLDER_RE.search(text)] if m]
    report.problems += [f"a machine path is shown: {path}" for path in machine_paths(text, local_paths)]
    report.problems += [f"a path object is shown: {m.group(0)}..." for m in [PATH_REPR_RE.search(text)] if m]
    # in cell outputs only: a chapter's code may name its fallback's title
    outputs_text = driver.execute_script(
        "return Array.from(document.querySelectorAll('.cell_output, .output')).map((e) => e.innerText).join('\\n')")
    report.problems += [f'"{text}" is shown although the real data is there' for text in FALLBACK_TEXTS
                        if real_data and text in outputs_text]


def _check_layout(driver, report: PageReport) -> None:
    """At full width: the page's height and the number of search controls."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    if height > MAX_PAGE_HEIGHT:
        report.problems.append(f"the page is {height} px tall (over {MAX_PAGE_HEIGHT} px): split it")
    searches = driver.execute_script(_VISIBLE_SEARCH)
    if searches > 1:
        report.problems.append(f"{searches} search boxes are shown (one is enough)")


def _check_colab(driver, report: PageReport, branch: str) -> None:
    """On a chapter page: the Colab link opens the chapter's ``.ipynb`` twin on ``branch``."""
    if not report.page.startswith("notebooks/"):
        return
    stem = Path(report.page).stem
    links = driver.execute_script(
        "return Array.from(document.querySelectorAll('a[href*=\"colab.research.google.com\"]'))"
        ".map((a) => a.href)"
    )
    want = re.compile(rf"^https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/"
                      rf"{re.escape(branch)}/notebooks/{re.escape(stem)}\.ipynb$")
    if not links:
        report.problems.append("no Colab link")
    report.problems += [f"Colab link does not open notebooks/{stem}.ipynb on {branch}: {href}"
                        for href in links if not want.match(href)]


def _screenshots(driver, report: PageReport, screenshots: Path) -> None:
    """One PNG of the page's top and, where the body has a figure, one scrolled to the first figure."""
    screenshots.mkdir(parents=True, exist_ok=True)
    report.screenshot = screenshots / (report.page.replace("/", "__").removesuffix(".html") + ".png")
    driver.save_screenshot(str(report.screenshot))
    # a second view at the first figure of the page body (the top is often prose only)
    scrolled = driver.execute_script(
        "const img = document.querySelector('.cell_output img, figure img');"
        "if (!img) return false; img.scrollIntoView({block: 'start'}); return true;"
    )
    if scrolled:
        _settle(driver)
        driver.save_screenshot(str(report.screenshot.with_name(report.screenshot.stem + "__figure.png")))


def _check_narrow(driver, report: PageReport, image_cache: dict) -> None:
    """At a :data:`NARROW_WIDTH` window: no sideways scroll, wide table, cut equation or unreadable figure.

    ``image_cache``: the figures' declared text by url (as :func:`_figure_text`). The window is put
    back to :data:`WINDOW` afterwards (the next page loads at full width).
    """
    driver.execute_script("window.scrollTo(0, 0);")
    driver.set_window_size(NARROW_WIDTH, WINDOW[1])
    _settle(driver, NARROW_WIDTH)
    overflow = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    report.problems += driver.execute_script(_NARROW_PROBLEMS, SQUEEZED_PX)
    report.figure_text_px, unreadable = _figure_text(driver, image_cache)
    report.problems += unreadable
    if overflow[0] > overflow[1] + 1:
        report.problems.append(
            f"wider than a {NARROW_WIDTH} px window: {overflow[0]} px of content in {overflow[1]} px")
    driver.set_window_size(*WINDOW)


def check_page(
    driver, base_url: str, page: str, branch: str, screenshots: Path | None, math_timeout: float = MATH_TIMEOUT_S,
    real_data: bool = False, local_paths: tuple[str, ...] = (), image_cache: dict | None = None,
) -> PageReport:
    """Load ``page`` from ``base_url`` and check images, math, tracebacks and the Colab link (see the module).

    ``local_paths``: more folders of this machine the text must not name (the site's own folder).
    ``image_cache``: the figures' declared text by url, shared by the pages of one site.
    Everything but the narrow-window check runs at full width (so the screenshots show the page
    as a reader's window does); the narrow check comes last and puts the window back.
    """
    report = PageReport(page)
    t0 = time.time()
    _console_errors(driver)  # the previous page's
    driver.get(f"{base_url}/{page}")
    broken = driver.execute_async_script(_WAIT_IMAGES)
    report.n_images = driver.execute_script("return document.images.length")
    report.problems += [f"image did not load: {src}" for src in broken]
    _check_math(driver, report, math_timeout)
    _check_text(driver, report, real_data, local_paths)
    no_alt = driver.execute_script(
        "return Array.from(document.images).filter((i) => !(i.getAttribute('alt') || '').trim())"
        ".map((i) => i.getAttribute('src'))")
    report.problems += [f"image without alt text: {src}" for src in no_alt]
    _check_layout(driver, report)
    _check_colab(driver, report, branch)
    if screenshots is not None:
        _screenshots(driver, report, screenshots)
    _check_narrow(driver, report, {} if image_cache is None else image_cache)
    report.problems += [f"a JavaScript console error: {message}" for message in _console_errors(driver)]
    report.seconds = time.time() - t0
    return report


@contextlib.contextmanager
def browser(chromedriver: str = CHROMEDRIVER):
    """A headless Chromium driver (:func:`make_driver`) in a throw-away profile, quit on exit.

    One browser can check several sites in turn (``check_site(..., driver=...)``): starting
    Chromium costs seconds, a page a fraction of that. Raises ``RuntimeError`` when it cannot start.
    """
    with tempfile.TemporaryDirectory(prefix="vlmcal-chrome-") as profile:
        try:
            driver = make_driver(profile, chromedriver)
        except Exception as err:  # selenium raises several types; all mean "no browser here"
            raise RuntimeError(
                f"could not start headless Chromium ({type(err).__name__}: {err}). "
                "Install it with: apt-get install chromium chromium-driver; pip install selenium"
            ) from err
        try:
            yield driver
        finally:
            driver.quit()


def check_site(
    html_dir: str | Path,
    screenshots: str | Path | None = None,
    pages: list[str] | None = None,
    branch: str = "main",
    chromedriver: str = CHROMEDRIVER,
    math_timeout: float = MATH_TIMEOUT_S,
    toc: str | Path | None = None,
    real_data: bool | None = None,
    driver=None,
) -> list[PageReport]:
    """Check ``pages`` (default :func:`find_pages`) of the site in ``html_dir``; one report per page.

    With ``toc`` (a ``_toc.yml``) a first report ``"site"`` lists pages missing from the site or
    not in the table of contents. ``real_data`` (default: ``$VLMCAL_SHARED`` names a folder) makes
    a "No published logits" fallback a failure. ``driver``: a running :func:`browser` to use
    (default: one started, and quit, here).

    Raises ``FileNotFoundError`` when ``html_dir`` has no pages, ``RuntimeError`` when the browser
    cannot be started.
    """
    html_dir = Path(html_dir)
    if real_data is None:
        real_data = bool(os.environ.get("VLMCAL_SHARED")) and Path(os.environ["VLMCAL_SHARED"]).is_dir()
    site = PageReport("site")
    if toc is not None:
        want, have = set(toc_pages(toc)), set(find_pages(html_dir))
        site.problems += [f"page of _toc.yml not built: {p}" for p in sorted(want - have)]
        site.problems += [f"page not in _toc.yml: {p}" for p in sorted(have - want)]
    pages = pages if pages is not None else find_pages(html_dir)
    if not pages:
        raise FileNotFoundError(
            f"no book/*.html or notebooks/*.html under {html_dir}: build the book first (make book)"
        )
    screenshots = Path(screenshots) if screenshots is not None else None
    reports = [site] if toc is not None else []
    with _Server(html_dir) as server, (contextlib.nullcontext(driver) if driver else browser(chromedriver)) as driver:
        images: dict = {}
        for page in pages:
            seen = len(server.missing)
            report = check_page(driver, server.url, page, branch, screenshots, math_timeout, real_data,
                                local_paths=(str(html_dir.resolve()),), image_cache=images)
            report.problems += [f"missing file (404): {path}" for path in server.missing[seen:]
                                if not path.endswith("favicon.ico")]
            reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    """Command line: check the pages, print one line per page and problem; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.browser_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=Path("_build/html"))
    parser.add_argument("--screenshots", type=Path, default=None, help="save one PNG per page here")
    parser.add_argument("--branch", default="main", help="branch the Colab links must name")
    parser.add_argument("--chromedriver", default=CHROMEDRIVER)
    parser.add_argument("--toc", type=Path, default=None, help="_toc.yml: the site must have exactly its pages")
    parser.add_argument("pages", nargs="*", help="pages relative to --html (default: book/ and notebooks/)")
    args = parser.parse_args(argv)
    t0 = time.time()
    try:
        reports = check_site(args.html, args.screenshots, args.pages or None, args.branch, args.chromedriver,
                             toc=args.toc)
    except (FileNotFoundError, RuntimeError) as err:
        print(f"browser_check: {err}", file=sys.stderr)
        return 2
    failed = 0
    for r in reports:
        status = "ok  " if not r.problems else "FAIL"
        failed += bool(r.problems)
        smallest = min((px for _, px in r.figure_text_px), default=None)
        print(f"{status} {r.page}: {r.n_images} images, {r.n_math} math, {r.seconds:.1f} s"
              + (f", figure text >= {smallest:.1f} px at {NARROW_WIDTH} px" if smallest is not None else "")
              + (f", screenshot {r.screenshot}" if r.screenshot else ""))
        for problem in r.problems:
            print(f"     - {problem}")
    print(f"browser_check: {len(reports) - failed}/{len(reports)} pages ok in {time.time() - t0:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
