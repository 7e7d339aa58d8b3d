"""environment.yml (conda users) and pyproject.toml (pip users) must name the same packages."""

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


def test_name_normalisation():
    assert _name("open_clip_torch>=2.24") == "open-clip-torch"
    assert _name("jupyter-book>=1.0.4.post1,<2") == "jupyter-book"
    assert _name("PyYAML") == "pyyaml"
    assert _name("python=3.11") == "python"
