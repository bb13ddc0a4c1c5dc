"""Request bodies to model input: the three protocols' payloads read into one checked frame.

Every way a body can be wrong ends here as a :class:`~assay.errors.RequestRejected` with the
status to answer and the field at fault: 400 for bytes that are not JSON (or CSV), 413 for too
many rows or too deep a nesting, 415 for a content type other than JSON or CSV, 422 for a
payload that does not match the model's signature (missing or extra columns, wrong types, a
null, NaN or infinity). Bodies are parsed as JSON or CSV only, never unpickled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import orjson

from assay.errors import RequestRejected
from assay.models import Signature, dtype_family

if TYPE_CHECKING:
    import polars as pl

JSON_TYPES = ("application/json", "")
CSV_TYPE = "text/csv"


def media_type(header: str | None) -> str:
    """``application/json`` from ``application/json; charset=utf-8`` (lower case)."""
    return (header or "").split(";", 1)[0].strip().lower()


def require_json(content_type: str | None) -> None:
    """Raises: RequestRejected (415) for a content type other than JSON."""
    kind = media_type(content_type)
    if kind not in JSON_TYPES and not kind.endswith("+json"):
        raise RequestRejected(
            f"Content type {kind!r} is not accepted here; send application/json", status=415)


def _non_finite(text: str) -> float:
    return math.nan if text == "NaN" else math.inf if text == "Infinity" else -math.inf


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body`` (UTF-8, -16 or -32; ``NaN``/``Infinity`` literals are read
    so that the column at fault can be named). orjson reads every strict UTF-8 document; only
    what it refuses goes to the standard library's parser, which says why or reads it.

    Raises:
        RequestRejected: empty, not JSON, not decodable (400), nested too deep (413).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # strict JSON only: the standard parser names the fault, or reads NaN literals
    if not body.strip():
        raise RequestRejected("The request body is empty; send a JSON document", status=400)
    try:
        return json.loads(body, parse_constant=_non_finite)
    except RecursionError:
        raise RequestRejected("The JSON document is nested too deeply", status=413) from None
    except UnicodeDecodeError:
        raise RequestRejected("The request body is not UTF-8 text", status=400) from None
    except ValueError as exc:
        detail = str(exc).split(":")[0]
        raise RequestRejected(f"The request body is not valid JSON: {detail}", status=400) from None


def _reject(message: str, field: str | None = None, status: int = 422) -> RequestRejected:
    return RequestRejected(message, status=status, field=field)


def _check_names(given: list[str] | Any, signature: Signature, where: str) -> None:
    names = signature.input_names
    if not isinstance(given, (list, dict)):
        raise _reject(f"{where} must be a JSON object or list of column names")
    for name in given:
        if not isinstance(name, str):
            raise _reject(f"{where}: column names are strings; got {name!r}")
    known = set(names)
    extra = [n for n in given if n not in known]
    if extra:
        raise _reject(f"{where}: unknown column {extra[0]!r}; the model takes "
                      f"{', '.join(names)}", field=extra[0])
    present = set(given)
    missing = [n for n in names if n not in present]
    if missing:
        raise _reject(f"{where}: missing column {missing[0]!r}", field=missing[0])
    if isinstance(given, list) and len(given) != len(present):
        raise _reject(f"{where}: a column is named twice")


def records_columns(records: Any, signature: Signature, where: str) -> dict[str, list[Any]]:
    """Rows as JSON objects (``[{"a": 1, "b": 2}, ...]``) to columns."""
    if not isinstance(records, list):
        raise _reject(f"{where} must be a list of row objects")
    names = signature.input_names
    if not records:
        return {n: [] for n in names}
    expected = set(names)
    for i, row in enumerate(records):
        if not isinstance(row, dict):
            raise _reject(f"{where}[{i}] must be an object of column values")
        if len(row) != len(expected) or row.keys() != expected:
            _check_names(list(row), signature, f"{where}[{i}]")
    return {n: list(map(itemgetter(n), records)) for n in names}


def positional_columns(rows: Any, signature: Signature, where: str) -> dict[str, list[Any]]:
    """Rows as JSON arrays in the signature's column order (``[[1, 2], [3, 4]]``) to columns."""
    if not isinstance(rows, list):
        raise _reject(f"{where} must be a list of rows")
    names = signature.input_names
    if not _rows_of_width(rows, len(names)):
        for i, row in enumerate(rows):
            if not isinstance(row, list):
                raise _reject(f"{where}[{i}] must be a list of {len(names)} values")
            if len(row) != len(names):
                raise _reject(f"{where}[{i}] has {len(row)} values; the model takes "
                              f"{len(names)} ({', '.join(names)})")
    return {n: list(map(itemgetter(j), rows)) for j, n in enumerate(names)}


