"""Keep each MyST notebook ``notebooks/NN_x.md`` and its Colab twin ``notebooks/NN_x.ipynb`` in step.

The ``.md`` is the source that people edit and review; the ``.ipynb`` exists because Colab (and the
book's "launch on Colab" button) opens ``.ipynb`` files. The twin is committed **without outputs**.

::

    python -m vlmcal_book.nbsync --check   # exit 1 and list every pair that is out of step
    python -m vlmcal_book.nbsync --write   # regenerate every .ipynb from its .md (`make sync`)

The comparison is jupytext's own (:func:`jupytext.compare.compare_notebooks`, what
``jupytext --test`` runs): same cells, same sources, same cell metadata (tags included) and same
notebook metadata, with jupytext's tolerance for a removed final blank line. On top of it the
twin must hold no outputs and no execution counts.

``--write`` does not call ``jupytext --sync``: ``--sync`` takes whichever file of a pair was
modified last as the source (after a ``git checkout`` that can be the ``.ipynb``, which would
overwrite the edited ``.md``) and draws random cell ids for new cells. Here the ``.md`` is always
the source and cell ids are derived from the cell's position and content, so re-pairing an
unchanged ``.md`` rewrites nothing and a changed one gives a small diff.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import jupytext
from jupytext.compare import NotebookDifference, compare_notebooks

from vlmcal_utils.storage import atomic_write_text

NOTEBOOKS_DIR = Path("notebooks")
PAIRED_FORMATS = "ipynb,md:myst"
TEXT_FORMAT = "md:myst"


def pairing_difference(md_path: Path, ipynb_path: Path) -> str | None:
    """jupytext's description of the first difference between the ``.md`` and its twin, or None."""
    try:
        compare_notebooks(jupytext.read(ipynb_path), jupytext.read(md_path), fmt=TEXT_FORMAT)
    except NotebookDifference as err:
        return str(err).strip()
    return None


def _outputs_present(nb) -> bool:
    return any(
        cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
        for cell in nb.cells
    )


def check(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[str]:
    """Every problem found in the pairs of ``notebooks_dir`` (an empty list: all pairs in step).

    Parameters
    ----------
    notebooks_dir : str or Path
        Folder of ``<stem>.md`` sources and ``<stem>.ipynb`` twins.

    Returns
    -------
    list of str
        One readable line per problem: a source without twin, a twin without source, a pair that
        differs (with jupytext's explanation) or a twin that holds outputs.
    """
    folder = Path(notebooks_dir)
    problems: list[str] = []
    mds = {p.stem: p for p in folder.glob("*.md")}
    ipynbs = {p.stem: p for p in folder.glob("*.ipynb")}
    for stem in sorted(set(mds) - set(ipynbs)):
        problems.append(f"{mds[stem]} has no .ipynb twin: run `make sync`")
    for stem in sorted(set(ipynbs) - set(mds)):
        problems.append(f"{ipynbs[stem]} has no .md source: add the .md (the .md is what is edited) or delete it")
    for stem in sorted(set(mds) & set(ipynbs)):
        difference = pairing_difference(mds[stem], ipynbs[stem])
        if difference is not None:
            first_line = difference.splitlines()[0]
            problems.append(f"{ipynbs[stem]} differs from {mds[stem].name} ({first_line}): run `make sync`")
        if _outputs_present(jupytext.read(ipynbs[stem])):
            problems.append(f"{ipynbs[stem]} holds outputs; commit it without (run `make sync`)")
    return problems


def write(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """Regenerate every ``.ipynb`` twin from its ``.md``, without outputs.

    Parameters
    ----------
    notebooks_dir : str or Path
        Folder of ``<stem>.md`` sources.

    Returns
    -------
    list of Path
        The twins whose content changed (unchanged files are not rewritten).
    """
    written = []
    for md in sorted(Path(notebooks_dir).glob("*.md")):
        nb = jupytext.read(md)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            # deterministic ids (jupytext draws random ones): see the module docstring
            digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{cell.source}".encode()).hexdigest()
            cell["id"] = digest[:8]
        # tell Jupyter + jupytext users that the two files are a pair
        nb.metadata.setdefault("jupytext", {})["formats"] = PAIRED_FORMATS
        target = md.with_suffix(".ipynb")
        text = jupytext.writes(nb, fmt="ipynb")
        if not target.is_file() or target.read_text() != text:
            atomic_write_text(target, text)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--check`` (default) or ``--write``; the exit status."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.nbsync", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="report out-of-step pairs (default)")
    mode.add_argument("--write", action="store_true", help="regenerate each .ipynb from its .md")
    parser.add_argument("--dir", type=Path, default=NOTEBOOKS_DIR, help="default: notebooks")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.dir)
        for path in changed:
            print(f"nbsync: wrote {path}")
        if not changed:
            print(f"nbsync: every .ipynb in {args.dir} was already up to date")
        return 0
    problems = check(args.dir)
    for problem in problems:
        print(f"nbsync: {problem}", file=sys.stderr)
    if not problems:
        print(f"nbsync: every notebook in {args.dir} is in step with its .ipynb twin")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
