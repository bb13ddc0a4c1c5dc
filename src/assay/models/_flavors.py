"""Flavors: how each kind of model is written to and read from a package, in a safe format.

- ``sklearn``: skops; loading trusts only the exact types on assay's trust list (never the
  artifact's own list of types, never a function; see :mod:`assay.models._trust`).
- ``xgboost``: the native UBJSON format; ``lightgbm``: the native text format. An sklearn
  preprocessing pipeline in front of either is stored beside it with skops.
- ``onnx``: an ONNX graph run by onnxruntime.
- ``pyfunc``: any object with ``predict``, pickled. Only with ``allow_pickle=True`` and only if
  the pickle's hash matches the one recorded in model.json.

xgboost, lightgbm and onnxruntime are extras, imported only when their flavor is used.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ModelError
from assay.models._trust import TrustPolicy

if TYPE_CHECKING:
    import numpy as np
    import polars as pl

FLAVORS = ("sklearn", "xgboost", "lightgbm", "onnx", "pyfunc")

_EXTRAS = {"xgboost": "xgboost", "lightgbm": "lightgbm", "onnxruntime": "onnx", "onnx": "onnx"}


def import_extra(module: str) -> Any:
    """Import an optional engine, or say which extra to install.

    Raises:
        ModelError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = _EXTRAS.get(module.split(".")[0], module)
        raise ModelError(
            f"This model needs {module!r}, which is not installed; run: pip install 'assay[{extra}]'",
            extra=extra,
        ) from None


def detect_flavor(model: Any) -> str:
    """The flavor that stores ``model``: by the module its class comes from."""
    module = type(model).__module__
    if type(model).__name__ == "ModelProto" or module.startswith("onnx"):
        return "onnx"
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("sklearn"):
        final = getattr(model, "steps", None)
        if final:
            inner = detect_flavor(final[-1][1])
            if inner in ("xgboost", "lightgbm"):
                return inner
        return "sklearn"
    try:
        from sklearn.base import BaseEstimator

        if isinstance(model, BaseEstimator):
            return "sklearn"
    except ImportError:  # pragma: no cover - sklearn is a core dependency
        pass
    return "pyfunc"


def split_pipeline(model: Any) -> tuple[Any | None, Any]:
    """``(preprocessor, estimator)`` of an sklearn Pipeline ending in a native-format model."""
    steps = getattr(model, "steps", None)
    if not steps:
        return None, model
    from sklearn.pipeline import Pipeline

    final = steps[-1][1]
    if len(steps) == 1:
        return None, final
    return Pipeline(steps[:-1]), final


@contextlib.contextmanager
def single_threaded(model: Any) -> Iterator[None]:
    """Predict with ``n_jobs=1`` everywhere inside: a forest summing its trees in parallel adds
    them in whatever order the threads finish, which changes the last bits of the result."""
    get_params = getattr(model, "get_params", None)
    found = get_params(deep=True) if callable(get_params) else {}
    parallel = {k: v for k, v in found.items() if k.rsplit("__", 1)[-1] == "n_jobs" and v != 1}
    if parallel:
        model.set_params(**dict.fromkeys(parallel, 1))
    try:
        yield
    finally:
        if parallel:
            model.set_params(**parallel)


def _skops_dump(obj: Any, path: Path) -> None:
    """Save with skops, then canonicalise so the same model always gives the same bytes."""
    import skops.io as sio

    from assay.models._canonical import canonicalize_skops

    try:
        sio.dump(obj, path)
    except Exception as exc:
        raise ModelError(f"Cannot save the model with skops: {exc}") from None
    canonicalize_skops(path)


