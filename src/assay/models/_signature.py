"""Input and output signatures: column names and dtypes, inferred from an example and enforced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.errors import ModelError

if TYPE_CHECKING:
    import polars as pl

_NUMERIC = ("Int", "UInt", "Float", "Decimal")
_STRING = ("String", "Utf8", "Categorical", "Enum")
_TEMPORAL = ("Date", "Datetime", "Time", "Duration")


def dtype_family(dtype: str) -> str:
    """The compatibility family of a polars dtype name: numeric, string, boolean, temporal, other."""
    if dtype.startswith(_NUMERIC):
        return "numeric"
    if dtype.startswith(_STRING):
        return "string"
    if dtype.startswith("Bool"):
        return "boolean"
    if dtype.startswith(_TEMPORAL):
        return "temporal"
    return "other"


@dataclass(frozen=True)
class ColumnSpec:
    """One named, typed column of a signature."""

    name: str
    dtype: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True)
class Signature:
    """What a model takes (``inputs``) and what it returns (``outputs``)."""

    inputs: list[ColumnSpec]
    outputs: list[ColumnSpec] = field(default_factory=list)

    @property
    def input_names(self) -> list[str]:
        return [c.name for c in self.inputs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [c.to_dict() for c in self.inputs],
            "outputs": [c.to_dict() for c in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        """Parse the ``signature`` block of model.json.

        Raises:
            ModelError: the block is malformed.
        """
        try:
            inputs = [ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["inputs"]]
            outputs = [ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data.get("outputs", [])]
        except (KeyError, TypeError) as exc:
            raise ModelError(f"Malformed model signature: missing {exc}") from None
        if not inputs:
            raise ModelError("Malformed model signature: no inputs")
        return cls(inputs=inputs, outputs=outputs)

    def is_same_inputs(self, other: Signature) -> bool:
        """True when both signatures take the same column names (in any order)."""
        return sorted(self.input_names) == sorted(other.input_names)

    def check(self, frame: pl.DataFrame, *, what: str = "input") -> pl.DataFrame:
        """Select and order the signature's columns from ``frame``, checking names and dtypes.

        Integers are widened to floats when the model was trained on floats; any other
        mismatch of dtype family (a string where a number was trained) is an error.

        Raises:
            ModelError: a column is missing or has an incompatible dtype (all problems listed).
        """
        import polars as pl

        missing = [c.name for c in self.inputs if c.name not in frame.columns]
        problems = []
        if missing:
            problems.append(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}"
            )
        casts = []
        for spec in self.inputs:
            if spec.name not in frame.columns:
                continue
            got = str(frame.schema[spec.name])
            want_family, got_family = dtype_family(spec.dtype), dtype_family(got)
            if got == "Null":
                casts.append(pl.col(spec.name).cast(_polars_dtype(spec.dtype)))
            elif want_family != got_family:
                problems.append(f"column {spec.name!r} is {got}, the model expects {spec.dtype}")
            elif want_family == "numeric" and spec.dtype.startswith("Float") and got != spec.dtype:
                casts.append(pl.col(spec.name).cast(_polars_dtype(spec.dtype)))
        if problems:
            raise ModelError(
                f"The {what} does not match the model signature: {'; '.join(problems)}",
                problems=problems,
            )
        selected = frame.select(self.input_names)
        return selected.with_columns(casts) if casts else selected


def _polars_dtype(name: str) -> Any:
    import polars as pl

    simple = {
        "Float32": pl.Float32,
        "Float64": pl.Float64,
        "Int8": pl.Int8,
        "Int16": pl.Int16,
        "Int32": pl.Int32,
        "Int64": pl.Int64,
        "String": pl.String,
        "Boolean": pl.Boolean,
    }
    return simple.get(name, pl.Float64)


def to_frame(data: Any, signature: Signature | None = None) -> pl.DataFrame:
    """Turn model input (polars/pandas DataFrame, dict of columns, 2-D array) into polars.

    Raises:
        ModelError: the input cannot be turned into a table.
    """
    import numpy as np
    import polars as pl

    if isinstance(data, pl.DataFrame):
        return data
    if isinstance(data, pl.LazyFrame):
        return data.collect()
    if isinstance(data, dict):
        return pl.DataFrame(data)
    module = type(data).__module__
    if module.startswith("pandas"):
        return pl.from_pandas(data)
    if isinstance(data, (np.ndarray, list)):
        array = np.asarray(data)
        if array.ndim != 2:
            raise ModelError(f"Model input must be a table; got an array of shape {array.shape}")
        if signature is None:
            names = [f"x{i}" for i in range(array.shape[1])]
        else:
            names = signature.input_names
            if len(names) != array.shape[1]:
                raise ModelError(
                    f"Model input has {array.shape[1]} columns; the signature has {len(names)}"
                )
        return pl.DataFrame({n: array[:, i] for i, n in enumerate(names)})
    raise ModelError(
        f"Cannot use a {type(data).__name__} as model input; pass a polars DataFrame or a dict"
    )


def infer_signature(example: Any, outputs: list[ColumnSpec] | None = None) -> Signature:
    """The signature of an input example (column names and polars dtype names).

    Raises:
        ModelError: the example has no columns.
    """
    frame = to_frame(example)
    if not frame.columns:
        raise ModelError("The input example has no columns; pass the features the model takes")
    inputs = [ColumnSpec(name, str(dtype)) for name, dtype in frame.schema.items()]
    return Signature(inputs=inputs, outputs=outputs or [])
