"""Refresh the demo-model metrics section of the book page ``book/demo_world.md``.

::

    python -m vlmcal_book.demo_page            # after `python -m vlmcal_utils.demo evaluate`
    python -m vlmcal_book.demo_page --check    # exit 1 if the page is out of date

The numbers come from the package's ``vlmcal_utils/demo/weights/metrics.json``; the text between
the page's ``<!-- BEGIN demo-metrics ... -->`` and ``<!-- END demo-metrics -->`` lines is replaced
(:func:`vlmcal_utils.demo.card.write_metrics_section`). The package writes only its own model card
(``python -m vlmcal_utils.demo card``); writing into the book is the book tooling's job.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from vlmcal_utils.demo.card import METRICS_PATH, write_metrics_section

BOOK_PAGE = Path("book") / "demo_world.md"


def is_up_to_date(page: str | Path = BOOK_PAGE, metrics_path: str | Path = METRICS_PATH) -> bool:
    """Whether ``page``'s metrics section already matches ``metrics_path`` (the page is not changed).

    Parameters
    ----------
    page : str or Path
        The page with the marker lines.
    metrics_path : str or Path
        ``metrics.json`` to compare with.

    Returns
    -------
    bool
        True when regenerating the section would change nothing.
    """
    page = Path(page)
    with tempfile.TemporaryDirectory(prefix="vlmcal-demo-page-") as tmp:
        copy = Path(tmp) / page.name
        shutil.copyfile(page, copy)
        write_metrics_section(copy, metrics_path)
        return copy.read_text() == page.read_text()


def main(argv: list[str] | None = None) -> int:
    """Command line: refresh (or ``--check``) the page's metrics section; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.demo_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", type=Path, default=BOOK_PAGE, help="default: book/demo_world.md")
    parser.add_argument("--metrics", type=Path, default=METRICS_PATH, help="default: the package's metrics.json")
    parser.add_argument("--check", action="store_true", help="only report whether the page is up to date")
    args = parser.parse_args(argv)
    try:
        if args.check:
            fresh = is_up_to_date(args.page, args.metrics)
            print(f"demo_page: {args.page} is " + ("up to date" if fresh else
                  "out of date: run `python -m vlmcal_book.demo_page`"), file=sys.stdout if fresh else sys.stderr)
            return 0 if fresh else 1
        print(f"demo_page: wrote {write_metrics_section(args.page, args.metrics)}")
    except (FileNotFoundError, ValueError) as err:
        print(f"demo_page: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
