"""Comparing two model packages by what they do: the same predictions on the same data.

``assay run --check-repro`` uses this when a rerun's package differs in bytes from the recorded
one (a multi-threaded booster, a library that stamps its files): the packages are equivalent
when they take the same inputs and their predictions on the evaluation data recorded in the
lineage (the ``validation`` data, else the ``train`` data) agree within the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay.errors import AssayError
from assay.models._package import is_package, read_package
from assay.models._verification import load_package

#: Rows compared at most (predictions of a large table prove no more than those of 100,000 rows).
MAX_ROWS = 100_000


@dataclass(frozen=True)
class PackageComparison:
    """Whether two packages predict the same, and on what that was judged."""

    equivalent: bool
    detail: str
    data: str | None = None
    rows: int = 0
    max_abs_diff: float | None = None
    files_differ: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "equivalent": self.equivalent,
            "detail": self.detail,
            "data": self.data,
            "rows": self.rows,
            "max_abs_diff": self.max_abs_diff,
            "files_differ": list(self.files_differ),
        }


def _files_differ(a: Path, b: Path) -> list[str]:
    from assay.objects import hash_file

    def files(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hash_file(p) for p in root.rglob("*") if p.is_file()
        }

    left, right = files(a), files(b)
    return sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))


def _evaluation_data(lineage: dict[str, Any]) -> str | None:
    datasets = [d for d in lineage.get("datasets") or [] if isinstance(d, dict) and d.get("path")]
    for role in ("validation", "train"):
        for entry in datasets:
            if entry.get("role") == role:
                return str(entry["path"])
    return str(datasets[0]["path"]) if datasets else None


def compare_packages(
    recorded: Path, rerun: Path, *, root: Path, tolerance: float = 0.0
) -> PackageComparison:
    """Compare two packages by their predictions on the rerun's evaluation data.

    Args:
        recorded: the package as recorded.
        rerun: the package the rerun wrote.
        root: the project root (the lineage's data paths are inside it).
        tolerance: the largest absolute difference of a probability (classification) or a
            prediction (regression) that still counts as the same.

    Returns:
        The verdict; never raises for a package that cannot be compared (it is not equivalent).
    """
    import numpy as np

    from assay._paths import resolve_inside
    from assay.models._table import read_table

    differ = _files_differ(recorded, rerun)
    try:
        old, new = read_package(recorded), read_package(rerun)
    except AssayError as exc:
        return PackageComparison(False, f"not comparable: {exc}", files_differ=differ)
    for what, left, right in (
        ("flavor", old.flavor, new.flavor),
        ("task", old.task, new.task),
        ("classes", old.classes, new.classes),
        ("signature", old.signature.to_dict(), new.signature.to_dict()),
    ):
        if left != right:
            return PackageComparison(False, f"the {what} differs", files_differ=differ)
    data = _evaluation_data(new.lineage)
    if data is None:
        return PackageComparison(
            False,
            "no evaluation data in the lineage to compare predictions on",
            files_differ=differ,
        )
    try:
        frame = read_table(resolve_inside(root, data, what="evaluation data")).head(MAX_ROWS)
        models = [load_package(recorded), load_package(rerun)]
        inputs = models[1].prepare(frame)
        if new.task == "classification":
            outputs = [m.proba_of(inputs) for m in models]
        else:
            outputs = [np.asarray(m.predict(inputs), dtype=np.float64) for m in models]
    except AssayError as exc:
        return PackageComparison(
            False, f"cannot predict on {data}: {exc}", data=data, files_differ=differ
        )
    a, b = outputs
    if a.shape != b.shape:
        return PackageComparison(
            False,
            f"predictions on {data} differ in shape",
            data=data,
            rows=int(frame.height),
            files_differ=differ,
        )
    both_nan = np.isnan(a) & np.isnan(b)
    gap = np.where(both_nan, 0.0, np.abs(a - b))
    worst = float(np.nan_to_num(gap, nan=np.inf).max()) if gap.size else 0.0
    same = worst <= tolerance
    detail = (
        f"{'same' if same else 'different'} predictions on {data} "
        f"({frame.height} rows, max |difference| {worst:.3g}"
        f"{'' if same else f' > tolerance {tolerance:g}'})"
    )
    return PackageComparison(
        same, detail, data=data, rows=int(frame.height), max_abs_diff=worst, files_differ=differ
    )


class PackageComparer:
    """The ``--check-repro`` comparer for model package outs (see :func:`compare_packages`)."""

    def compare(
        self, recorded: Path, rerun: Path, *, root: Path, tolerance: float
    ) -> dict[str, Any] | None:
        """``None`` unless both are model packages; else the comparison as a dict."""
        if not (is_package(recorded) and is_package(rerun)):
            return None
        return compare_packages(recorded, rerun, root=root, tolerance=tolerance).to_dict()
