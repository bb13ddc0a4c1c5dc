"""ISO-8601 text in CSV and NDJSON columns that the contract declares as dates or times.

JSON has no timestamp type, so NDJSON times arrive as strings; CSV times are parsed by Polars
(``try_parse_dates``) only when every value parses. A column whose contract says
``dtype: datetime`` (or ``timestamp``, ``date``) and that is still text is parsed here, in the
same lazy query (the format inferred from the values, as for CSV). Values that do not parse
fail that column's ``dtype`` check, counted and sampled like any failing row, instead of
silently turning into nulls.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from assay.contracts._model import Contract

if TYPE_CHECKING:
    import polars as pl

_KINDS = {"datetime": "datetime", "timestamp": "datetime", "date": "date"}
_HIDDEN = "\0unparsed:"
_RAW = "\0text:"
# a time of day followed by Z or +hh[:mm] / -hh[:mm] (a bare date's "-01" is not an offset)
_OFFSET = re.compile(r"\d:\d\d(?::\d\d(?:\.\d+)?)?\s*(?:Z|[+-]\d\d(?::?\d\d)?)$",
                     re.IGNORECASE)


def declared_times(contract: Contract) -> dict[str, str]:
    """Columns the contract declares as dates or times: name -> ``datetime`` or ``date``."""
    out: dict[str, str] = {}
    for name, spec in contract.columns.items():
        if spec.dtype is not None and spec.dtype.value.lower() in _KINDS:
            out[name] = _KINDS[spec.dtype.value.lower()]
    return out


def _with_offsets(lf: pl.LazyFrame, names: list[str]) -> set[str]:
    """The columns whose first value (among the first rows) carries a UTC offset."""
    import polars as pl

    if not names:
        return set()
    try:
        first = lf.head(1000).select(pl.col(n).drop_nulls().first() for n in names).collect()
    except pl.exceptions.PolarsError:  # unreadable: the contract's query reports it
        return set()
    row = first.row(0, named=True) if first.height else {}
    return {n for n in names if isinstance(row.get(n), str) and _OFFSET.search(row[n].strip())}


def parse_text_times(lf: pl.LazyFrame, schema: dict[str, Any], contract: Contract,
                     fmt: str) -> tuple[pl.LazyFrame, dict[str, Any], dict[str, str]]:
    """``lf`` with declared date/time text columns parsed, the new schema, and for each parsed
    column the hidden boolean column that flags its values that did not parse (the text itself
    is kept in a hidden column too, :func:`raw_column`)."""
    import polars as pl

    if fmt not in ("csv", "ndjson"):
        return lf, schema, {}
    todo = {name: kind for name, kind in declared_times(contract).items()
            if schema.get(name) == pl.String}
    if not todo:
        return lf, schema, {}
    aware = _with_offsets(lf, [n for n, kind in todo.items() if kind == "datetime"])
    exprs: list[pl.Expr] = []
    flags: dict[str, str] = {}
    for name, kind in todo.items():
        text = pl.col(name)
        if kind == "date":
            parsed = text.str.to_date(strict=False)
        else:  # text with UTC offsets becomes UTC times, as CSV's try_parse_dates does
            parsed = text.str.to_datetime(strict=False, time_unit="us",
                                          time_zone="UTC" if name in aware else None)
        flags[name] = f"{_HIDDEN}{name}"
        exprs += [parsed.alias(name), (text.is_not_null() & parsed.is_null()).alias(flags[name]),
                  text.alias(raw_column(name))]
    parsed_lf = lf.with_columns(exprs)
    new_schema = dict(parsed_lf.collect_schema())
    for hidden in hidden_columns(flags):
        new_schema.pop(hidden)
    return parsed_lf, new_schema, flags


def raw_column(name: str) -> str:
    """The hidden column keeping the text of parsed column ``name`` (for sample rows)."""
    return f"{_RAW}{name}"


def hidden_columns(flags: dict[str, str]) -> list[str]:
    """Every column :func:`parse_text_times` adds, to drop before rows are shown."""
    return [*flags.values(), *(raw_column(name) for name in flags)]
