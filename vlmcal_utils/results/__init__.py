"""Results files: a schema of fixed keys, and the results files the notebooks write.

- :mod:`vlmcal_utils.results.schema` — :class:`ResultsSchema`, :class:`RowSchema`,
  :class:`ChapterResults`: fixed keys, checked when built and when saved
- :mod:`vlmcal_utils.results.io` — :func:`save_results` / :func:`load_results` (``results.json``)

The chapters' own schemas and builders (:func:`~vlmcal_utils.views.chapter_results.chapter1_results`
… :func:`~vlmcal_utils.views.chapter5_results.chapter5_results`, and
:data:`~vlmcal_utils.views.chapter_results.SCHEMAS`) are views, in :mod:`vlmcal_utils.views`.
"""

from vlmcal_utils.results.io import RESULTS_FILENAME, load_results, save_results, to_jsonable
from vlmcal_utils.results.schema import ChapterResults, ResultsSchema, RowSchema, SchemaError

__all__ = [
    "RESULTS_FILENAME",
    "ChapterResults",
    "ResultsSchema",
    "RowSchema",
    "SchemaError",
    "load_results",
    "save_results",
    "to_jsonable",
]
