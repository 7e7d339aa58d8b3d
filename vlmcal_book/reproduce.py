"""Run a book notebook with a named parameter set (papermill), and check that it wrote its results.

(About 850 lines, over the project's 600: parameter reading and checking, which are most of it,
are the part to move into their own module; what a run ran on is :mod:`vlmcal_book.provenance`.)

Command line (from a clone of the repository)
---------------------------------------------
::

    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md --set ci
    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md -p n_bins 10 -p seed 1
    python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md --list
    python -m vlmcal_book.reproduce notebooks/*.md --set paper --check   # the pre-flight only

The runner is book tooling, not part of the ``vlmcal_utils`` wheel: it runs the clone's
``notebooks/`` with the clone's ``params/`` (a ``pip install`` user has neither), so researchers
use it from a clone.

How a run is put together
-------------------------
1. The notebook (a MyST Markdown notebook read with jupytext, or an ``.ipynb``) must have one code
   cell tagged ``parameters``. The names assigned at the top level of that cell are the notebook's
   parameters; nothing else may be set.
2. Values come from ``params/<set>.yaml`` (default set ``book``), section = the notebook's stem
   (e.g. ``01_calibration_basics``). A set without a section for the notebook means "no overrides".
   The ``params/`` folder is the first one found walking up from the notebook's folder.
3. ``-p NAME VALUE`` overrides come last. VALUE is parsed as YAML, so ``-p n_bins 10`` is an int,
   ``-p extra_logits_paths "[a.npz, b.npz]"`` a list, and ``-p logits_path null`` (or ``None``)
   is ``None``. A value that is not valid YAML is a one-line error.
3b. Every value (from the set or ``-p``) is type-checked against the notebook's default before
   anything runs (:func:`check_value`): a list where the default is a list (a single value is
   refused, not wrapped), an int where it is an int (``2.5`` and ``"abc"`` are refused), a number
   where it is a float, a bool where it is a bool, a string where it is a string; list items are
   checked against the default's items when those all have one type. ``None`` is accepted where
   the default is ``None`` or the default's comment mentions ``None``; ``True``/``False`` where the
   comment mentions them; a list where a string default's comment mentions "list". An annotation
   (``label: str | None = "x"``) states the accepted types exactly. A default that is not a
   literal, or is ``None``, accepts anything.
4. Environment variables written ``${NAME}`` (or ``$NAME``) inside string values are expanded
   (:func:`vlmcal_utils.paths.expand_vars`); an unset one is an error naming it. A set that means
   "use the fallback when it is unset" says so: ``${NAME:-}`` makes the whole value ``None`` —
   notebooks treat ``None`` as "use the fallback" (for example synthetic data when
   ``$VLMCAL_SHARED`` is absent); inside a list such items are dropped. ``${NAME:-default}``
   gives ``default``.
4b. Before any kernel starts, :func:`preflight_runs` checks what every run needs at once
   (:mod:`vlmcal_utils.preflight`: datasets, weights, a GPU, published logits) and runs nothing
   when anything is missing; a set with ``requires_real: true`` (or a list of stems) also
   refuses the demo world, random weights and synthetic data. The closing line says what each
   run's numbers come from (:func:`vlmcal_book.provenance.provenance`, from its ``results.json``).
5. Parameters whose name ends in ``_path``, ``_root`` or ``_dir`` (``_paths``/``_dirs`` for lists),
   except ``results_dir``, are paths: a relative one is taken relative to the directory you run
   the command from and handed to the notebook as an absolute path; one that does not exist is
   an error (before anything runs), so a typo never silently falls back to synthetic data.
6. ``results_dir`` is set to the absolute path ``<output-root>/<set>/<stem>/`` when the run uses
   the set's own values, and to ``<output-root>/<set>/<stem>-<digest>/`` when ``-p`` overrides
   change any of them (the digest covers the overridden values, see :func:`default_results_dir`),
   so a rerun with other values never resumes from, or reports, another run's files. The runner
   records the values of each run in ``<folder>/run-parameters.json`` and refuses to run into a
   folder recorded with other values (also with ``-p results_dir``), naming the parameters that
   differ. The executed notebook is written there as ``<stem>.ipynb``, and the notebook must write
   ``results.json`` there with :func:`vlmcal_utils.results.save_results` (the chapter's results
   built by its schema, see :mod:`vlmcal_utils.results`).
7. The runner then writes the parameters the notebook ran with into that file (``params``: the
   parameters cell's defaults, updated with the set's values and the overrides; ``results_dir``
   left out), so no chapter keeps a hand-typed copy of its parameters cell. Keys a notebook wrote
   into ``params`` itself are kept where the run does not name them.

The kernel is ``python3`` and its working directory is **the notebook's own folder** (as when the
book is built), so relative paths written inside a notebook are relative to ``notebooks/``.

While a notebook runs, the runner says on stderr every :data:`HEARTBEAT_S` seconds which cell is
running and for how long (:func:`heartbeat_line`); started from a terminal, the notebook's own
progress bars (images done / total, rate, ETA) appear on stderr too, and never on the book's
pages (:mod:`vlmcal_book.stage` strips them from the executed notebooks). The
kernel talks to the runner over local IPC sockets (:func:`kernel_config`), not plain TCP.

Each kernel starts with the IPython extension :mod:`vlmcal_utils.figures` loaded
(:data:`KERNEL_ARGUMENTS`): every matplotlib figure is stored as SVG with its text kept as text (a
sharp PNG where the SVG would be too heavy), so the book's figures stay crisp and readable on a phone.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import re
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Mapping

import yaml

from vlmcal_book.provenance import RESULTS_FILENAME, cpu_time_notes, read_provenance
from vlmcal_utils import preflight
from vlmcal_utils.paths import expand_vars, portable_paths
from vlmcal_utils.progress import PROGRESS_ENV_VAR, PROGRESS_TEXT, progress_enabled
from vlmcal_utils.storage import atomic_write_text

# jupytext, papermill and vlmcal_utils.results (torch, pandas) are imported where they are used, so
# that --help and a failed pre-flight answer in a second or two.

DEFAULT_SET = "book"
PARAMS_DIRNAME = "params"
REQUIRES_REAL_KEY = "requires_real"
"""A set's top-level flag: ``requires_real: true`` refuses every run that would fall back (the demo
world, random weights, synthetic logits) before its kernel starts; a list of notebook stems refuses
only theirs."""
_PATH_SUFFIXES = ("_path", "_root", "_dir")
_PATH_LIST_SUFFIXES = ("_paths", "_roots", "_dirs")
RUN_PARAMETERS_FILENAME = "run-parameters.json"
RUN_TIME_FILENAME = "run-time.json"
"""Beside each executed notebook: ``{"seconds": wall time of the run, "cpu_count": cores here}``
(the book's pages quote it in their objectives box, see :mod:`vlmcal_book.stage`)."""
HEARTBEAT_S = 60.0
"""Seconds between two of the runner's "cell i/n running" lines on stderr (never in the notebook)."""
_TYPE_NAMES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
               "None": type(None), "Path": str}


