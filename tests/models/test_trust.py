"""The skops trust list: exact class names only, extended only by the user, never by a model."""

from __future__ import annotations

import builtins
import functools
import importlib
import operator
import types
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from assay.errors import ModelError
from assay.models import (
    ESTIMATOR_ALIASES,
    TRUSTED_TYPES_ENV,
    TrainOptions,
    default_trusted_types,
    load_package,
    save_model,
)
from assay.models._trust import HELPER_TYPES, is_never_trusted
from tests.models.worlds import FEATURES, churn_frame

#: Callables an attacker can chain (the reported attack used the first three), and
#: classes whose instances call what they are given.
KNOWN_DANGEROUS = {
    "builtins.exec", "builtins.eval", "numpy.full_like", "numpy.sum", "builtins.compile",
    "builtins.open", "builtins.__import__", "builtins.getattr", "builtins.setattr",
    "builtins.type", "builtins.breakpoint", "os.system", "posix.system", "subprocess.Popen",
    "subprocess.run", "operator.attrgetter", "operator.methodcaller", "operator.itemgetter",
    "functools.partial", "numpy.vectorize", "numpy.frompyfunc", "numpy.load", "numpy.loadtxt",
    "numpy.ufunc", "pickle.loads", "runpy.run_path", "importlib.import_module",
    "ctypes.CDLL", "shutil.rmtree", "sys.exit", "code.interact",
}


def _resolve(name: str) -> Any:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def test_every_trusted_type_is_a_class_and_none_is_dangerous() -> None:
    trusted = default_trusted_types()
    assert len(trusted) > 200  # the estimators, their helpers and numpy's scalar types
    assert trusted >= HELPER_TYPES
    callable_kinds = (
        types.FunctionType, types.BuiltinFunctionType, types.MethodType, np.ufunc,
        functools.partial,
    )
    for name in sorted(trusted):
        assert not name.endswith(".") and "*" not in name, name
        assert name not in KNOWN_DANGEROUS, name
        assert not is_never_trusted(name) or name in HELPER_TYPES, name
        found = _resolve(name)
        assert isinstance(found, type), f"{name} is not a class but {type(found).__name__}"
        assert not isinstance(found, callable_kinds), name
        assert not issubclass(found, (np.vectorize, functools.partial, types.FunctionType)), name


def test_known_dangerous_names_are_never_trusted_even_when_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    never = {"builtins.exec", "builtins.eval", "os.system", "posix.system", "subprocess.Popen",
             "operator.methodcaller", "pickle.loads", "builtins.getattr"}
    for name in sorted(never):
        monkeypatch.setenv(TRUSTED_TYPES_ENV, name)
        with pytest.raises(ModelError, match=rf"{name} can run arbitrary code and is never trusted"):
            load_package(Path("unused"))


@pytest.mark.parametrize(
    "entry", ["numpy.", "sklearn.*", "numpy", "builtins.ex*", "numpy..log", " .x"],
    ids=["prefix", "glob", "module", "pattern", "empty-part", "leading-dot"],
)
def test_user_additions_must_be_exact_names(monkeypatch: pytest.MonkeyPatch, entry: str) -> None:
    monkeypatch.setenv(TRUSTED_TYPES_ENV, f"numpy.log1p,{entry}")
    with pytest.raises(ModelError, match=r"is not an exact name: list module\.Name entries"):
        load_package(Path("unused"))


def _with_transformer(frame: pl.DataFrame, func: Any) -> Any:
    x = frame.select("tenure_months")
    model = Pipeline([("f", FunctionTransformer(func, validate=True)), ("lr", LogisticRegression())])
    return model.fit(x, frame["churned"].to_numpy())


