"""The model package: a directory with the model in a safe format and ``model.json``."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._paths import resolve_inside
from assay.errors import ModelError, UsageError
from assay.models._flavors import FLAVORS, Predictor, detect_flavor, save_flavor
from assay.models._signature import ColumnSpec, Signature, infer_signature, to_frame

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

MODEL_FILE = "model.json"
MAX_MODEL_FILE_BYTES = 16 * 1024 * 1024
FORMAT_VERSION = 1
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class ModelPackage:
    """What ``model.json`` says about a package at ``path``.

    Nothing in it depends on when or in which run the package was written, so the same model
    from the same inputs is the same object (``created_at`` is only read from older packages;
    the store's ``logged_models`` row records when and by which stage run it was logged).
    """

    path: Path
    name: str
    flavor: str
    task: str
    signature: Signature
    files: dict[str, str]
    classes: list[Any] | None = None
    lineage: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""
    pickle_hash: str | None = None
    format_version: int = FORMAT_VERSION

    @property
    def size_bytes(self) -> int:
        """Bytes of the model files (what a serving process loads)."""
        return sum((self.path / rel).stat().st_size for rel in self.files.values())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format_version": self.format_version,
            "name": self.name,
            "flavor": self.flavor,
            "task": self.task,
            "classes": self.classes,
            "signature": self.signature.to_dict(),
            "files": dict(self.files),
            "lineage": self.lineage,
        }
        if self.created_at:
            data["created_at"] = self.created_at
        if self.pickle_hash is not None:
            data["pickle_hash"] = self.pickle_hash
        return data


def is_package(path: Path) -> bool:
    """True if ``path`` is a directory holding a model.json."""
    return path.is_dir() and (path / MODEL_FILE).is_file()


def read_package(path: Path) -> ModelPackage:
    """Read and check ``model.json`` of the package at ``path``.

    Raises:
        ModelError: not a package, malformed metadata, or a file path escaping the package.
    """
    meta_path = path / MODEL_FILE
    if not meta_path.is_file():
        raise ModelError(f"{path} is not a model package (no {MODEL_FILE})", path=str(path))
    try:
        if meta_path.stat().st_size > MAX_MODEL_FILE_BYTES:
            raise ModelError(
                f"{meta_path} is larger than {MAX_MODEL_FILE_BYTES} bytes; refusing it",
                path=str(path),
            )
        meta = json.loads(meta_path.read_text())
        if not isinstance(meta, dict):
            raise TypeError("not a JSON object")
        name = str(meta["name"])
        flavor = str(meta["flavor"])
        task = str(meta["task"])
        files = {str(k): str(v) for k, v in dict(meta["files"]).items()}
        signature = Signature.from_dict(meta["signature"])
        version = int(meta.get("format_version", FORMAT_VERSION))
        lineage = dict(meta.get("lineage") or {})
        pickle_hash = meta.get("pickle_hash")
        if pickle_hash is not None and not isinstance(pickle_hash, str):
            raise TypeError("pickle_hash is not a string")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ModelError(f"{meta_path} is malformed: {detail}", path=str(path)) from None
    except OSError as exc:
        raise ModelError(f"Cannot read {meta_path}: {exc.strerror or exc}", path=str(path)) from None
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{meta_path} has format_version {version}; this assay reads up to {FORMAT_VERSION}; "
            "upgrade assay",
            path=str(path),
        )
    if flavor not in FLAVORS:
        raise ModelError(f"{meta_path}: unknown flavor {flavor!r}", path=str(path))
    if task not in TASKS:
        raise ModelError(f"{meta_path}: unknown task {task!r}", path=str(path))
    for rel in files.values():
        try:
            resolve_inside(path, rel, what="model file")
        except UsageError as exc:
            raise ModelError(f"{meta_path}: {exc}", path=str(path)) from None
    classes = meta.get("classes")
    return ModelPackage(
        path=path,
        name=name,
        flavor=flavor,
        task=task,
        signature=signature,
        files=files,
        classes=list(classes) if isinstance(classes, list) else None,
        lineage=lineage,
        created_at=str(meta.get("created_at", "")),
        pickle_hash=pickle_hash,
        format_version=version,
    )


def _python_scalar(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _classes_of(model: Any) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is None:
        steps = getattr(model, "steps", None)
        if steps:
            classes = getattr(steps[-1][1], "classes_", None)
    if classes is None:
        return None
    return [_python_scalar(c) for c in list(classes)]


def _infer_task(model: Any, classes: list[Any] | None) -> str:
    if classes is not None or hasattr(model, "predict_proba"):
        return "classification"
    return "regression"


def git_commit(root: Path) -> str | None:
    """The commit checked out at ``root``, if it is a git work tree."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def env_hash(flavor: str) -> str:
    """A fingerprint of the Python and library versions a model was made with."""
    from importlib.metadata import PackageNotFoundError, version

    from assay.objects import hash_bytes

    parts = [f"python={platform.python_version()}"]
    libs = {"numpy", "scikit-learn", "skops", "polars"}
    libs |= {"xgboost": {"xgboost"}, "lightgbm": {"lightgbm"}, "onnx": {"onnxruntime"}}.get(
        flavor, set()
    )
    for lib in sorted(libs):
        try:
            parts.append(f"{lib}={version(lib)}")
        except PackageNotFoundError:
            parts.append(f"{lib}=none")
    return hash_bytes(";".join(parts).encode())[:16]


def save_model(
    model: Any,
    path: Path,
    *,
    name: str,
    input_example: Any,
    flavor: str | None = None,
    task: str | None = None,
    classes: Sequence[Any] | None = None,
    lineage: dict[str, Any] | None = None,
    allow_pickle: bool = False,
) -> ModelPackage:
    """Write ``model`` as a package directory at ``path`` (atomically: built beside, renamed).

    Args:
        model: an sklearn estimator/pipeline, XGBoost or LightGBM model, ONNX ModelProto, or
            (with ``allow_pickle``) any object with ``predict``.
        path: the package directory to create; an existing package there is replaced.
        name: the model's name.
        input_example: a few rows of input (polars DataFrame or dict); gives the signature.
        flavor: force a flavor instead of detecting it.
        task: ``classification`` or ``regression`` (inferred from ``classes_``).
        classes: class labels, when the model does not say.
        lineage: stage, datasets, params (commit and environment are added). ``run_id`` and
            ``stage_run_id`` are written only when given: assay's own callers record them in
            the store instead, so that the package stays byte-reproducible.
        allow_pickle: permit the pickle-based ``pyfunc`` flavor.

    Returns:
        The written package.

    Raises:
        ModelError: the model cannot be stored safely.
    """
    flavor = flavor or detect_flavor(model)
    if flavor not in FLAVORS:
        raise ModelError(f"Unknown model flavor {flavor!r}; use one of {', '.join(FLAVORS)}")
    found_classes = list(classes) if classes is not None else _classes_of(model)
    task = task or _infer_task(model, found_classes)
    if task not in TASKS:
        raise ModelError(f"Unknown task {task!r}; use classification or regression")
    if task == "classification" and found_classes is None:
        raise ModelError(f"Cannot tell the classes of this {type(model).__name__}; pass classes=")
    outputs = [ColumnSpec("prediction", "Float64")]
    if task == "classification":
        assert found_classes is not None
        label_dtype = "String" if any(isinstance(c, str) for c in found_classes) else "Int64"
        outputs = [ColumnSpec("prediction", label_dtype), ColumnSpec("probability", "Float64")]
    signature = infer_signature(input_example, outputs)
    lineage = dict(lineage or {})
    root = Path(lineage.pop("root", None) or Path.cwd())
    full_lineage = {
        **{key: lineage[key] for key in ("run_id", "stage_run_id") if lineage.get(key)},
        "stage": lineage.get("stage"),
        "datasets": list(lineage.get("datasets") or []),
        "git_commit": lineage.get("git_commit") or git_commit(root),
        "params": dict(lineage.get("params") or {}),
        "env_hash": lineage.get("env_hash") or env_hash(flavor),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        files = save_flavor(model, flavor, staging, allow_pickle=allow_pickle)
        pickle_hash = None
        if flavor == "pyfunc":
            from assay.objects import hash_file

            pickle_hash = hash_file(staging / files["model"])
        package = ModelPackage(
            path=path,
            name=name,
            flavor=flavor,
            task=task,
            signature=signature,
            files=files,
            classes=[_python_scalar(c) for c in found_classes] if found_classes else None,
            lineage=json.loads(json.dumps(full_lineage, default=str)),
            pickle_hash=pickle_hash,
        )
        (staging / MODEL_FILE).write_text(json.dumps(package.to_dict(), indent=2, sort_keys=True))
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
            os.replace(staging, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return package


class LoadedModel:
    """A model ready to predict; every call checks its input against the signature."""

    def __init__(self, package: ModelPackage, predictor: Predictor) -> None:
        self.package = package
        self._predictor = predictor

    @property
    def signature(self) -> Signature:
        return self.package.signature

    @property
    def task(self) -> str:
        return self.package.task

    @property
    def classes(self) -> list[Any]:
        return list(self.package.classes or [])

    def __repr__(self) -> str:
        return f"LoadedModel({self.package.name!r}, flavor={self.package.flavor!r})"

    def prepare(self, data: Any) -> pl.DataFrame:
        """The input as the model takes it: signature columns, in order, dtypes checked.

        Raises:
            ModelError: a column is missing or has the wrong dtype.
        """
        return self.signature.check(to_frame(data, self.signature))

    def predict_proba(self, data: Any) -> np.ndarray:
        """Class probabilities (rows x classes) for a classifier.

        Raises:
            ModelError: a regression model, or input not matching the signature.
        """
        if self.task != "classification":
            raise ModelError(f"Model {self.package.name!r} is a regressor; it has no predict_proba")
        return self.proba_of(self.prepare(data))

    def proba_of(self, frame: pl.DataFrame) -> np.ndarray:
        """``predict_proba`` on a frame already passed through :meth:`prepare`.

        Raises:
            ModelError: the model raised, or returned probabilities of the wrong shape.
        """
        proba = self._predictor.proba(frame, len(self.classes))
        wanted = len(self.classes)
        if proba.ndim != 2 or proba.shape[0] != frame.height or (
            wanted and proba.shape[1] != wanted
        ):
            raise ModelError(
                f"Model {self.package.name!r} returned probabilities of shape {proba.shape} for "
                f"{frame.height} rows and {wanted} classes",
                model=self.package.name,
            )
        return proba

    def predict(self, data: Any) -> np.ndarray:
        """Predicted labels (classification) or values (regression).

        Raises:
            ModelError: input not matching the signature.
        """
        import numpy as np

        frame = self.prepare(data)
        if self.task == "classification" and self.package.flavor in ("xgboost", "lightgbm", "onnx"):
            proba = self.proba_of(frame)
            labels = np.asarray(self.classes, dtype=object if self._has_str_classes else None)
            picked: np.ndarray = labels[proba.argmax(axis=1)]
            return picked
        found = self._predictor.predict(frame)
        if found.ndim == 0 or found.shape[0] != frame.height:
            raise ModelError(
                f"Model {self.package.name!r} returned predictions of shape {found.shape} for "
                f"{frame.height} rows",
                model=self.package.name,
            )
        return found

    def outputs(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """``(predictions, probabilities)`` for a frame already passed through :meth:`prepare`,
        in one call of the model: a classifier's labels are its most probable classes (the
        probabilities are rows x classes); a regressor has no probabilities.

        Raises:
            ModelError: the model raised, or returned outputs of the wrong shape.
        """
        import numpy as np

        if self.task != "classification":
            found = self._predictor.predict(frame)
            if found.ndim == 0 or found.shape[0] != frame.height:
                raise ModelError(
                    f"Model {self.package.name!r} returned predictions of shape {found.shape} "
                    f"for {frame.height} rows",
                    model=self.package.name,
                )
            return found, None
        proba = self.proba_of(frame)
        labels = np.asarray(self.classes, dtype=object if self._has_str_classes else None)
        return labels[proba.argmax(axis=1)], proba

    @property
    def _has_str_classes(self) -> bool:
        return any(isinstance(c, str) for c in self.classes)
