"""Stage the book from the runner's executed notebooks, so each chapter is executed once.

``make book`` and ``make test`` run every chapter once through the runner
(``python -m vlmcal_book.reproduce notebooks/NN_x.md --set book``; its executed notebook is
``results/book/NN_x/NN_x.ipynb``), then build the book from a *staged* copy of the tree in which
each ``notebooks/NN_x.md`` is replaced by that executed notebook and ``execute_notebooks`` is
``"off"``. Jupyter Book renders the outputs the runner produced and the tests checked; it never
runs a notebook again.

::

    python -m vlmcal_book.stage --set book --out _build/stage
    jupyter-book build _build/stage --path-output .     # -> _build/html

The staged folder holds links to ``book/``, ``vlmcal_book/`` (the Sphinx extensions), ``.cache/``
(MathJax) and ``_toc.yml``, a copy of ``_config.yml`` with execution off, and ``notebooks/`` with
the executed ``.ipynb`` files. An executed notebook whose cells differ from its ``.md`` (the source
changed after the run) is refused, naming the runner command that makes it current.

A page is the ``.md``'s cells as they are now (prose and tags: ``remove-cell`` and the like) with
the outputs of the executed notebook, whose code cells must be the same. papermill's
``injected-parameters`` cell (absolute machine paths) is kept but tagged ``remove-cell``; tqdm's
text progress bars and its ``IProgress not found`` warning are dropped from stream outputs (the
package should not print them under a kernel: see the note in :data:`_TQDM_LINE`).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

from vlmcal_utils.storage import atomic_write_text

__all__ = ["BOOK_SET", "LINKED", "RUN_TIME_TOKEN", "executed_notebook", "run_time_text", "stage", "main"]

BOOK_SET = "book"
"""The parameter set whose executed notebooks the book shows (``params/book.yaml``)."""
LINKED = ("book", "vlmcal_book", ".cache", "_toc.yml")
"""Entries of the repository root the staged book links to (those that exist)."""
_INJECTED = "injected-parameters"
RUN_TIME_TOKEN = "[book run time]"
"""Written in a chapter's prose (its objectives box); on the built page it becomes the measured wall
time of the run the page shows (the runner's ``run-time.json``), e.g. "about 80 s on 2 CPU cores"."""
RUN_TIME_FILENAME = "run-time.json"  # = vlmcal_book.reproduce.RUN_TIME_FILENAME (not imported: papermill)


def run_time_text(executed: Path) -> str:
    """How long the run behind ``executed`` took, in words (``"not measured"`` without a record)."""
    record_path = executed.parent / RUN_TIME_FILENAME
    if not record_path.is_file():
        return "not measured"
    record = json.loads(record_path.read_text())
    seconds = float(record["seconds"])
    amount = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    cores = record.get("cpu_count")
    return f"about {amount} on {cores} CPU cores (the run this page shows)" if cores else f"about {amount}"


def executed_notebook(results_root: Path, set_name: str, stem: str) -> Path:
    """``<results_root>/<set_name>/<stem>/<stem>.ipynb``: where the runner writes an executed notebook."""
    return results_root / set_name / stem / f"{stem}.ipynb"


_SKIPPED = {_INJECTED, "skip-execution"}
# tqdm's text bars and its "IProgress not found" warning, as tqdm.auto writes them to stderr under a
# kernel without ipywidgets (tqdm.notebook forces disable=False, so TQDM_DISABLE cannot turn them off)
_TQDM_LINE = re.compile(r"^.*(\d+%\|.*\|\s*\d+/\d+ \[.*\]|TqdmWarning: IProgress not found.*|"
                        r"^\s*(from (tqdm)?\.autonotebook import tqdm as notebook_tqdm|warnings\.warn\(.*))\s*$")


def _ran_cells(nb) -> list:
    """Code cells whose outputs the page shows: not papermill's injected cell, not Colab-only cells.

    Cells tagged ``skip-execution`` (the Colab install cell) are not compared: the book never
    shows their output, and on a machine without Colab they do nothing.
    """
    return [c for c in nb.cells if c.cell_type == "code" and not _SKIPPED & set(c.metadata.get("tags", []))]


def _code_sources(nb) -> list[str]:
    return [c.source.strip() for c in _ran_cells(nb)]


def _without_progress(outputs: list) -> list:
    """``outputs`` without tqdm's bars and warning (stream text only; other outputs as they are)."""
    kept = []
    for out in outputs:
        if out.get("output_type") == "stream":
            text = "".join(line for line in out["text"].replace("\r", "\n").splitlines(keepends=True)
                           if not _TQDM_LINE.match(line.rstrip("\n")))
            if not text.strip():
                continue
            out = {**out, "text": text}
        kept.append(out)
    return kept


def _prepare(md: Path, executed: Path, set_name: str, root: Path) -> nbformat.NotebookNode:
    """The page: the ``.md``'s cells (prose and tags as they are now) with the executed outputs.

    The executed notebook's code cells must equal the ``.md``'s (else the run is stale); its
    injected-parameters cell is kept (the record of what ran) but tagged ``remove-cell``.
    """
    command = f"python -m vlmcal_book.reproduce {md.relative_to(root).as_posix()} --set {set_name}"
    if not executed.is_file():
        raise FileNotFoundError(f"{md}: no executed notebook {executed}; run `{command}` first")
    ran = nbformat.read(executed, as_version=4)
    page = jupytext.read(md, fmt="md:myst")
    if _code_sources(ran) != _code_sources(page):
        raise ValueError(f"{executed} was executed from an older {md.name} (its code cells differ); "
                         f"run `{command}` again")
    outputs = iter(_ran_cells(ran))
    ran_ids = {id(c) for c in _ran_cells(page)}
    cells = []
    run_time = run_time_text(executed)
    for cell in page.cells:
        if cell.cell_type == "markdown" and RUN_TIME_TOKEN in cell.source:
            cell.source = cell.source.replace(RUN_TIME_TOKEN, run_time)
        if cell.cell_type == "code":
            done = next(outputs) if id(cell) in ran_ids else {}
            cell.outputs = _without_progress(done.get("outputs", []))
            cell.execution_count = done.get("execution_count")
        cells.append(cell)
        if "parameters" in cell.metadata.get("tags", []):
            for injected in (c for c in ran.cells if _INJECTED in c.metadata.get("tags", [])):
                injected.metadata["tags"] = [*injected.metadata["tags"], "remove-cell"]
                cells.append(injected)
    page.cells = cells
    page.metadata = {**ran.metadata, **{k: v for k, v in page.metadata.items() if k != "jupytext"}}
    return nbformat.from_dict(page)


def _staged_config(config_path: Path) -> str:
    config = yaml.safe_load(config_path.read_text())
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    # the staged notebooks/ holds the executed .ipynb pages (the .md sources are not there)
    config["exclude_patterns"] = [p for p in config.get("exclude_patterns", []) if p != "notebooks/*.ipynb"]
    header = "# Staged by vlmcal_book.stage from ../../_config.yml: execution off, pages are executed notebooks.\n"
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def stage(root: str | Path = ".", out: str | Path = "_build/stage", set_name: str = BOOK_SET,
          results_root: str | Path | None = None) -> Path:
    """Build the staged source folder ``out`` for ``jupyter-book build``.

    Parameters
    ----------
    root : path
        The repository root (holds ``_config.yml``, ``_toc.yml``, ``notebooks/*.md``).
    out : path
        The staged folder; remade from scratch (its old content is removed).
    set_name : str
        The runner's parameter set whose executed notebooks become the pages.
    results_root : path, optional
        The runner's output root; default ``<root>/results``.

    Returns
    -------
    pathlib.Path
        ``out``, ready for ``jupyter-book build <out> --path-output <root>``.

    Raises
    ------
    FileNotFoundError
        A chapter has no executed notebook (the message names the runner command).
    ValueError
        An executed notebook is older than its ``.md`` (different code cells).
    """
    root = Path(root).resolve()
    out = Path(out).resolve()
    results_root = Path(results_root).resolve() if results_root is not None else root / "results"
    notebooks = {md: executed_notebook(results_root, set_name, md.stem)
                 for md in sorted((root / "notebooks").glob("*.md"))}
    prepared = {md: _prepare(md, executed, set_name, root) for md, executed in notebooks.items()}
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    for name in LINKED:
        if (root / name).exists():
            (out / name).symlink_to(root / name)
    atomic_write_text(out / "_config.yml", _staged_config(root / "_config.yml"))
    for md, nb in prepared.items():
        atomic_write_text(out / "notebooks" / f"{md.stem}.ipynb", nbformat.writes(nb))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line; the exit status (1 with a one-line reason when a notebook is missing or stale)."""
    parser = argparse.ArgumentParser(prog="python -m vlmcal_book.stage", description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", dest="set_name", default=BOOK_SET, help=f"default: {BOOK_SET}")
    parser.add_argument("--out", type=Path, default=Path("_build/stage"), help="default: _build/stage")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root (default: .)")
    parser.add_argument("--results-root", type=Path, default=None, help="default: <root>/results")
    args = parser.parse_args(argv)
    try:
        out = stage(args.root, args.out, args.set_name, args.results_root)
    except (FileNotFoundError, ValueError) as err:
        print(f"stage: {err}", file=sys.stderr)
        return 1
    print(f"stage: {out} (pages: the executed notebooks of results/{args.set_name}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
