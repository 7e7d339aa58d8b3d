"""Several runner calls at once (vlmcal_book.runs): order, whole output per run, failures, the CPU budget."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from vlmcal_book import runs


def _fake_runs(monkeypatch, scripts: dict[str, str]) -> list[runs.Run]:
    """Runs whose 'runner' is a Python one-liner each (``scripts``: notebook stem -> code)."""
    monkeypatch.setattr(runs, "run_command", lambda run, output_root=None: [sys.executable, "-c",
                                                                            scripts[run.notebook.stem]])
    return [runs.Run(Path(f"notebooks/{stem}.md"), "book") for stem in scripts]


def _lines_between(out: str, first: str, last: str) -> str:
    return out[out.index(first):out.index(last) + len(last)]


def test_parallel_runs_print_each_output_whole_and_name_the_failed_ones(monkeypatch, capfd):
    step = "import sys, time\nfor i in range(4):\n    print('{0}', i, flush=True); time.sleep(0.1)\n"
    fake = _fake_runs(monkeypatch, {"a": step.format("a"), "b": step.format("b") + "sys.exit(3)",
                                    "c": step.format("c")})
    began = time.monotonic()
    failed = runs.run_all(fake, jobs=2)
    out = capfd.readouterr().out
    assert failed == [fake[1]]
    assert re.search(r"runs: \[\d/3\] b \(book\) FAILED \(exit status 3\) in \d+ s", out)
    for stem in "abc":  # a run's four lines come together, under its own line
        assert _lines_between(out, f"{stem} 0", f"{stem} 3") == "\n".join(f"{stem} {i}" for i in range(4))
    assert time.monotonic() - began < 3 * 0.4 + 2  # a and b overlapped


def test_one_job_runs_in_the_order_given_and_streams_the_output(monkeypatch, capfd):
    fake = _fake_runs(monkeypatch, {"x": "print('x ran')", "y": "print('y ran')"})
    assert runs.run_all(fake, jobs=1) == []
    out = capfd.readouterr().out
    assert out.index("x ran") < out.index("y ran") and "runs: [2/2] y (book) passed" in out


def test_over_the_cpu_budget_the_other_runs_are_stopped(monkeypatch, capfd):
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass"
    fake = _fake_runs(monkeypatch, {"burn": burn, "long": "import time; time.sleep(60)", "never": "print('never')"})
    began = time.monotonic()
    with pytest.raises(runs.OverBudget, match=r"the runs used \d+ CPU s after burn \(book\), over their budget of 0"):
        runs.run_all(fake, jobs=2, cpu_budget=0)
    assert time.monotonic() - began < 30  # "long" was stopped, not waited for
    assert "never" not in capfd.readouterr().out


def test_the_command_line_refuses_a_missing_notebook_and_names_the_set(capsys):
    assert runs.main(["notebooks/no_such_chapter.md:ci"]) == 2
    assert "no such notebook: notebooks/no_such_chapter.md" in capsys.readouterr().err
    assert runs.parse_run("C:/book/notebooks/01.md", "book") == runs.Run(Path("C:/book/notebooks/01.md"), "book")
