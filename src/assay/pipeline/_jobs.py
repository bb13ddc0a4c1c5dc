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
from assay._layout import PROJECT_ENV, STORE_ENV
from assay.pipeline._executor import Job
from assay.pipeline._run_cache import pipeline_dir

if TYPE_CHECKING:
    from assay.config import Project
    from assay.pipeline._dag import Dag, Stage


class JobFactory:
    """Builds the jobs of one run (``run_id``) of ``dag``."""

    def __init__(self, project: Project, dag: Dag, run_id: str) -> None:
        self.project = project
        self.dag = dag
        self.run_id = run_id
        self._params_path: Path | None = None
        self._params_data: dict[str, Any] | None = None
        self._base_env: dict[str, str] | None = None
        self._warm: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}
        self._kind_imports: dict[str, tuple[str, ...]] = {}

    def log_path(self, stage: Stage) -> Path:
        return self.project.logs_dir / self.run_id / f"{stage.slug}.log"

    def job(self, stage: Stage, *, stage_run_id: str, attempt: int) -> Job:
        env = self._env(stage, stage_run_id)
        command: str | list[str]
        if stage.kind is not None:
            env["ASSAY_STAGE_CONTEXT"] = str(self._kind_context(stage, stage_run_id))
            command = [sys.executable, "-m", "assay.pipeline.kind_exec"]
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
        return Job(stage=stage.name, command=[sys.executable, "-m", "assay.pipeline.kind_exec"],
                   env=self._env(stage, ""), cwd=self.project.root,
                   log_path=self.log_path(stage), warm=warm,
                   prewarm=self._warm_imports_like(stage) if warm else ())

    def warm_imports(self, kind: str) -> tuple[str, ...]:
        """What a warm worker imports before forking a ``kind`` stage: the runner of kinds,
        the kind's module and the libraries it declares in ``warm_imports``."""
        from assay.pipeline._kinds import get_kind

        if kind not in self._kind_imports:  # the DAG loaded every kind it has
            obj = get_kind(kind)
            self._kind_imports[kind] = ("assay.pipeline.kind_exec", type(obj).__module__,
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
        same warm worker, which imports it while idle (and nothing the others need)."""
        key = self._env_key(stage)
        if key not in self._warm:
            kinds = dict.fromkeys(s.kind for s in self.dag.stages.values()  # in run order
                                  if s.kind and self._env_key(s) == key)
            self._warm[key] = tuple(dict.fromkeys(m for k in kinds
                                                  for m in self.warm_imports(k)))
        return self._warm[key]

    def _env(self, stage: Stage, stage_run_id: str) -> dict[str, str]:
        if self._base_env is None:
            base = dict(os.environ)
            if self.dag.profile is not None:
                base.update(self.project.config.profiles[self.dag.profile].env)
            self._base_env = base
        env = dict(self._base_env)
        env.update(stage.env)
        env.update({
            PROJECT_ENV: str(self.project.root),
            STORE_ENV: self.project.store_url,
            "ASSAY_RUN_ID": self.run_id,
            "ASSAY_STAGE_RUN_ID": stage_run_id,
            "ASSAY_STAGE": stage.name,
            "ASSAY_PROFILE": self.dag.profile or "",
            "ASSAY_PARAMS_FILE": str(self._params_file()),
        })
        return env

    def _params(self) -> dict[str, Any]:
        if self._params_data is None:
            from assay.pipeline._params import ParamsFiles

            self._params_data = ParamsFiles(self.project.root, self.dag.params_overrides).data()
        return self._params_data

    def _params_file(self) -> Path:
        """params.yaml with the profile's overrides applied, as JSON (which YAML also reads)."""
        if self._params_path is None:
            path = pipeline_dir(self.project) / f"params-{self.dag.profile or 'default'}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps(self._params(), indent=1, sort_keys=True,
                                               default=str), durable=False)
            self._params_path = path
        return self._params_path

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
            "report_dir": str(self.project.state_dir / "reports" / self.run_id / stage.slug),
        }
        path = pipeline_dir(self.project) / "contexts" / f"{stage_run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(body, default=str), durable=False)
        return path
