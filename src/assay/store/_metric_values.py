"""What a metric value may be, and how it is stored so that every value comes back as logged.

A metric is a 64-bit float, NaN and ±Inf included (as in MLflow). SQLite's REAL turns NaN into
NULL and stores -0.0 as the integer 0, so the two columns of a point are:

==========  ===============  ==============
value       ``value``        ``value_kind``
==========  ===============  ==============
finite      the number       NULL
±Inf        ±Inf             NULL
NaN         NULL             ``'nan'``
-0.0        0.0              ``'-0'``
==========  ===============  ==============

PostgreSQL's float8 could hold NaN and -0.0 itself; both backends use the same encoding, so one
reader serves both. ``value IS NULL`` is NaN, which SQL comparisons already treat as unordered.

Standard library only: the tracking API, the pipeline's metrics files and the readers use it.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

NAN = "nan"
NEGATIVE_ZERO = "-0"
_EXACT_INT = 2**53  # every integer up to this magnitude is a float64 exactly
MAX_STEP = 2**63 - 1  # metrics.step is a BIGINT on every backend
MAX_KEY = 255  # metrics/params/tags.key are VARCHAR(255)
_BOOL_TYPES = ("bool", "bool_")  # numpy's bool is ``bool_`` before numpy 2, ``bool`` after


def key_problem(name: str) -> str | None:
    """Why ``name`` cannot be a metric, param or tag name (None: it can): 1-255 printable
    characters, so every backend stores it (PostgreSQL refuses NUL and longer names)."""
    if 0 < len(name) <= MAX_KEY and name.isprintable():
        return None
    if not name or len(name) > MAX_KEY:
        return f"has {len(name)} characters (1-{MAX_KEY} allowed)"
    if "\x00" in name:
        return "contains a NUL character"
    return "contains a control character or a lone surrogate"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def to_metric(value: Any) -> float:
    """``value`` as the float64 a metric stores, or ValueError completing the sentence
    "Metric 'x' ..." with why it cannot be one.

    Accepted: ints and floats, NaN and ±Inf, numpy and other numeric scalars (anything with
    ``__float__``). Refused: bools (log ``float(flag)``), strings and bytes (parse them first),
    integers a float64 would round (magnitude above 2**53 and not a float exactly).
    """
    if type(value) is float:  # the common case first: one call per training step
        return value
    if isinstance(value, (str, bytes, bytearray)):
        raise ValueError(f"must be a number, got {_shown(value)} (a {type(value).__name__}); "
                         "convert it first, e.g. float(value)")
    if isinstance(value, bool) or type(value).__name__ in _BOOL_TYPES:
        raise ValueError(f"must be a number, got {_shown(value)} (a bool); log float(value) to "
                         "record it as 1.0 or 0.0")
    if isinstance(value, numbers.Integral):
        whole = int(value)
        try:
            number = float(whole)
        except OverflowError:
            raise ValueError(f"is an integer of {whole.bit_length()} bits, too large for a "
                             "float64 metric") from None
        if abs(whole) > _EXACT_INT and int(number) != whole:
            raise ValueError(f"is {whole}, which a float64 metric would round to {number!r}; "
                             "log float(value) to accept the rounding")
        return number
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"must be a number, got {_shown(value)}") from None


def to_step(step: Any) -> int:
    """``step`` as the integer stored, or ValueError completing "Step of metric 'x' ...":
    whole numbers only (2.0 is 2; no bools, no 1.5)."""
    if type(step) is int:
        whole = step
    elif isinstance(step, bool) or type(step).__name__ in _BOOL_TYPES:
        raise ValueError(f"must be a whole number, got {step!r} (a bool)")
    elif isinstance(step, numbers.Integral):
        whole = int(step)
    elif isinstance(step, numbers.Real) and math.isfinite(step) and float(step).is_integer():
        whole = int(float(step))  # 2.0, np.float32(2.0)
    else:
        raise ValueError(f"must be a whole number, got {_shown(step)} (e.g. the epoch or "
                         "batch index)")
    if not -MAX_STEP - 1 <= whole <= MAX_STEP:
        raise ValueError(f"must be a 64-bit integer, got one of {whole.bit_length()} bits")
    return whole


def metric_columns(value: float) -> tuple[float | None, str | None]:
    """``(value, value_kind)`` to store for ``value`` (see the table above)."""
    if value != value:
        return None, NAN
    if value == 0.0 and math.copysign(1.0, value) < 0:
        return 0.0, NEGATIVE_ZERO
    return value, None


def metric_value(stored: float | None, kind: str | None) -> float:
    """The value a point was logged with, from its stored columns."""
    if kind is None and stored is not None:
        return float(stored)
    if kind == NEGATIVE_ZERO:
        return -0.0
    return math.nan  # value_kind 'nan' (value NULL)
