"""Results of the chapters: a schema per chapter, and the results files the notebooks write.

- :mod:`vlmcal_utils.results.schema` — :class:`ResultsSchema`, :class:`RowSchema`,
  :class:`ChapterResults`: fixed keys, checked when built and when saved
- :mod:`vlmcal_utils.results.chapters` — each chapter's schema and builder
  (:func:`chapter1_results` … :func:`chapter4_results`), their keys in the docstrings
- :mod:`vlmcal_utils.results.chapter5` — chapter 5 (the test-time calibration family)
- :mod:`vlmcal_utils.results.io` — :func:`save_results` / :func:`load_results` (``results.json``)
"""

from vlmcal_utils.results.chapter5 import CHAPTER5, chapter5_results
from vlmcal_utils.results.chapters import (
    CHAPTER1,
    CHAPTER2,
    CHAPTER3,
    CHAPTER4,
    SCHEMAS,
    chapter1_results,
    chapter2_results,
    chapter3_results,
    chapter4_results,
)
from vlmcal_utils.results.io import RESULTS_FILENAME, load_results, save_results, to_jsonable
from vlmcal_utils.results.schema import ChapterResults, ResultsSchema, RowSchema, SchemaError

__all__ = [
    "RESULTS_FILENAME",
    "SCHEMAS",
    "CHAPTER1",
    "CHAPTER2",
    "CHAPTER3",
    "CHAPTER4",
    "CHAPTER5",
    "ChapterResults",
    "ResultsSchema",
    "RowSchema",
    "SchemaError",
    "chapter1_results",
    "chapter2_results",
    "chapter3_results",
    "chapter4_results",
    "chapter5_results",
    "load_results",
    "save_results",
    "to_jsonable",
]
