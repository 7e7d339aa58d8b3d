"""The command lines: --help without heavy imports, console scripts, one-line expected errors, offline hub."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "open_clip", "pandas", "ray", "papermill", "matplotlib")
_HELP = ("import runpy, sys\nsys.argv = ['x', '--help']\ntry:\n    runpy.run_module({module!r}, run_name='__main__')\n"
         "except SystemExit:\n    pass\nprint('HEAVY:' + ','.join(m for m in {heavy!r} if m in sys.modules))\n")


@pytest.mark.parametrize("module", ["vlmcal_book.reproduce", "vlmcal_utils.paper_sets", "vlmcal_utils.sweep",
                                    "vlmcal_utils.demo"])
def test_help_imports_nothing_heavy(module):
    """Before (issue 24): sweep --help took 47 s and paper_sets --help 23 s (torch and open_clip first).
    benchmarks/cli_help.py times them; this checks the cause: nothing heavy before argparse answers."""
    done = subprocess.run([sys.executable, "-c", _HELP.format(module=module, heavy=HEAVY)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert "usage:" in done.stdout, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY:", done.stdout[-300:]


def test_console_scripts_are_importable_callables():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (the package itself supports 3.10)
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"vlmcal-reproduce", "vlmcal-paper-sets", "vlmcal-sweep", "vlmcal-demo"} <= set(scripts)
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_vlmcal_reproduce_finds_the_clone_or_says_what_to_do(tmp_path, monkeypatch, capsys):
    from vlmcal_utils import launch

    assert launch.find_clone(REPO / "notebooks") == REPO
    monkeypatch.chdir(tmp_path)
    assert launch.find_clone() is None
    assert launch.reproduce(["notebooks/01_calibration_basics.md", "--list"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "inside a clone" in err


def test_offline_puts_the_hub_client_offline():
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    code = "import os, vlmcal_utils; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))"
    for offline, expected in (("1", "1 1"), ("", "None None")):
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                              env={**env, "VLMCAL_OFFLINE": offline, "PYTHONPATH": str(REPO)})
        assert done.stdout.strip() == expected, done.stderr


def test_sweep_parser_choices_are_the_plans():
    from vlmcal_utils.sweep import cli, plan

    assert cli._PAPER_CHOICES == tuple(sorted(plan.PAPERS))
    assert cli._METHODS_HELP == ",".join(plan.SWEPT_METHODS)


def test_sweep_without_the_data_lists_what_is_missing_before_starting(tmp_path, monkeypatch, capsys):
    """Before (issue 24): a missing dataset in the sweep was a 27-line traceback, after Ray had started."""
    from vlmcal_utils.sweep import cli

    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_DATA", str(tmp_path))
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    params = tmp_path / "one.yaml"
    params.write_text("04_ctpt:\n  model: RN50\n  pretrained: openai\n  datasets: [dtd, imagenet-a]\n  device: cpu\n")
    rc = cli.main([str(params), "--output", str(tmp_path / "out"), "--model", "section"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "sweep: pre-flight: " in err
    assert "MISSING  dataset   dtd" in err and "MISSING  dataset   imagenet-a" in err
    assert not (tmp_path / "out").exists()
    # an unreadable parameter file: one line
    assert cli.main([str(tmp_path / "absent.yaml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no parameter set" in err


@pytest.mark.parametrize("package", ["vlmcal_utils.tpt", "vlmcal_utils.study", "vlmcal_utils.sweep",
                                     "vlmcal_utils.demo"])
def test_lazy_packages_still_export_every_name(package):
    """The PEP 562 exports (vlmcal_utils.lazy): every name of __all__ resolves, to its module's object."""
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        assert value is not None and name in dir(module)
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        module.not_a_name  # noqa: B018
