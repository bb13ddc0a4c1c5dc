"""What a skops model file may contain: a list of exact type names, never a prefix or a function.

skops rebuilds a model from the type names recorded in its ``schema.json``. Any name it
resolves to a function can be called with the model's data (a ``FunctionTransformer`` runs its
``func`` at ``predict``), so a prefix such as ``builtins.`` or ``numpy.`` would trust
``builtins.exec`` and ``numpy.full_like`` as well as ``numpy.ndarray``. assay therefore trusts:

- the scikit-learn estimator classes (``sklearn.utils.all_estimators``, by their exact names);
- the helper classes fitted estimators hold: tree structures, losses and links, the binning
  mapper, numpy arrays, scalar types and random states, scipy sparse matrices, and the
  built-in containers (:data:`HELPER_TYPES`);
- exact names the user adds: ``ASSAY_TRUSTED_TYPES`` (comma-separated) or the
  ``trusted_types`` argument of :func:`assay.load_model` and friends. Only these can name a
  function (``numpy.log`` for ``FunctionTransformer(np.log)``; ``functools.partial`` and
  ``sklearn.utils.validation.check_array`` for a HistGradientBoosting model with native
  categorical features), and even then never one of
  :data:`NEVER_TRUSTED` or a name in :data:`NEVER_TRUSTED_MODULES`.

The artifact's own list of types is only ever *checked* against this; it never extends it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assay.errors import ModelError

TRUSTED_TYPES_ENV = "ASSAY_TRUSTED_TYPES"

#: Classes a fitted scikit-learn model holds besides estimators (exact names, all classes: a
#: test resolves each one). Trees and predictors are also checked for consistent structure
#: after loading (see :mod:`assay.models._skops_files`).
HELPER_TYPES: frozenset[str] = frozenset(
    {
        # built-in containers and scalars
        "builtins.bool",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.object",  # as a dtype (``dtype=object``); calling it makes an empty object
        "builtins.set",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "collections.OrderedDict",
        "collections.defaultdict",
        # numpy arrays, dtypes and random states (scalar types: see _numpy_scalar_types)
        "numpy.dtype",
        "numpy.ma.core.MaskedArray",
        "numpy.ndarray",
        "numpy.random._generator.Generator",
        "numpy.random.MT19937",
        "numpy.random.PCG64",
        "numpy.random.PCG64DXSM",
        "numpy.random.Philox",
        "numpy.random.SFC64",
        "numpy.random.mtrand.RandomState",
        # scipy sparse matrices and arrays (loaded from npz without pickle)
        "scipy.sparse._coo.coo_array",
        "scipy.sparse._coo.coo_matrix",
        "scipy.sparse._csc.csc_array",
        "scipy.sparse._csc.csc_matrix",
        "scipy.sparse._csr.csr_array",
        "scipy.sparse._csr.csr_matrix",
        # tree structures
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
        # losses and link functions (objects, not functions) of the boosting models
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyExponentialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyHalfTweedieLoss",
        "sklearn._loss._loss.CyHalfTweedieLossIdentity",
        "sklearn._loss._loss.CyHuberLoss",
        "sklearn._loss._loss.CyPinballLoss",
        "sklearn._loss.link.HalfLogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogLink",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.AbsoluteError",
        "sklearn._loss.loss.ExponentialLoss",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfGammaLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfPoissonLoss",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.loss.HalfTweedieLoss",
        "sklearn._loss.loss.HalfTweedieLossIdentity",
        "sklearn._loss.loss.HuberLoss",
        "sklearn._loss.loss.PinballLoss",
    }
)

#: Functions and classes refused even when the user lists them: they run code, touch files or
#: processes, or reach any other object (``getattr``, ``operator.attrgetter``).
NEVER_TRUSTED: frozenset[str] = frozenset(
    {
        "_operator.attrgetter",
        "_operator.methodcaller",
        "builtins.__import__",
        "builtins.breakpoint",
        "builtins.compile",
        "builtins.delattr",
        "builtins.eval",
        "builtins.exec",
        "builtins.getattr",
        "builtins.globals",
        "builtins.input",
        "builtins.locals",
        "builtins.open",
        "builtins.setattr",
        "builtins.type",
        "builtins.vars",
        "numpy.frompyfunc",
        "numpy.load",
        "numpy.loadtxt",
        "numpy.vectorize",
        "operator.attrgetter",
        "operator.methodcaller",
    }
)

#: Modules none of whose names the user can trust (``os.system``, ``subprocess.Popen``, ...).
#: assay's own containers (``builtins.dict``, ...) are trusted by :data:`HELPER_TYPES`.
NEVER_TRUSTED_MODULES: tuple[str, ...] = (
    "builtins", "code", "codecs", "ctypes", "importlib", "io", "marshal", "multiprocessing",
    "nt", "os", "pathlib", "pickle", "posix", "pty", "runpy", "shutil", "socket", "subprocess",
    "sys",
)

_EXACT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


def is_never_trusted(name: str) -> bool:
    """True for a name no configuration can trust (:data:`NEVER_TRUSTED`, or a name in one of
    :data:`NEVER_TRUSTED_MODULES`)."""
    if name in NEVER_TRUSTED:
        return True
    return any(name.startswith(f"{module}.") for module in NEVER_TRUSTED_MODULES)


def _numpy_scalar_types() -> set[str]:
    """numpy's scalar classes (``numpy.float64``, ...), by the names skops records."""
    import numpy as np

    found = {f"{t.__module__}.{t.__name__}" for t in set(np.sctypeDict.values())}
    return {name for name in found if name.startswith("numpy.") and name != "numpy.object_"}


