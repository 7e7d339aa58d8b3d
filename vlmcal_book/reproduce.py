"""Run a book notebook with a named parameter set (papermill), and check that it wrote its results.

Command line (from a clone of the repository)
---------------------------------------------
::

    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md --set ci
    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md -p n_bins 10 -p seed 1
    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md --list

The runner is book tooling, not part of the ``vlmcal_utils`` wheel: it runs the clone's
``notebooks/`` with the clone's ``params/`` (a ``pip install`` user has neither), so researchers
use it from a clone.

How a run is put together
-------------------------
1. The notebook (a MyST Markdown notebook read with jupytext, or an ``.ipynb``) must have one code
   cell tagged ``parameters``. The names assigned at the top level of that cell are the notebook's
   parameters; nothing else may be set.
2. Values come from ``params/<set>.yaml`` (default set ``ci``), section = the notebook's stem
   (e.g. ``01_calibration_basics``). A set without a section for the notebook means "no overrides".
   The ``params/`` folder is the first one found walking up from the notebook's folder.
3. ``-p NAME VALUE`` overrides come last. VALUE is parsed as YAML, so ``-p n_bins 10`` is an int,
   ``-p extra_logits_paths "[a.npz, b.npz]"`` a list, and ``-p logits_path null`` (or ``None``)
   is ``None``.
4. Environment variables written ``${NAME}`` (or ``$NAME``) inside string values are expanded.
   If a referenced variable is unset or empty the whole value becomes ``None`` — notebooks treat
   ``None`` as "use the fallback" (for example synthetic data when ``$VLMCAL_SHARED`` is absent);
   inside a list such items are dropped.
5. Parameters whose name ends in ``_path``, ``_root`` or ``_dir`` (``_paths``/``_dirs`` for lists),
   except ``results_dir``, are paths: a relative one is taken relative to the directory you run
   the command from and handed to the notebook as an absolute path; one that does not exist is
   an error (before anything runs), so a typo never silently falls back to synthetic data.
6. ``results_dir`` is set to the absolute path ``<output-root>/<set>/<stem>/`` unless given with
   ``-p``. The executed notebook is written there as ``<stem>.ipynb``, and the notebook must write
   ``results.json`` there with :func:`vlmcal_utils.results.save_results` (the chapter's results
   built by its schema, see :mod:`vlmcal_utils.results`).

The kernel is ``python3`` and its working directory is **the notebook's own folder** (as when the
book is built), so relative paths written inside a notebook are relative to ``notebooks/``.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import jupytext
import papermill as pm
import yaml

from vlmcal_utils.results import RESULTS_FILENAME

DEFAULT_SET = "ci"
PARAMS_DIRNAME = "params"
_PATH_SUFFIXES = ("_path", "_root", "_dir")
_PATH_LIST_SUFFIXES = ("_paths", "_roots", "_dirs")
_ENV_RE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


# --------------------------------------------------------------------------------------------
# reading notebooks and parameter sets
# --------------------------------------------------------------------------------------------
def read_notebook(path: str | os.PathLike):
    """Read a ``.md`` (MyST, via jupytext) or ``.ipynb`` notebook as an ``nbformat`` node."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}; pass a path such as notebooks/01_calibration_basics.md")
    return jupytext.read(path)


def notebook_parameters(nb) -> dict[str, Any]:
    """The ``name -> default`` map of the cell tagged ``parameters``.

    Defaults that are Python literals are returned as values; anything else (an expression such as
    ``Path("x")``) as its source text. Raises ``ValueError`` if there is no such cell, or more than one.
    """
    cells = [
        c for c in nb.cells
        if c.cell_type == "code" and "parameters" in c.get("metadata", {}).get("tags", [])
    ]
    if len(cells) != 1:
        raise ValueError(
            f"expected exactly one code cell tagged 'parameters', found {len(cells)}; "
            "tag the cell that defines the notebook's parameters (MyST: ':tags: [parameters]')"
        )
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"the parameters cell is not valid Python: {err}") from err
    params: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    params[target.id] = ast.literal_eval(value)
                except ValueError:
                    params[target.id] = ast.get_source_segment(source, value)
    return params


