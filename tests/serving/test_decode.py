"""Checked columns make the frame polars makes of the same values at the signature's dtypes,
whether a column was checked whole into an array or kept as a list, alone or batched."""

from __future__ import annotations

import math
import re
from typing import Any

import polars as pl
import pytest

from assay.errors import RequestRejected
from assay.models import ColumnSpec, Signature
from assay.serving._decode import build_frame, frame_of

SIGNATURE = Signature([ColumnSpec("f", "Float64"), ColumnSpec("g", "Float32"),
                       ColumnSpec("i", "Int64"), ColumnSpec("s", "String"),
                       ColumnSpec("b", "Boolean")])
SCHEMA = {"f": pl.Float64, "g": pl.Float32, "i": pl.Int64, "s": pl.String, "b": pl.Boolean}


def _rows(columns: dict[str, list[Any]]) -> Any:
    return build_frame(columns, SIGNATURE, max_rows=100)


@pytest.mark.parametrize("columns", [
    {"f": [1.5, 2, None], "g": [0.25, -1, 3], "i": [1, 2, 3], "s": ["x", None, "z"],
     "b": [True, None, False]},
    {"f": [1.0, 2.0, 3.0], "g": [None, None, 1.0], "i": [3.0, None, -(2**63)],
     "s": ["a", "b", "c"], "b": [False, False, True]},
    {"f": [2**70, -(2**80), 0], "g": [1, 2, 3], "i": [2**62, 0, -5], "s": [None] * 3,
     "b": [None] * 3},
], ids=["ints-and-nulls-in-floats", "integral-floats-and-nulls-in-ints", "large-integers"])
def test_checked_columns_make_the_frame_polars_makes_of_the_values(
        columns: dict[str, list[Any]]) -> None:
    expected = pl.DataFrame({k: [float(v) if isinstance(v, int) and k in "fg" else
                                 int(v) if isinstance(v, float) and k == "i" else v
                                 for v in values] for k, values in columns.items()},
                            schema=SCHEMA)
    assert frame_of([_rows(columns)]).equals(expected)
    other = {"f": [7.0], "g": [1.0], "i": [4], "s": ["q"], "b": [True]}
    batched = frame_of([_rows(columns), _rows(other), _rows(columns)])
    assert batched.equals(pl.concat([expected, pl.DataFrame(other, schema=SCHEMA), expected]))


@pytest.mark.parametrize(("column", "values", "fragment"), [
    ("f", [1.0, 2.0, math.nan], "holds nan in row 2"),
    ("f", [1.0, None, -math.inf], "holds -inf in row 2"),
    ("f", [1.0, True], "numeric (Float64); got a boolean"),
    ("f", [1.0, "2"], "takes Float64 values; got \"2\""),
    ("f", [10**400], "takes Float64 values"),
    ("i", [1, 2**63], "takes Int64 values"),
    ("i", [1, 2.5], "takes Int64 values; got 2.5"),
    ("i", [1, [2]], "got a JSON array"),
    ("s", ["a", 1], "takes String values; got 1"),
    ("b", [True, 1], "takes Boolean values; got 1"),
], ids=["nan", "infinity-after-null", "bool", "string", "huge-int", "int64-overflow",
        "fraction", "array", "number-for-string", "number-for-bool"])
def test_a_wrong_value_is_refused_naming_its_column(column: str, values: list[Any],
                                                   fragment: str) -> None:
    columns: dict[str, list[Any]] = {"f": [1.0] * len(values), "g": [1.0] * len(values),
                                     "i": [1] * len(values), "s": ["a"] * len(values),
                                     "b": [True] * len(values)}
    columns[column] = values
    with pytest.raises(RequestRejected, match=re.escape(fragment)) as caught:
        _rows(columns)
    assert caught.value.field == column and caught.value.status == 422
