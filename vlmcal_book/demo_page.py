"""Refresh the demo-model metrics section of the book page ``book/demo_world.md``, and its picture.

::

    python -m vlmcal_book.demo_page            # after `python -m vlmcal_utils.demo evaluate`
    python -m vlmcal_book.demo_page --check    # exit 1 if the page is out of date

The numbers come from the package's ``vlmcal_utils/demo/weights/metrics.json``; the text between
the page's ``<!-- BEGIN demo-metrics ... -->`` and ``<!-- END demo-metrics -->`` lines is replaced
(:func:`vlmcal_utils.demo.card.write_metrics_section`). The package writes only its own model card
(``python -m vlmcal_utils.demo card``); writing into the book is the book tooling's job.

The page's figure, ``book/images/demo_world.png``, is drawn here too (:func:`sample_grid`): test
images of six classes (columns) in the four domains (rows), rendered from their seeds, enlarged
without smoothing so the 32 × 32 pixels stay visible. ``--check`` also fails when the committed
picture differs from what the world renders now.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# vlmcal_utils.demo (torch, open_clip) is imported where it is used: --help answers at once

BOOK_PAGE = Path("book") / "demo_world.md"
PICTURE = Path("book") / "images" / "demo_world.png"
#: The columns of the picture: one class per colour and per shape (test image ``i`` has class ``i % 36``).
PICTURE_CLASSES = ("red circle", "green triangle", "blue star", "yellow heart", "purple square", "orange cross")
_SCALE, _GAP = 4, 4  # pixels per world pixel; white pixels between tiles


def sample_grid(classes: tuple[str, ...] = PICTURE_CLASSES, scale: int = _SCALE) -> Image.Image:
    """Test images of ``classes`` (columns) in every domain (rows), each enlarged ``scale`` times.

    Returns
    -------
    PIL.Image.Image
        RGB, ``len(DEMO_DOMAINS)`` rows by ``len(classes)`` columns of ``32 * scale`` px tiles.
    """
    from vlmcal_utils.demo.world import CLASSNAMES, DEMO_DOMAINS, IMAGE_SIZE, make_demo_dataset

    tile = IMAGE_SIZE * scale
    grid = Image.new("RGB", (len(classes) * (tile + _GAP) - _GAP, len(DEMO_DOMAINS) * (tile + _GAP) - _GAP), "white")
    for row, domain in enumerate(DEMO_DOMAINS):
        test = make_demo_dataset(domain, split="test", classes="all")
        for col, name in enumerate(classes):
            image = test.image(CLASSNAMES.index(name)).resize((tile, tile), Image.NEAREST)
            grid.paste(image, (col * (tile + _GAP), row * (tile + _GAP)))
    return grid


def picture_is_up_to_date(path: str | Path = PICTURE) -> bool:
    """Whether the committed picture has the pixels :func:`sample_grid` draws now."""
    path = Path(path)
    if not path.is_file():
        return False
    with Image.open(path) as saved:
        return np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(sample_grid()))


def is_up_to_date(page: str | Path = BOOK_PAGE, metrics_path: str | Path | None = None) -> bool:
    """Whether ``page``'s metrics section already matches ``metrics_path`` (the page is not changed).

    Parameters
    ----------
    page : str or Path
        The page with the marker lines.
    metrics_path : str or Path, optional
        ``metrics.json`` to compare with (default: the package's, ``demo.card.METRICS_PATH``).

    Returns
    -------
    bool
        True when regenerating the section would change nothing.
    """
    from vlmcal_utils.demo.card import METRICS_PATH, write_metrics_section

    page = Path(page)
    with tempfile.TemporaryDirectory(prefix="vlmcal-demo-page-") as tmp:
        copy = Path(tmp) / page.name
        shutil.copyfile(page, copy)
        write_metrics_section(copy, METRICS_PATH if metrics_path is None else metrics_path)
        return copy.read_text() == page.read_text()


def main(argv: list[str] | None = None) -> int:
    """Command line: refresh (or ``--check``) the page's metrics section; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.demo_page", description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", type=Path, default=BOOK_PAGE, help="default: book/demo_world.md")
    parser.add_argument("--metrics", type=Path, default=None, help="default: the package's metrics.json")
    parser.add_argument("--picture", type=Path, default=PICTURE, help="default: book/images/demo_world.png")
    parser.add_argument("--check", action="store_true", help="only report whether the page is up to date")
    args = parser.parse_args(argv)
    from vlmcal_utils.demo.card import METRICS_PATH, write_metrics_section

    metrics = METRICS_PATH if args.metrics is None else args.metrics
    try:
        if args.check:
            fresh = is_up_to_date(args.page, metrics) and picture_is_up_to_date(args.picture)
            print(f"demo_page: {args.page} and {args.picture} are " + ("up to date" if fresh else
                  "out of date: run `python -m vlmcal_book.demo_page`"), file=sys.stdout if fresh else sys.stderr)
            return 0 if fresh else 1
        print(f"demo_page: wrote {write_metrics_section(args.page, metrics)}")
        args.picture.parent.mkdir(parents=True, exist_ok=True)
        sample_grid().save(args.picture, optimize=True)
        print(f"demo_page: wrote {args.picture}")
    except (FileNotFoundError, ValueError) as err:
        print(f"demo_page: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
