"""`make test`'s stage budgets count CPU seconds, so a busy machine does not trip them but a slow change does."""

import os
import re
import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("make") is None or shutil.which("bash") is None,
                                reason="needs make and bash")

# A stage that burns CPU in a child (the budgets count finished children, as the stages' commands are),
# then sleeps: the sleep is what a busy machine adds to a stage, wall time without CPU time.
_STAGE = """include {makefile}
stage:
\t@$(WITHIN); cpu; c0=$$CPU; \\
\t{python} -c "import time; t = time.process_time(); exec('while time.process_time() - t < 1.6: pass')"; \\
\tsleep {sleep}; within DEMO {budget} $$c0 "after the burn"; echo "stage done"
"""


def _run_stage(tmp_path, repo_root, budget: int, sleep: float = 0) -> subprocess.CompletedProcess:
    mk = tmp_path / "stage.mk"
    mk.write_text(_STAGE.format(makefile=repo_root / "Makefile", python=shutil.which("python3") or "python3",
                                budget=budget, sleep=sleep))
    # make reads BUDGETS (and BUDGET_*) from the environment: a `make test BUDGETS=off` around this test must
    # not switch off the budget under test
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BUDGET", "MAKE"))}
    return subprocess.run(["make", "-s", "-f", str(mk), "-C", str(repo_root), "stage"],
                          capture_output=True, text=True, timeout=120, env=env)


def test_a_stage_over_its_cpu_budget_stops_with_one_line_naming_it(tmp_path, repo_root):
    run = _run_stage(tmp_path, repo_root, budget=0)
    assert run.returncode != 0 and "stage done" not in run.stdout
    assert re.search(r"the demo stage \(after the burn\) used [1-9]\d* CPU s, over its budget BUDGET_DEMO=0 CPU s",
                     run.stdout), run.stdout


def test_wall_time_without_cpu_time_does_not_count(tmp_path, repo_root):
    run = _run_stage(tmp_path, repo_root, budget=3, sleep=4)  # 5.6 s of wall time, ~2 CPU s
    assert run.returncode == 0 and "stage done" in run.stdout, run.stdout + run.stderr
