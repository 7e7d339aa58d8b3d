"""The notebook runner (vlmcal_book.reproduce): parameter sets, -p overrides, errors raised before running."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import nbformat
import pytest
import tomllib
import yaml

from vlmcal_book import provenance, reproduce

# A throwaway notebook: writes results.json through the real save_results, with a schema of its own
# (as a user's notebook would declare one) and no copy of its parameters: the runner records those.
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
    save_results(results_dir, schema.build(cwd=os.getcwd(), total=seed + sum(values)))
    ```
    '''
)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "tiny.md").write_text(TINY_NOTEBOOK)
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "ci.yaml").write_text("tiny:\n  seed: 5\n  label: ${VLMCAL_TEST_UNSET_VAR:-}\n")
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
    # -p changed the set's values: the folder carries a digest of the overrides
    assert out.parent == (project / "results" / "ci").resolve() and out.name.startswith("tiny-")
    assert json.loads((out / "results.json").read_text())["notebook"] == "tiny"  # named by the schema
    assert (out / "tiny.ipynb").is_file()
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"]["total"] == 5 + 60  # seed from ci.yaml, values from -p
    # the runner records every parameter the notebook ran with (defaults, the set, -p), not results_dir
    assert saved["params"] == {"seed": 5, "values": [10, 20, 30], "data_path": None, "label": None}
    # the kernel runs in the notebook's own folder
    assert Path(saved["results"]["cwd"]).resolve() == (project / "notebooks").resolve()
    # the run's wall time is kept beside it (the book page quotes it); stage reads the same file name
    timing = json.loads((out / reproduce.RUN_TIME_FILENAME).read_text())
    assert timing["seconds"] > 0 and timing["cpu_count"] >= 1
    from vlmcal_book import stage

    assert stage.RUN_TIME_FILENAME == reproduce.RUN_TIME_FILENAME


def test_a_run_stores_each_pyplot_figure_once_as_svg_with_its_text(project):
    """The runner's kernel loads vlmcal_utils.figures: figures are SVG with text as text, no PNG beside."""
    nb = project / "notebooks" / "tiny.md"
    nb.write_text(TINY_NOTEBOOK + textwrap.dedent(
        """
        ```{code-cell} ipython3
        import matplotlib.pyplot as plt
        plt.plot([0, 1], [1, 0])
        plt.title("a readable title")
        plt.show()
        ```
        """))
    out = reproduce.run_notebook(nb, "other", output_root=project / "results")
    executed = nbformat.read(out / "tiny.ipynb", as_version=4)
    images = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "display_data"]
    assert len(images) == 1 and "image/png" not in images[0]["data"]
    assert "a readable title</text>" in images[0]["data"]["image/svg+xml"]


def test_a_notebook_that_writes_its_own_params_gets_the_run_parameters_too(project):
    """Chapters that still pass params to save_results: their keys are kept, the run's values win."""
    nb = project / "notebooks" / "tiny.md"
    nb.write_text(TINY_NOTEBOOK.replace("total=seed + sum(values)))",
                                        "total=seed + sum(values)), dict(seed=-1, derived=seed * 2))"))
    out = reproduce.run_notebook(nb, "other", output_root=project / "results")
    params = json.loads((out / "results.json").read_text())["params"]
    assert params == {"seed": 0, "derived": 0, "values": [1, 2], "data_path": None, "label": "x"}


