"""Model packages: every flavor round-trips, signatures are enforced, unsafe content is refused."""

from __future__ import annotations

import json
import operator
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from assay.errors import ModelError
from assay.models import load_package, read_package, save_model
from tests.models.worlds import FEATURES, churn_frame, fit_pipeline


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return churn_frame(400)


class ConstantModel:
    """A plain Python model (pyfunc flavor)."""

    classes_ = np.array([0, 1])

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, data: pl.DataFrame) -> np.ndarray:
        return np.full(data.height, int(self.value >= 0.5))

    def predict_proba(self, data: pl.DataFrame) -> np.ndarray:
        return np.column_stack([np.full(data.height, 1 - self.value), np.full(data.height, self.value)])


def test_sklearn_package_round_trips_with_signature_and_lineage(tmp_path: Path, frame: pl.DataFrame) -> None:
    model = fit_pipeline(RandomForestClassifier(n_estimators=5, random_state=0), frame)
    package = save_model(
        model, tmp_path / "rf", name="churn", input_example=frame.select(FEATURES).head(3),
        lineage={"root": tmp_path, "run_id": "r1", "params": {"n_estimators": 5}},
    )
    meta = json.loads((tmp_path / "rf" / "model.json").read_text())
    assert sorted(meta) == [
        "classes", "files", "flavor", "format_version", "lineage", "name", "signature", "task",
    ]
    assert meta["flavor"] == "sklearn" and meta["task"] == "classification"
    assert meta["classes"] == [0, 1]
    assert meta["files"] == {"model": "model.skops"}
    assert meta["signature"]["inputs"] == [
        {"name": "tenure_months", "dtype": "Int64"},
        {"name": "monthly_charges", "dtype": "Float64"},
        {"name": "contract", "dtype": "String"},
    ]
    assert sorted(meta["lineage"]) == [
        "datasets", "env_hash", "git_commit", "params", "run_id", "stage",
    ]
    assert meta["lineage"]["run_id"] == "r1"  # kept when a caller passes it explicitly
    loaded = load_package(package.path)
    expected = model.predict_proba(frame.select(FEATURES))
    np.testing.assert_allclose(loaded.predict_proba(frame), expected)
    assert (loaded.predict(frame.to_dict(as_series=False)) == model.predict(frame.select(FEATURES))).all()


@pytest.mark.parametrize(
    ("flavor", "estimator", "model_file"),
    [
        ("xgboost", "xgboost.XGBClassifier", "model.ubj"),
        ("lightgbm", "lightgbm.LGBMClassifier", "model.txt"),
    ],
    ids=["xgboost", "lightgbm"],
)
def test_boosting_flavors_use_native_formats(
    tmp_path: Path, frame: pl.DataFrame, flavor: str, estimator: str, model_file: str
) -> None:
    import importlib

    module, _, name = estimator.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    kwargs = {"verbose": -1} if flavor == "lightgbm" else {}
    model = fit_pipeline(cls(n_estimators=10, **kwargs), frame)
    package = save_model(model, tmp_path / flavor, name=flavor, input_example=frame.select(FEATURES).head(2))
    assert package.flavor == flavor
    assert package.files == {"model": model_file, "preprocessor": "preprocessor.skops"}
    loaded = load_package(package.path)
    np.testing.assert_allclose(
        loaded.predict_proba(frame), model.predict_proba(frame.select(FEATURES)), atol=1e-6
    )
    assert (loaded.predict(frame) == model.predict(frame.select(FEATURES))).all()


def test_onnx_package_predicts_like_the_source_model(tmp_path: Path, frame: pl.DataFrame) -> None:
    from skl2onnx import to_onnx

    x = frame.select("tenure_months", "monthly_charges").to_numpy().astype(np.float32)
    clf = LogisticRegression().fit(x, frame["churned"].to_numpy())
    onx = to_onnx(clf, x[:1], options={id(clf): {"zipmap": False}})
    package = save_model(
        onx, tmp_path / "onnx", name="lr", classes=[0, 1], task="classification",
        input_example=frame.select("tenure_months", "monthly_charges").head(2),
    )
    assert package.flavor == "onnx"
    loaded = load_package(package.path)
    np.testing.assert_allclose(loaded.predict_proba(frame), clf.predict_proba(x), atol=1e-5)


def test_regression_package_predicts_values(tmp_path: Path, frame: pl.DataFrame) -> None:
    x = frame.select("tenure_months", "monthly_charges")
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, frame["monthly_charges"].to_numpy())
    package = save_model(model, tmp_path / "reg", name="reg", input_example=x.head(2))
    assert (package.task, package.classes) == ("regression", None)
    loaded = load_package(package.path)
    np.testing.assert_allclose(loaded.predict(x), model.predict(x))
    with pytest.raises(ModelError, match="is a regressor; it has no predict_proba"):
        loaded.predict_proba(x)


def test_pyfunc_needs_allow_pickle_to_save_and_to_load(tmp_path: Path, frame: pl.DataFrame) -> None:
    with pytest.raises(ModelError, match=r"only be stored with pickle.*allow_pickle=True"):
        save_model(ConstantModel(0.3), tmp_path / "p", name="p", input_example=frame.head(2))
    package = save_model(
        ConstantModel(0.3), tmp_path / "p", name="p", input_example=frame.select(FEATURES).head(2),
        allow_pickle=True,
    )
    assert package.flavor == "pyfunc" and package.pickle_hash
    with pytest.raises(ModelError, match="pickled \\(pyfunc\\) model; loading it runs code"):
        load_package(package.path)
    assert load_package(package.path, allow_pickle=True).predict_proba(frame)[0, 1] == pytest.approx(0.3)


