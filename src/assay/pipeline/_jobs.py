"""Turning a stage instance into a :class:`Job`: its command, environment, params file and, for
built-in kinds, the context file ``python -m assay.pipeline.kind_exec`` reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay._atomic import write_text_atomic
from assay._layout import (
    DEFAULT_PROFILE,
    LOGS_DIR,
    PROJECT_ENV,
    STORE_ENV,
    cached_settings,
    state_dir,
    store_url,
)
from assay.pipeline._executor import Job
from assay.pipeline._run_cache import pipeline_dir

if TYPE_CHECKING:
    from assay.config import Project
    from assay.pipeline._dag import Dag, Stage

KIND_EXEC = "assay.pipeline.kind_exec"


def _params_path(root: Path, profile: str | None) -> Path:
    """Where a run with ``profile`` writes its params (see :meth:`JobFactory._params_file`)."""
    return state_dir(root) / "pipeline" / f"params-{profile or 'default'}.json"


def _job_env(base: dict[str, str], root: Path, *, store: str, profile: str | None,
             run_id: str, stage: str, stage_env: dict[str, str], stage_run_id: str
             ) -> dict[str, str]:
    """A stage job's environment: ``base`` (the runner's, with the profile's ``env``), the
    stage's ``env``, then what assay tells every stage."""
    env = dict(base)
    env.update(stage_env)
    env.update({
        PROJECT_ENV: str(root),
        STORE_ENV: store,
        "ASSAY_RUN_ID": run_id,
        "ASSAY_STAGE_RUN_ID": stage_run_id,
        "ASSAY_STAGE": stage,
        "ASSAY_PROFILE": profile or "",
        "ASSAY_PARAMS_FILE": str(_params_path(root, profile)),
    })
    return env


def _base_env(project: Project, profile: str | None, environ: dict[str, str] | None
              ) -> dict[str, str]:
    base = dict(os.environ if environ is None else environ)
    if profile is not None:
        base.update(project.config.profiles[profile].env)
    return base


def first_warm_job(root: Path, settings: dict[str, Any], *, profile: str | None,
                   run_id: str, environ: dict[str, str]) -> Job | None:
    """A job like the one the first built-in stage (in assay.yaml's order) of a run of
    ``profile`` will run, for :meth:`Executor.prewarm` before the DAG is planned: planning
    loads every kind and checks contracts, and the warm worker's start and imports overlap it.
    Built from the project's settings (:meth:`Project.settings`, also kept in the settings
    cache, so the command line can start the worker before it has loaded assay.yaml itself:
    :func:`start_early`). The worker is named the kinds (``module:OBJECT``, as their entry
    points are), not their imports, which only loading them would tell. ``environ`` is the
    environment the run's jobs start from (planning imports libraries that set variables,
    Polars its allocator's: the worker and the jobs must see the same).

    None when there is no built-in stage, or the first one's environment is only known once
    planned (an interpolated ``env``, an unknown profile or kind: planning reports those)."""
    from assay.pipeline._kinds import kind_refs

    start = settings.get("warm_starts", {}).get(profile or DEFAULT_PROFILE)
    if start is None:
        return None
    refs = kind_refs()
    if start["kind"] not in refs:
        return None
    profile = None if profile == DEFAULT_PROFILE else profile
    env = _job_env({**environ, **start["env"]}, root,
                   store=store_url(settings.get("store"), state_dir(root)), profile=profile,
                   run_id=run_id, stage=start["stage"], stage_env={}, stage_run_id="")
    # the other built-in stages with its environment run in the same worker
    like = [refs[kind] for kind, same in start["kinds"] if same and kind in refs]
    return Job(stage=start["stage"], command=[sys.executable, "-m", KIND_EXEC], env=env,
               cwd=root, log_path=state_dir(root) / LOGS_DIR / run_id / f"{start['stage']}.log",
               warm=(KIND_EXEC, refs[start["kind"]]), prewarm=tuple(dict.fromkeys(like)))


def start_early(root: Path, profile: str | None) -> None:
    """Start the warm worker of a run of ``profile`` in ``root`` now, before the command line
    has loaded the rest of assay (Typer, the runner, and assay.yaml when the settings cache
    holds it as it is): see :func:`~assay.pipeline._executor.start_early_worker`. What cannot
    be decided here (the config does not load, the profile is unknown) is left to the run,
    which reports it."""
    from assay.pipeline._executor import start_early_worker

    cached = cached_settings(root)
    if cached is not None:
        settings = cached[1]
    else:
        from assay.config import Project
        from assay.errors import AssayError

        try:
            settings = Project.load(root).settings()
        except AssayError:
            return
    job = first_warm_job(root, settings, profile=profile, run_id="", environ=dict(os.environ))
    if job is not None:
        start_early_worker(job)


