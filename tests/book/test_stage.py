"""vlmcal_book.stage: the book is built from the runner's executed notebooks (one execution each)."""

from __future__ import annotations

import jupytext
import nbformat
import pytest
import yaml

from vlmcal_book import stage

_MD = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
:tags: [parameters]

seed = 0
```

```{code-cell} ipython3
print(seed)
```
"""


def _repo(tmp_path):
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Intro\n")
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\n")
    (root / "_config.yml").write_text(yaml.safe_dump({
        "title": "t", "execute": {"execute_notebooks": "cache"},
        "exclude_patterns": ["notebooks/*.ipynb", ".venv/**"]}))
    (root / "notebooks" / "01_x.md").write_text(_MD)
    return root


def _executed(root, source=_MD):
    """What the runner writes: the notebook with papermill's injected cell and outputs."""
    nb = jupytext.reads(source, fmt="md:myst")
    injected = nbformat.v4.new_code_cell('seed = 0\nresults_dir = "/home/someone/results/book/01_x"',
                                         metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(2, injected)
    nb.cells[-1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0\n")]
    path = stage.executed_notebook(root / "results", "book", "01_x")
    path.parent.mkdir(parents=True)
    nbformat.write(nb, path)
    return path


def test_stage_replaces_sources_by_executed_notebooks(tmp_path):
    root = _repo(tmp_path)
    _executed(root)
    out = stage.stage(root, tmp_path / "staged")
    page = nbformat.read(out / "notebooks" / "01_x.ipynb", as_version=4)
    assert page.cells[-1].outputs[0]["text"] == "0\n", "the runner's outputs are the page's outputs"
    injected = [c for c in page.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "remove-cell" in injected[0].metadata["tags"], "machine paths must not reach the page"
    config = yaml.safe_load((out / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", "the book must not execute a notebook again"
    assert "notebooks/*.ipynb" not in config["exclude_patterns"]
    assert not (out / "notebooks" / "01_x.md").exists()
    assert (out / "book").is_symlink() and (out / "_toc.yml").is_symlink()
    # staging again starts from scratch
    (out / "stale-file").write_text("x")
    stage.stage(root, out)
    assert not (out / "stale-file").exists()


def test_missing_or_stale_run_is_refused_with_the_command(tmp_path):
    root = _repo(tmp_path)
    with pytest.raises(FileNotFoundError, match="vlmcal_book.reproduce notebooks/01_x.md --set book"):
        stage.stage(root, tmp_path / "staged")
    _executed(root)
    # the source changed after the run: its executed notebook is not this page any more
    md = root / "notebooks" / "01_x.md"
    md.write_text(_MD.replace("print(seed)", "print(seed + 1)"))
    with pytest.raises(ValueError, match="older 01_x.md"):
        stage.stage(root, tmp_path / "staged")
    assert stage.main(["--root", str(root), "--out", str(tmp_path / "staged")]) == 1


def test_page_takes_prose_and_tags_from_the_current_source(tmp_path):
    """Prose or a tag edited after the run needs no new run; the page shows the edit with the outputs."""
    root = _repo(tmp_path)
    _executed(root)
    md = root / "notebooks" / "01_x.md"
    md.write_text(md.read_text().replace("# A chapter", "# A chapter, reworded").replace(
        "```{code-cell} ipython3\nprint(seed)", "```{code-cell} ipython3\n:tags: [remove-cell]\n\nprint(seed)"))
    page = nbformat.read(stage.stage(root, tmp_path / "staged") / "notebooks" / "01_x.ipynb", as_version=4)
    assert "reworded" in page.cells[0].source
    assert page.cells[-1].metadata["tags"] == ["remove-cell"] and page.cells[-1].outputs


def test_progress_bars_and_tqdm_warning_do_not_reach_the_page(tmp_path):
    root = _repo(tmp_path)
    path = _executed(root)
    nb = nbformat.read(path, as_version=4)
    nb.cells[-1].outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=(
            "/venv/tqdm/auto.py:21: TqdmWarning: IProgress not found. Please update jupyter and ipywidgets.\n"
            "  from tqdm.autonotebook import tqdm as notebook_tqdm\n"
            "  from .autonotebook import tqdm as notebook_tqdm\n"  # the line tqdm 4.67 writes (it reached every page)
            "ctpt:  50%|#####     | 20/40 [00:02<00:02,  9.1it/s]\r"
            "ctpt: 100%|##########| 40/40 [00:04<00:00,  9.3it/s] \n")),
        nbformat.v4.new_output("stream", name="stdout", text="0\nkept: 100% of the rows\n")]
    nbformat.write(nb, path)
    page = nbformat.read(stage.stage(root, tmp_path / "staged") / "notebooks" / "01_x.ipynb", as_version=4)
    assert [o["text"] for o in page.cells[-1].outputs] == ["0\nkept: 100% of the rows\n"]


def test_the_run_time_of_the_shown_run_replaces_its_token(tmp_path):
    root = _repo(tmp_path)
    source = _MD.replace("# A chapter", f"# A chapter\n\n**Time:** {stage.RUN_TIME_TOKEN}.")
    (root / "notebooks" / "01_x.md").write_text(source)
    executed = _executed(root, source)
    out = stage.stage(root, tmp_path / "staged")
    page = (out / "notebooks" / "01_x.ipynb").read_text()
    assert "Time:** not measured." in page  # no record: says so, never a made-up time
    (executed.parent / stage.RUN_TIME_FILENAME).write_text('{"seconds": 83.4, "cpu_count": 2}')
    page = (stage.stage(root, tmp_path / "staged") / "notebooks" / "01_x.ipynb").read_text()
    assert "about 83 s on 2 CPU cores" in page and stage.RUN_TIME_TOKEN not in page
    (executed.parent / stage.RUN_TIME_FILENAME).write_text('{"seconds": 250, "cpu_count": 2}')
    assert "about 4 min" in stage.run_time_text(executed)
