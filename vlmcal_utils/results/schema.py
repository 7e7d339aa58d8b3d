"""The machinery of a results schema: fixed, documented keys, checked when results are built and saved.

A :class:`ResultsSchema` names a notebook and its top-level keys (each with a description); some
keys hold nested blocks or lists of rows with their own :class:`RowSchema`. ``schema.build(...)``
returns :class:`ChapterResults`, which :func:`vlmcal_utils.results.save_results` writes. A key that
is missing or not in the schema is an error, at build time and again at save time, so what the
results page and the tests read is always what the schema documents.

The chapters' schemas are in :mod:`vlmcal_utils.views.chapter_results`; a notebook of one's own can
declare its own::

    schema = ResultsSchema("my_notebook", {"ece": "top-label ECE, 15 bins, in [0, 1]"})
    save_results(results_dir, schema.build(ece=0.03))  # the runner adds the run's parameters
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = ["RowSchema", "ResultsSchema", "ChapterResults", "SchemaError", "rename_keys"]


class SchemaError(ValueError):
    """Results whose keys do not match their schema (missing or unknown keys)."""


def _check_keys(keys: set[str], required: set[str], optional: set[str], where: str,
                allow_pattern: Any = None) -> None:
    missing = sorted(required - keys)
    unknown = sorted(k for k in keys - required - optional if not (allow_pattern and allow_pattern.fullmatch(k)))
    if missing or unknown:
        parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
            [f"unknown {', '.join(map(repr, unknown))}"] if unknown else [])
        raise SchemaError(f"{where}: {'; '.join(parts)}. Allowed keys: {', '.join(sorted(required | optional))}")


@dataclass(frozen=True)
class RowSchema:
    """The keys of a nested block (a dict) or of every row of a list of dicts.

    Parameters
    ----------
    name : str
        What the block is, for error messages.
    fields : Mapping[str, str]
        Required ``key -> description``.
    optional : Mapping[str, str]
        Keys that may be absent, ``key -> description``.
    pattern : str or None
        A regular expression; keys matching it are allowed too (e.g. ``ece`` followed by digits:
        one ECE column per bin count).
    """

    name: str
    fields: Mapping[str, str]
    optional: Mapping[str, str] = field(default_factory=dict)
    pattern: str | None = None

    def validate(self, row: Any, where: str) -> None:
        """Raise :class:`SchemaError` unless ``row`` is a mapping with exactly the allowed keys."""
        if not isinstance(row, Mapping):
            raise SchemaError(f"{where}: expected a mapping ({self.name}), got {type(row).__name__}")
        _check_keys(set(map(str, row)), set(self.fields), set(self.optional), f"{where} ({self.name})",
                    re.compile(self.pattern) if self.pattern else None)


@dataclass(frozen=True)
class ResultsSchema:
    """The fixed keys of one notebook's ``results``.

    Parameters
    ----------
    notebook : str
        The notebook's stem, e.g. ``"01_calibration_basics"``; written to the results file.
    fields : Mapping[str, str]
        ``key -> description`` of every top-level key; all must be present (a value may be
        ``None`` where the description says so).
    blocks : Mapping[str, RowSchema]
        For keys holding a dict (checked as one row) or a list of dicts (every row checked):
        their keys. A ``None`` value is not checked.
    entries : Mapping[str, RowSchema]
        For keys holding a dict ``name -> dict`` (names are data, such as dataset names): the
        keys of every inner dict.
    optional : Mapping[str, str]
        ``key -> description`` of top-level keys that may be absent (added after results files
        were committed, so older files still load); stored only when given and not ``None``.
    """

    notebook: str
    fields: Mapping[str, str]
    blocks: Mapping[str, RowSchema] = field(default_factory=dict)
    entries: Mapping[str, RowSchema] = field(default_factory=dict)
    optional: Mapping[str, str] = field(default_factory=dict)

    def validate(self, values: Mapping[str, Any]) -> None:
        """Raise :class:`SchemaError` naming every missing or unknown key (top level and blocks)."""
        where = f"results of {self.notebook}"
        if not isinstance(values, Mapping):
            raise SchemaError(f"{where}: expected a mapping, got {type(values).__name__}")
        _check_keys(set(map(str, values)), set(self.fields), set(self.optional), where)
        for key, block in self.blocks.items():
            _validate_block(block, values[key], f"{where}[{key!r}]")
        for key, entry in self.entries.items():
            value = values[key]
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise SchemaError(f"{where}[{key!r}]: expected a mapping of name -> dict, got {type(value).__name__}")
            for name, inner in value.items():
                entry.validate(inner, f"{where}[{key!r}][{name!r}]")

    def build(self, **values: Any) -> ChapterResults:
        """Check ``values`` against the schema and wrap them for :func:`~vlmcal_utils.results.save_results`.

        The keys are stored in the schema's order, so every results file of a chapter reads alike.
        """
        self.validate(values)
        given = {key: values[key] for key in self.optional if values.get(key) is not None}
        return ChapterResults(self, {**{key: values[key] for key in self.fields}, **given})

    def describe(self) -> str:
        """The keys as a reStructuredText bullet list (used in the builders' docstrings)."""
        lines = []
        for key, text in {**self.fields, **{k: f"{v} (optional)" for k, v in self.optional.items()}}.items():
            lines.append(f"- ``{key}``: {text}")
            block = self.blocks.get(key) or self.entries.get(key)
            if block is not None:
                inner = [f"``{k}`` ({v})" for k, v in {**block.fields, **block.optional}.items()]
                if block.pattern:
                    inner.append(f"keys matching ``{block.pattern}``")
                lines.append(f"  Keys: {'; '.join(inner)}.")
        return "\n".join(lines)


def _validate_block(block: RowSchema, value: Any, where: str) -> None:
    """A block's value: ``None`` (not checked), one row (a mapping) or a list of rows."""
    if value is None:
        return
    if isinstance(value, Mapping):
        block.validate(value, where)
    elif isinstance(value, (list, tuple)):
        for i, row in enumerate(value):
            block.validate(row, f"{where}[{i}]")
    else:
        raise SchemaError(f"{where}: expected a mapping or a list of rows, got {type(value).__name__}")


@dataclass(frozen=True)
class ChapterResults:
    """A notebook's results, checked against its :class:`ResultsSchema` when created.

    Parameters
    ----------
    schema : ResultsSchema
        The keys the values must have.
    values : dict
        ``key -> value`` (numbers, strings, lists, dicts; numpy/torch/pandas values are converted
        when saved).
    """

    schema: ResultsSchema
    values: dict

    def __post_init__(self) -> None:
        self.schema.validate(self.values)

    @property
    def notebook(self) -> str:
        """The notebook stem the schema is for."""
        return self.schema.notebook

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def to_dict(self) -> dict:
        """A deep copy of the values (still unconverted: see :func:`~vlmcal_utils.results.to_jsonable`)."""
        return copy.deepcopy(self.values)


def rename_keys(row: Mapping[str, Any], aliases: Mapping[str, str]) -> dict:
    """``row`` with the keys named in ``aliases`` renamed (``old -> new``), the others kept.

    The chapters show tables with readable column labels (``"ECE"``, ``"mean conf"``); their
    results builders rename those columns to schema keys once, here, so the results files hold
    keys only.
    """
    out = {}
    for key, value in row.items():
        new = aliases.get(key, key)
        if new in out:
            raise SchemaError(f"both {key!r} and another column map to the key {new!r}")
        out[new] = value
    return out
