"""Open a data file (Parquet, CSV, NDJSON, Arrow IPC), local or remote, as a Polars LazyFrame."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._layout import POINTER_SUFFIX
from assay.errors import ContractError, UsageError

if TYPE_CHECKING:
    import polars as pl

    from assay.config import AssayConfig

FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
    ".json": "ndjson",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}
# Schemes Polars reads natively (object_store); anything else goes through fsspec.
_NATIVE_SCHEMES = ("s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://",
                   "http://", "https://", "hf://")


class DataUnreadable(ContractError):
    """The data could not be parsed (malformed lines, mixed types, empty file)."""


@dataclass(frozen=True)
class DataSource:
    """Where data lives: a local path (file or folder of files), a remote URL, or named files.

    ``files`` lists the exact files to read (a dataset version materialised from the object
    cache, whose object names carry no extension); ``label`` is what reports show instead of
    ``location`` (``churn@v1 (data/churn.parquet, 1a2b3c4d5e6f)``).
    """

    location: str
    format: str
    local: Path | None = None
    storage_options: dict[str, Any] | None = None
    files: tuple[Path, ...] | None = None
    label: str | None = None

    @property
    def is_remote(self) -> bool:
        return self.local is None and self.files is None

    @property
    def shown(self) -> str:
        """How reports name this data."""
        return self.label or self.location

    def size(self) -> int | None:
        """Bytes on disk (sum over a folder), if cheap to know."""
        if self.files is not None:
            return sum(p.stat().st_size for p in self.files)
        if self.local is None:
            return None
        if self.local.is_dir():
            return sum(p.stat().st_size for p in self.local.rglob("*") if p.is_file())
        return self.local.stat().st_size

    def mtime(self) -> float:
        """Modification time (UNIX seconds) of the file, or the newest file of a folder."""
        if self.files is not None:
            return max((p.stat().st_mtime for p in self.files), default=0.0)
        if self.local is not None:
            if self.local.is_dir():
                return max((p.stat().st_mtime for p in self.local.rglob("*") if p.is_file()),
                           default=self.local.stat().st_mtime)
            return self.local.stat().st_mtime
        import fsspec

        fs, _, paths = fsspec.get_fs_token_paths(self.location,
                                                 storage_options=self.storage_options or {})
        info = fs.info(paths[0])
        for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
            value = info.get(key)
            if value is None:
                continue
            if hasattr(value, "timestamp"):
                return float(value.timestamp())
            return float(value)
        raise ContractError(f"{self.location}: the remote does not report a modification time")


def format_of(name: str) -> str:
    """The format implied by a file name.

    Raises:
        UsageError: unknown extension.
    """
    suffix = Path(name.split("?")[0]).suffix.lower()
    if suffix == ".gz":
        suffix = Path(name.split("?")[0][:-3]).suffix.lower()
    fmt = FORMATS.get(suffix)
    if fmt is None:
        raise UsageError(
            f"{name}: cannot tell the data format from '{suffix or '(no extension)'}'; "
            f"use one of {', '.join(sorted(FORMATS))}",
            path=name,
        )
    return fmt


def is_remote(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


def source_for(location: str, root: Path | None, *, storage_options: dict[str, Any] | None = None,
               what: str = "data") -> DataSource:
    """Resolve ``location`` (path inside ``root``, or a remote URL) to a :class:`DataSource`.

    Raises:
        UsageError: the path escapes the project or does not exist, or the format is unknown.
    """
    if is_remote(location):
        return DataSource(location, format_of(location), None, storage_options)
    from assay._paths import resolve_inside

    raw = location[len("file://"):] if location.startswith("file://") else location
    path = resolve_inside(root, raw, what=what) if root is not None else Path(raw).resolve()
    if not path.exists():
        from assay.data import not_pulled

        why = not_pulled(root, path) if root is not None else None
        raise UsageError(f"{what} {location}: {why}" if why else f"{what} {location} does not exist",
                         path=location)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        if not files:
            raise UsageError(f"{what} folder {location} holds no data files", path=location)
        return DataSource(str(path), format_of(files[0].name), path, None)
    return DataSource(str(path), format_of(path.name), path, None)


def scan(source: DataSource) -> pl.LazyFrame:
    """A LazyFrame over ``source`` (nothing is read yet)."""
    import polars as pl

    fmt = source.format
    if source.files is not None:
        target: Any = [str(p) for p in source.files]
    elif source.local is not None and source.local.is_dir():
        pattern = {"parquet": "*.parquet", "csv": "*.csv", "ndjson": "*.*json*", "ipc": "*.arrow"}
        target = str(source.local / "**" / pattern[fmt])
    else:
        target = source.location
    if source.is_remote and not source.location.startswith(_NATIVE_SCHEMES):
        import fsspec

        with fsspec.open(source.location, "rb", **(source.storage_options or {})) as handle:
            payload = handle.read()
        import io

        buffer = io.BytesIO(payload)
        try:
            if fmt == "parquet":
                frame = pl.read_parquet(buffer)
            elif fmt == "csv":
                frame = pl.read_csv(buffer, infer_schema_length=10_000, try_parse_dates=True)
            elif fmt == "ndjson":
                frame = pl.read_ndjson(buffer, infer_schema_length=10_000)
            else:
                frame = pl.read_ipc(buffer)
            return frame.lazy()
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataUnreadable(_first_line(exc), location=source.location) from exc
    options = source.storage_options or None
    if source.local is not None and source.local.is_file() and source.local.stat().st_size == 0:
        raise DataUnreadable("the file is empty (0 bytes)", location=source.location)
    if fmt == "parquet":
        return pl.scan_parquet(target, storage_options=options)
    if fmt == "csv":
        named = source.location if source.files is not None else str(target)
        sep = "\t" if named.lower().endswith(".tsv") else ","
        return pl.scan_csv(target, separator=sep, infer_schema_length=10_000,
                           try_parse_dates=True, storage_options=options)
    if fmt == "ndjson":
        return pl.scan_ndjson(target, infer_schema_length=10_000, storage_options=options)
    return pl.scan_ipc(target, storage_options=options)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe_read_error(exc: BaseException) -> str:
    """A one-line reason a Polars operation failed.

    Polars' first line is often only a heading (``regex error: regex parse error:``) with the
    reason further down (``error: unclosed character class``): the heading is then completed
    with that reason; the expression dump Polars appends is dropped.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines()]
    if not lines or not lines[0]:
        return type(exc).__name__
    head = lines[0]
    if head.endswith(":"):
        reason = next((line[len("error:"):].strip() for line in lines[1:]
                       if line.startswith("error:")), None)
        if reason is None:
            reason = next((line for line in lines[1:] if line and not line.startswith(
                "This error occurred")), "")
        head = f"{head} {reason}".strip()
    return head


def env_streaming_threshold() -> int:
    """Bytes above which the streaming engine is used (``ASSAY_STREAMING_BYTES``; 1 GiB)."""
    try:
        return int(os.environ.get("ASSAY_STREAMING_BYTES", str(1 << 30)))
    except ValueError:
        return 1 << 30


def dataset_path(name_or_path: str, config: AssayConfig) -> tuple[str, str | None]:
    """A dataset name -> (its path, name); a path -> (path, None); ``x.assay`` -> ``x``."""
    entry = config.datasets.get(name_or_path)
    if entry is not None:
        return entry.path, name_or_path
    if name_or_path.endswith(POINTER_SUFFIX) and not is_remote(name_or_path):
        return name_or_path[: -len(POINTER_SUFFIX)], None
    for name, ds in config.datasets.items():
        if ds.path.rstrip("/") == name_or_path.rstrip("/"):
            return ds.path, name
    return name_or_path, None
