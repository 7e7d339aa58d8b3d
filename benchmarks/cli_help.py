"""How long every command line of the project takes to print its ``--help`` (a benchmark, not a test).

Each command runs ``--help`` in a fresh interpreter ``--repeat`` times (default 3); the table gives
the fastest and the median wall time, and the heaviest modules the command imported on the way
(torch, open_clip, pandas, ray, ...: what makes a ``--help`` slow). The target is under 2 s each
(issue 24). Timings on a shared machine are noisy: compare before/after back to back.

    python benchmarks/cli_help.py                 # every command
    python benchmarks/cli_help.py --only sweep    # the commands whose name contains "sweep"
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: name -> argv after the interpreter (the console script of pyproject's [project.scripts] runs the same main)
COMMANDS = {
    "vlmcal-reproduce": ["-m", "vlmcal_book.reproduce"],
    "vlmcal-paper-sets": ["-m", "vlmcal_utils.paper_sets"],
    "vlmcal-sweep": ["-m", "vlmcal_utils.sweep"],
    "vlmcal-demo": ["-m", "vlmcal_utils.demo"],
    "vlmcal_book.stage": ["-m", "vlmcal_book.stage"],
    "vlmcal_book.report": ["-m", "vlmcal_book.report"],
    "vlmcal_book.nbsync": ["-m", "vlmcal_book.nbsync"],
    "vlmcal_book.api_pages": ["-m", "vlmcal_book.api_pages"],
    "vlmcal_book.costs_page": ["-m", "vlmcal_book.costs_page"],
    "vlmcal_book.demo_page": ["-m", "vlmcal_book.demo_page"],
    "vlmcal_book.conda_env": ["-m", "vlmcal_book.conda_env"],
    "vlmcal_book.browser_check": ["-m", "vlmcal_book.browser_check"],
    "benchmarks/cost_card.py": ["benchmarks/cost_card.py"],
    "benchmarks/bench_tpt.py": ["benchmarks/bench_tpt.py"],
}
HEAVY = ("torch", "open_clip", "ray", "pandas", "matplotlib", "timm", "papermill", "sklearn", "scipy")
_PROBE = ("import atexit, sys\n"
          "atexit.register(lambda: sys.stderr.write('\\nHEAVY:' + ','.join(m for m in {heavy!r} "
          "if m in sys.modules) + '\\n'))\n"
          "sys.argv = [{name!r}, '--help']\n"
          "import runpy\n")


def _probe_code(name: str, argv: list[str]) -> str:
    """A ``python -c`` program that runs ``argv --help`` and reports the heavy modules it imported."""
    code = _PROBE.format(heavy=HEAVY, name=name)
    if argv[0] == "-m":
        return code + f"runpy.run_module({argv[1]!r}, run_name='__main__', alter_sys=True)\n"
    return code + f"runpy.run_path({str(ROOT / argv[0])!r}, run_name='__main__')\n"


def time_help(name: str, argv: list[str], repeat: int) -> tuple[list[float], str, int]:
    """Wall seconds of each ``--help`` run, the heavy modules imported, and the last exit status."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    times, heavy, rc = [], "", 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _probe_code(name, argv)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        rc = done.returncode
        heavy = next((line[6:] for line in done.stderr.splitlines() if line.startswith("HEAVY:")), "?")
    return times, heavy, rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="only the commands whose name contains this")
    args = parser.parse_args(argv)
    print(f"{'command':28s} {'min s':>6s} {'median s':>8s}  rc  heavy modules imported by --help")
    slow = 0
    for name, cmd in COMMANDS.items():
        if args.only not in name:
            continue
        times, heavy, rc = time_help(name, cmd, args.repeat)
        slow += min(times) >= 2.0
        print(f"{name:28s} {min(times):6.2f} {statistics.median(times):8.2f}  {rc:2d}  {heavy or '-'}", flush=True)
    print(f"{slow} command(s) at or over 2 s (fastest of {args.repeat}); load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
