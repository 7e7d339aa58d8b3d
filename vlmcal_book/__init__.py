"""vlmcal_book: the tooling of the book and of CI, used from a clone of the repository.

Not part of the ``vlmcal_utils`` wheel (``pyproject.toml`` packages only ``vlmcal_utils*``):

- :mod:`vlmcal_book.reproduce` — run a chapter notebook with a named parameter set (papermill)
- :mod:`vlmcal_book.report` — the results page ``book/results.md`` and ``make publish-results``
- :mod:`vlmcal_book.nbsync` — keep ``notebooks/*.md`` and their Colab ``.ipynb`` twins in step
- :mod:`vlmcal_book.demo_page` — refresh the demo-model metrics section of ``book/demo_world.md``
- :mod:`vlmcal_book.costs_page` — the measured cost-card section of ``book/costs.md`` (``benchmarks/results/``)
- :mod:`vlmcal_book.stage` — the book's source folder from the runner's executed notebooks
- :mod:`vlmcal_book.browser_check` — the built book in headless Chromium
- ``vlmcal_book/sphinx_ext/`` — the Sphinx extensions of the build (loaded by ``_config.yml``)

Why the runner is here and not in the package: it executes the clone's ``notebooks/`` with the
clone's ``params/<set>.yaml``, and a ``pip install vlmcal-utils`` user has neither; researchers run
it from a clone (``python -m vlmcal_book.reproduce notebooks/01_calibration_basics.md --set ci``).
What a pip user needs to calibrate and study models lives in ``vlmcal_utils``, which never imports
this package (an import-linter contract in ``pyproject.toml`` checks it).
"""