def test_a_function_transformer_runs_only_a_function_the_user_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = churn_frame(300)
    x = frame.select("tenure_months")
    model = _with_transformer(frame, np.log1p)
    package = save_model(model, tmp_path / "log", name="log", input_example=x.head(2))
    with pytest.raises(ModelError, match=r"trust list: numpy\.log1p \(a function\); only exact"):
        load_package(package.path)
    with pytest.raises(ModelError, match=r"numpy\.log1p \(a function\)"):
        load_package(package.path, trusted_types=["numpy.log"])  # a neighbour is not enough
    monkeypatch.setenv(TRUSTED_TYPES_ENV, "numpy.log1p")
    loaded = load_package(package.path)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(x))
    monkeypatch.delenv(TRUSTED_TYPES_ENV)
    assert load_package(package.path, trusted_types=["numpy.log1p"]).task == "classification"


def test_a_function_transformer_without_a_function_needs_no_extra_trust(tmp_path: Path) -> None:
    frame = churn_frame(300)
    model = _with_transformer(frame, None)
    package = save_model(model, tmp_path / "id", name="id",
                         input_example=frame.select("tenure_months").head(2))
    loaded = load_package(package.path)
    np.testing.assert_allclose(loaded.predict_proba(frame),
                               model.predict_proba(frame.select("tenure_months")))


def test_the_artifact_cannot_extend_the_list(tmp_path: Path) -> None:
    """A package that lists its own trusted types (in model.json) is judged as any other."""
    import json

    frame = churn_frame(300)
    model = _with_transformer(frame, operator.neg)
    package = save_model(model, tmp_path / "m", name="m",
                         input_example=frame.select("tenure_months").head(2))
    meta = json.loads((package.path / "model.json").read_text())
    meta["trusted_types"] = ["_operator.neg"]
    (package.path / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"trust list: _operator\.neg; "):
        load_package(package.path)


_TRAINED = list(ESTIMATOR_ALIASES)


@pytest.mark.parametrize("alias", _TRAINED, ids=_TRAINED)
def test_every_estimator_kind_train_offers_loads_without_extra_trust(
    tmp_path: Path, alias: str
) -> None:
    """What ``kind: train`` builds (imputer, scaler, encoders, the estimator) loads as is."""
    from assay.models._train_kind import build_pipeline, make_estimator

    frame = churn_frame(300).with_columns(
        pl.when(pl.col("tenure_months") < 5).then(None).otherwise(pl.col("contract"))
        .alias("contract")
    )
    small = {"n_estimators": 5} if "forest" in alias or alias.startswith(("xgb", "light")) else {}
    if alias.startswith("hist"):
        small = {"max_iter": 5}
    target = "monthly_charges" if alias.endswith("regressor") or alias == "ridge" else "churned"
    features = [c for c in FEATURES if c != target] + ["gender"]
    # the two encodings alternate between estimators, so each estimator trains once
    config = (("onehot", True), ("ordinal", False))[_TRAINED.index(alias) % 2]
    for categorical, scale in (config,):
        options = TrainOptions(estimator=alias, data="unused", target=target,
                               hyperparams=small, categorical=categorical, scale=scale)
        pipeline = build_pipeline(frame, features, options, make_estimator(options))
        x = frame.select(features)
        pipeline.fit(x, frame[target].to_numpy())
        package = save_model(pipeline, tmp_path / f"{alias}-{categorical}", name=alias,
                             input_example=x.head(3))
        loaded = load_package(package.path)
        if package.task == "classification":
            np.testing.assert_allclose(loaded.predict_proba(frame), pipeline.predict_proba(x),
                                       atol=1e-6)
        else:
            np.testing.assert_allclose(loaded.predict(frame), pipeline.predict(x), atol=1e-6)


def test_gradient_boosting_and_extra_trees_load_without_extra_trust(tmp_path: Path) -> None:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
    )

    frame = churn_frame(300)
    x = frame.select("tenure_months", "monthly_charges")
    y = frame["churned"].to_numpy()
    multiclass = frame["contract"].to_numpy()
    for estimator, target in (
        (GradientBoostingClassifier(n_estimators=5), y),
        (ExtraTreesClassifier(n_estimators=5), y),
        (HistGradientBoostingClassifier(max_iter=5), multiclass),
    ):
        model = estimator.fit(x.with_columns(pl.col("tenure_months") % 7), target)
        package = save_model(model, tmp_path / type(estimator).__name__, name="m",
                             input_example=x.head(2))
        loaded = load_package(package.path)
        np.testing.assert_allclose(
            loaded.predict_proba(x.with_columns(pl.col("tenure_months") % 7)),
            model.predict_proba(x.with_columns(pl.col("tenure_months") % 7)),
        )


