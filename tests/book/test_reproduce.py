"""The notebook runner (vlmcal_book.reproduce): parameter sets, -p overrides, errors raised before running."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import tomllib
import yaml

from vlmcal_book import reproduce

# A throwaway notebook: echoes its parameters into results.json through the real save_results,
# with a schema of its own (as a user's notebook would declare one).
TINY_NOTEBOOK = textwrap.dedent(
    '''\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # Tiny

    ```{code-cell} ipython3
    :tags: [parameters]

    seed = 0
    values = [1, 2]
    data_path = None
    label: str = "x"
    results_dir = "results/default/tiny"
    ```

    ```{code-cell} ipython3
    import os
    from vlmcal_utils.results import ResultsSchema, save_results

    schema = ResultsSchema("tiny", {"cwd": "the kernel's folder", "total": "seed + sum(values)"})
    save_results(results_dir, schema.build(cwd=os.getcwd(), total=seed + sum(values)),
                 dict(seed=seed, values=values, data_path=data_path, label=label))
    ```
    '''
)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "tiny.md").write_text(TINY_NOTEBOOK)
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "ci.yaml").write_text("tiny:\n  seed: 5\n  label: ${VLMCAL_TEST_UNSET_VAR}\n")
    (tmp_path / "params" / "other.yaml").write_text("# no section for tiny: its defaults apply\n")
    return tmp_path


def test_parameters_are_read_from_the_tagged_cell(project):
    nb = reproduce.read_notebook(project / "notebooks" / "tiny.md")
    assert reproduce.notebook_parameters(nb) == {
        "seed": 0, "values": [1, 2], "data_path": None, "label": "x", "results_dir": "results/default/tiny"
    }


def test_run_with_set_and_yaml_list_override(project, monkeypatch):
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    out = reproduce.run_notebook(
        project / "notebooks" / "tiny.md", "ci",
        overrides={"values": reproduce.parse_value("[10, 20, 30]")},
        output_root=project / "results",
    )
    assert out == (project / "results" / "ci" / "tiny").resolve()
    assert json.loads((out / "results.json").read_text())["notebook"] == "tiny"  # named by the schema
    assert (out / "tiny.ipynb").is_file()
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"]["total"] == 5 + 60  # seed from ci.yaml, values from -p
    assert saved["params"]["label"] is None  # ${unset var} -> None
    # the kernel runs in the notebook's own folder
    assert Path(saved["results"]["cwd"]).resolve() == (project / "notebooks").resolve()


def test_cli_runs_a_set_without_section_and_existing_path(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    (project / "data.npz").write_bytes(b"")
    rc = reproduce.main([
        "notebooks/tiny.md", "--set", "other", "-p", "data_path", "data.npz", "-p", "seed", "1",
    ])
    assert rc == 0, capsys.readouterr().err
    saved = json.loads((project / "results" / "other" / "tiny" / "results.json").read_text())
    assert saved["results"]["total"] == 1 + 3
    assert saved["params"]["data_path"] == str((project / "data.npz").resolve())  # made absolute


def test_unknown_parameter_is_an_error_naming_it(project):
    with pytest.raises(ValueError, match=r"n_binz.*valid parameters: data_path, label, results_dir, seed, values"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci", {"n_binz": 3})


def test_missing_data_path_is_an_error_naming_it(project, capsys):
    with pytest.raises(FileNotFoundError, match="data_path"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci", {"data_path": "nowhere.npz"})
    # and the command line turns it into a non-zero exit without running anything
    rc = reproduce.main([str(project / "notebooks" / "tiny.md"), "-p", "data_path", "nowhere.npz",
                         "--output-root", str(project / "results")])
    assert rc == 1
    assert "data_path" in capsys.readouterr().err
    assert not (project / "results").exists()


def test_unknown_set_lists_the_available_ones(project):
    with pytest.raises(ValueError, match=r"unknown parameter set 'nope'.*ci, other"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "nope")


def test_parse_value_and_env_expansion(monkeypatch):
    assert reproduce.parse_value("None") is None
    assert reproduce.parse_value("null") is None
    assert reproduce.parse_value("[a.npz, 2]") == ["a.npz", 2]
    assert reproduce.parse_value("0.5") == 0.5
    monkeypatch.setenv("VLMCAL_TEST_SET_VAR", "/data")
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    assert reproduce.expand_env("${VLMCAL_TEST_SET_VAR}/x.npz") == "/data/x.npz"
    assert reproduce.expand_env("${VLMCAL_TEST_UNSET_VAR}/x.npz") is None
    assert reproduce.expand_env(["${VLMCAL_TEST_UNSET_VAR}/a", "$VLMCAL_TEST_SET_VAR/b", 3]) == ["/data/b", 3]


def test_repo_parameter_sets_match_the_notebooks(repo_root, monkeypatch):
    """Every section of params/*.yaml names an existing notebook and only its parameters."""
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)  # path checks must not need the data
    for params_file in sorted((repo_root / "params").glob("*.yaml")):
        sections = yaml.safe_load(params_file.read_text()) or {}
        for stem in sections:
            notebook = repo_root / "notebooks" / f"{stem}.md"
            assert notebook.is_file(), f"{params_file.name}: section {stem!r} has no notebooks/{stem}.md"
            reproduce.resolve_parameters(notebook, params_file.stem)


def test_the_runner_is_not_in_the_wheel(repo_root):
    """vlmcal_book is used from a clone: the wheel packages vlmcal_utils only (see the README)."""
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert config["include"] == ["vlmcal_utils*"]
    assert not (repo_root / "vlmcal_utils" / "reproduce.py").exists()