def find_params_dir(notebook: Path) -> Path:
    """The first ``params/`` folder at or above the notebook's folder (else ``./params``)."""
    for folder in [notebook.resolve().parent, *notebook.resolve().parents]:
        candidate = folder / PARAMS_DIRNAME
        if candidate.is_dir():
            return candidate
    return Path.cwd() / PARAMS_DIRNAME


def available_sets(params_dir: Path) -> list[str]:
    """The parameter-set names (``<set>.yaml`` stems) in ``params_dir``, sorted."""
    return sorted(p.stem for p in params_dir.glob("*.yaml")) if params_dir.is_dir() else []


def load_param_set(params_dir: Path, set_name: str, stem: str) -> dict[str, Any]:
    """The section ``stem`` of ``params_dir/<set_name>.yaml`` (``{}`` if the section is absent)."""
    path = params_dir / f"{set_name}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown parameter set {set_name!r}: no {path}. "
            f"Available sets: {', '.join(available_sets(params_dir)) or '(none)'}"
        )
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map notebook stems to parameter sections, got {type(data).__name__}")
    section = data.get(stem) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: section {stem!r} must be a mapping of parameter: value")
    return dict(section)


def parse_value(text: str) -> Any:
    """A ``-p`` value: YAML, with Python's ``None`` accepted as null."""
    if text.strip() in ("None", "none"):
        return None
    return yaml.safe_load(text)


