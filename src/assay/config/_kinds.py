"""The seam between the pipeline and built-in stage kinds (validate, train, evaluate, register).

A kind is registered as an entry point in the ``assay.stage_kinds`` group (see pyproject.toml):
``train = "assay.models._train_kind:KIND"``. It lives in ``config`` so that every layer can
implement it without importing the pipeline (lower layers never import higher ones).

The pipeline calls :meth:`StageKind.plan` while building the DAG (cheap, no heavy imports) and
:meth:`StageKind.run` inside the stage's own process (``python -m assay.pipeline.kind_exec``,
forked from a warm worker that imported the kind's ``warm_imports`` once per run), so kinds get the same timeouts, logs, retries, caching and kill semantics as ``cmd`` stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel


@dataclass(frozen=True)
class KindPlan:
    """What a kind adds to its stage's own deps/outs/metrics/params (paths relative to root)."""

    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    params: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)  # stage or matrix-group names to run first
    # Registry aliases (``NAME@ALIAS``) whose current model the result depends on, e.g. the
    # champion an evaluation compares against: the pipeline resolves each to its model hash and
    # folds it into the cache key, so moving the alias makes the stage stale.
    aliases: list[str] = field(default_factory=list)
    # Option paths (key tuples such as ``("hyperparams_for", "random_forest")``) this instance's
    # result does not depend on, e.g. the settings of the other matrix candidates: they are left
    # out of its cache key, and a param interpolated only there is not one of its params.
    # An int in a path indexes a list: ``("gates", 2, "profiles", "ci")``.
    ignored_options: list[tuple[str | int, ...]] = field(default_factory=list)
    # True when the stage's effect lives in the metadata store (a registered model version),
    # which its outs cannot restore: it is cached per store (the store's instance id is part of
    # its cache key), so a new store, say a fresh clone's local one, runs it again.
    store_effects: bool = False


@dataclass(frozen=True)
class PlanContext:
    """What a kind may ask of the pipeline while planning."""

    root: Path
    stage: str  # the stage instance name, e.g. "train@model=rf" for a matrix job
    matrix: dict[str, Any]  # this instance's matrix values ({} without a matrix)
    outs_of: Callable[[str], list[str]]  # stage or matrix-group name -> its instances' outs
    instances_of: Callable[[str], list[str]]  # stage or matrix-group name -> instance names
    profile: str | None = None  # the profile being planned (None: the plain run)


@dataclass(frozen=True)
class StageContext:
    """What a kind gets when it runs (inside the stage's subprocess)."""

    root: Path
    stage: str
    group: str | None  # the matrix group (the stage name as written), None without matrix
    matrix: dict[str, Any]
    params: dict[str, Any]  # resolved params.yaml values (profile overrides applied)
    profile: str | None
    run_id: str
    stage_run_id: str
    store_url: str
    upstream_outs: dict[str, list[str]]  # needed stage/group name -> outs of its instances
    report_dir: Path  # where to write reports: .assay/reports/<run>/<stage>/
    # every stage instance of the run's pipeline -> {"outs": [...], "deps": [...]} (what
    # lineage follows back from a file to the data behind it, without planning it again)
    pipeline: dict[str, dict[str, list[str]]] | None = None


class StageKind(Protocol):
    """A built-in stage kind."""

    name: str
    options: type[BaseModel]  # validates the stage's extra keys (the kind's options)
    # Optional: modules :meth:`run` needs (heavy libraries). A run's warm worker imports them
    # once, and forks each built-in stage from it (see ``assay.pipeline._warm_worker``). A
    # ``module:function`` entry names a function (of no arguments, that keeps what it computes)
    # the worker calls once, so that every stage starts with its result.
    # warm_imports: tuple[str, ...]

    def plan(self, options: Any, ctx: PlanContext) -> KindPlan:
        """Deps, outs, metrics, params and ordering implied by ``options``."""
        ...

    def run(self, options: Any, ctx: StageContext) -> int:
        """Do the work; return the exit code (0 ok, 1 gate/check failed)."""
        ...
