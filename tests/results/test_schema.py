"""The results schema machinery: unknown or missing keys are errors, at build time and at save time."""

from __future__ import annotations

import pytest

from vlmcal_utils.results import ChapterResults, ResultsSchema, RowSchema, SchemaError
from vlmcal_utils.results.schema import rename_keys

ROW = RowSchema("row", {"a": "first", "b": "second"}, optional={"c": "may be absent"}, pattern=r"ece\d+")
SCHEMA = ResultsSchema("nb", {"x": "a number", "rows": "rows", "one": "a block or None", "named": "name -> row"},
                       blocks={"rows": ROW, "one": ROW}, entries={"named": ROW})


def _values(**changes):
    values = {"x": 1, "rows": [{"a": 1, "b": 2}, {"a": 1, "b": 2, "c": 3, "ece15": 4}], "one": None,
              "named": {"cifar10": {"a": 1, "b": 2}}}
    values.update(changes)
    return values


def test_build_keeps_the_schema_order_and_names_the_notebook():
    built = SCHEMA.build(**dict(reversed(list(_values().items()))))
    assert isinstance(built, ChapterResults) and built.notebook == "nb"
    assert list(built.values) == ["x", "rows", "one", "named"]
    assert built["x"] == 1 and built.to_dict() == built.values and built.to_dict() is not built.values


@pytest.mark.parametrize("values, message", [
    ({"rows": [], "one": None, "named": {}}, r"missing 'x'"),
    (_values(extra=1), r"unknown 'extra'"),
    (_values(rows=[{"a": 1}]), r"\['rows'\]\[0\] \(row\): missing 'b'"),
    (_values(rows=[{"a": 1, "b": 2, "ECE": 3}]), r"unknown 'ECE'"),
    (_values(one={"a": 1, "b": 2, "": "before TS"}), r"\['one'\].*unknown ''"),
    (_values(named={"cifar10": {"a": 1}}), r"\['named'\]\['cifar10'\].*missing 'b'"),
    (_values(rows="not rows"), r"expected a mapping or a list of rows"),
])
def test_missing_and_unknown_keys_are_errors(values, message):
    with pytest.raises(SchemaError, match=message):
        SCHEMA.build(**values)
    with pytest.raises(SchemaError, match=message):
        SCHEMA.validate(values)


def test_schema_error_is_a_value_error_listing_the_allowed_keys():
    with pytest.raises(ValueError, match="Allowed keys: named, one, rows, x"):
        SCHEMA.validate(_values(y=2))


def test_describe_lists_every_key_for_the_docs():
    text = SCHEMA.describe()
    for key in ("``x``", "``rows``", "``a`` (first)", "``c`` (may be absent)", "keys matching ``ece\\d+``"):
        assert key in text


def test_rename_keys():
    assert rename_keys({"ECE": 1, "acc": 2}, {"ECE": "ece"}) == {"ece": 1, "acc": 2}
    with pytest.raises(SchemaError, match="both"):
        rename_keys({"ECE": 1, "ece": 2}, {"ECE": "ece"})