def _sklearn_estimator_types() -> set[str]:
    """The exact names of scikit-learn's estimator classes (its public ``all_estimators``)."""
    from sklearn.utils import all_estimators

    return {
        f"{cls.__module__}.{cls.__name__}"
        for _, cls in all_estimators()
        if cls.__module__.startswith("sklearn.")
    }


@functools.lru_cache(maxsize=1)
def default_trusted_types() -> frozenset[str]:
    """Every type assay trusts on its own: estimators, helpers, numpy scalar types."""
    return frozenset(HELPER_TYPES | _numpy_scalar_types() | _sklearn_estimator_types())


def user_trusted_types(extra: Iterable[str] = ()) -> frozenset[str]:
    """Exact names the user added: ``ASSAY_TRUSTED_TYPES`` plus ``extra`` (from a caller).

    Raises:
        ModelError: an entry that is not an exact ``module.Name`` (a prefix such as ``numpy.``
            or ``sklearn.*``), or one that is never trusted (``builtins.exec``).
    """
    raw = os.environ.get(TRUSTED_TYPES_ENV, "")
    names = [t.strip() for t in raw.split(",") if t.strip()]
    names += [str(t).strip() for t in extra]
    for name in names:
        if not _EXACT_NAME.match(name):
            raise ModelError(
                f"Trusted type {name!r} is not an exact name: list module.Name entries "
                f"(e.g. numpy.log) in {TRUSTED_TYPES_ENV}, never a prefix or a pattern",
                type_name=name,
            )
        if is_never_trusted(name) and name not in HELPER_TYPES:
            raise ModelError(
                f"{name} can run arbitrary code and is never trusted; remove it from "
                f"{TRUSTED_TYPES_ENV}",
                type_name=name,
            )
    return frozenset(names)


@dataclass(frozen=True)
class TrustPolicy:
    """The types one load may construct: assay's own list and the user's exact additions.

    Only a user-listed name can be a function, a bound method, an ``operator`` callable or a
    ``functools.partial``: assay's own list holds classes only.
    """

    user: frozenset[str]

    @classmethod
    def from_config(cls, extra: Sequence[str] = ()) -> TrustPolicy:
        """The policy for this process: ``ASSAY_TRUSTED_TYPES`` plus ``extra``."""
        return cls(user=user_trusted_types(extra))

    def allows_type(self, name: str) -> bool:
        """May a class (or instance of one) named ``name`` be rebuilt?"""
        if is_never_trusted(name) and name not in HELPER_TYPES:
            return False
        return name in default_trusted_types() or name in self.user

    def allows_callable(self, name: str) -> bool:
        """May a function (or method, or operator callable) named ``name`` be referenced?"""
        return name in self.user and not is_never_trusted(name)
