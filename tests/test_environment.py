"""environment.yml (conda users), pyproject.toml (pip users) and constraints.txt (CI) must agree."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python 3.11+: these tests read the repository's files


def _name(requirement: str) -> str:
    """PEP 503-normalised distribution name of a requirement string such as 'open_clip_torch>=2.24'."""
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_environment_yml_is_generated_from_constraints(repo_root):
    """A conda user gets what CI tested: environment.yml is constraints.txt, pinned (conda_env --check)."""
    from vlmcal_book.conda_env import PYTHON, environment_text

    text = (repo_root / "environment.yml").read_text()
    assert text == environment_text((repo_root / "constraints.txt").read_text())
    env = yaml.safe_load(text)
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert f"python={PYTHON}" in env["dependencies"] and pip[-1] == "-e ."
    assert all("==" in item for item in pip[:-1])  # every package pinned exactly
    # every package pyproject names (and CI's workflow Python) is there
    assert _pyproject_names(repo_root) <= {_name(item) for item in pip[:-1]}
    workflow = (repo_root / ".github" / "workflows" / "book.yml").read_text()
    assert f'python-version: "{PYTHON}"' in workflow


def test_environment_yml_refuses_an_unpinned_constraint():
    import pytest

    from vlmcal_book.conda_env import environment_text

    with pytest.raises(ValueError, match="not an exact pin"):
        environment_text("numpy>=1.24\n")
    assert "      - numpy==2.0.0\n" in environment_text("# a comment\nnumpy==2.0.0  # why\n")


def _pyproject_names(repo_root) -> set[str]:
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        names |= {_name(r) for r in extra}
    return names


def test_constraints_pin_every_dependency(repo_root):
    """CI installs with -c constraints.txt: every package pyproject names has one exact pin."""
    pins = {}
    for line in (repo_root / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            assert _name(name) not in pins, f"constraints.txt pins {name} twice"
            pins[_name(name)] = version
    unpinned = sorted(_pyproject_names(repo_root) - set(pins))
    assert not unpinned, f"not pinned in constraints.txt: {unpinned}"


def test_storage_dependency_is_declared(repo_root):
    """storage.py imports filelock: a plain `pip install .` must bring it (it is not only torch's)."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert "filelock" in {_name(r) for r in project["dependencies"]}


def test_lint_tools_are_dev_dependencies(repo_root):
    """`make test` runs ruff and lint-imports: the [dev] extra installs them."""
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    assert {"ruff", "import-linter"} <= {_name(r) for r in project["optional-dependencies"]["dev"]}


def test_name_normalisation():
    assert _name("open_clip_torch>=2.24") == "open-clip-torch"
    assert _name("jupyter-book>=1.0.4.post1,<2") == "jupyter-book"
    assert _name("PyYAML") == "pyyaml"
    assert _name("python=3.11") == "python"


def _floors(repo_root) -> dict[str, str]:
    pins = {}
    for line in (repo_root / "constraints-floors.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version
    return pins


def test_floors_file_pins_each_direct_dependency_at_its_lower_bound(repo_root):
    """`make test-floors` installs constraints-floors.txt: it must be exactly pyproject's lower bounds."""
    from packaging.version import Version

    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        found = re.search(r">=\s*([\w.]+)", requirement)
        assert found, f"{requirement!r} has no lower bound (>=): which version was it tested with?"
        bounds[_name(requirement)] = Version(found.group(1))
    assert {name: Version(v) for name, v in _floors(repo_root).items()} == bounds  # 2.13 == 2.13.0


def test_pip_users_page_names_the_torch_floor(repo_root):
    """PYPI.md tells a Colab/pip user which torch is kept rather than replaced: pyproject's floor."""
    said = re.search(r"an existing torch ([\w.]+) or newer is kept", (repo_root / "PYPI.md").read_text())
    assert said, "PYPI.md no longer says which torch is kept"
    assert said.group(1) == _floors(repo_root)["torch"]


def _third_party_imports(package) -> tuple[set[str], set[str]]:
    """(modules the package imports at module level, those it imports only inside functions), top-level names."""
    eager, lazy = set(), set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text())
        in_functions = {id(node) for function in ast.walk(tree)
                        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(function)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = {node.module.split(".")[0]}
            else:
                continue
            (lazy if id(node) in in_functions else eager).update(modules)
    own = set(sys.stdlib_module_names) | {"__future__", package.name}
    return eager - own, lazy - eager - own


def test_direct_imports_are_direct_dependencies(repo_root):
    """A third-party package the library imports is a dependency of its own, not only a transitive one.

    Imported at module level: a dependency (``pip install vlmcal-utils`` brings it). Imported only
    inside a function (e.g. ray in the sweep): a dependency or an extra's.
    """
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    required = {_name(r) for r in project["dependencies"]}
    optional = {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    # module -> distribution for what is installed here (PIL -> pillow, yaml -> PyYAML, sklearn -> ...)
    installed = importlib.metadata.packages_distributions()

    def distribution(module: str) -> str:
        return _name(installed.get(module, [module])[0])

    eager, lazy = _third_party_imports(repo_root / "vlmcal_utils")
    assert {"numpy", "torch", "PIL", "threadpoolctl"} <= eager and "ray" in lazy  # the walk finds imports
    undeclared = sorted({distribution(m) for m in eager} - required)
    assert not undeclared, f"imported at module level but not a dependency in pyproject.toml: {undeclared}"
    undeclared = sorted({distribution(m) for m in lazy} - required - optional)
    assert not undeclared, f"imported (in a function) but neither a dependency nor in an extra: {undeclared}"
