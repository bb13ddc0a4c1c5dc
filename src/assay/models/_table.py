"""Reading tables (training and evaluation data) with polars, by file suffix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, ModelError

if TYPE_CHECKING:
    import polars as pl


def read_table(path: Path, *, error: type[AssayError] = ModelError) -> pl.DataFrame:
    """Read a parquet, CSV, IPC/Arrow or NDJSON file.

    Raises:
        AssayError: (``error``) the file is missing, of an unknown type, or unreadable.
    """
    import polars as pl

    if not path.is_file():
        raise error(f"Data file {path} does not exist", path=str(path))
    readers: dict[str, Any] = {
        ".parquet": pl.read_parquet,
        ".pq": pl.read_parquet,
        ".csv": pl.read_csv,
        ".ipc": pl.read_ipc,
        ".arrow": pl.read_ipc,
        ".feather": pl.read_ipc,
        ".ndjson": pl.read_ndjson,
        ".jsonl": pl.read_ndjson,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise error(
            f"Cannot read {path.name}: use parquet, csv, ipc/arrow or ndjson", path=str(path)
        )
    try:
        frame: pl.DataFrame = reader(path)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise error(f"Cannot read {path}: {exc}", path=str(path)) from None
    return frame
