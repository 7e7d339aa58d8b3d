"""What the book's pages are built from, checked without a browser: the Sphinx extensions (Colab
links, scripts loaded once) and no machine path in the page sources.

These ran in tests/book/test_browser.py (the browser stage of `make test`, one process); here they
run with the unit tests (on both cores).
"""

from __future__ import annotations

import yaml

from vlmcal_book.sphinx_ext import vlmcal_colab


def test_colab_links_are_rewritten_to_the_ipynb_twin():
    module = vlmcal_colab
    base = "https://colab.research.google.com/github/o/r/blob/main/notebooks/"
    buttons = [{"type": "group", "buttons": [{"text": "Colab", "url": base + "03_x.md"},
                                             {"text": "Binder", "url": "https://mybinder.org/v2/gh/o/r/main"}]},
               {"url": "https://github.com/o/r/blob/main/book/intro.md"}]
    assert module.fix_colab_urls(buttons) == 1
    assert buttons[0]["buttons"][0]["url"] == base + "03_x.ipynb"
    assert buttons[1]["url"].endswith("book/intro.md")  # only Colab links to notebooks change


def test_sphinx_extensions_are_loaded_from_vlmcal_book(repo_root):
    """_config.yml loads the book's Sphinx extensions from vlmcal_book/sphinx_ext/ (tools/ is gone)."""
    local = yaml.safe_load((repo_root / "_config.yml").read_text())["sphinx"]["local_extensions"]
    assert local == {name: "vlmcal_book/sphinx_ext/" for name in ("vlmcal_autodoc", "vlmcal_colab", "vlmcal_bibstyle",
                                                                  "vlmcal_scripts", "vlmcal_figures")}
    for name, folder in local.items():
        assert (repo_root / folder / f"{name}.py").is_file()


def test_each_script_is_loaded_once_per_page():
    """thebe's inline config came twice on every page: 'THEBE_JS_URL has already been declared' in the console."""
    from sphinx.builders.html._assets import _JavaScript

    from vlmcal_book.sphinx_ext.vlmcal_scripts import unique_scripts

    thebe = 'const THEBE_JS_URL = "x"'
    scripts = [_JavaScript("a.js"), _JavaScript("", body=thebe), _JavaScript("b.js", **{"async": "async"}),
               _JavaScript("", body=thebe), _JavaScript("a.js"), _JavaScript("b.js"), _JavaScript("", body="other")]
    kept = unique_scripts(scripts)
    assert [(s.filename, s.attributes) for s in kept] == [
        ("a.js", {}), ("", {"body": thebe}), ("b.js", {"async": "async"}), ("b.js", {}), ("", {"body": "other"})]


def _docstrings(package) -> dict[str, str]:
    """Every docstring of ``package`` (modules, classes, functions): the API page shows them."""
    import importlib
    import inspect
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        found[info.name] = module.__doc__ or ""
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and getattr(obj, "__module__", "") == info.name:
                found[f"{info.name}.{name}"] = inspect.getdoc(obj) or ""
    return found


def test_page_sources_name_no_machine_path(repo_root):
    """What the pages are built from (prose, chapters, the API page's docstrings) names no machine
    path; checked without a browser, so it also runs where Chromium is missing."""
    import vlmcal_utils
    from vlmcal_utils.paths import machine_paths

    sources = {str(p.relative_to(repo_root)): p.read_text()
               for p in [*(repo_root / "book").glob("*.md"), *(repo_root / "notebooks").glob("*.md")]}
    sources.update(_docstrings(vlmcal_utils))
    leaked = {where: machine_paths(text) for where, text in sources.items() if machine_paths(text)}
    assert not leaked, f"machine paths in page sources: {leaked}"
    assert machine_paths("see /home/dana/x") == ["/home/dana"]  # the check itself can fail
