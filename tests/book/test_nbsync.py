"""Jupytext pairing (vlmcal_book.nbsync): every notebooks/*.md has an output-free .ipynb twin with the same cells."""

from __future__ import annotations

import shutil

import jupytext
import pytest

from vlmcal_book import nbsync


def test_repo_notebooks_are_in_sync(repo_root):
    assert list((repo_root / "notebooks").glob("*.md")), "no notebooks found"
    assert nbsync.check(repo_root / "notebooks") == []


def test_detects_edits_missing_twins_and_outputs(repo_root, tmp_path):
    src = sorted((repo_root / "notebooks").glob("*.md"))[0]
    md = tmp_path / src.name
    shutil.copy(src, md)
    assert any("no .ipynb twin" in p for p in nbsync.check(tmp_path))

    nbsync.write(tmp_path)
    assert nbsync.check(tmp_path) == []

    # edit one code cell of the .md only
    text = md.read_text()
    md.write_text(text.replace("import ", "import  os, ", 1))
    problems = nbsync.check(tmp_path)
    assert len(problems) == 1 and "differs" in problems[0]

    # a re-paired notebook is clean again; an executed-looking twin is not
    nbsync.write(tmp_path)
    assert nbsync.check(tmp_path) == []
    ipynb = md.with_suffix(".ipynb")
    nb = jupytext.read(ipynb)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 1
    jupytext.write(nb, ipynb)
    assert any("outputs" in p for p in nbsync.check(tmp_path))

    # an orphan .ipynb
    md.unlink()
    assert any("no .md source" in p for p in nbsync.check(tmp_path))


def test_tag_change_is_detected(repo_root, tmp_path):
    src = sorted((repo_root / "notebooks").glob("*.md"))[0]
    shutil.copy(src, tmp_path / src.name)
    nbsync.write(tmp_path)
    md = tmp_path / src.name
    md.write_text(md.read_text().replace(":tags: [parameters]", ":tags: [parameters, hide-input]", 1))
    assert any("differs" in p for p in nbsync.check(tmp_path))


def test_difference_is_explained_by_jupytext(repo_root, tmp_path):
    """The check is jupytext's compare_notebooks: its message names the cell and shows the change."""
    src = sorted((repo_root / "notebooks").glob("*.md"))[0]
    md = tmp_path / src.name
    shutil.copy(src, md)
    nbsync.write(tmp_path)
    md.write_text(md.read_text().replace(":tags: [parameters]", ":tags: [parameters, hide-input]", 1))
    explanation = nbsync.pairing_difference(md, md.with_suffix(".ipynb"))
    assert explanation is not None and "hide-input" in explanation
    assert nbsync.main(["--check", "--dir", str(tmp_path)]) == 1
    assert nbsync.main(["--write", "--dir", str(tmp_path)]) == 0
    assert nbsync.pairing_difference(md, md.with_suffix(".ipynb")) is None


def test_write_is_deterministic(repo_root, tmp_path):
    """Re-pairing an unchanged .md rewrites nothing (cell ids do not come from a random draw)."""
    src = sorted((repo_root / "notebooks").glob("*.md"))[0]
    shutil.copy(src, tmp_path / src.name)
    assert nbsync.write(tmp_path) == [tmp_path / src.with_suffix(".ipynb").name]
    first = (tmp_path / src.with_suffix(".ipynb").name).read_text()
    (tmp_path / src.with_suffix(".ipynb").name).unlink()
    nbsync.write(tmp_path)
    assert (tmp_path / src.with_suffix(".ipynb").name).read_text() == first
    assert nbsync.write(tmp_path) == []


def _book_copy(repo_root, tmp_path, url):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_config.yml").write_text(f"repository:\n  url: {url}\n")
    src = sorted((repo_root / "notebooks").glob("*.md"))[0]
    shutil.copy(src, tmp_path / "notebooks" / src.name)
    return tmp_path / "notebooks" / src.name


def test_install_cell_is_generated_from_the_config_url(repo_root, tmp_path):
    """The repository URL was typed into all four notebooks; now _config.yml's one URL fills it in."""
    md = _book_copy(repo_root, tmp_path, "https://github.com/someone/calbook")
    nbsync.write(tmp_path / "notebooks")
    assert any("Colab install cell" in p for p in nbsync.check(tmp_path / "notebooks")) is False
    nb = jupytext.read(md.with_suffix(".ipynb"))
    install = next(c for c in nb.cells if c.cell_type == "code")
    # the release the book was built with (a tag from the package version), never the moving HEAD
    assert f'"git+https://github.com/someone/calbook@{nbsync.release_ref()}"' in install.source
    assert {"skip-execution", "remove-cell"} <= set(install.metadata["tags"])
    assert nb.metadata["accelerator"] == "GPU" and "colab" in nb.metadata
    # another URL in _config.yml: the .md is out of date until `make sync`
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/other/calbook\n")
    assert any("Colab install cell" in p for p in nbsync.check(tmp_path / "notebooks"))
    nbsync.write(tmp_path / "notebooks")
    assert nbsync.check(tmp_path / "notebooks") == []
    assert "github.com/other/calbook" in md.read_text()


def test_twin_without_colab_metadata_is_reported(repo_root, tmp_path):
    md = _book_copy(repo_root, tmp_path, nbsync.PLACEHOLDER_URL)
    nbsync.write(tmp_path / "notebooks")
    nb = jupytext.read(md.with_suffix(".ipynb"))
    del nb.metadata["accelerator"]
    jupytext.write(nb, md.with_suffix(".ipynb"))
    assert any("Colab GPU metadata" in p for p in nbsync.check(tmp_path / "notebooks"))


def _on_fake_colab(monkeypatch):
    import sys
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_placeholder_install_cell_stops_the_notebook(monkeypatch):
    """With the placeholder URL, Colab stops at the install cell with what to do, not at a later import."""
    _on_fake_colab(monkeypatch)
    code = nbsync.install_cell_source(nbsync.PLACEHOLDER_URL)
    assert "subprocess" not in code
    with pytest.raises(RuntimeError, match="placeholder.*make setup"):
        exec(compile(code, "install-cell", "exec"), {})


def test_failed_install_shows_pips_last_lines_and_stops(monkeypatch, capsys):
    """pip's own error reaches the reader (not swallowed), then the cell stops the notebook."""
    import subprocess

    _on_fake_colab(monkeypatch)
    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, stdout="", stderr="\n".join(f"line {i}" for i in range(30)))

    monkeypatch.setattr(subprocess, "run", fake_run)
    code = nbsync.install_cell_source("https://github.com/someone/calbook", ref="v9.9.9")
    with pytest.raises(RuntimeError, match="v9.9.9.*make setup"):
        exec(compile(code, "install-cell", "exec"), {})
    assert calls[0][-1] == "git+https://github.com/someone/calbook@v9.9.9"
    err = capsys.readouterr().err
    assert "line 29" in err and "line 10" in err and "line 9\n" not in err  # the last 20 lines


def test_install_cell_does_nothing_off_colab():
    exec(compile(nbsync.install_cell_source("https://github.com/someone/calbook"), "install-cell", "exec"), {})


def test_twins_carry_no_unfilled_placeholder(repo_root):
    from vlmcal_book.browser_check import PLACEHOLDER_RE

    for twin in sorted((repo_root / "notebooks").glob("*.ipynb")):
        assert not PLACEHOLDER_RE.search(twin.read_text()), f"{twin.name} shows an unfilled placeholder"


def test_release_ref_follows_the_package_version():
    import vlmcal_utils

    assert nbsync.release_ref() == f"v{vlmcal_utils.__version__}"