def _rows_of_width(rows: list[Any], width: int) -> bool:
    """True if every row is a list of ``width`` values (one pass in C, not a Python loop)."""
    return not rows or (set(map(type, rows)) == {list} and set(map(len, rows)) == {width})


def mapping_columns(columns: Any, signature: Signature, where: str) -> dict[str, list[Any]]:
    """Columns as a JSON object of lists (``{"a": [1, 3], "b": [2, 4]}``)."""
    if not isinstance(columns, dict):
        raise _reject(f"{where} must be an object of column lists")
    _check_names(columns, signature, where)
    for name, values in columns.items():
        if not isinstance(values, list):
            raise _reject(f"{where}[{name!r}] must be a list of values", field=name)
    return {n: columns[n] for n in signature.input_names}


def native_columns(doc: Any, signature: Signature) -> dict[str, list[Any]]:
    """``POST /predict``: ``{"records": [...]}``, ``{"columns": {...}}`` or a bare list of rows."""
    if isinstance(doc, list):
        return records_columns(doc, signature, "body")
    if not isinstance(doc, dict):
        raise _reject('The body must be {"records": [...]} or {"columns": {...}}')
    keys = set(doc)
    if keys == {"records"}:
        return records_columns(doc["records"], signature, "records")
    if keys == {"columns"}:
        return mapping_columns(doc["columns"], signature, "columns")
    raise _reject('The body must have exactly one of "records" or "columns"; got '
                  f"{', '.join(sorted(map(str, keys))) or 'no keys'}")


_MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def mlflow_columns(doc: Any, signature: Signature) -> dict[str, list[Any]]:
    """``POST /invocations`` (MLflow's scoring protocol): exactly one of ``dataframe_split``,
    ``dataframe_records``, ``instances`` or ``inputs`` (plus ``params``, which is ignored)."""
    if not isinstance(doc, dict):
        raise _reject(f"The body must be a JSON object with one of {', '.join(_MLFLOW_KEYS)}")
    given = [k for k in _MLFLOW_KEYS if k in doc]
    unknown = sorted(set(doc) - set(_MLFLOW_KEYS) - {"params"})
    if len(given) != 1 or unknown:
        raise _reject(f"The body must have exactly one of {', '.join(_MLFLOW_KEYS)}"
                      + (f"; unknown key {unknown[0]!r}" if unknown else ""),
                      field=unknown[0] if unknown else None)
    key = given[0]
    value = doc[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise _reject('dataframe_split must be {"columns": [...], "data": [[...], ...]}')
        extra = sorted(set(value) - {"columns", "data", "index"})
        if extra:
            raise _reject(f"dataframe_split: unknown key {extra[0]!r}", field=extra[0])
        columns = value.get("columns")
        if columns is None:
            return positional_columns(value["data"], signature, "dataframe_split.data")
        _check_names(columns, signature, "dataframe_split.columns")
        data = value["data"]
        if not isinstance(data, list):
            raise _reject("dataframe_split.data must be a list of rows")
        if not _rows_of_width(data, len(columns)):
            for i, row in enumerate(data):
                if not isinstance(row, list) or len(row) != len(columns):
                    raise _reject(f"dataframe_split.data[{i}] must be a list of "
                                  f"{len(columns)} values")
        where = {name: j for j, name in enumerate(columns)}
        return {n: list(map(itemgetter(where[n]), data)) for n in signature.input_names}
    if key == "dataframe_records":
        return records_columns(value, signature, key)
    if isinstance(value, dict):
        return mapping_columns(value, signature, key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return records_columns(value, signature, key)
    return positional_columns(value, signature, key)


def csv_columns(body: bytes, signature: Signature) -> dict[str, list[Any]]:
    """``text/csv``: a header row naming the columns, then one line per row."""
    import csv
    import io

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected("The CSV body is not UTF-8 text", status=400) from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise RequestRejected(f"The CSV body is malformed: {exc}", status=400) from None
    rows = [r for r in rows if r]
    if not rows:
        raise RequestRejected("The CSV body is empty; send a header line and rows", status=400)
    header = [h.strip() for h in rows[0]]
    _check_names(header, signature, "CSV header")
    width = len(header)
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            raise _reject(f"CSV line {i} has {len(row)} values; the header has {width}")
    columns: dict[str, list[Any]] = {}
    by_name = {c.name: c.dtype for c in signature.inputs}
    for j, name in enumerate(header):
        family = dtype_family(by_name[name])
        values = [row[j] for row in rows[1:]]
        columns[name] = [_csv_value(v, family, name) for v in values]
    return columns


def _csv_value(text: str, family: str, name: str) -> Any:
    if family == "numeric":
        try:
            number = float(text)
        except ValueError:
            raise _reject(f"column {name!r} is numeric; got {text[:40]!r}", field=name) from None
        return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    if family == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise _reject(f"column {name!r} is boolean; got {text[:40]!r}", field=name)
        return lowered in ("true", "1")
    return text


def _target(dtype: str) -> Any:
    import polars as pl

    family = dtype_family(dtype)
    if family == "numeric":
        return pl.Float64 if dtype.startswith(("Float", "Decimal")) else pl.Int64
    if family == "string":
        return pl.String
    if family == "boolean":
        return pl.Boolean
    return None


_INT64 = 2**63
_FLOAT_INT = 2**1023


@dataclass
class Rows:
    """One request's checked input: the signature's columns, every value of its column's
    type or missing. A numeric column is a NumPy array when its values convert as a whole (a
    float column's missing values are NaN there: any other NaN was refused), otherwise (and
    for string and boolean columns) a list holding None for a missing value. Frames are built
    per batch (:func:`frame_of`), not per request."""

    columns: dict[str, Any]
    height: int
    signature: Signature

    def to_frame(self) -> pl.DataFrame:
        return frame_of([self])

    def split(self, heights: list[int]) -> list[Rows]:
        """These rows as consecutive requests of ``heights`` rows (:func:`joined`'s inverse)."""
        parts, start = [], 0
        for height in heights:
            end = start + height
            parts.append(Rows({name: values[start:end] for name, values in self.columns.items()},
                              height, self.signature))
            start = end
        return parts


def joined(parts: list[Rows]) -> Rows:
    """The rows of requests ``parts`` (one signature), in their order, as one request's: a
    column of NumPy arrays stays an array; any other is a list (a float array's NaN there is
    None, its missing value)."""
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    columns: dict[str, Any] = {}
    for name in parts[0].columns:
        pieces = [p.columns[name] for p in parts]
        if all(isinstance(piece, np.ndarray) for piece in pieces):
            columns[name] = np.concatenate(pieces)
        else:
            columns[name] = [v for piece in pieces for v in _as_list(piece)]
    return Rows(columns, sum(p.height for p in parts), parts[0].signature)


def frame_of(parts: list[Rows]) -> pl.DataFrame:
    """The frame the model takes for requests ``parts`` (one signature), in their order.

    The frame is built in the signature's column order with each column's own dtype (a float
    column at its float width), so it is what ``Signature.check`` would make of it: the values
    were checked in :func:`build_frame`, and a second pass through polars' ``select`` would
    cost more than the model's own prediction of a few rows.

    Raises:
        RequestRejected: polars refused a value the checks let through (422).
    """
    import numpy as np
    import polars as pl

    series = []
    try:
        rows = joined(parts)
        for spec in rows.signature.inputs:
            values = rows.columns[spec.name]
            # a float array's NaN are its missing values (any other NaN was refused); a
            # column without one keeps no validity mask
            has_nan = isinstance(values, np.ndarray) and values.dtype.kind == "f" \
                and bool(np.isnan(values).any())
            series.append(pl.Series(spec.name, values, dtype=_frame_dtype(spec.dtype),
                                    nan_to_null=has_nan))
        return pl.DataFrame(series)
    except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError) as exc:
        detail = " ".join(str(exc).split())[:200]  # values the checks above let through
        raise _reject(f"The input cannot be made into the model's table: {detail}") from None


def _as_list(values: Any) -> list[Any]:
    """A column's values as a list; a float array's NaN (a missing value) as None."""
    if isinstance(values, list):
        return values
    return [None if v != v else v for v in values.tolist()]


def _frame_dtype(dtype: str) -> Any:
    import polars as pl

    return pl.Float32 if dtype == "Float32" else _target(dtype)


def build_frame(columns: dict[str, list[Any]], signature: Signature, *,
                max_rows: int) -> Rows:
    """Columns (in the signature's names) checked against the signature.

    Raises:
        RequestRejected: no rows or too many (413), columns of unequal length, a value of the
            wrong type, NaN or infinity (422, naming the column).
    """
    names = signature.input_names
    rows = len(columns[names[0]])
    if rows == 0:
        raise _reject("The request has no rows")
    if rows > max_rows:
        raise _reject(f"The request has {rows} rows; this server takes at most {max_rows} per "
                      "request (--max-rows)", status=413)
    checked = {}
    for spec in signature.inputs:
        values = columns[spec.name]
        if len(values) != rows:
            raise _reject(f"column {spec.name!r} has {len(values)} values; "
                          f"{names[0]!r} has {rows}", field=spec.name)
        checked[spec.name] = _checked(spec.name, spec.dtype, values)
    return Rows(checked, rows, signature)


_NONE = type(None)
_FLOAT_OK: frozenset[type] = frozenset((float, int, _NONE))


def _checked(name: str, dtype: str, values: list[Any]) -> Any:
    """``values`` checked against the column's type, whole: the set of the values' types, then
    NumPy's conversion and finiteness test; a Python loop runs only to name a value at fault
    (or for an integer column holding floats or missing values)."""
    import numpy as np

    family = dtype_family(dtype)
    if _target(dtype) is None:
        raise _reject(f"column {name!r} is {dtype}, which this server cannot read from JSON",
                      field=name)
    kinds = set(map(type, values))
    if family == "numeric" and dtype.startswith(("Float", "Decimal")):
        _only(name, dtype, values, kinds, _FLOAT_OK)
        try:
            array = np.array(values, dtype=np.float64)  # None -> NaN
        except OverflowError:  # an integer no float holds
            raise _bad(name, dtype, next(v for v in values if type(v) is int
                                         and not -_FLOAT_INT < v < _FLOAT_INT)) from None
        if int in kinds and float(np.nanmax(np.abs(array), initial=0.0)) >= _FLOAT_INT:
            for value in values:
                if type(value) is int and not -_FLOAT_INT < value < _FLOAT_INT:
                    raise _bad(name, dtype, value)
        finite = np.isfinite(array)
        if not finite.all():
            wrong = ~finite
            if _NONE in kinds:
                wrong &= np.fromiter((v is not None for v in values), dtype=bool,
                                     count=len(values))
            if wrong.any():
                row = int(wrong.argmax())
                raise _reject(f"column {name!r} holds {values[row]} in row {row}; the model "
                              "takes finite numbers only", field=name)
        return array
    if family == "numeric":
        _only(name, dtype, values, kinds, _FLOAT_OK)
        if kinds == {int}:
            try:
                return np.array(values, dtype=np.int64)
            except OverflowError:
                raise _bad(name, dtype, next(v for v in values
                                             if not -_INT64 <= v < _INT64)) from None
        out = list(values)
        for row, value in enumerate(values):
            kind = type(value)
            if kind is int:
                if not -_INT64 <= value < _INT64:
                    raise _bad(name, dtype, value)
            elif kind is float:
                if not (value - value == 0.0 and value.is_integer() and abs(value) <= 2**53):
                    raise _bad(name, dtype, value)
                out[row] = int(value)
        return out
    wanted: frozenset[type] = frozenset((str if family == "string" else bool, _NONE))
    _only(name, dtype, values, kinds, wanted)
    return values


def _only(name: str, dtype: str, values: list[Any], kinds: set[type],
          allowed: frozenset[type]) -> None:
    """Raises: RequestRejected naming the first value of a type not in ``allowed``."""
    if not kinds <= allowed:
        raise _bad(name, dtype, next(v for v in values if type(v) not in allowed))


def _bad(name: str, dtype: str, value: Any) -> RequestRejected:
    if type(value) is bool and dtype_family(dtype) == "numeric":
        return _reject(f"column {name!r} is numeric ({dtype}); got a boolean", field=name)
    return _reject(f"column {name!r} takes {dtype} values; got {_shown(value)}", field=name)


def _shown(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"a JSON {'array' if isinstance(value, list) else 'object'}"
    text = json.dumps(value, default=str) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
