"""Run several notebooks through the runner, a few at a time: ``make book``'s and ``make test``'s runs.

::

    python -m vlmcal_book.runs notebooks/04_ctpt.md:book notebooks/02_zero_shot_clip.md:ci --jobs 2
    python -m vlmcal_book.runs notebooks/*.md --set book --jobs 1      # one after another, output live

Each run ``NOTEBOOK[:SET]`` is its own ``python -m vlmcal_book.reproduce NOTEBOOK --set SET`` process
(:mod:`vlmcal_book.reproduce`), so a run is exactly what that command does alone. Runs are started in
the order given, up to ``--jobs`` at once: put the slowest first, so that the last ones to end are
short. They are independent: each has its own results folder, its own kernel with its own sockets
(:func:`vlmcal_book.reproduce.kernel_config`), and the caches they share are written atomically.

Why in parallel: a run keeps about one core busy (kernel start, pandas, small torch models), and the
machines of CI have two; chapter 4's book run alone took a third of ``make test``.

- **Threads.** With ``--jobs`` over 1, each run gets ``OMP_NUM_THREADS = cores // jobs`` (unless the
  variable is set), so two runs do not fight over the same cores. It changes no number: chapter 4's
  ``results.json`` with one torch thread equals the one with two, timings apart (measured 2026-12-06).
- **Output.** With ``--jobs 1`` a run's output goes straight to the terminal, as before. With more,
  each run's output is held in a temporary file and printed whole when the run ends, under a line
  naming it, so the log reads run by run, never interleaved; every :data:`STATUS_S` seconds one line
  says what is running, for how long, and how many runs are left.
- **Failures.** A failed run does not stop the others; the exit status is 1 and the last line names
  every failed run.
- **CPU budget** (``--cpu-budget S``): after each run, the CPU seconds of the finished runs and
  their kernels are added up (``getrusage(RUSAGE_CHILDREN)``); over ``S``, the other runs are
  stopped and the command fails with one line naming the budget and ``--budget-hint`` (``make test``'s
  stage budgets: what to change to allow more).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Sequence

__all__ = ["Run", "parse_run", "run_command", "run_environment", "run_all", "main"]

#: Seconds between two "still running" lines when runs are in parallel.
STATUS_S = 60.0
_POLL_S = 0.2


@dataclass(frozen=True)
class Run:
    """One runner call: a notebook and the parameter set it runs with."""

    notebook: Path
    set_name: str

    @property
    def label(self) -> str:
        """``"<stem> (<set>)"``: how the lines of this module name the run."""
        return f"{self.notebook.stem} ({self.set_name})"


@dataclass
class _Started:
    run: Run
    process: subprocess.Popen
    log: IO[bytes] | None
    began: float = field(default_factory=time.monotonic)

    def seconds(self) -> float:
        return time.monotonic() - self.began


class OverBudget(RuntimeError):
    """The finished runs used more CPU seconds than the budget."""


def parse_run(text: str, default_set: str) -> Run:
    """``"notebooks/04_ctpt.md:ci-plumbing"`` -> ``Run``; without ``:SET`` the run uses ``default_set``.

    >>> parse_run("notebooks/04_ctpt.md:ci-plumbing", "book")
    Run(notebook=PosixPath('notebooks/04_ctpt.md'), set_name='ci-plumbing')
    >>> parse_run("notebooks/01_calibration_basics.md", "book").label
    '01_calibration_basics (book)'
    """
    path, sep, set_name = text.rpartition(":")
    if not sep or not set_name or "/" in set_name:  # no set given (a path may hold ':' only before a '/')
        path, set_name = text, default_set
    return Run(Path(path), set_name)


def run_command(run: Run, output_root: str | None = None) -> list[str]:
    """The runner command of ``run`` (this Python, so the same environment)."""
    command = [sys.executable, "-m", "vlmcal_book.reproduce", str(run.notebook), "--set", run.set_name]
    return command + (["--output-root", output_root] if output_root else [])


def run_environment(jobs: int, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The runs' environment: ``OMP_NUM_THREADS`` shared out when runs overlap.

    With ``jobs > 1``, ``OMP_NUM_THREADS`` = cores // ``jobs`` (at least 1) unless already set; with
    one job, the environment unchanged (torch takes every core, as from a terminal).

    >>> run_environment(2, {"OMP_NUM_THREADS": "3"})["OMP_NUM_THREADS"]
    '3'
    >>> "OMP_NUM_THREADS" in run_environment(1, {})
    False
    """
    env = dict(os.environ if environ is None else environ)
    if jobs > 1:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    return env


