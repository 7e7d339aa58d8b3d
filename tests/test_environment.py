"""environment.yml (conda users), pyproject.toml (pip users) and constraints.txt (CI) must agree."""

from __future__ import annotations

import re

import tomllib
import yaml


def _name(requirement: str) -> str:
    """PEP 503-normalised distribution name of a requirement string such as 'open_clip_torch>=2.24'."""
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_environment_yml_matches_pyproject(repo_root):
    project = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    from_pyproject = {_name(r) for r in project["dependencies"]}
    for extra in project.get("optional-dependencies", {}).values():
        from_pyproject |= {_name(r) for r in extra}

    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    from_env = set()
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e"):  # the package itself
                continue
            from_env.add(_name(item))  # conda "python=3.11" and pip "numpy>=1.24" alike
    from_env -= {"python", "pip"}

    assert from_env == from_pyproject, (
        f"only in environment.yml: {sorted(from_env - from_pyproject)}; "
        f"only in pyproject.toml: {sorted(from_pyproject - from_env)}"
    )


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