def expand_env(value: Any) -> Any:
    """Expand ``${VAR}``/``$VAR`` in strings (recursively); an unset variable makes the value None."""
    if isinstance(value, str):
        missing = []

        def sub(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            got = os.environ.get(name)
            if not got:
                missing.append(name)
                return ""
            return got

        expanded = _ENV_RE.sub(sub, value)
        return None if missing else expanded
    if isinstance(value, list):
        items = [expand_env(v) for v in value]
        # an item that needed an unset variable is dropped: "not available here"
        return [new for old, new in zip(value, items, strict=True) if not (isinstance(old, str) and new is None)]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def _is_path_param(name: str) -> bool:
    return name != "results_dir" and name.endswith(_PATH_SUFFIXES)


def _check_path(name: str, value: Any, base: Path) -> Any:
    if not isinstance(value, str) or value == "":
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.exists():
        raise FileNotFoundError(
            f"parameter {name!r} = {value!r}: {path} does not exist. Fix the path, or pass "
            f"-p {name} null to let the notebook use its fallback."
        )
    return str(path.resolve())


def resolve_parameters(
    notebook: Path,
    set_name: str = DEFAULT_SET,
    overrides: dict[str, Any] | None = None,
    params_dir: Path | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return ``(defaults, values)``: the notebook's defaults and the validated values to inject."""
    notebook = Path(notebook)
    defaults = notebook_parameters(read_notebook(notebook))
    params_dir = params_dir or find_params_dir(notebook)
    values = load_param_set(params_dir, set_name, notebook.stem)
    values.update(overrides or {})
    values = {name: expand_env(value) for name, value in values.items()}
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {notebook.name} "
            f"(set {set_name!r}, params dir {params_dir}); valid parameters: {', '.join(sorted(defaults))}"
        )
    base = Path.cwd()
    for name, value in list(values.items()):
        if _is_path_param(name):
            values[name] = _check_path(name, value, base)
        elif name.endswith(_PATH_LIST_SUFFIXES) and isinstance(value, list):
            values[name] = [_check_path(name, v, base) for v in value]
    return defaults, values


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def run_notebook(
    path: str | os.PathLike,
    set_name: str = DEFAULT_SET,
    overrides: dict[str, Any] | None = None,
    output_root: str | os.PathLike = "results",
    params_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> Path:
    """Execute a notebook with parameter set ``set_name`` plus ``overrides``; return its results folder.

    The folder (``<output_root>/<set_name>/<stem>/`` unless ``results_dir`` is overridden) then holds
    the executed ``<stem>.ipynb`` and the notebook's ``results.json``.

    Raises ``ValueError`` (unknown set or parameter), ``FileNotFoundError`` (a missing path
    parameter) and ``RuntimeError`` (a cell failed — the message names it and the executed
    notebook holding the traceback — or the notebook wrote no fresh ``results.json``).
    """
    notebook = Path(path)
    _, values = resolve_parameters(
        notebook, set_name, overrides, Path(params_dir) if params_dir is not None else None
    )
    stem = notebook.stem
    if values.get("results_dir") is None:
        values["results_dir"] = str((Path(output_root) / set_name / stem).resolve())
    else:
        values["results_dir"] = str(Path(values["results_dir"]).expanduser().resolve())
    out_dir = Path(values["results_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    results_file = out_dir / RESULTS_FILENAME
    started = time.time()
    executed = out_dir / f"{stem}.ipynb"
    try:
        pm.execute_notebook(
            read_notebook(notebook),
            str(executed),
            parameters=values,
            kernel_name="python3",
            cwd=str(notebook.resolve().parent),
            progress_bar=progress,
        )
    except pm.PapermillExecutionError as err:
        raise RuntimeError(
            f"{notebook}: cell {err.exec_count} raised {err.ename}: {err.evalue} "
            f"(the partly executed notebook, with the traceback, is {executed})"
        ) from err
    # a results.json left over from an earlier run must not count as this run's output
    if not results_file.is_file() or results_file.stat().st_mtime < started - 1:
        raise RuntimeError(
            f"{notebook} ran but wrote no fresh {results_file}; it must end with "
            "vlmcal_utils.results.save_results(results_dir, <chapter>_results(...), params)"
        )
    return out_dir


def main(argv: list[str] | None = None) -> int:
    """Command line: run (or ``--list``) one notebook; the exit status (1 with one readable message)."""
    parser = argparse.ArgumentParser(
        prog="python -m vlmcal_book.reproduce",
        description="Run a book notebook with a parameter set from params/<set>.yaml and -p overrides.",
        epilog="Values are YAML (null/None, numbers, [lists]); ${VLMCAL_SHARED} in a value is expanded "
        "and an unset variable makes that value None (the notebook's fallback). The kernel runs in "
        "the notebook's folder; results go to <output-root>/<set>/<stem>/.",
    )
    parser.add_argument("notebook", type=Path, help="e.g. notebooks/01_calibration_basics.md")
    parser.add_argument("--set", dest="set_name", default=DEFAULT_SET, help="parameter set (default: ci)")
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override one parameter (repeatable); VALUE is parsed as YAML",
    )
    parser.add_argument("--output-root", default="results", help="default: results")
    parser.add_argument("--params-dir", type=Path, default=None, help="default: the nearest params/ folder")
    parser.add_argument("--list", action="store_true", help="print the parameters and their values, do not run")
    args = parser.parse_args(argv)
    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        if args.list:
            defaults, values = resolve_parameters(args.notebook, args.set_name, overrides, args.params_dir)
            print(f"{args.notebook.name}: parameters (default -> value with set {args.set_name!r})")
            for name, default in defaults.items():
                line = f"  {name} = {default!r}"
                if name in values:
                    line += f"  ->  {values[name]!r}"
                elif name == "results_dir":
                    target = Path(args.output_root) / args.set_name / args.notebook.stem
                    line += f"  ->  {str(target.resolve())!r}"
                print(line)
            return 0
        t0 = time.time()
        out_dir = run_notebook(
            args.notebook, args.set_name, overrides, args.output_root, args.params_dir,
            progress=sys.stderr.isatty(),
        )
    except Exception as err:  # report every failure as one readable message and a non-zero status
        print(f"reproduce: {args.notebook}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(
        f"reproduce: {args.notebook} (set {args.set_name}) ran in {time.time() - t0:.1f} s; "
        f"executed notebook and {RESULTS_FILENAME} in {out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
