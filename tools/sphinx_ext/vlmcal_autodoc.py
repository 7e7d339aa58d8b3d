"""Sphinx extension for the API page: module docstrings' section titles become rubrics.

Module docstrings in ``vlmcal_utils`` use reStructuredText section titles ("Conventions",
"Command line", ...). Rendered by ``automodule`` on one page, each becomes a real section with
an ID, so two modules with a "Conventions" section collide ("Duplicate ID", an error under
``-W``) and the titles clutter the page's table of contents. As rubrics they look the same and
create no IDs. Loaded through ``sphinx.local_extensions`` in ``_config.yml``.
"""

from __future__ import annotations

import re

_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+])\1{2,}\s*$")


def titles_to_rubrics(lines: list[str]) -> list[str]:
    """Rewrite ``Title`` + underline (3+ of one punctuation character) as ``.. rubric:: Title``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        prev_blank = not out or not out[-1].strip()
        if line.strip() and not line.startswith(" ") and _UNDERLINE.match(nxt) and prev_blank:
            out += [f".. rubric:: {line.strip()}", ""]
            i += 2
            continue
        out.append(line)
        i += 1
    return out


def _process(app, what, name, obj, options, lines):
    if what == "module":
        lines[:] = titles_to_rubrics(lines)


def setup(app):
    # priority > napoleon's (500) is not needed: napoleon leaves unknown section titles alone
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