def test_cli_runs_a_set_without_section_and_existing_path(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    (project / "data.npz").write_bytes(b"")
    rc = reproduce.main([
        "notebooks/tiny.md", "--set", "other", "-p", "data_path", "data.npz", "-p", "seed", "1",
    ])
    assert rc == 0, capsys.readouterr().err
    (out,) = (project / "results" / "other").glob("tiny-*")  # overrides: a folder of their own
    saved = json.loads((out / "results.json").read_text())
    assert saved["results"]["total"] == 1 + 3
    assert saved["params"]["data_path"] == str((project / "data.npz").resolve())  # made absolute


def test_unknown_parameter_is_an_error_naming_it(project):
    with pytest.raises(ValueError, match=r"n_binz.*valid parameters: data_path, label, results_dir, seed, values"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci", {"n_binz": 3})


def test_missing_data_path_is_an_error_naming_it(project, capsys):
    with pytest.raises(FileNotFoundError, match="data_path"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci", {"data_path": "nowhere.npz"})
    # and the command line turns it into a non-zero exit without running anything
    rc = reproduce.main([str(project / "notebooks" / "tiny.md"), "--set", "ci", "-p", "data_path", "nowhere.npz",
                         "--output-root", str(project / "results")])
    assert rc == 1
    assert "data_path" in capsys.readouterr().err
    assert not (project / "results").exists()


def test_unknown_set_lists_the_available_ones(project):
    with pytest.raises(ValueError, match=r"unknown parameter set 'nope'.*ci, other"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "nope")


TYPED_NOTEBOOK = TINY_NOTEBOOK.replace(
    'label: str = "x"',
    'label: str = "x"\nn_cal = 100\nlr = 5e-3\nn_samples = 200  # or None for all\n'
    'augmix = "auto"  # "auto", True or False\nflag = False\nextra_paths = None\nanything = None',
)


@pytest.fixture()
def typed(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "tiny.md").write_text(TYPED_NOTEBOOK)
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "ci.yaml").write_text("tiny:\n  seed: 5\n")
    return tmp_path / "notebooks" / "tiny.md"


@pytest.mark.parametrize("name, value, match", [
    ("seed", "abc", r"'seed' = 'abc' \(str\): expected an int"),
    ("seed", "2.5", r"'seed' = 2.5 \(float\): expected an int"),
    ("seed", "true", r"'seed' = True \(bool\)"),
    ("seed", "null", r"'seed' = None"),
    ("n_cal", "[1, 2]", r"'n_cal' = \[1, 2\] \(list\): expected an int"),
    ("lr", "fast", r"'lr' = 'fast' \(str\): expected an int or a number"),
    ("values", "3", r"'values' = 3 \(int\): expected a list.*single value must be written as a list"),
    ("values", "[1, a]", r"parameter 'values': item 'a' \(str\)"),
    ("label", "3", r"'label' = 3 \(int\): expected a string"),
    ("label", "[a]", r"'label' = \['a'\]"),
    ("augmix", "3", r"'augmix' = 3 \(int\): expected a string or true/false"),
    ("flag", "1", r"'flag' = 1 \(int\): expected true/false"),
    ("extra_paths", "one.npz", r"'extra_paths' = 'one.npz': expected a list of paths"),
])
def test_values_are_type_checked_against_the_defaults(typed, name, value, match):
    with pytest.raises(ValueError, match=match):
        reproduce.resolve_parameters(typed, "ci", {name: reproduce.parse_value(value, name)})


@pytest.mark.parametrize("name, value", [
    ("seed", "3"), ("lr", "1"), ("lr", "0.5"), ("n_samples", "null"), ("augmix", "true"),
    ("augmix", "'off'"), ("flag", "true"), ("values", "[]"), ("anything", "[1, x]"), ("anything", "null"),
])
def test_values_of_the_right_type_are_accepted(typed, name, value):
    _, values = reproduce.resolve_parameters(typed, "ci", {name: reproduce.parse_value(value, name)})
    assert values[name] == reproduce.parse_value(value)


def test_a_bad_yaml_value_is_one_line_before_running(project, capsys):
    rc = reproduce.main([str(project / "notebooks" / "tiny.md"), "-p", "values", "[1, 2",
                         "--output-root", str(project / "results")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1, err
    assert "-p values '[1, 2'" in err and "not a valid YAML value" in err and "Traceback" not in err
    assert not (project / "results").exists()
    with pytest.raises(ValueError, match="not a valid YAML value"):
        reproduce.parse_value("{a: [", "x")


def test_a_broken_parameter_file_is_one_line(project):
    (project / "params" / "ci.yaml").write_text("tiny:\n  seed: [1\n")
    with pytest.raises(ValueError, match=r"ci.yaml is not valid YAML.*line"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci")


def test_default_folder_depends_on_the_overrides(project, monkeypatch):
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    nb = project / "notebooks" / "tiny.md"
    root = project / "results"
    plain, _ = reproduce.plan_run(nb, "ci", {}, root)
    same, _ = reproduce.plan_run(nb, "ci", {"seed": 5}, root)  # the set's own value: no override
    a, _ = reproduce.plan_run(nb, "ci", {"seed": 6}, root)
    b, _ = reproduce.plan_run(nb, "ci", {"seed": 7}, root)
    assert plain == same == (root / "ci" / "tiny").resolve()
    assert len({plain, a, b}) == 3 and a.name.startswith("tiny-")
    assert reproduce.plan_run(nb, "ci", {"seed": 6}, root)[0] == a  # the same overrides, the same folder


def test_a_rerun_with_other_values_never_reports_the_old_numbers(project, monkeypatch, capsys):
    """Like chapter 3 rerun with -p n_images_cal 300 after a 400 run: fresh numbers, or a refusal."""
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    nb = project / "notebooks" / "tiny.md"
    root = project / "results"
    first = reproduce.run_notebook(nb, "ci", {}, root)
    second = reproduce.run_notebook(nb, "ci", {"seed": 100}, root)
    assert second != first
    assert json.loads((first / "results.json").read_text())["results"]["total"] == 5 + 3
    assert json.loads((second / "results.json").read_text())["results"]["total"] == 100 + 3
    # an explicit results_dir that holds a run with other values is refused, naming them
    with pytest.raises(ValueError, match=r"other values \(seed: 5 there, 100 now\)"):
        reproduce.run_notebook(nb, "ci", {"seed": 100, "results_dir": str(first)}, root)
    rc = reproduce.main([str(nb), "--set", "ci", "-p", "seed", "100", "-p", "results_dir", str(first)])
    assert rc == 1 and "seed: 5 there, 100 now" in capsys.readouterr().err
    assert json.loads((first / "results.json").read_text())["results"]["total"] == 5 + 3  # untouched
    # the same values into the same folder: allowed (a resume)
    assert reproduce.run_notebook(nb, "ci", {}, root) == first


def test_list_shows_the_folder_a_run_would_use(project, monkeypatch, capsys):
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    nb = project / "notebooks" / "tiny.md"
    assert reproduce.main([str(nb), "--set", "ci", "--list", "--output-root", str(project / "results"),
                           "-p", "seed", "9"]) == 0
    out = capsys.readouterr().out
    assert "seed = 0  ->  9" in out
    expected, _ = reproduce.plan_run(nb, "ci", {"seed": 9}, project / "results")
    assert f"results_dir = 'results/default/tiny'  ->  {str(expected)!r}" in out
    assert not (project / "results").exists()  # --list runs nothing


def test_parse_value_and_env_expansion(monkeypatch):
    assert reproduce.parse_value("None") is None
    assert reproduce.parse_value("null") is None
    assert reproduce.parse_value("[a.npz, 2]") == ["a.npz", 2]
    assert reproduce.parse_value("0.5") == 0.5
    monkeypatch.setenv("VLMCAL_TEST_SET_VAR", "/data")
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    assert reproduce.expand_env("${VLMCAL_TEST_SET_VAR}/x.npz") == "/data/x.npz"
    # an unset variable is an error naming it, unless the set writes the fallback explicitly
    with pytest.raises(ValueError, match=r"\$\{VLMCAL_TEST_UNSET_VAR\} is not set.*\$\{VLMCAL_TEST_UNSET_VAR:-\}"):
        reproduce.expand_env("${VLMCAL_TEST_UNSET_VAR}/x.npz", "parameter 'logits_path'")
    with pytest.raises(ValueError, match="VLMCAL_TEST_UNSET_VAR"):
        reproduce.expand_env(["$VLMCAL_TEST_UNSET_VAR/a"])
    assert reproduce.expand_env("${VLMCAL_TEST_UNSET_VAR:-}/x.npz") is None
    assert reproduce.expand_env("${VLMCAL_TEST_UNSET_VAR:-/mnt}/x.npz") == "/mnt/x.npz"
    assert reproduce.expand_env(["${VLMCAL_TEST_UNSET_VAR:-}/a", "$VLMCAL_TEST_SET_VAR/b", 3]) == ["/data/b", 3]


def test_an_unset_variable_in_a_set_is_an_error_before_running(project, monkeypatch, capsys):
    """Before (issue 24): ${VAR} unset silently became null and the notebook fell back."""
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    (project / "params" / "ci.yaml").write_text("tiny:\n  label: ${VLMCAL_TEST_UNSET_VAR}\n")
    rc = reproduce.main([str(project / "notebooks" / "tiny.md"), "--set", "ci", "--output-root",
                         str(project / "results")])
    err = capsys.readouterr().err
    assert rc == 1 and "VLMCAL_TEST_UNSET_VAR} is not set" in err and "ci.yaml: parameter 'label'" in err
    assert not (project / "results").exists()


def test_repo_parameter_sets_match_the_notebooks(repo_root, monkeypatch):
    """Every section of params/*.yaml names an existing notebook and only its parameters."""
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)  # path checks must not need the data
    for params_file in sorted((repo_root / "params").glob("*.yaml")):
        sections = yaml.safe_load(params_file.read_text()) or {}
        flag = reproduce.requires_real(repo_root / "params", params_file.stem)
        assert flag is False or flag is True or set(flag) <= set(sections), params_file.name
        for stem in set(sections) - {reproduce.REQUIRES_REAL_KEY}:
            notebook = repo_root / "notebooks" / f"{stem}.md"
            assert notebook.is_file(), f"{params_file.name}: section {stem!r} has no notebooks/{stem}.md"
            section = yaml.safe_dump(sections[stem] or {})  # this section's values (comments are not values)
            if "${VLMCAL_SHARED}" in section:  # a published-set path: the data is required, unset is an error
                with pytest.raises(ValueError, match=r"\$\{VLMCAL_SHARED\} is not set"):
                    reproduce.resolve_parameters(notebook, params_file.stem)
            else:
                reproduce.resolve_parameters(notebook, params_file.stem)


def test_the_runner_is_not_in_the_wheel(repo_root):
    """vlmcal_book is used from a clone: the wheel packages vlmcal_utils only (see the README)."""
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    assert config["include"] == ["vlmcal_utils*"]
    assert not (repo_root / "vlmcal_utils" / "reproduce.py").exists()


def _code_cell(source: str, status: str | None = None):
    cell = nbformat.v4.new_code_cell(source)
    if status:
        cell.metadata["papermill"] = {"status": status}
    return cell


def test_heartbeat_line_names_the_running_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell("seed = 0", "completed"), nbformat.v4.new_markdown_cell("# text"),
                _code_cell("# tune every image\nresults = run_family(" + "x, " * 30 + ")", "running"),
                _code_cell("save_results(...)", "pending")]
    line = reproduce.heartbeat_line("04_ctpt.md", nb, 725.0)
    assert line.startswith("reproduce: 04_ctpt.md: cell 2/3 running (results = run_family(x, ")
    assert line.endswith("...), 12 min 05 s so far") and len(line) < 130  # the cell text cut at 60
    nb.cells[2].metadata["papermill"]["status"] = "completed"
    assert "2/3 cells done" in reproduce.heartbeat_line("04_ctpt.md", nb, 5.0)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
    assert reproduce.heartbeat_line("04_ctpt.md", nb, 5.0) == "reproduce: 04_ctpt.md: starting the kernel, 5 s so far"


def test_a_run_says_what_it_does_on_stderr_not_in_the_notebook(project, monkeypatch, capfd):
    """A heartbeat line at least every HEARTBEAT_S on stderr; none in the executed notebook; and the
    kernel talks over IPC, so ipykernel's "TCP without encryption" warning is not printed."""
    monkeypatch.setattr(reproduce, "HEARTBEAT_S", 0.2)
    out = reproduce.run_notebook(project / "notebooks" / "tiny.md", "ci", output_root=project / "results")
    err = capfd.readouterr().err
    assert "reproduce: tiny.md: " in err and " so far" in err
    assert "without encryption" not in err
    assert reproduce.kernel_config().KernelManager.transport == "ipc"
    assert "reproduce:" not in (out / "tiny.ipynb").read_text()


def test_each_kernel_has_its_own_sockets():
    """Two runs started together must not share IPC socket paths (they did: jupyter_client's default
    prefix is "kernel-ipc" in the working folder, and the kernels then rejected each other's messages)."""
    first, second = (reproduce.kernel_config().KernelManager for _ in range(2))
    assert first.transport == second.transport == "ipc"
    assert first.ip != second.ip and os.path.isabs(first.ip)


@pytest.mark.parametrize("name, value, match", [
    ("lr", ".nan", "must be a finite number"), ("lr", ".inf", "must be a finite number"),
    ("lr", "-1", r"must lie in \[0, 10\]"), ("n_cal", "0", "must lie in"), ("n_cal", "1000000000000", "must lie in"),
    ("seed", "-1", "must lie in"),
])
def test_numbers_must_be_finite_and_in_range(typed, name, value, match):
    """Before (issue 25): lam NaN/inf/negative and absurd n_boot / n_views were accepted and failed late."""
    with pytest.raises(ValueError, match=match):
        reproduce.resolve_parameters(typed, "ci", {name: reproduce.parse_value(value, name)})


def test_a_list_the_chapter_loops_over_must_not_be_empty():
    """Before: -p datasets "[]" failed after 35 s with a KeyError inside the notebook."""
    with pytest.raises(ValueError, match="'datasets' is an empty list"):
        reproduce.check_bounds("datasets", [])
    reproduce.check_bounds("demo_models", [])  # an empty list that means "none of these" stays legal
    reproduce.check_bounds("n_views", 64)
    with pytest.raises(ValueError, match=r"'n_views' = 100000: must lie in \[1, 1024\]"):
        reproduce.check_bounds("n_views", 100000)


_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


def test_a_yaml_alias_bomb_is_refused_at_once(project, capsys):
    """Before: a 442-byte alias bomb in -p hung even --list (2.5 GB)."""
    assert len(_BOMB) < 600
    with pytest.raises(ValueError, match="YAML aliases, over the limit"):
        reproduce.parse_value(_BOMB, "values")
    rc = reproduce.main([str(project / "notebooks" / "tiny.md"), "-p", "values", _BOMB, "--list"])
    assert rc == 1 and "aliases" in capsys.readouterr().err
    (project / "params" / "ci.yaml").write_text("tiny:\n  label: x\n" + "".join(
        "  " + line + "\n" for line in _BOMB.splitlines()))
    with pytest.raises(ValueError, match="aliases"):
        reproduce.resolve_parameters(project / "notebooks" / "tiny.md", "ci")
    with pytest.raises(ValueError, match="over the limit"):
        reproduce.parse_value("[" + "1, " * 40000 + "1]", "values")


# ------------------------------------------------------------------ issue 24: provenance, pre-flight, default set
def test_the_default_set_is_what_the_book_shows():
    assert reproduce.DEFAULT_SET == "book"
    from vlmcal_utils.results import RESULTS_FILENAME

    assert reproduce.RESULTS_FILENAME == RESULTS_FILENAME  # kept here so that --help needs no torch


@pytest.mark.parametrize("stem, results, params, expected", [
    ("01_calibration_basics", {"is_real": True, "source": "markus93_densenet40_cifar10.npz"}, {},
     "real published outputs (markus93_densenet40_cifar10.npz)"),
    ("01_calibration_basics", {"is_real": False, "source": "synthetic"}, {}, "SYNTHETIC logits"),
    ("02_zero_shot_clip", {"model": "ViT-B-32 (random)", "dataset": "cifar10-shared", "is_random_weights": True,
                           "is_demo": False, "requested_dataset": "cifar10-shared"}, {}, "RANDOM WEIGHTS (ViT-B-32"),
    ("02_zero_shot_clip", {"model": "vlmcal-demo", "dataset": "demo-photo", "is_demo": True, "is_random_weights": False,
                           "requested_dataset": "cifar10-shared", "published_clip_cifar10": {"source": "x"}}, {},
     "the DEMO WORLD (vlmcal-demo on demo-photo), FELL BACK from cifar10-shared + real published outputs"),
    ("03_empirical_study", {"published": {"source": "p"}, "demo": {"source": "d"}, "models": None}, {},
     "real published outputs + the DEMO WORLD"),
    ("03_empirical_study", {"published": None, "demo": None, "models": {"random_weights": ["ViT-B-32"]}}, {},
     "RANDOM WEIGHTS"),
    ("04_ctpt", {"model": "vlmcal-demo", "pretrained": None, "demo": True}, {}, "the DEMO WORLD (vlmcal-demo)"),
    ("04_ctpt", {"model": "ViT-B-32", "pretrained": "random", "demo": False}, {}, "RANDOM WEIGHTS (ViT-B-32 random)"),
    ("04_ctpt", {"model": "ViT-B-32", "pretrained": None, "demo": False}, {}, "RANDOM WEIGHTS (ViT-B-32)"),
    ("05_after_ctpt", {"model": "ViT-B-16", "pretrained": "openai", "demo": False}, {},
     "a real model (ViT-B-16 openai)"),
    ("tiny", {"total": 3}, {}, "not recorded in its results"),
])
def test_provenance_says_what_the_numbers_come_from(stem, results, params, expected):
    assert provenance.provenance(stem, results, params).startswith(expected)


def test_the_closing_line_says_what_the_run_ran_on(project, monkeypatch, capsys):
    monkeypatch.delenv("VLMCAL_TEST_UNSET_VAR", raising=False)
    assert reproduce.main([str(project / "notebooks" / "tiny.md"), "--set", "ci",
                           "--output-root", str(project / "results")]) == 0
    out = capsys.readouterr().out
    assert "(set ci) ran in " in out and " s on not recorded in its results; executed notebook" in out


def test_a_set_that_requires_real_data_refuses_a_fallback_before_any_kernel(project, capsys):
    nb = project / "notebooks" / "tiny.md"
    nb.write_text(TINY_NOTEBOOK.replace("seed = 0\n", 'seed = 0\ndataset = "demo-photo"\n'))
    (project / "params" / "strict.yaml").write_text("requires_real: true\ntiny:\n  seed: 1\n")
    rc = reproduce.main([str(nb), "--set", "strict", "--output-root", str(project / "results")])
    err = capsys.readouterr().err
    assert rc == 1 and "requires_real: True" in err and "FALLBACK dataset   demo-photo" in err
    assert "Traceback" not in err and not (project / "results").exists()  # nothing ran, nothing written
    # the same notebook in a set without the flag runs, on the demo world's images
    assert reproduce.main([str(nb), "--set", "other", "--check"]) == 0


@pytest.mark.slow
def test_make_reproduce_paper_without_data_lists_everything_and_runs_nothing(repo_root, tmp_path, monkeypatch, capsys):
    """Done-when of issue 24: `make reproduce SET=paper` (one runner call) on a machine without data or GPU."""
    monkeypatch.delenv("VLMCAL_SHARED", raising=False)
    monkeypatch.setenv("VLMCAL_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VLMCAL_OFFLINE", "1")
    notebooks = sorted((repo_root / "notebooks").glob("*.md"))
    rc = reproduce.main([str(nb) for nb in notebooks] + ["--set", "paper", "--output-root", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and f"reproduce: {len(notebooks)} notebooks: PreflightError" in err
    missing = {line.split()[2] for line in err.splitlines() if line.strip().startswith("MISSING  dataset")}
    assert {"imagenet", "caltech101", "oxford-pets", "stanford-cars", "flowers102", "food101", "fgvc-aircraft",
            "sun397", "dtd", "eurosat", "ucf101", "imagenet-a", "imagenet-v2", "imagenet-r",
            "imagenet-sketch"} <= missing
    import torch

    if not torch.cuda.is_available():
        assert "MISSING  gpu       cuda" in err
    assert not (tmp_path / "out").exists()  # no notebook ran


def test_a_long_cpu_run_is_announced_before_it_starts(repo_root, monkeypatch):
    monkeypatch.setattr(provenance, "_has_gpu", lambda: False)
    values = {"model": "RN50", "datasets": ["dtd"], "n_samples": 100, "inits": ["hard", "ensemble"], "device": "auto"}
    (line,) = provenance.cpu_time_notes(Path("notebooks/04_ctpt.md"), values)
    assert "04_ctpt.md on the CPU: about" in line and "cpu-amd-epyc.json" in line and "100 images x 2 inits" in line
    assert provenance.cpu_time_notes(Path("notebooks/04_ctpt.md"), {**values, "n_samples": 1}) == []  # short
    assert provenance.cpu_time_notes(Path("notebooks/04_ctpt.md"), {**values, "model": "vlmcal-demo"}) == []  # no card
    assert provenance.cpu_time_notes(Path("notebooks/01_calibration_basics.md"), values) == []  # tunes nothing


def test_two_runs_started_together_both_pass(project):
    """The real runner twice at once, as `make test` starts its runs: each kernel on its own sockets."""
    from vlmcal_book import runs

    both = [runs.Run(project / "notebooks" / "tiny.md", name) for name in ("ci", "other")]
    assert runs.run_all(both, jobs=2, output_root=str(project / "results")) == []
    for name in ("ci", "other"):
        assert (project / "results" / name / "tiny" / "results.json").is_file()