def _start(run: Run, jobs: int, output_root: str | None) -> _Started:
    # A held log when runs overlap; a session of its own, so stopping a run stops its kernel too.
    log = tempfile.TemporaryFile() if jobs > 1 else None
    process = subprocess.Popen(run_command(run, output_root), env=run_environment(jobs), stdout=log,
                               stderr=subprocess.STDOUT if log else None, start_new_session=True)
    return _Started(run, process, log)


def _report(done: _Started, n_done: int, n_runs: int) -> None:
    verdict = "passed" if done.process.returncode == 0 else f"FAILED (exit status {done.process.returncode})"
    print(f"runs: [{n_done}/{n_runs}] {done.run.label} {verdict} in {done.seconds():.0f} s", flush=True)
    if done.log is not None:
        done.log.seek(0)
        sys.stdout.buffer.write(done.log.read())
        sys.stdout.flush()
        done.log.close()


def _status(running: list[_Started], waiting: int, n_done: int) -> str:
    now = ", ".join(f"{s.run.label} {s.seconds():.0f} s" for s in running)
    return f"runs: running {now}; {n_done} done, {waiting} waiting"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _stop(running: list[_Started]) -> None:
    for started in running:
        try:
            os.killpg(started.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for started in running:
        started.process.wait()


def _check_budget(cpu_budget: float | None, cpu_start: float, after: Run) -> None:
    used = _children_cpu() - cpu_start
    if cpu_budget is not None and used > cpu_budget:
        raise OverBudget(f"the runs used {used:.0f} CPU s after {after.label}, over their budget of "
                         f"{cpu_budget:.0f} CPU s: a slow change, not a busy machine")


def run_all(runs: Sequence[Run], jobs: int = 2, output_root: str | None = None,
            cpu_budget: float | None = None) -> list[Run]:
    """Run ``runs`` in the order given, ``jobs`` at a time; return the ones that failed.

    Raises
    ------
    OverBudget
        When the finished runs used more than ``cpu_budget`` CPU seconds (the others are stopped).
    """
    waiting, running, failed = list(runs), [], []
    cpu_start, n_done, last_status = _children_cpu(), 0, time.monotonic()
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                running.append(_start(waiting.pop(0), jobs, output_root))
            time.sleep(_POLL_S)
            for done in [s for s in running if s.process.poll() is not None]:
                running.remove(done)
                n_done += 1
                _report(done, n_done, len(runs))
                if done.process.returncode:
                    failed.append(done.run)
                _check_budget(cpu_budget, cpu_start, done.run)
            if jobs > 1 and running and time.monotonic() - last_status >= STATUS_S:
                print(_status(running, len(waiting), n_done), flush=True)
                last_status = time.monotonic()
    except BaseException:  # over budget, or Ctrl-C: no run goes on in the background
        _stop(running)
        raise
    return failed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vlmcal_book.runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NOTEBOOK[:SET]", help="the runs, slowest first")
    parser.add_argument("--set", dest="set_name", default="book", help="the set of a run given without :SET")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2; 1: one after another)")
    parser.add_argument("--output-root", default=None, help="passed to every run (default: the runner's)")
    parser.add_argument("--cpu-budget", type=float, default=None, help="CPU seconds the runs may use in all")
    parser.add_argument("--budget-hint", default="", help="added to the over-budget line: how to allow more")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line: run everything, then one line naming the failed runs; the exit status."""
    args = _parser().parse_args(argv)
    if args.jobs < 1:
        print(f"runs: --jobs must be 1 or more, got {args.jobs}", file=sys.stderr)
        return 2
    runs = [parse_run(text, args.set_name) for text in args.runs]
    missing = [str(r.notebook) for r in runs if not r.notebook.is_file()]
    if missing:
        print(f"runs: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        failed = run_all(runs, args.jobs, args.output_root, args.cpu_budget)
    except OverBudget as err:
        print(f"runs: {err}" + (f" ({args.budget_hint})" if args.budget_hint else ""), file=sys.stderr)
        return 1
    if failed:
        print(f"runs: failed: {' '.join(r.label for r in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
