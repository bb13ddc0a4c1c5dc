"""Evaluation inputs: datasets read with polars, labels, slice masks, sensitive groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._paths import resolve_inside
from assay.errors import EvaluationError, UsageError

if TYPE_CHECKING:
    import numpy as np
    import polars as pl


@dataclass
class EvalDataset:
    """One named dataset: its frame, target values and slice masks."""

    name: str
    path: str
    frame: pl.DataFrame
    target: np.ndarray
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    groups: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.frame.height)


def read_table(path: Path) -> pl.DataFrame:
    """Read a table file with polars.

    Raises:
        EvaluationError: the file is missing or unreadable.
    """
    from assay.models import read_table as read_any

    return read_any(path, error=EvaluationError)


def config_datasets(root: Path) -> dict[str, Any]:
    """``datasets:`` of the project's assay.yaml ({} when there is none or it does not load)."""
    from assay.config import Project
    from assay.errors import AssayError

    try:
        return dict(Project.load(root).config.datasets)
    except AssayError:
        return {}


def dataset_path(root: Path, raw: str, datasets: dict[str, Any] | None = None) -> Path:
    """A dataset path from options: a name from ``datasets:`` in assay.yaml, or a path.

    Raises:
        EvaluationError: the path escapes the project.
    """
    if datasets and raw in datasets:
        entry = datasets[raw]
        raw = str(getattr(entry, "path", entry))
    try:
        return resolve_inside(root, raw, what="dataset path")
    except UsageError as exc:
        raise EvaluationError(str(exc), path=raw) from None


def slice_expression(name: str, text: str) -> Any:
    """Compile a slice: SQL (``tenure_months < 12 AND contract = 'one-year'``) or a polars
    expression (``pl.col("tenure_months") < 12``), evaluated with no builtins.

    Raises:
        EvaluationError: the expression does not compile.
    """
    import polars as pl

    stripped = text.strip()
    try:
        if stripped.startswith("pl."):
            namespace = {"pl": pl, "col": pl.col, "lit": pl.lit}
            expr = eval(stripped, {"__builtins__": {}}, namespace)  # config is trusted like cmd
        else:
            expr = pl.sql_expr(stripped)
    except Exception as exc:  # SyntaxError, NameError, polars SQL errors
        raise EvaluationError(
            f"Slice {name!r} is not a valid expression: {exc}", slice=name
        ) from None
    if not isinstance(expr, pl.Expr):
        raise EvaluationError(f"Slice {name!r} is not a polars expression", slice=name)
    return expr


def load_dataset(
    name: str,
    path: Path,
    *,
    root: Path,
    target: str,
    slices: dict[str, Any],
    fairness_column: str | None,
) -> EvalDataset:
    """Read a dataset and compute its slice masks and sensitive groups.

    Raises:
        EvaluationError: missing target or fairness column, empty data, a failing slice.
    """
    import numpy as np
    import polars as pl

    frame = read_table(path)
    if frame.height == 0:
        raise EvaluationError(f"Dataset {name!r} ({path.name}) has no rows", dataset=name)
    if target not in frame.columns:
        raise EvaluationError(
            f"Dataset {name!r} has no target column {target!r}; columns: "
            f"{', '.join(frame.columns[:12])}",
            dataset=name,
        )
    if frame[target].null_count():
        raise EvaluationError(
            f"Dataset {name!r}: target {target!r} has {frame[target].null_count()} missing values",
            dataset=name,
        )
    masks = {}
    for slice_name, expr in slices.items():
        try:
            mask = frame.select(expr.fill_null(False).alias("_m"))["_m"]
        except pl.exceptions.PolarsError as exc:
            raise EvaluationError(
                f"Slice {slice_name!r} failed on dataset {name!r}: {exc}",
                slice=slice_name,
                dataset=name,
            ) from None
        if mask.dtype != pl.Boolean:
            raise EvaluationError(
                f"Slice {slice_name!r} must be a condition (true/false), got {mask.dtype}",
                slice=slice_name,
            )
        masks[slice_name] = mask.to_numpy().astype(bool)
    groups = None
    if fairness_column is not None:
        if fairness_column not in frame.columns:
            raise EvaluationError(
                f"Dataset {name!r} has no fairness column {fairness_column!r}", dataset=name
            )
        groups = np.asarray(
            frame[fairness_column].cast(pl.String).fill_null("(missing)").to_numpy()
        )
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = str(path)
    return EvalDataset(
        name=name,
        path=rel,
        frame=frame,
        target=frame[target].to_numpy(),
        masks=masks,
        groups=groups,
    )


def plain_value(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (so messages say 0, not np.int64(0))."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def label_indices(target: np.ndarray, classes: list[Any], *, dataset: str) -> np.ndarray:
    """Map target labels to class indices of a model.

    Raises:
        EvaluationError: a label the model does not know, or a target with one class only.
    """
    import numpy as np

    present = np.unique(target)
    if present.size < 2:
        raise EvaluationError(
            f"The target in dataset {dataset!r} has one class only ({plain_value(present[0])!r}); "
            "classification metrics need both classes. Evaluate on more (or other) rows",
            dataset=dataset,
        )
    from assay.metrics import class_indices

    return class_indices(target, classes, error=EvaluationError, where=f"Dataset {dataset!r}",
                         dataset=dataset)


def check_finite(values: np.ndarray, *, candidate: str, dataset: str) -> None:
    """Raise if predictions hold NaN or infinity.

    Raises:
        EvaluationError: how many predictions (rows) are not finite.
    """
    import numpy as np

    finite = np.isfinite(values)
    if finite.ndim > 1:  # probabilities: a row is one prediction
        finite = finite.all(axis=tuple(range(1, finite.ndim)))
    bad = int(finite.size - np.count_nonzero(finite))
    if bad:
        raise EvaluationError(
            f"{bad} NaN or infinite prediction{'s' if bad > 1 else ''} from {candidate} on "
            f"dataset {dataset!r}",
            candidate=candidate,
            dataset=dataset,
        )