# --------------------------------------------------------------------------------------------
# reading notebooks and parameter sets
# --------------------------------------------------------------------------------------------
def read_notebook(path: str | os.PathLike):
    """Read a ``.md`` (MyST, via jupytext) or ``.ipynb`` notebook as an ``nbformat`` node."""
    import jupytext

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}; pass a path such as notebooks/01_calibration_basics.md")
    return jupytext.read(path)


def _parameters_cell(nb):
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
    return source, tree


def _annotation_types(node: ast.expr | None) -> tuple[type, ...] | None:
    """``str | None`` -> ``(str, NoneType)``; ``None`` if absent or not made of simple names."""
    if node is None:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation_types(node.left), _annotation_types(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Constant) and node.value is None:
        return (type(None),)
    if isinstance(node, ast.Subscript):  # list[int] -> list
        node = node.value
    if isinstance(node, ast.Name) and node.id in _TYPE_NAMES:
        return (_TYPE_NAMES[node.id],)
    return None


def parameter_specs(nb) -> dict[str, dict[str, Any]]:
    """Each parameter's ``{"default", "types", "comment"}`` from the cell tagged ``parameters``.

    ``types`` is the tuple of accepted value types (``None``: anything), from the annotation if
    there is one, else from the default and its comment (see step 3b of the module docstring).
    """
    source, tree = _parameters_cell(nb)
    lines = source.splitlines()
    specs: dict[str, dict[str, Any]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value, annotation = node.targets, node.value, None
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value, annotation = [node.target], node.value, node.annotation
        else:
            continue
        line = lines[node.end_lineno - 1] if node.end_lineno else ""
        comment = line.split("#", 1)[1] if "#" in line else ""
        try:
            default, literal = ast.literal_eval(value), True
        except ValueError:
            default, literal = ast.get_source_segment(source, value), False
        types = _annotation_types(annotation)
        if types is None and literal and default is not None:
            types = _default_types(default, comment)
        for target in targets:
            if isinstance(target, ast.Name):
                specs[target.id] = {"default": default, "types": types, "comment": comment.strip()}
    return specs


def _default_types(default: Any, comment: str) -> tuple[type, ...]:
    types: tuple[type, ...] = (type(default),)
    if isinstance(default, float):
        types = (int, float)
    elif isinstance(default, tuple):
        types = (list, tuple)
    if re.search(r"\bNone\b|\bnull\b", comment):
        types += (type(None),)
    if not isinstance(default, bool) and re.search(r"\bTrue\b|\bFalse\b", comment):
        types += (bool,)
    if isinstance(default, str) and re.search(r"\blist\b", comment):
        types += (list,)
    return types


def notebook_parameters(nb) -> dict[str, Any]:
    """The ``name -> default`` map of the cell tagged ``parameters``.

    Defaults that are Python literals are returned as values; anything else (an expression such as
    ``Path("x")``) as its source text. Raises ``ValueError`` if there is no such cell, or more than one.
    """
    return {name: spec["default"] for name, spec in parameter_specs(nb).items()}


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "an int", float: "a number", str: "a string", bool: "true/false", list: "a list",
             tuple: "a list", dict: "a mapping", type(None): "null"}
    return " or ".join(dict.fromkeys(names.get(t, t.__name__) for t in types))


