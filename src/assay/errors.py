"""Everything assay raises derives from :class:`AssayError`.

Each concept has one family; each family declares its exit code, and one function turns whatever
ended a command into its code (:func:`assay._exits.exit_code`, used by the CLI, the console
script's shortcuts and the built-in kinds' subprocess)::

    AssayError                      exit 3 unless a subclass says otherwise
    ├── UsageError                  exit 2: bad arguments, paths outside the project
    │   └── ConfigError             exit 2: assay.yaml / contract / params files
    ├── StoreError                  exit 3: metadata store unreachable, migration failed
    │   ├── ConcurrencyError        exit 1: lost a race (alias moved, lock held)
    │   └── ConstraintViolation     exit 3: a write broke a unique or foreign-key constraint
    ├── ObjectError                 exit 3: content-addressed store
    │   ├── ObjectNotFound          exit 1: an object is neither in the cache nor the remote
    │   ├── CorruptObject           exit 1: an object's bytes do not match its hash
    │   ├── RemoteError             exit 1: remote unreachable, wrong credentials
    │   └── LocalDiskError          exit 1: a disk full, over quota, read-only or not permitted
    ├── DataError                   exit 1: dataset versioning (workspace, missing data)
    │   └── PointerError            exit 2: a corrupt or hand-edited pointer file (PATH.assay)
    ├── ContractError               exit 2: a contract that cannot be compiled
    │   └── ValidationFailed        exit 1: a contract ran and error-severity checks failed
    ├── PipelineError               exit 2: DAG problems (cycles, missing deps, unknown params)
    │   ├── StageFailed             exit 1: a stage (user code) failed, timed out or was killed
    │   └── NotReproducible         exit 1: a rerun (--check-repro) gave other outs or metrics
    ├── TrackingError               exit 2
    ├── ModelError                  exit 2: model packages, flavors, signatures
    ├── EvaluationError             exit 2: evaluation setup (unknown metric, empty data)
    │   └── GateFailed              exit 1: no candidate passed its gates
    ├── RegistryError               exit 2: registry, aliases
    │   └── PolicyViolation         exit 1: promotion refused by the policy
    ├── ServingError                exit 2: the inference server cannot start as asked
    │   └── RequestRejected         (HTTP 4xx/5xx): a request the server refused, with its status
    ├── DeploymentError             exit 2: deployments (unknown name, a rollout in progress)
    │   └── RolledBack              exit 1: a rollout's guard failed and the candidate was withdrawn
    ├── MonitoringError             exit 2: a monitor cannot run (no such monitor, no prediction log)
    ├── AlertError                  exit 2: alerts asked for what is not configured (unknown channel)
    ├── TriggerError                exit 2: no such trigger, or another assay watch holds the project
    ├── DeliveryError               exit 2: a delivery report asked for a window it cannot read
    ├── CIError                     exit 2: CI files and PR comments (a file exists, no token, no PR)
    │   └── CommentRejected         exit 1: the GitHub or GitLab API refused or failed a comment
    └── ProjectUnhealthy            exit 1: assay doctor found error-level antipatterns

Other endings: an interrupt exits 130, an unexpected exception 3 (see :mod:`assay._exits`).

Errors carry fields, not just text, and their message says what to do next.
"""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class AssayError(Exception):
    """Base of every error assay raises on purpose."""

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __str__(self) -> str:
        return self.message


class UsageError(AssayError):
    """The user asked for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration file is malformed; names the file, line and key."""


class StoreError(AssayError):
    """The metadata store failed (unreachable, migration, integrity)."""


class ConcurrencyError(StoreError):
    """Another writer won a race, or holds a lock we need."""

    exit_code = EXIT_FAILED


class ConstraintViolation(StoreError):
    """A write broke a unique or foreign-key constraint of the metadata store (the same error
    on every backend; a caller that can lose a race turns it into a ConcurrencyError)."""


class ObjectError(AssayError):
    """The content-addressed object store failed."""


class ObjectNotFound(ObjectError):
    """An object is missing from the cache (and the remote, when asked)."""

    exit_code = EXIT_FAILED


class CorruptObject(ObjectError):
    """An object's bytes do not hash to its name."""

    exit_code = EXIT_FAILED


class RemoteError(ObjectError):
    """A remote could not be reached or refused us."""

    exit_code = EXIT_FAILED


class LocalDiskError(ObjectError):
    """A disk on this machine refused a read or write: full (ENOSPC), over quota (EDQUOT),
    read-only (EROFS) or not permitted (EACCES, EPERM). Names the path and the fix; made by
    :func:`assay.objects.local_fault`, never by a remote's network or credential failure."""

    exit_code = EXIT_FAILED