def test_pyfunc_with_a_tampered_pickle_is_refused(tmp_path: Path, frame: pl.DataFrame) -> None:
    import pickle

    package = save_model(
        ConstantModel(0.3), tmp_path / "p", name="p", input_example=frame.select(FEATURES).head(2),
        allow_pickle=True,
    )
    (package.path / "model.pkl").write_bytes(pickle.dumps(ConstantModel(0.9)))
    with pytest.raises(ModelError, match=r"Refusing to unpickle.*does not match the recorded"):
        load_package(package.path, allow_pickle=True)


def test_skops_types_outside_the_allow_list_are_refused(
    tmp_path: Path, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = frame.select("tenure_months")
    model = Pipeline(
        [("abs", FunctionTransformer(operator.abs, validate=True)), ("lr", LogisticRegression())]
    )
    model.fit(x, frame["churned"].to_numpy())
    package = save_model(model, tmp_path / "m", name="m", input_example=x.head(2))
    with pytest.raises(ModelError, match=r"types outside assay's trust list: _operator\.abs; "):
        load_package(package.path)
    monkeypatch.setenv("ASSAY_TRUSTED_TYPES", "_operator.abs")
    assert load_package(package.path).package.flavor == "sklearn"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("contract"), "missing column 'contract'"),
        (
            lambda f: f.with_columns(pl.col("tenure_months").cast(pl.String)),
            "column 'tenure_months' is String, the model expects Int64",
        ),
    ],
    ids=["missing-column", "wrong-dtype"],
)
def test_inputs_are_checked_against_the_signature(
    tmp_path: Path, frame: pl.DataFrame, change: object, message: str
) -> None:
    model = fit_pipeline(LogisticRegression(), frame)
    package = save_model(model, tmp_path / "lr", name="lr", input_example=frame.select(FEATURES).head(2))
    loaded = load_package(package.path)
    with pytest.raises(ModelError, match=message):
        loaded.predict(change(frame))  # type: ignore[operator]


def test_integer_input_is_widened_for_a_float_feature(tmp_path: Path, frame: pl.DataFrame) -> None:
    model = fit_pipeline(LogisticRegression(), frame)
    package = save_model(model, tmp_path / "lr", name="lr", input_example=frame.select(FEATURES).head(2))
    ints = frame.with_columns(pl.col("monthly_charges").round(0).cast(pl.Int64))
    assert load_package(package.path).predict_proba(ints).shape == (frame.height, 2)


def test_a_missing_extra_is_named(tmp_path: Path, frame: pl.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    import xgboost

    model = fit_pipeline(xgboost.XGBClassifier(n_estimators=3), frame)
    package = save_model(model, tmp_path / "x", name="x", input_example=frame.select(FEATURES).head(2))
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(ModelError, match=r"pip install 'assay\[xgboost\]'"):
        load_package(package.path)


def test_model_file_paths_cannot_escape_the_package(tmp_path: Path, frame: pl.DataFrame) -> None:
    model = fit_pipeline(LogisticRegression(), frame)
    package = save_model(model, tmp_path / "lr", name="lr", input_example=frame.select(FEATURES).head(2))
    meta_path = package.path / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["files"]["model"] = "../../etc/passwd"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"'..' is not allowed"):
        read_package(package.path)


def test_a_directory_without_model_json_is_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"is not a model package \(no model.json\)"):
        load_package(tmp_path)


def test_saving_replaces_an_existing_package_atomically(tmp_path: Path, frame: pl.DataFrame) -> None:
    first = save_model(
        fit_pipeline(LogisticRegression(), frame), tmp_path / "m", name="m",
        input_example=frame.select(FEATURES).head(2),
    )
    second = save_model(
        fit_pipeline(RandomForestClassifier(n_estimators=3), frame), tmp_path / "m", name="m",
        input_example=frame.select(FEATURES).head(2),
    )
    assert first.path == second.path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert type(load_package(second.path)._predictor.model.steps[-1][1]).__name__ == "RandomForestClassifier"


@pytest.mark.parametrize(
    "estimator",
    ["sklearn.ensemble.RandomForestClassifier", "xgboost.XGBClassifier", "lightgbm.LGBMClassifier"],
    ids=["sklearn", "xgboost", "lightgbm"],
)
def test_the_same_model_is_the_same_package_object(
    tmp_path: Path, frame: pl.DataFrame, estimator: str
) -> None:
    import importlib
    import zipfile

    from assay.objects import hash_tree

    module, _, name = estimator.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    extra = {"verbose": -1} if module == "lightgbm" else {}
    oids = []
    for attempt in ("first", "second"):
        model = fit_pipeline(cls(n_estimators=5, random_state=0, **extra), frame)
        package = save_model(model, tmp_path / attempt, name="churn",
                             input_example=frame.select(FEATURES).head(3),
                             lineage={"root": tmp_path, "stage": "train"})
        oids.append(hash_tree(package.path).oid)
    assert oids[0] == oids[1]
    skops_file = next((tmp_path / "first").glob("*.skops"))
    with zipfile.ZipFile(skops_file) as archive:
        infos = archive.infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}  # not the time of writing
    names = [i.filename for i in infos]
    assert names == [*(f"{k}.npy" for k in range(1, len(names))), "schema.json"]