def _is_type(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # YAML true is a bool, never an int
        return bool in types
    if isinstance(value, list):
        return list in types or tuple in types
    return isinstance(value, tuple(t for t in types if t is not bool))


def check_value(name: str, value: Any, spec: Mapping[str, Any]) -> None:
    """Raise a one-line ``ValueError`` if ``value`` does not fit parameter ``name``'s default.

    Parameters
    ----------
    name : str
        The parameter.
    value : object
        Its value, as parsed from YAML (before environment expansion).
    spec : mapping
        Its entry of :func:`parameter_specs`.
    """
    types, default = spec["types"], spec["default"]
    if types is None:
        return
    if not _is_type(value, types):
        hint = ""
        if isinstance(default, list) and not isinstance(value, list):
            hint = f" (a single value must be written as a list: -p {name} \"[{value}]\")"
        raise ValueError(
            f"parameter {name!r} = {value!r} ({type(value).__name__}): expected {_type_names(types)}, "
            f"like its default {default!r}{hint}"
        )
    if isinstance(value, list) and isinstance(default, (list, tuple)) and default:
        item_types = {type(v) for v in default}
        if len(item_types) == 1:
            item = _default_types(default[0], "")
            bad = [v for v in value if not _is_type(v, item)]
            if bad:
                raise ValueError(
                    f"parameter {name!r}: item {bad[0]!r} ({type(bad[0]).__name__}) of {value!r} is not "
                    f"{_type_names(item)}, like the items of its default {default!r}"
                )


# Sensible ranges by parameter name (a name not listed here has none): a NaN lambda or a billion
# views would fail, or run for days, deep inside the notebook instead of here.
_RANGES: tuple[tuple[str, float, float], ...] = (
    ("n_views", 1, 1024), ("n_boot", 1, 100_000), ("n_", 1, 10_000_000), ("lam", 0, 10_000),
    ("lr", 0, 10), ("steps", 0, 10_000), ("seed", 0, 2**32 - 1), ("selection", 0, 1), ("batch", 1, 4096),
)
_NON_EMPTY = ("datasets", "inits")  # the chapters loop over them: an empty list has nothing to show
_MAX_YAML_BYTES = {"value": 64 * 2**10, "file": 2**20}
_MAX_YAML_ALIASES = 32  # a few anchors are fine; an alias bomb (billion laughs) has hundreds


def _numbers(value: Any) -> list[float]:
    items = value if isinstance(value, list) else [value]
    return [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


def check_bounds(name: str, value: Any) -> None:
    """Raise a one-line ``ValueError`` for a number that is not finite or out of its range, or an empty list.

    Parameters
    ----------
    name : str
        The parameter; its range is the first of ``_RANGES`` whose name it starts with.
    value : object
        Its value (numbers and lists of numbers are checked; ``None`` passes).
    """
    if name in _NON_EMPTY and isinstance(value, list) and not value:
        raise ValueError(f"parameter {name!r} is an empty list: give at least one item")
    bounds = next(((lo, hi) for prefix, lo, hi in _RANGES if name.startswith(prefix)), None)
    for number in _numbers(value):
        if not math.isfinite(number):
            raise ValueError(f"parameter {name!r} = {number!r}: must be a finite number")
        if bounds is not None and not bounds[0] <= number <= bounds[1]:
            raise ValueError(f"parameter {name!r} = {number!r}: must lie in [{bounds[0]}, {bounds[1]}]")


def _safe_yaml(text: str, what: str, kind: str) -> Any:
    """``yaml.safe_load`` with a size limit and an alias limit (a 442-byte alias bomb expands to GBs)."""
    if len(text.encode()) > _MAX_YAML_BYTES[kind]:
        raise ValueError(f"{what}: {len(text.encode())} bytes of YAML, over the limit of {_MAX_YAML_BYTES[kind]}")
    aliases = sum(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader))
    if aliases > _MAX_YAML_ALIASES:
        raise ValueError(f"{what}: {aliases} YAML aliases, over the limit of {_MAX_YAML_ALIASES} "
                         "(an alias bomb?); write the values out")
    return yaml.safe_load(text)


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
    path, data = _read_set(params_dir, set_name)
    section = data.get(stem) or {}
    if not isinstance(section, dict):
        raise ValueError(f"{path}: section {stem!r} must be a mapping of parameter: value")
    return dict(section)


def requires_real(params_dir: Path, set_name: str) -> bool | list[str]:
    """``params_dir/<set_name>.yaml``'s :data:`REQUIRES_REAL_KEY`: ``true``, ``false`` or the notebooks that need it."""
    path, data = _read_set(params_dir, set_name)
    flag = data.get(REQUIRES_REAL_KEY, False)
    if not (isinstance(flag, bool) or (isinstance(flag, list) and all(isinstance(f, str) for f in flag))):
        raise ValueError(f"{path}: {REQUIRES_REAL_KEY} must be true, false or a list of notebook stems, got {flag!r}")
    return flag


def _read_set(params_dir: Path, set_name: str) -> tuple[Path, dict[str, Any]]:
    path = params_dir / f"{set_name}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown parameter set {set_name!r}: no {path}. "
            f"Available sets: {', '.join(available_sets(params_dir)) or '(none)'}"
        )
    try:
        data = _safe_yaml(path.read_text(), str(path), "file") or {}
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {_yaml_problem(err)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map notebook stems to parameter sections, got {type(data).__name__}")
    return path, data


def _yaml_problem(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{getattr(err, 'problem', None) or err}{where}".replace("\n", " ")


def parse_value(text: str, name: str | None = None) -> Any:
    """A ``-p`` value: YAML, with Python's ``None`` accepted as null.

    Raises a one-line ``ValueError`` (naming ``name``) if ``text`` is not valid YAML.
    """
    if text.strip() in ("None", "none"):
        return None
    label = f"-p {name} {text[:60]!r}" if name else repr(text[:60])
    try:
        return _safe_yaml(text, label, "value")
    except yaml.YAMLError as err:
        raise ValueError(f"{label}: not a valid YAML value ({_yaml_problem(err)}); quote strings, "
                         "write lists as [a, b]") from None


def expand_env(value: Any, where: str = "value") -> Any:
    """Expand ``${VAR}``/``$VAR`` (must be set) and ``${VAR:-default}`` in strings, recursively.

    :func:`vlmcal_utils.paths.expand_vars`: an unset ``${VAR}`` is a ``ValueError`` naming it;
    ``${VAR:-}`` makes the value ``None`` (the notebook's fallback; a list drops the item).
    """
    return expand_vars(value, where)


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
    """Return ``(defaults, values)``: the notebook's defaults and the validated values to inject.

    Raises ``ValueError`` (unknown set or parameter, a value of the wrong type) or
    ``FileNotFoundError`` (a path parameter that does not exist), before anything runs.
    """
    notebook = Path(notebook)
    specs = parameter_specs(read_notebook(notebook))
    defaults = {name: spec["default"] for name, spec in specs.items()}
    params_dir = params_dir or find_params_dir(notebook)
    raw = load_param_set(params_dir, set_name, notebook.stem)
    raw.update(overrides or {})
    unknown = sorted(set(raw) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for {notebook.name} "
            f"(set {set_name!r}, params dir {params_dir}); valid parameters: {', '.join(sorted(defaults))}"
        )
    for name, value in raw.items():  # before expansion: "${VAR:-}" is a string, its None the fallback
        check_value(name, value, specs[name])
        check_bounds(name, value)
    values = {name: expand_env(value, f"{params_dir / set_name}.yaml: parameter {name!r}")
              for name, value in raw.items()}
    base = Path.cwd()
    for name, value in list(values.items()):
        if _is_path_param(name):
            values[name] = _check_path(name, value, base)
        elif name.endswith(_PATH_LIST_SUFFIXES) and value is not None:
            if not isinstance(value, list):
                raise ValueError(f"parameter {name!r} = {value!r}: expected a list of paths, e.g. "
                                 f"-p {name} \"[{value}]\"")
            values[name] = [_check_path(name, v, base) for v in value]
    return defaults, values


def default_results_dir(output_root: str | os.PathLike, set_name: str, stem: str,
                        set_values: Mapping[str, Any], values: Mapping[str, Any]) -> Path:
    """``<output_root>/<set>/<stem>/``, or ``.../<stem>-<digest>/`` when overrides change the set's values.

    Parameters
    ----------
    output_root, set_name, stem
        Where, which set, which notebook.
    set_values, values : mapping
        The resolved values of the set alone, and of the set plus the ``-p`` overrides.

    Returns
    -------
    pathlib.Path
        Absolute. The digest (8 hex digits) covers the names and values that differ from the set's.
    """
    changed = {k: v for k, v in values.items() if k != "results_dir" and set_values.get(k, _MISSING) != v}
    folder = Path(output_root) / set_name
    if not changed:
        return (folder / stem).resolve()
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return (folder / f"{stem}-{digest}").resolve()


_MISSING = object()


def check_results_dir(out_dir: Path, values: Mapping[str, Any]) -> None:
    """Refuse ``out_dir`` if its ``run-parameters.json`` records other values (naming them)."""
    stamp = out_dir / RUN_PARAMETERS_FILENAME
    if not stamp.is_file():
        return
    try:
        before = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        before = None
    ours = json.loads(json.dumps(dict(values), default=str))
    if not isinstance(before, dict):
        raise ValueError(f"{stamp} is unreadable: delete {out_dir} (or choose another results_dir) to run there")
    diff = [f"{k}: {before.get(k, '(unset)')!r} there, {ours.get(k, '(unset)')!r} now"
            for k in sorted(set(before) | set(ours)) if k != "results_dir" and before.get(k) != ours.get(k)]
    if diff:
        raise ValueError(
            f"{out_dir} holds a run with other values ({'; '.join(diff)}): its files would be mixed "
            "with this run's. Delete the folder, or pass -p results_dir <another folder>"
        )


# --------------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------------
def plan_run(
    notebook: Path,
    set_name: str = DEFAULT_SET,
    overrides: dict[str, Any] | None = None,
    output_root: str | os.PathLike = "results",
    params_dir: str | os.PathLike | None = None,
) -> tuple[Path, dict[str, Any]]:
    """``(results folder, values)`` of a run, checked, without running (``--list`` shows the same).

    The folder is :func:`default_results_dir` unless ``results_dir`` is overridden.
    """
    pdir = Path(params_dir) if params_dir is not None else None
    _, values = resolve_parameters(notebook, set_name, overrides, pdir)
    if values.get("results_dir") is None:
        _, set_values = resolve_parameters(notebook, set_name, {}, pdir)
        values["results_dir"] = str(default_results_dir(output_root, set_name, Path(notebook).stem,
                                                        set_values, values))
    else:
        values["results_dir"] = str(Path(values["results_dir"]).expanduser().resolve())
    return Path(values["results_dir"]), values


# --------------------------------------------------------------------------------------------
# what the terminal sees while a notebook runs
# --------------------------------------------------------------------------------------------
def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def heartbeat_line(name: str, nb, elapsed: float) -> str:
    """One line saying which code cell of ``nb`` papermill is running, and since when the run started.

    Parameters
    ----------
    name : str
        The notebook's file name.
    nb : nbformat.NotebookNode
        The notebook being executed (papermill marks the running cell ``metadata.papermill.status``).
    elapsed : float
        Seconds since the run started.

    Returns
    -------
    str
        e.g. ``"reproduce: 04_ctpt.md: cell 23/41 running (results = run_family(...)), 12 min 05 s so far"``.
    """
    code = [c for c in nb.cells if c.cell_type == "code"]
    status = [c.get("metadata", {}).get("papermill", {}).get("status") for c in code]
    if "running" not in status:
        done = status.count("completed")
        doing = "starting the kernel" if not done else f"{done}/{len(code)} cells done"
        return f"reproduce: {name}: {doing}, {_duration(elapsed)} so far"
    index = status.index("running")
    lines = [line.strip() for line in code[index].source.splitlines()]
    first = next((line for line in lines if line and not line.startswith(("#", "%"))), "")
    what = f" ({first[:57] + '...' if len(first) > 60 else first})" if first else ""
    return f"reproduce: {name}: cell {index + 1}/{len(code)} running{what}, {_duration(elapsed)} so far"


_HEARTBEAT_ENGINE = "vlmcal-heartbeat"


def _register_watched_engine(watched: dict) -> str:
    """A papermill engine (nbclient's) that hands its execution manager to ``watched["manager"]``."""
    from papermill.engines import NBClientEngine, papermill_engines

    class WatchedEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            watched["manager"] = nb_man
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register(_HEARTBEAT_ENGINE, WatchedEngine)
    return _HEARTBEAT_ENGINE


@contextmanager
def heartbeat(name: str, interval: float | None = None):
    """Yield a papermill engine name; while inside, print :func:`heartbeat_line` every ``interval`` s.

    ``interval`` defaults to :data:`HEARTBEAT_S` (read at each call).

    The lines go to stderr through ``tqdm.write``, so they do not break papermill's own bar on a
    terminal (shown only there: ``python -m vlmcal_book.reproduce`` turns it off when stderr is not
    a TTY, e.g. in CI logs, which then see these lines only).
    """
    from tqdm import tqdm

    watched: dict = {}
    started, stop = time.time(), threading.Event()
    interval = HEARTBEAT_S if interval is None else interval

    def beat():
        while not stop.wait(interval):
            manager = watched.get("manager")
            nb = manager.nb if manager is not None else None
            line = (heartbeat_line(name, nb, time.time() - started) if nb is not None
                    else f"reproduce: {name}: starting, {_duration(time.time() - started)} so far")
            tqdm.write(line, file=sys.stderr)

    thread = threading.Thread(target=beat, name="vlmcal-heartbeat", daemon=True)
    thread.start()
    try:
        yield _register_watched_engine(watched)
    finally:
        stop.set()
        thread.join()


#: The kernel's command-line options: the book's figure format (one place, not a cell per notebook).
KERNEL_ARGUMENTS = ["--InteractiveShellApp.extensions=vlmcal_utils.figures"]

_MAX_SOCKET_PATH = 100  # Unix socket paths are limited to ~104-108 bytes


def kernel_config():
    """The kernel manager's settings: IPC transport where the sockets' paths fit, else TCP.

    Over TCP, ipykernel (7+) logs "Kernel is running over TCP without encryption" once per
    notebook; runner and kernel share one machine, so Unix sockets (its own advice) are both quieter
    and private. Each call names its own sockets, ``<Jupyter runtime folder>/kernel-<uuid>-ipc-<n>``:
    jupyter_client's default prefix is ``kernel-ipc`` in the working folder, the same for every run
    of a notebook, so two runs started together bound each other's sockets (the kernel then
    rejects the other run's messages: "Invalid Signature"). Where that path would be too long for a
    socket (a deep ``$HOME``), or on Windows, TCP stays (free ports, chosen by the system).
    """
    from jupyter_core.paths import jupyter_runtime_dir
    from traitlets.config import Config

    runtime = Path(jupyter_runtime_dir())
    prefix = runtime / f"kernel-{uuid.uuid4()}-ipc"
    if os.name != "posix" or len(f"{prefix}-65535") > _MAX_SOCKET_PATH:
        return Config({"KernelManager": {"transport": "tcp"}})
    runtime.mkdir(parents=True, exist_ok=True)
    return Config({"KernelManager": {"transport": "ipc", "ip": str(prefix)}})


def record_parameters(results_file: Path, values: Mapping[str, Any]) -> dict[str, Any]:
    """Write the run's parameters into a notebook's ``results.json`` (its ``params``) and return them.

    Parameters
    ----------
    results_file : pathlib.Path
        The ``results.json`` the notebook just wrote.
    values : mapping
        Every parameter of the run: the parameters cell's defaults updated with the values injected.

    Returns
    -------
    dict
        The ``params`` written: ``values`` without ``results_dir`` (the file's own folder, a machine
        path), over any keys the notebook wrote itself (chapters that still pass ``params``).
    """
    from vlmcal_utils.results import to_jsonable

    payload = json.loads(results_file.read_text())
    # portable: a parameter such as logits_path names the build machine's folders otherwise
    ran_with = portable_paths(to_jsonable({k: v for k, v in values.items() if k != "results_dir"}))
    payload["params"] = {**(payload.get("params") or {}), **ran_with}
    atomic_write_text(results_file, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return payload["params"]


# --------------------------------------------------------------------------------------------
# before anything starts: what the runs need, what they cost; after: what they ran on
# --------------------------------------------------------------------------------------------
class PreflightError(RuntimeError):
    """Something a run needs is missing (or would be a fallback in a set that requires real data)."""


def preflight_runs(notebooks: list[Path], set_name: str = DEFAULT_SET, overrides: dict[str, Any] | None = None,
                   params_dir: str | os.PathLike | None = None) -> list[str]:
    """Check at once what every run needs (:mod:`vlmcal_utils.preflight`); raise if any is missing.

    Parameters
    ----------
    notebooks : list of pathlib.Path
        The runs (one set, the same overrides).
    set_name, overrides, params_dir
        As for :func:`run_notebook`.

    Returns
    -------
    list of str
        Lines to print before the runs start: needs fetched on first use, and a CPU run's estimated
        time where the CPU cost card says it takes over :data:`vlmcal_book.provenance.CPU_WARN_S`.

    Raises
    ------
    PreflightError
        Listing every missing dataset, weights file and GPU (and, where the set says
        ``requires_real: true``, every fallback), before any kernel starts.
    """
    needs, notes = [], []
    for notebook in notebooks:
        pdir = Path(params_dir) if params_dir is not None else find_params_dir(Path(notebook))
        _, values = resolve_parameters(Path(notebook), set_name, overrides, pdir)
        full = {**notebook_parameters(read_notebook(notebook)), **values}
        needs += preflight.run_needs(Path(notebook).stem, full)
        notes += cpu_time_notes(Path(notebook), full)
    checked = preflight.check(preflight.merge_needs(needs))
    strict = requires_real(pdir, set_name)
    stop = preflight.blocking(checked, strict)
    if stop:
        from vlmcal_utils.paper_sets import TEST_SIZES

        why = (f" (params/{set_name}.yaml says requires_real: {strict}: no demo world, random weights or "
               "synthetic data)") if any(n.status == "fallback" for n in stop) else ""
        raise PreflightError(
            f"pre-flight: {len(stop)} thing(s) missing for set {set_name!r}{why}; nothing was run:\n"
            + preflight.format_needs(stop, TEST_SIZES))
    fetched = [n for n in checked if n.status == "download"]
    return ([f"reproduce: fetched on first use: {n.kind} {n.name} ({n.detail})" for n in fetched] + notes)


def run_notebook(
    path: str | os.PathLike,
    set_name: str = DEFAULT_SET,
    overrides: dict[str, Any] | None = None,
    output_root: str | os.PathLike = "results",
    params_dir: str | os.PathLike | None = None,
    progress: bool = False,
    check: bool = True,
) -> Path:
    """Execute a notebook with parameter set ``set_name`` plus ``overrides``; return its results folder.

    The folder (:func:`plan_run`: ``<output_root>/<set_name>/<stem>/`` for the set's own values,
    ``<stem>-<digest>/`` with overrides, unless ``results_dir`` is given) then holds the executed
    ``<stem>.ipynb``, the notebook's ``results.json`` and ``run-parameters.json``.

    ``check`` runs :func:`preflight_runs` first (the command line checks all its notebooks at once
    and passes ``False``).

    Raises ``ValueError`` (unknown set or parameter, a value of the wrong type, a folder holding
    a run with other values), ``FileNotFoundError`` (a missing path
    parameter), :class:`PreflightError` (missing data, weights or GPU) and ``RuntimeError`` (a cell
    failed — the message names it and the executed
    notebook holding the traceback — or the notebook wrote no fresh ``results.json``).
    """
    import papermill as pm

    notebook = Path(path)
    if check:
        for line in preflight_runs([notebook], set_name, overrides, params_dir):
            print(line, file=sys.stderr)
    out_dir, values = plan_run(notebook, set_name, overrides, output_root, params_dir)
    check_results_dir(out_dir, values)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_PARAMETERS_FILENAME).write_text(json.dumps(values, sort_keys=True, indent=1, default=str))
    stem = notebook.stem
    results_file = out_dir / RESULTS_FILENAME
    started = time.time()
    executed = out_dir / f"{stem}.ipynb"
    # The kernel inherits this: from a terminal its loops draw text bars, forwarded to stderr below
    # (papermill's cell bar would fight them); vlmcal_book.stage strips bars from the staged pages.
    bars = progress and progress_enabled()
    os.environ[PROGRESS_ENV_VAR] = PROGRESS_TEXT if bars else "0"
    try:
        with heartbeat(notebook.name) as engine_name:
            pm.execute_notebook(
                read_notebook(notebook),
                str(executed),
                parameters=values,
                kernel_name="python3",
                cwd=str(notebook.resolve().parent),
                progress_bar=progress and not bars,
                stderr_file=sys.stderr if bars else None,
                engine_name=engine_name,
                config=kernel_config(),
                extra_arguments=KERNEL_ARGUMENTS,
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
            "vlmcal_utils.results.save_results(results_dir, <chapter>_results(...))"
        )
    record_parameters(results_file, {**notebook_parameters(read_notebook(notebook)), **values})
    record = {"seconds": round(time.time() - started, 1), "cpu_count": os.cpu_count()}
    (out_dir / RUN_TIME_FILENAME).write_text(json.dumps(record))
    return out_dir


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlmcal-reproduce",
        description="Run book notebooks with a parameter set from params/<set>.yaml and -p overrides "
        "(python -m vlmcal_book.reproduce).",
        epilog="Values are YAML (null/None, numbers, [lists]); ${VAR} in a value is expanded and must be set "
        "(${VAR:-} lets the notebook fall back when it is not). Before any kernel starts, every dataset, weights "
        "file and GPU the runs need is checked at once; a set with requires_real: true also refuses the demo "
        "world, random weights and synthetic data. The kernel runs in the notebook's folder; results go to "
        "<output-root>/<set>/<stem>/ (<stem>-<digest>/ when -p changes the set's values); the closing line says "
        "what each run's numbers come from.",
    )
    parser.add_argument("notebooks", type=Path, nargs="+", metavar="notebook",
                        help="e.g. notebooks/01_calibration_basics.md (several: checked together, run in turn)")
    parser.add_argument("--set", dest="set_name", default=DEFAULT_SET, help=f"parameter set (default: {DEFAULT_SET})")
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
        help="override one parameter (repeatable); VALUE is parsed as YAML",
    )
    parser.add_argument("--output-root", default="results", help="default: results")
    parser.add_argument("--params-dir", type=Path, default=None, help="default: the nearest params/ folder")
    parser.add_argument("--list", action="store_true", help="print the parameters and their values, do not run")
    parser.add_argument("--check", action="store_true", help="only the pre-flight check: exit 1 if anything is missing")
    return parser


