"""The chapters' views: figures, tables, boxes and results schemas, one module per chapter.

The top layer of the package: the library modules below it hold no HTML and no chapter-specific
display. It is still in the wheel, because the Colab notebooks import it.

- :mod:`~vlmcal_utils.views.chapter2` — chapter 2's analyses of published zero-shot outputs
- :mod:`~vlmcal_utils.views.chapter2_plots` — chapter 2's figures
- :mod:`~vlmcal_utils.views.chapter3` — chapter 3's study runs, tables, figures and verdict boxes
- :mod:`~vlmcal_utils.views.chapter3_calibrators` — chapter 3's "which calibrator when labels are few"
- :mod:`~vlmcal_utils.views.chapter3_paper` — Tu et al.'s Figure 1 from package data, ours in a panel apart
- :mod:`~vlmcal_utils.views.chapter3_style` — the look of chapter 3's figures
- :mod:`~vlmcal_utils.views.chapter_results` — chapters 1–4's results schemas and builders, and
  :data:`~vlmcal_utils.views.chapter_results.SCHEMAS` (every chapter's, for
  :func:`~vlmcal_utils.results.load_results`)
- :mod:`~vlmcal_utils.views.chapter5_results` — chapter 5's results schema and builder
- :mod:`~vlmcal_utils.views.committed` — the committed real results chapters 1–3 show offline
- :mod:`~vlmcal_utils.views.boxes` — admonition boxes (HTML in a notebook, text elsewhere)
"""
