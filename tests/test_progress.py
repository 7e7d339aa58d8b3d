"""Tests for vlmcal_utils.progress: bars on request, none when VLMCAL_PROGRESS=0, text ones with =text."""

from __future__ import annotations

from vlmcal_utils.progress import PROGRESS_ENV_VAR, progress_bar, progress_enabled


def test_bars_follow_the_request_and_the_switch(monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV_VAR, raising=False)
    assert progress_enabled(True) and not progress_enabled(False)
    monkeypatch.setenv(PROGRESS_ENV_VAR, "0")
    assert not progress_enabled(True)


def test_a_switched_off_bar_prints_nothing_and_still_iterates(monkeypatch, capsys):
    monkeypatch.setenv(PROGRESS_ENV_VAR, "0")
    assert list(progress_bar(range(3), desc="loop")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    monkeypatch.setenv(PROGRESS_ENV_VAR, "1")
    list(progress_bar(range(3), desc="loop"))
    assert "loop" in capsys.readouterr().err


def test_text_bars_are_plain_tqdm_on_stderr(monkeypatch, capsys):
    """VLMCAL_PROGRESS=text (the runner, from a terminal): text on stderr, never a notebook widget."""
    from tqdm import std

    from vlmcal_utils.progress import PROGRESS_TEXT

    monkeypatch.setenv(PROGRESS_ENV_VAR, PROGRESS_TEXT)
    bar = progress_bar(range(3), desc="images")
    assert type(bar) is std.tqdm and progress_enabled(True)
    assert list(bar) == [0, 1, 2]
    assert "images: 100%" in capsys.readouterr().err


def test_importing_the_package_in_a_kernel_without_ipywidgets_warns_nothing():
    """tqdm.auto's "IProgress not found" warning reached every chapter page (stderr of the first import)."""
    import subprocess
    import sys

    code = ("import sys, types, warnings; warnings.simplefilter('always'); sys.modules['ipywidgets'] = None; "
            "sys.modules['ipykernel.zmqshell'] = types.ModuleType('ipykernel.zmqshell'); "  # a kernel, as tqdm sees one
            "import IPython, vlmcal_utils.progress")
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONWARNINGS"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "Warning" not in run.stderr, run.stderr