def save_flavor(model: Any, flavor: str, directory: Path, *, allow_pickle: bool) -> dict[str, str]:
    """Write ``model`` into ``directory``; returns the ``files`` block of model.json.

    Raises:
        ModelError: the flavor cannot store this model, or pickle was not allowed.
    """
    if flavor == "sklearn":
        _skops_dump(model, directory / "model.skops")
        return {"model": "model.skops"}
    if flavor in ("xgboost", "lightgbm"):
        preprocessor, estimator = split_pipeline(model)
        files: dict[str, str] = {}
        if preprocessor is not None:
            _skops_dump(preprocessor, directory / "preprocessor.skops")
            files["preprocessor"] = "preprocessor.skops"
        if flavor == "xgboost":
            booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
            booster.save_model(os.fspath(directory / "model.ubj"))
            files["model"] = "model.ubj"
        else:
            booster = getattr(estimator, "booster_", estimator)
            booster.save_model(os.fspath(directory / "model.txt"))
            files["model"] = "model.txt"
        return files
    if flavor == "onnx":
        data = model if isinstance(model, bytes) else model.SerializeToString()
        (directory / "model.onnx").write_bytes(data)
        return {"model": "model.onnx"}
    if flavor == "pyfunc":
        if not allow_pickle:
            raise ModelError(
                f"A {type(model).__name__} can only be stored with pickle, which runs code when "
                "loaded; pass allow_pickle=True if you accept that"
            )
        if not callable(getattr(model, "predict", None)):
            raise ModelError(f"A {type(model).__name__} has no predict(); it cannot be a model")
        (directory / "model.pkl").write_bytes(pickle.dumps(model, protocol=5))
        return {"model": "model.pkl"}
    raise ModelError(f"Unknown model flavor {flavor!r}; use one of {', '.join(FLAVORS)}")


