"""Keep each MyST notebook ``notebooks/NN_x.md`` and its Colab twin ``notebooks/NN_x.ipynb`` in step.

The ``.md`` is the source that people edit and review; the ``.ipynb`` exists because Colab (and the
book's "launch on Colab" button) opens ``.ipynb`` files. The twin is committed **without outputs**.

::

    python -m vlmcal_utils.nbsync --check   # exit 1 and list every pair that is out of step
    python -m vlmcal_utils.nbsync --write   # regenerate every .ipynb from its .md

Two notebooks are "in step" when they have the same cells: same types, same sources (ignoring
trailing whitespace) and same tags. Other metadata (jupytext headers, ids) is not compared, since
tools rewrite it freely.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import jupytext

NOTEBOOKS_DIR = Path("notebooks")
PAIRED_FORMATS = "ipynb,md:myst"


def cell_signature(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """``[(cell_type, source, sorted tags), ...]`` — what must agree between the twins."""
    return [
        (
            cell.cell_type,
            "\n".join(line.rstrip() for line in cell.source.strip().splitlines()),
            tuple(sorted(cell.get("metadata", {}).get("tags", []))),
        )
        for cell in nb.cells
    ]


def _outputs_present(nb) -> bool:
    return any(
        cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
        for cell in nb.cells
    )


def check(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[str]:
    """Every problem found (empty list = all pairs in step)."""
    folder = Path(notebooks_dir)
    problems: list[str] = []
    mds = {p.stem: p for p in folder.glob("*.md")}
    ipynbs = {p.stem: p for p in folder.glob("*.ipynb")}
    for stem in sorted(set(mds) - set(ipynbs)):
        problems.append(f"{mds[stem]} has no .ipynb twin: run `make sync`")
    for stem in sorted(set(ipynbs) - set(mds)):
        problems.append(f"{ipynbs[stem]} has no .md source: add the .md (the .md is what is edited) or delete it")
    for stem in sorted(set(mds) & set(ipynbs)):
        md_nb, ipynb_nb = jupytext.read(mds[stem]), jupytext.read(ipynbs[stem])
        a, b = cell_signature(md_nb), cell_signature(ipynb_nb)
        if a != b:
            where = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(
                f"{ipynbs[stem]} differs from {mds[stem].name} (first at cell {where}; "
                f"{len(a)} vs {len(b)} cells): run `make sync`"
            )
        if _outputs_present(ipynb_nb):
            problems.append(f"{ipynbs[stem]} holds outputs; commit it without (run `make sync`)")
    return problems


def write(notebooks_dir: str | Path = NOTEBOOKS_DIR) -> list[Path]:
    """Regenerate every ``.ipynb`` twin from its ``.md``; return the files that changed."""
    written = []
    for md in sorted(Path(notebooks_dir).glob("*.md")):
        nb = jupytext.read(md)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            # deterministic ids (jupytext draws random ones), so re-pairing an unchanged .md
            # rewrites nothing and a changed one gives a small diff
            digest = hashlib.sha1(f"{index}\0{cell.cell_type}\0{cell.source}".encode()).hexdigest()
            cell["id"] = digest[:8]
        # tell Jupyter + jupytext users that the two files are a pair
        nb.metadata.setdefault("jupytext", {})["formats"] = PAIRED_FORMATS
        target = md.with_suffix(".ipynb")
        text = jupytext.writes(nb, fmt="ipynb")
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlmcal_utils.nbsync", description=__doc__.split("\n\n")[0])
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
