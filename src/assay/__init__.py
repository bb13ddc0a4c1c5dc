"""assay: CI/CD for machine learning.

The public Python API for training scripts. Names are loaded lazily, so ``import assay`` stays
cheap and the CLI does not pay for libraries a command does not use.
"""

from __future__ import annotations

from assay._lazy import lazy_attributes

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "load_model": "assay.models",
    "log_model": "assay.models",
    "log_param": "assay.tracking",
    "log_params": "assay.tracking",
    "log_metric": "assay.tracking",
    "log_metrics": "assay.tracking",
    "set_tag": "assay.tracking",
    "log_artifact": "assay.tracking",
    "start_run": "assay.tracking",
    "active_run": "assay.tracking",
}

__all__: list[str] = [
    "__version__",
    "active_run",
    "load_model",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "set_tag",
    "start_run",
]


__getattr__, __dir__ = lazy_attributes('assay', _LAZY, __all__, globals())