@dataclass
class Predictor:
    """A loaded model: raw ``proba`` (classification) and ``predict`` on a checked frame."""

    flavor: str
    model: Any
    preprocessor: Any | None = None
    onnx_inputs: list[str] | None = None

    def _features(self, frame: pl.DataFrame) -> Any:
        import numpy as np

        if self.preprocessor is not None:
            return np.asarray(self.preprocessor.transform(frame), dtype=np.float64)
        if self.flavor in ("xgboost", "lightgbm"):
            return frame.to_numpy().astype(np.float64)
        return frame

    def proba(self, frame: pl.DataFrame, n_classes: int) -> np.ndarray:
        """Class probabilities, shape (rows, classes).

        Raises:
            ModelError: the model has no probabilities, or its own code raised.
        """
        return self._run("predict_proba", lambda: self._proba(frame, n_classes))

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Raw predictions (regression values, or labels for sklearn/pyfunc classifiers).

        Raises:
            ModelError: the model's own code raised.
        """
        return self._run("predict", lambda: self._predict(frame))

    def _run(self, what: str, call: Callable[[], np.ndarray]) -> np.ndarray:
        """The one boundary where a model's own code runs: whatever it raises (a transformer
        that divides by zero, a pyfunc's bug) becomes a ModelError naming the call, so one bad
        model fails as itself and never takes its caller down."""
        from assay.errors import AssayError

        try:
            return call()
        except AssayError:
            raise
        except Exception as exc:  # user code (the model) may raise anything
            detail = " ".join(str(exc).split())[:300]
            raise ModelError(
                f"The {self.flavor} model failed in {what}: {type(exc).__name__}: {detail}",
                flavor=self.flavor,
            ) from exc

    def _proba(self, frame: pl.DataFrame, n_classes: int) -> np.ndarray:
        import numpy as np

        if self.flavor == "onnx":
            return self._onnx(frame, want="proba", n_classes=n_classes)
        features = self._features(frame)
        if self.flavor == "xgboost":
            xgb = import_extra("xgboost")
            raw = self.model.predict(xgb.DMatrix(features))
        elif self.flavor == "lightgbm":
            raw = self.model.predict(features)
        else:
            if not hasattr(self.model, "predict_proba"):
                raise ModelError(f"This {self.flavor} model has no predict_proba")
            raw = self.model.predict_proba(features)
        array = np.asarray(raw, dtype=np.float64)
        if array.ndim == 1:
            array = np.column_stack([1.0 - array, array])
        return array

    def _predict(self, frame: pl.DataFrame) -> np.ndarray:
        import numpy as np

        if self.flavor == "onnx":
            return self._onnx(frame, want="predict", n_classes=0)
        features = self._features(frame)
        if self.flavor == "xgboost":
            xgb = import_extra("xgboost")
            return np.asarray(self.model.predict(xgb.DMatrix(features)))
        return np.asarray(self.model.predict(features))

    def _onnx(self, frame: pl.DataFrame, *, want: str, n_classes: int) -> np.ndarray:
        import numpy as np

        names = self.onnx_inputs or []
        if len(names) == 1:
            feeds = {names[0]: frame.to_numpy().astype(np.float32)}
        else:
            feeds = {n: frame[n].to_numpy().reshape(-1, 1) for n in names}
        outputs = self.model.run(None, feeds)
        if want == "predict":
            return np.asarray(outputs[0]).reshape(-1)
        probs = outputs[1] if len(outputs) > 1 else outputs[0]
        if isinstance(probs, list):  # a ZipMap output: one {label: p} per row
            keys = sorted(probs[0]) if probs else []
            return np.array([[row[k] for k in keys] for row in probs], dtype=np.float64)
        array = np.asarray(probs, dtype=np.float64)
        if array.ndim == 1 or (array.ndim == 2 and array.shape[1] == 1 and n_classes == 2):
            p = array.reshape(-1)
            array = np.column_stack([1.0 - p, p])
        return array


def _one_line(exc: BaseException) -> str:
    text = str(exc).split("Stack trace:")[0]  # xgboost appends a native stack trace
    return " ".join(text.split())[:300]


def load_flavor(
    flavor: str,
    directory: Path,
    files: dict[str, Path],
    *,
    allow_pickle: bool,
    pickle_hash: str | None,
    policy: TrustPolicy,
) -> Predictor:
    """Load the model files of a package (already checked by ``verify_package``).

    Raises:
        ModelError: missing extra, untrusted types, a file its engine cannot parse, pickle
            refused or tampered.
    """
    from assay.models._skops_files import load_skops

    model_file = files.get("model")
    if model_file is None:
        raise ModelError(f"Package {directory} lists no model file", path=str(directory))
    if not model_file.is_file():
        raise ModelError(f"Package {directory} is missing {model_file.name}", path=str(directory))
    preprocessor = None
    if "preprocessor" in files:
        preprocessor = load_skops(files["preprocessor"], policy)
    if flavor == "sklearn":
        return Predictor(flavor, load_skops(model_file, policy))
    if flavor == "xgboost":
        xgb = import_extra("xgboost")
        booster = xgb.Booster()
        try:
            booster.load_model(os.fspath(model_file))
        except Exception as exc:  # xgboost raises XGBoostError for bad files
            raise ModelError(f"Cannot load {model_file.name}: {_one_line(exc)}") from None
        return Predictor(flavor, booster, preprocessor)
    if flavor == "lightgbm":
        lgb = import_extra("lightgbm")
        try:
            booster = lgb.Booster(model_file=os.fspath(model_file))
        except Exception as exc:  # LightGBMError
            raise ModelError(f"Cannot load {model_file.name}: {_one_line(exc)}") from None
        return Predictor(flavor, booster, preprocessor)
    if flavor == "onnx":
        ort = import_extra("onnxruntime")
        try:
            session = ort.InferenceSession(
                os.fspath(model_file), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"Cannot load {model_file.name}: {_one_line(exc)}") from None
        return Predictor(flavor, session, onnx_inputs=[i.name for i in session.get_inputs()])
    if flavor == "pyfunc":
        return Predictor(flavor, _load_pickle(model_file, allow_pickle, pickle_hash))
    raise ModelError(f"Unknown model flavor {flavor!r}; use one of {', '.join(FLAVORS)}")


def _load_pickle(path: Path, allow_pickle: bool, pickle_hash: str | None) -> Any:
    from assay.objects import hash_bytes

    if not allow_pickle:
        raise ModelError(
            f"{path.parent.name} is a pickled (pyfunc) model; loading it runs code. "
            "Pass allow_pickle=True only if you trust where it came from",
            path=str(path),
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {path.name}: {exc.strerror or exc}", path=str(path)) from None
    actual = hash_bytes(data)
    if not pickle_hash or actual != pickle_hash:
        raise ModelError(
            f"Refusing to unpickle {path}: its hash {actual[:12]} does not match the recorded "
            f"{(pickle_hash or 'none')[:12]}",
            path=str(path),
        )
    try:
        return pickle.loads(data)  # opt-in and hash-verified above
    except Exception as exc:  # unpickling runs the pickle's own code, which may raise anything
        raise ModelError(f"Cannot unpickle {path.name}: {_one_line(exc)}", path=str(path)) from None