def _list(notebook: Path, args: argparse.Namespace, overrides: dict[str, Any]) -> None:
    _, values = plan_run(notebook, args.set_name, overrides, args.output_root, args.params_dir)
    defaults = notebook_parameters(read_notebook(notebook))
    print(f"{notebook.name}: parameters (default -> value with set {args.set_name!r})")
    for name, default in defaults.items():
        print(f"  {name} = {default!r}" + (f"  ->  {values[name]!r}" if name in values else ""))


def _run_one(notebook: Path, args: argparse.Namespace, overrides: dict[str, Any]) -> bool:
    t0 = time.time()
    try:
        out_dir = run_notebook(notebook, args.set_name, overrides, args.output_root, args.params_dir,
                               progress=sys.stderr.isatty(), check=False)
        ran_on = read_provenance(out_dir)
    except Exception as err:  # report every failure as one readable message and a non-zero status
        print(f"reproduce: {notebook}: {type(err).__name__}: {err}", file=sys.stderr)
        return False
    print(f"reproduce: {notebook} (set {args.set_name}) ran in {time.time() - t0:.1f} s on {ran_on}; "
          f"executed notebook and {RESULTS_FILENAME} in {out_dir}")
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: check, then run (or ``--list``) notebooks; the exit status (1 with readable messages)."""
    args = _parser().parse_args(argv)
    try:
        overrides = {name: parse_value(value, name) for name, value in args.parameter}
        if args.list:
            for notebook in args.notebooks:
                _list(notebook, args, overrides)
            return 0
        for line in preflight_runs(args.notebooks, args.set_name, overrides, args.params_dir):
            print(line, file=sys.stderr)
    except Exception as err:  # one readable message (a pre-flight lists every missing thing) and status 1
        where = args.notebooks[0] if len(args.notebooks) == 1 else f"{len(args.notebooks)} notebooks"
        print(f"reproduce: {where}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    if args.check:
        print(f"reproduce: pre-flight passed for {len(args.notebooks)} notebook(s), set {args.set_name}")
        return 0
    failed = [nb for nb in args.notebooks if not _run_one(nb, args, overrides)]
    if failed and len(args.notebooks) > 1:
        print(f"reproduce: failed for: {' '.join(map(str, failed))}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
