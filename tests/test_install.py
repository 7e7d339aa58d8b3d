"""A plain `pip install .` (no extras) is enough for the library: no module needs the book tooling.

In a fresh interpreter in which jupytext, papermill, nbformat, nbclient, Jupyter Book and the
book tooling cannot be imported (as on a machine with neither the ``[book]`` extra nor a clone),
every ``vlmcal_utils`` module is imported and chapter-level code runs.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import textwrap

import vlmcal_utils

#: installed only by the [book] extra, or only present in a clone
BOOK_ONLY = ("jupytext", "papermill", "nbformat", "nbclient", "jupyter_book", "vlmcal_book")

_PROBE = textwrap.dedent(
    """
    import importlib, importlib.abc, sys

    BLOCKED = set(sys.argv[1].split(","))

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None

    sys.meta_path.insert(0, Blocker())
    failed = []
    for module in sys.argv[2].split(","):
        try:
            importlib.import_module(module)
        except Exception as err:
            failed.append(f"import {module}: {type(err).__name__}: {err}")

    # chapter-level code: metrics, temperature scaling, a results file written and read back
    import numpy as np
    from vlmcal_utils.metrics import ece, softmax
    from vlmcal_utils.results import ResultsSchema, load_results, save_results
    from vlmcal_utils.temperature import fit_temperature

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 200)
    logits = 3 * np.eye(3)[labels] + rng.normal(size=(200, 3))
    T = fit_temperature(logits, labels)
    schema = ResultsSchema("mine", {"ece": "ECE after TS", "T": "temperature"})
    save_results("out", schema.build(ece=ece(softmax(logits / T), labels), T=T), params={})
    if load_results("out")["results"]["T"] != T or not T > 0:
        failed.append(f"chapter code: unexpected temperature {T}")

    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    print("\\n".join(failed + [f"imported {m}" for m in leaked]))
    sys.exit(1 if failed or leaked else 0)
    """
)


def _all_modules() -> list[str]:
    return sorted(["vlmcal_utils"] + [m.name for m in pkgutil.walk_packages(vlmcal_utils.__path__, "vlmcal_utils.")])


def test_module_list_covers_the_subpackages():
    modules = _all_modules()
    assert {"vlmcal_utils.metrics", "vlmcal_utils.results.io", "vlmcal_utils.demo.card"} <= set(modules)
    # the book tooling left the wheel
    assert not {"vlmcal_utils.reproduce", "vlmcal_utils.report", "vlmcal_utils.nbsync"} & set(modules)


def test_every_module_imports_and_chapter_code_runs_without_the_book_extra(tmp_path):
    # run from an empty folder, so the clone's vlmcal_book is not importable by accident either
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(BOOK_ONLY), ",".join(_all_modules())],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, f"needs the book tooling:\n{proc.stdout}{proc.stderr}"
    assert (tmp_path / "out" / "results.json").is_file()
