"""Model packages: a model in a safe format plus ``model.json`` (flavor, signature, lineage).

Flavors: ``sklearn`` (skops, only the exact types on assay's trust list), ``xgboost`` (native
UBJSON), ``lightgbm`` (native text), ``onnx`` (onnxruntime) and ``pyfunc`` (pickle: opt-in and
hash-verified). Every package is checked against its ``model.json`` and by content
(:func:`check_package`) before anything in it is loaded, at registration and at load.

>>> import assay
>>> assay.log_model(clf, "churn", input_example=frame.head(5))  # doctest: +SKIP
>>> assay.load_model("churn@production").predict_proba(frame)  # doctest: +SKIP
"""

from __future__ import annotations

from assay.models._compare import PackageComparer, PackageComparison, compare_packages
from assay.models._flavors import FLAVORS, detect_flavor
from assay.models._lineage import DataInput, dataset_lineage
from assay.models._logged import (
    LoggedModel,
    active_stage,
    load_model,
    log_model,
    materialize,
    resolve_model_ref,
    resolve_package,
    store_package,
)
from assay.models._package import (
    MODEL_FILE,
    LoadedModel,
    ModelPackage,
    is_package,
    read_package,
    save_model,
)
from assay.models._signature import ColumnSpec, Signature, dtype_family, infer_signature, to_frame
from assay.models._table import read_table
from assay.models._train_kind import ESTIMATOR_ALIASES, TrainOptions, stage_slug
from assay.models._trust import TRUSTED_TYPES_ENV, TrustPolicy, default_trusted_types
from assay.models._verification import check_package, load_package

__all__ = [
    "ESTIMATOR_ALIASES",
    "FLAVORS",
    "MODEL_FILE",
    "TRUSTED_TYPES_ENV",
    "ColumnSpec",
    "DataInput",
    "LoadedModel",
    "LoggedModel",
    "ModelPackage",
    "PackageComparer",
    "PackageComparison",
    "Signature",
    "TrainOptions",
    "TrustPolicy",
    "active_stage",
    "check_package",
    "compare_packages",
    "dataset_lineage",
    "default_trusted_types",
    "detect_flavor",
    "dtype_family",
    "infer_signature",
    "is_package",
    "load_model",
    "load_package",
    "log_model",
    "materialize",
    "read_package",
    "read_table",
    "resolve_model_ref",
    "resolve_package",
    "save_model",
    "stage_slug",
    "store_package",
    "to_frame",
]