class JobFactory:
    """Builds the jobs of one run (``run_id``) of ``dag``."""

    def __init__(self, project: Project, dag: Dag, run_id: str, *,
                 environ: dict[str, str] | None = None) -> None:
        self.project = project
        self.environ = environ
        self.dag = dag
        self.run_id = run_id
        self._params_path: Path | None = None
        self._params_data: dict[str, Any] | None = None
        self._base_env: dict[str, str] | None = None
        self._warm: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
        self._kind_imports: dict[str, tuple[str, ...]] = {}
        self._stages: dict[str, dict[str, list[str]]] | None = None

    def log_path(self, stage: Stage) -> Path:
        return self.project.logs_dir / self.run_id / f"{stage.slug}.log"

    def job(self, stage: Stage, *, stage_run_id: str, attempt: int) -> Job:
        env = self._env(stage, stage_run_id)
        command: str | list[str]
        if stage.kind is not None:
            env["ASSAY_STAGE_CONTEXT"] = str(self._kind_context(stage, stage_run_id))
            command = [sys.executable, "-m", KIND_EXEC]
        else:
            command = stage.cmd or ""
        warm = self.warm_imports(stage.kind) if stage.kind is not None else ()
        return Job(stage=stage.name, command=command, env=env, cwd=self.project.root,
                   log_path=self.log_path(stage), timeout=stage.timeout,
                   resources=stage.resources, attempt=attempt, warm=warm,
                   prewarm=self._warm_imports_like(stage) if warm else ())

    def warm_job(self, stage: Stage) -> Job | None:
        """A job like the one ``stage`` will run, for :meth:`Executor.prewarm` (None for a
        ``cmd`` stage); nothing is written for it."""
        if stage.kind is None:
            return None
        warm = self.warm_imports(stage.kind)
        return Job(stage=stage.name, command=[sys.executable, "-m", KIND_EXEC],
                   env=self._env(stage, ""), cwd=self.project.root,
                   log_path=self.log_path(stage), warm=warm,
                   prewarm=self._warm_imports_like(stage) if warm else ())

    def warm_imports(self, kind: str) -> tuple[str, ...]:
        """What a warm worker imports before forking a ``kind`` stage: the runner of kinds,
        the kind's module and the libraries it declares in ``warm_imports``."""
        from assay.pipeline._kinds import get_kind

        if kind not in self._kind_imports:  # the DAG loaded every kind it has
            obj = get_kind(kind)
            self._kind_imports[kind] = (KIND_EXEC, type(obj).__module__,
                                        *getattr(obj, "warm_imports", ()))
        return self._kind_imports[kind]

    def _env_key(self, stage: Stage) -> tuple[tuple[str, str], ...]:
        """``stage``'s environment without what differs per job: the stages with one key share
        a warm worker (the executor keys its workers the same way)."""
        from assay.pipeline._warm_worker import PER_JOB_ENV

        return tuple(sorted((k, v) for k, v in self._env(stage, "").items()
                            if k not in PER_JOB_ENV))

    def _warm_imports_like(self, stage: Stage) -> tuple[str, ...]:
        """What the DAG's built-in stages with ``stage``'s environment need: they run in the
        same warm worker, which imports it while a core is free (their kinds' modules first,
        then their libraries). A job loads only its own kind (lineage follows the stage table
        the run hands over, :attr:`StageContext.pipeline`), so the kinds of stages that run
        in other workers are not imported."""
        key = self._env_key(stage)
        if key not in self._warm:
            kinds = dict.fromkeys(s.kind for s in self.dag.stages.values() if s.kind)
            like = [k for k in kinds  # in run order
                    if any(s.kind == k and self._env_key(s) == key
                           for s in self.dag.stages.values())]
            self._warm[key] = tuple(dict.fromkeys(
                [*(self.warm_imports(k)[1] for k in like),
                 *(m for k in like for m in self.warm_imports(k))]))
        return self._warm[key]

    def _env(self, stage: Stage, stage_run_id: str) -> dict[str, str]:
        if self._base_env is None:
            self._base_env = _base_env(self.project, self.dag.profile, self.environ)
        self._params_file()
        return _job_env(self._base_env, self.project.root, store=self.project.store_url,
                        profile=self.dag.profile,
                        run_id=self.run_id, stage=stage.name, stage_env=stage.env,
                        stage_run_id=stage_run_id)

    def _params(self) -> dict[str, Any]:
        if self._params_data is None:
            from assay.pipeline._params import ParamsFiles

            self._params_data = ParamsFiles(self.project.root, self.dag.params_overrides).data()
        return self._params_data

    def _params_file(self) -> Path:
        """params.yaml with the profile's overrides applied, as JSON (which YAML also reads)."""
        if self._params_path is None:
            path = _params_path(self.project.root, self.dag.profile)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(self._params(), indent=1, sort_keys=True,
                                               default=str), durable=False)
            self._params_path = path
        return self._params_path

    def _pipeline(self) -> dict[str, dict[str, list[str]]]:
        """Every stage instance's outs and deps, for :attr:`StageContext.pipeline`."""
        if self._stages is None:
            self._stages = self.dag.stage_table()
        return self._stages

    def _kind_context(self, stage: Stage, stage_run_id: str) -> Path:
        upstream: dict[str, list[str]] = {}
        config = self.project.config.stages.get(stage.config_name)
        for need in config.needs if config is not None else []:
            insts = self.dag.groups.get(need, [need])
            upstream[need] = [o for i in insts if i in self.dag.stages
                              for o in self.dag.stages[i].all_outs]
        for need in stage.needs:
            if need in self.dag.stages:
                upstream.setdefault(need, self.dag.stages[need].all_outs)
        body = {
            "kind": stage.kind,
            "options": stage.options,
            "root": str(self.project.root),
            "stage": stage.name,
            "group": stage.group,
            "matrix": stage.matrix,
            "params": self._params(),
            "profile": self.dag.profile,
            "run_id": self.run_id,
            "stage_run_id": stage_run_id,
            "store_url": self.project.store_url,
            "upstream_outs": upstream,
            "pipeline": self._pipeline(),
            "report_dir": str(self.project.state_dir / "reports" / self.run_id / stage.slug),
        }
        path = pipeline_dir(self.project) / "contexts" / f"{stage_run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(body, default=str), durable=False)
        return path