class DataError(AssayError):
    """Dataset versioning failed (pointer files, workspace, missing data)."""

    exit_code = EXIT_FAILED


class PointerError(DataError):
    """A pointer file (``PATH.assay``) is corrupt, hand-edited or contradicts its object."""

    exit_code = EXIT_USAGE


class ContractError(AssayError):
    """A data contract is malformed or cannot be evaluated."""

    exit_code = EXIT_USAGE


class ValidationFailed(ContractError):
    """A contract ran and at least one error-severity check failed."""

    exit_code = EXIT_FAILED


class PipelineError(AssayError):
    """The pipeline definition is invalid (cycles, missing deps, unknown params)."""

    exit_code = EXIT_USAGE


class StageFailed(PipelineError):
    """A stage failed, timed out, or was interrupted."""

    exit_code = EXIT_FAILED


class NotReproducible(PipelineError):
    """A stage rerun from the same inputs gave different outs or metrics."""

    exit_code = EXIT_FAILED


class TrackingError(AssayError):
    """Experiment tracking was used wrongly."""

    exit_code = EXIT_USAGE


class ModelError(AssayError):
    """A model package cannot be written, read or used."""

    exit_code = EXIT_USAGE


class EvaluationError(AssayError):
    """An evaluation is misconfigured or cannot run."""

    exit_code = EXIT_USAGE


class GateFailed(EvaluationError):
    """No candidate passed every gate."""

    exit_code = EXIT_FAILED


class RegistryError(AssayError):
    """The model registry refused an operation."""

    exit_code = EXIT_USAGE


class PolicyViolation(RegistryError):
    """A promotion or approval was refused by the policy."""

    exit_code = EXIT_FAILED


class ServingError(AssayError):
    """``assay serve`` cannot start as asked (options, a model it cannot serve)."""

    exit_code = EXIT_USAGE


class RequestRejected(ServingError):
    """The inference server refused one request: ``status`` is the HTTP status it answers
    (4xx for bad input, 503 when overloaded, 504 on timeout) and ``field`` the input field at
    fault, when there is one."""

    def __init__(self, message: str, *, status: int = 422, field: str | None = None,
                 **fields: Any) -> None:
        super().__init__(message, status=status, field=field, **fields)
        self.status = status
        self.field = field


class DeploymentError(AssayError):
    """A deployment cannot do what was asked (no such deployment, a rollout already running,
    its controller busy elsewhere)."""

    exit_code = EXIT_USAGE


class RolledBack(DeploymentError):
    """A rollout ended without its candidate: a guard failed (or a person aborted it), traffic
    went back to the incumbent and the alias moved back."""

    exit_code = EXIT_FAILED


class MonitoringError(AssayError):
    """A monitor cannot compute a window (no such monitor, no prediction log, no reference)."""

    exit_code = EXIT_USAGE


class AlertError(AssayError):
    """Alerts cannot do what was asked (no such channel). A failed delivery is not an error: it
    is recorded as an ``alert.failed`` event."""

    exit_code = EXIT_USAGE


class DeliveryError(AssayError):
    """A delivery report cannot be made as asked (a date or window it cannot read)."""

    exit_code = EXIT_USAGE


class TriggerError(AssayError):
    """A trigger cannot do what was asked (no such trigger, another ``assay watch`` holds the
    project). A firing whose run or rollout fails is not an error: the firing records it."""

    exit_code = EXIT_USAGE


class CIError(AssayError):
    """A CI command cannot do what was asked: a generated file already exists, the PR or MR,
    token or API address is missing from the environment."""

    exit_code = EXIT_USAGE


class CommentRejected(CIError):
    """The GitHub or GitLab API refused the PR comment (401, 403, 404) or failed (5xx, no
    answer); ``status`` is the HTTP status, None when no answer came."""

    exit_code = EXIT_FAILED


class ProjectUnhealthy(AssayError):
    """``assay doctor`` found error-level antipatterns in the project."""

    exit_code = EXIT_FAILED


__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "AlertError",
    "AssayError",
    "CIError",
    "CommentRejected",
    "ConcurrencyError",
    "ConfigError",
    "ConstraintViolation",
    "ContractError",
    "CorruptObject",
    "DataError",
    "DeliveryError",
    "DeploymentError",
    "EvaluationError",
    "GateFailed",
    "LocalDiskError",
    "ModelError",
    "MonitoringError",
    "NotReproducible",
    "ObjectError",
    "ObjectNotFound",
    "PipelineError",
    "PointerError",
    "PolicyViolation",
    "ProjectUnhealthy",
    "RegistryError",
    "RemoteError",
    "RequestRejected",
    "RolledBack",
    "ServingError",
    "StageFailed",
    "StoreError",
    "TrackingError",
    "TriggerError",
    "UsageError",
    "ValidationFailed",
]