def test_native_categorical_boosting_needs_the_user_to_trust_its_two_functions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HistGradientBoosting with categorical features keeps ``partial(check_array, ...)``."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = churn_frame(300).with_columns(pl.col("tenure_months") % 7)
    x = frame.select("tenure_months", "monthly_charges")
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[0])
    model.fit(x, frame["churned"].to_numpy())
    package = save_model(model, tmp_path / "hgb", name="hgb", input_example=x.head(2))
    with pytest.raises(
        ModelError,
        match=r"functools\.partial \(a function\), sklearn\.utils\.validation\.check_array",
    ):
        load_package(package.path)
    monkeypatch.setenv(TRUSTED_TYPES_ENV,
                       "functools.partial, sklearn.utils.validation.check_array")
    np.testing.assert_allclose(load_package(package.path).predict_proba(frame),
                               model.predict_proba(x))


def _hgb_package(tmp_path: Path, corrupt: Any) -> Path:
    from sklearn.ensemble import HistGradientBoostingClassifier

    frame = churn_frame(300)
    x = frame.select("tenure_months", "monthly_charges")
    model = HistGradientBoostingClassifier(max_iter=3).fit(x, frame["churned"].to_numpy())
    corrupt(model._predictors[0][0].nodes)
    return save_model(model, tmp_path / "hgb", name="hgb", input_example=x.head(2)).path


def _tree_package(tmp_path: Path, corrupt: Any) -> Path:
    from sklearn.tree import DecisionTreeClassifier

    frame = churn_frame(300)
    x = frame.select("tenure_months", "monthly_charges")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, frame["churned"].to_numpy())
    state = model.tree_.__getstate__()
    nodes = state["nodes"].copy()
    corrupt(nodes)
    model.tree_.__setstate__({**state, "nodes": nodes})
    return save_model(model, tmp_path / "tree", name="tree", input_example=x.head(2)).path


def _set(field: str, value: int, node: int = 0) -> Any:
    def corrupt(nodes: Any) -> None:
        nodes[field][node] = value

    return corrupt


@pytest.mark.parametrize(
    ("build", "corrupt", "message"),
    [
        (_tree_package, _set("left_child", 10**6), "decision tree has node links out of range"),
        (_tree_package, _set("right_child", 0), "decision tree has node links out of range"),
        (_tree_package, _set("feature", 99), "decision tree splits on a feature it does not have"),
        (_hgb_package, _set("left", 0), "boosting tree has node links out of range"),
        (_hgb_package, _set("feature_idx", 7), "boosting tree splits on a feature it does not have"),
    ],
    ids=["tree-link-past-the-end", "tree-cycle", "tree-feature", "boosting-cycle",
         "boosting-feature"],
)
def test_crafted_tree_structures_are_refused_before_any_prediction(
    tmp_path: Path, build: Any, corrupt: Any, message: str
) -> None:
    package = build(tmp_path, corrupt)
    with pytest.raises(ModelError, match=message):
        load_package(package)


def test_trust_comes_from_assay_not_from_skops_defaults(tmp_path: Path) -> None:
    """skops trusts numpy ufuncs by default; assay does not (a ufunc is a function)."""
    frame = churn_frame(300)
    model = _with_transformer(frame, np.abs)
    package = save_model(model, tmp_path / "abs", name="abs",
                         input_example=frame.select("tenure_months").head(2))
    with pytest.raises(ModelError, match=r"numpy\.absolute \(a function\)"):
        load_package(package.path)
    assert builtins.abs is not np.abs
