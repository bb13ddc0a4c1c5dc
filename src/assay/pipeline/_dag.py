"""Building and checking the pipeline DAG from ``stages:``: matrix expansion, interpolation,
built-in kinds' plans, edges inferred from outs -> deps, and the checks that run before anything
runs (unknown needs, missing deps, two stages writing one out, cycles, unknown params).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay._exits import exit_code
from assay._layout import DEFAULT_PARAMS_FILE, DEFAULT_PROFILE
from assay._paths import clean_relative
from assay.errors import EXIT_USAGE, AssayError, PipelineError, UsageError
from assay.pipeline._params import ParamsFiles

if TYPE_CHECKING:
    from assay.config import Project, StageConfig

_VAR = re.compile(r"\$\{([^}]*)\}")
_SLUG_BAD = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Stage:
    """One runnable stage instance (a matrix job is one instance of its group)."""

    name: str
    group: str | None
    matrix: dict[str, Any]
    cmd: str | None
    kind: str | None
    options: dict[str, Any]
    deps: list[str]
    outs: list[str]
    metrics: list[str]
    params: dict[str, Any]  # "key" (params.yaml) or "file:key" -> resolved value
    needs: list[str]  # instance names that must finish first (explicit and inferred)
    env: dict[str, str]
    timeout: float | None
    retries: int
    resources: dict[str, Any]
    owner: str | None
    profiles: list[str] | None
    # option paths this instance's result does not depend on (its kind says so): not in the key
    ignored_options: tuple[tuple[str | int, ...], ...] = ()

    @property
    def config_name(self) -> str:
        """The stage name as written in assay.yaml (the group for a matrix job)."""
        return self.group or self.name

    @property
    def slug(self) -> str:
        return slugify(self.name)

    @property
    def all_outs(self) -> list[str]:
        """Outs and metrics files: everything the stage writes and the cache keeps."""
        return [*self.outs, *[m for m in self.metrics if m not in self.outs]]

    def definition(self) -> dict[str, Any]:
        """The resolved definition that goes into the cache key (values of params excluded)."""
        return {
            "cmd": self.cmd,
            "kind": self.kind,
            "options": prune(self.options, self.ignored_options),
            "deps": sorted(self.deps),
            "outs": sorted(self.outs),
            "metrics": sorted(self.metrics),
            "params": sorted(self.params),
            "env": self.env,
        }


@dataclass
class Dag:
    """Stage instances in a topological order, plus the matrix groups."""

    stages: dict[str, Stage]
    groups: dict[str, list[str]] = field(default_factory=dict)
    profile: str | None = None
    params_overrides: dict[str, Any] = field(default_factory=dict)

    def upstream(self, names: list[str]) -> list[str]:
        """``names`` and everything they need, in topological order."""
        wanted: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in wanted:
                continue
            wanted.add(name)
            todo.extend(self.stages[name].needs)
        return [n for n in self.stages if n in wanted]

    def downstream_of(self, name: str) -> list[str]:
        found = [name]
        for other, stage in self.stages.items():
            if any(n in found for n in stage.needs):
                found.append(other)
        return found[1:]

    def stage_table(self) -> dict[str, dict[str, list[str]]]:
        """Every stage instance's outs and deps (what a running stage gets as
        :attr:`StageContext.pipeline`)."""
        return {name: {"outs": list(s.all_outs), "deps": list(s.deps)}
                for name, s in self.stages.items()}

    def select(self, targets: list[str]) -> list[str]:
        """Instance names for targets (stage, matrix group or instance) and their upstream."""
        if not targets:
            return list(self.stages)
        names: list[str] = []
        for target in targets:
            if target in self.stages:
                names.append(target)
            elif target in self.groups:
                names.extend(self.groups[target])
            else:
                from assay.config import suggest

                choices = sorted({*self.stages, *self.groups})
                raise UsageError(
                    f"Unknown stage '{target}'{suggest(target, choices)}; stages: "
                    f"{', '.join(choices) or '(none)'}",
                    stage=target,
                )
        return self.upstream(names)


def slugify(name: str) -> str:
    """A filesystem-safe slug: ``train[model=rf]`` -> ``train-model-rf``."""
    text = name.replace("[", "-").replace("]", "").replace(",", "-").replace("=", "-")
    return _SLUG_BAD.sub("-", text).strip("-") or "stage"


def instance_name(stage: str, matrix: dict[str, Any]) -> str:
    if not matrix:
        return stage
    return f"{stage}[{','.join(f'{k}={_plain(v)}' for k, v in matrix.items())}]"


def _plain(value: Any) -> str:
    """A matrix or param value as text, spelled as in YAML (``true``, ``null``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def prune(options: Any, paths: tuple[tuple[str | int, ...], ...]) -> Any:
    """``options`` without the subtrees at ``paths`` (key tuples; an int indexes a list)."""
    if not paths:
        return options
    if isinstance(options, list):
        return [prune(value, tuple(p[1:] for p in paths if len(p) > 1 and p[0] == index))
                for index, value in enumerate(options)]
    if not isinstance(options, dict):
        return options
    out: dict[str, Any] = {}
    for key, value in options.items():
        if (key,) in paths:
            continue
        below = tuple(p[1:] for p in paths if len(p) > 1 and p[0] == key)
        out[key] = prune(value, below) if below else value
    return out


def _is_under(path: tuple[str | int, ...], ignored: tuple[tuple[str | int, ...], ...]) -> bool:
    return any(path[: len(p)] == p for p in ignored)


Ref = tuple[tuple[str | int, ...] | None, str, Any]  # (option path or None, param label, value)


class _Interpolator:
    def __init__(self, *, stage: str, matrix: dict[str, Any], params: ParamsFiles, where: str,
                 declared: dict[str, str], files: list[str]):
        self.stage = stage
        self.matrix = matrix
        self.params = params
        self.where = where
        self.declared = declared  # key -> the params file the stage declared it from
        self.files = files  # the project's params files, in lookup order
        self.refs: list[Ref] = []
        self._path: tuple[str | int, ...] | None = None

    def _param(self, key: str) -> tuple[str, Any]:
        """(label, value) of ``${params.KEY}`` (or ``${params.FILE:KEY}``)."""
        file, sep, rest = key.partition(":")
        if sep and rest:
            file = _clean(file, stage=self.stage, what="params file", where=self.where)
            return f"{file}:{rest}", self.params.value(rest, file=file, stage=self.stage,
                                                       where=self.where)
        file = self.declared.get(key) or self.params.find(key, self.files) or DEFAULT_PARAMS_FILE
        value = self.params.value(key, file=file, stage=self.stage, others=self.files,
                                  where=self.where)
        return (key if file == DEFAULT_PARAMS_FILE else f"{file}:{key}"), value

    def _value(self, expr: str) -> Any:
        expr = expr.strip()
        if expr == "stage":
            return self.stage
        if expr == "stage_slug":
            return slugify(self.stage)
        if expr.startswith("matrix."):
            key = expr[len("matrix.") :]
            if key not in self.matrix:
                known = ", ".join(self.matrix) or "(no matrix)"
                raise PipelineError(
                    f"{self.where}: stage '{self.stage}' uses ${{{expr}}}, but its matrix has "
                    f"no key '{key}' (keys: {known})",
                    stage=self.stage,
                    key=expr,
                )
            return self.matrix[key]
        if expr.startswith("params."):
            label, value = self._param(expr[len("params.") :])
            self.refs.append((self._path, label, value))
            return value
        raise PipelineError(
            f"{self.where}: stage '{self.stage}': unknown variable ${{{expr}}} "
            "(use ${matrix.KEY}, ${params.KEY}, ${stage} or ${stage_slug})",
            stage=self.stage,
            key=expr,
        )

    def text(self, raw: str) -> str:
        return _VAR.sub(lambda m: _plain(self._value(m.group(1))), raw)

    def options(self, raw: Any, path: tuple[str | int, ...] = ()) -> Any:
        """Interpolate kind options, remembering where each param is used."""
        if isinstance(raw, str):
            self._path = path
            try:
                whole = _VAR.fullmatch(raw.strip())
                return self._value(whole.group(1)) if whole else self.text(raw)
            finally:
                self._path = None
        if isinstance(raw, list):
            return [self.options(v, (*path, i)) for i, v in enumerate(raw)]
        if isinstance(raw, dict):
            return {k: self.options(v, (*path, k)) for k, v in raw.items()}
        return raw


def _clean(path: str, *, stage: str, what: str, where: str) -> str:
    """A stage's path, relative and normalised, clear of ``.git`` and ``.assay`` (the one path
    choke point, :func:`assay._paths.clean_relative`). Symlinks in the workspace are not
    configuration: writes and deletes refuse to follow them when they happen.

    Raises:
        PipelineError: the path is unsafe, naming ``where`` (``assay.yaml:LINE``).
    """
    try:
        return clean_relative(path, what=f"{what} of stage '{stage}'").as_posix()
    except UsageError as exc:
        raise PipelineError(f"{where}: {exc}", stage=stage, path=path) from None


def _param_refs(raw: list[Any]) -> list[tuple[str, str]]:
    refs: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, str):
            refs.append((DEFAULT_PARAMS_FILE, item))
        else:
            for file, keys in item.items():
                refs.extend((file, key) for key in keys)
    return refs


def _expand(
    project: Project, name: str, config: StageConfig, params: ParamsFiles, datasets: dict[str, str]
) -> list[tuple[Stage, list[Ref]]]:
    """The instances of one configured stage, each with the params its text refers to."""
    where = project.where("stages", name)
    if (config.cmd is None) == (config.kind is None):
        raise PipelineError(
            f"{where}: stage '{name}' needs exactly one of 'cmd' or 'kind'", stage=name
        )
    combos: list[dict[str, Any]] = [{}]
    if config.matrix:
        keys = list(config.matrix)
        combos = [dict(zip(keys, values, strict=True)) for values in itertools.product(
            *(config.matrix[k] for k in keys)
        )]
    refs = [(file if file == DEFAULT_PARAMS_FILE else _clean(
                file, stage=name, what="params file",
                where=project.where("stages", name, "params")), key)
            for file, key in _param_refs(list(config.params))]
    declared = {key: file for file, key in refs if file != DEFAULT_PARAMS_FILE}
    files = list(dict.fromkeys([DEFAULT_PARAMS_FILE, *project.config.params]))
    out = []
    for matrix in combos:
        inst = instance_name(name, matrix)
        interp = _Interpolator(stage=inst, matrix=matrix, params=params, where=where,
                               declared=declared, files=files)
        cmd = config.cmd if not isinstance(config.cmd, list) else " && ".join(config.cmd)
        stage_params: dict[str, Any] = {}
        for file, key in refs:
            label = key if file == DEFAULT_PARAMS_FILE else f"{file}:{key}"
            stage_params[label] = params.value(
                key, file=file, stage=inst, where=project.where("stages", name, "params"))

        def paths(values: list[str], what: str, key: str, interp: _Interpolator = interp,
                  inst: str = inst) -> list[str]:
            result = []
            for index, raw in enumerate(values):
                text = interp.text(raw)
                text = datasets.get(text, text) if what == "dep" else text
                result.append(_clean(text, stage=inst, what=what,
                                     where=project.where("stages", name, key, index)))
            return result

        stage = Stage(
            name=inst,
            group=name if config.matrix else None,
            matrix=matrix,
            cmd=interp.text(cmd) if cmd is not None else None,
            kind=config.kind,
            options=interp.options(dict(config.model_extra or {})),
            deps=paths(config.deps, "dep", "deps"),
            outs=paths(config.outs, "out", "outs"),
            metrics=paths(config.metrics, "metrics file", "metrics"),
            params=stage_params,
            needs=list(config.needs),
            env={k: interp.text(v) for k, v in config.env.items()},
            timeout=config.timeout,
            retries=config.retries,
            resources=config.resources.model_dump(),
            owner=config.owner,
            profiles=config.profiles,
        )
        out.append((stage, interp.refs))
    return out


def _scope_params(instances: dict[str, Stage], refs: dict[str, list[Ref]],
                  extra: dict[str, dict[str, Any]]) -> dict[str, Stage]:
    """Each instance's params: what its own text uses, plus the declared ones that no instance
    of its group interpolates elsewhere (a script may read those from params.yaml itself).

    So a matrix candidate is not made stale by a param only another candidate's options use.
    """
    by_group: dict[str, set[str]] = {}
    relevant: dict[str, dict[str, Any]] = {}
    for name, stage in instances.items():
        used = {label: value for path, label, value in refs.get(name, [])
                if path is None or not _is_under(path, stage.ignored_options)}
        relevant[name] = used
        group = by_group.setdefault(stage.config_name, set())
        group.update(label for _, label, _ in refs.get(name, []))
    scoped: dict[str, Stage] = {}
    for name, stage in instances.items():
        interpolated = by_group[stage.config_name]
        own = relevant[name]
        params = {k: v for k, v in stage.params.items() if k not in interpolated or k in own}
        params.update(own)
        for key, value in extra.get(name, {}).items():
            params.setdefault(key, value)
        scoped[name] = _replace(stage, params=params)
    return scoped


class _OutIndex:
    """Outs by path, to find the outs a path overlaps (equal, above or below it) quickly."""

    def __init__(self) -> None:
        self.exact: dict[str, list[tuple[int, str, str]]] = {}
        self.below: dict[str, list[tuple[int, str, str]]] = {}  # folder -> outs inside it
        self.count = 0

    def add(self, out: str, producer: str) -> None:
        item = (self.count, out, producer)
        self.count += 1
        self.exact.setdefault(out, []).append(item)
        parts = out.split("/")
        for i in range(1, len(parts)):
            self.below.setdefault("/".join(parts[:i]), []).append(item)

    def overlapping(self, path: str) -> list[tuple[str, str]]:
        """(out, producer) of every out equal to, containing or inside ``path``, in order."""
        found = list(self.exact.get(path, [])) + list(self.below.get(path, []))
        parts = path.split("/")
        for i in range(1, len(parts)):
            found.extend(self.exact.get("/".join(parts[:i]), []))
        return [(out, producer) for _, out, producer in sorted(found)]


def build_dag(
    project: Project,
    *,
    profile: str | None = None,
    check_missing_deps: bool = True,
    read_store: bool = True,
) -> Dag:
    """Expand, plan and check the project's stages: every check ``assay run`` makes before it
    runs anything (``assay config check`` calls this too, see :func:`check_pipeline`).

    Args:
        project: the loaded project.
        profile: a profile from ``profiles:`` (None: the plain run).
        check_missing_deps: a dep that does not exist and that no stage writes is an error.
        read_store: resolve registry aliases and the store's id (the values in the cache key);
            False checks only their shape and leaves them out, without opening the store.

    Raises:
        PipelineError: cycles, missing deps, two stages writing one out, a stage reading its own
            out, unknown params, unknown needs (or a stage needing itself), unsafe paths, an
            unknown kind or invalid kind options; each names its assay.yaml line.
        ConfigError: a params file (or a contract) that does not parse.
        UsageError: an unknown profile.
    """
    config = project.config
    if profile == DEFAULT_PROFILE:
        profile = None
    overrides: dict[str, Any] = {}
    if profile is not None:
        if profile not in config.profiles:
            from assay.config import suggest

            known = sorted(config.profiles)
            raise UsageError(
                f"Unknown profile '{profile}'{suggest(profile, known)}; profiles in assay.yaml: "
                f"{', '.join(known) or '(none)'} (and '{DEFAULT_PROFILE}', the plain assay run)",
                profile=profile,
            )
        overrides = dict(config.profiles[profile].params)
    params = ParamsFiles(project.root, overrides)
    for file in dict.fromkeys([DEFAULT_PARAMS_FILE, *config.params]):
        params.data(file)  # a broken params file is an error even if no stage reads it yet
    datasets = {name: ds.path for name, ds in config.datasets.items()}

    instances: dict[str, Stage] = {}
    groups: dict[str, list[str]] = {}
    refs: dict[str, list[Ref]] = {}
    for name, stage_config in config.stages.items():
        if stage_config.profiles is not None and (
            (profile or DEFAULT_PROFILE) not in stage_config.profiles
        ):
            continue
        expanded = _expand(project, name, stage_config, params, datasets)
        if stage_config.matrix:
            groups[name] = [s.name for s, _ in expanded]
        for stage, used in expanded:
            instances[stage.name] = stage
            refs[stage.name] = used

    extra: dict[str, dict[str, Any]] = {}
    instances = _plan_kinds(project, instances, groups, params, extra, read_store=read_store,
                            profile=profile)
    instances = _scope_params(instances, refs, extra)
    _check_needs(project, instances, groups)
    index = _check_outs(project, instances)
    resolved: dict[str, Stage] = {}
    for stage in instances.values():
        needs: list[str] = []
        for need in stage.needs:
            needs.extend(groups.get(need, [need]))
        # what an explicitly needed stage writes is an input too: its changes make this stale
        implicit = [o for n in needs for o in instances[n].all_outs if o not in stage.deps]
        stage = _replace(stage, deps=[*stage.deps, *implicit])
        for dep in stage.deps:
            overlapping = index.overlapping(dep)
            own = [out for out, producer in overlapping if producer == stage.name]
            if own:
                raise PipelineError(
                    f"{project.where('stages', stage.config_name, 'deps')}: stage "
                    f"'{stage.name}' depends on '{dep}', which it writes itself"
                    + ("" if own[0] == dep else f" (its out '{own[0]}')")
                    + "; a stage cannot read its own output: remove it from deps or outs",
                    stage=stage.name, dep=dep,
                )
            needs.extend(producer for _, producer in overlapping if producer != stage.name)
            if check_missing_deps and not overlapping and not (project.root / dep).exists():
                from assay.data import not_pulled

                why = not_pulled(project.root, dep) or "which does not exist and no stage writes it"
                raise PipelineError(
                    f"{project.where('stages', stage.config_name, 'deps')}: stage '{stage.name}' "
                    f"depends on '{dep}', {why}",
                    stage=stage.name,
                    dep=dep,
                )
        unique = list(dict.fromkeys(n for n in needs if n != stage.name))
        resolved[stage.name] = _replace(stage, needs=unique)
    order = _toposort(project, resolved)
    return Dag(
        stages={n: resolved[n] for n in order},
        groups=groups,
        profile=profile,
        params_overrides=overrides,
    )


def _replace(stage: Stage, **changes: Any) -> Stage:
    from dataclasses import replace

    return replace(stage, **changes)


def check_pipeline(project: Project) -> list[Dag]:
    """Every check ``assay run`` makes of the configuration before it runs anything, for the
    plain run and for each profile: :func:`build_dag`, without opening the metadata store and
    without requiring input data to be present (it may not be pulled or generated yet).

    Raises:
        AssayError: the first problem, as ``assay run`` (with ``--profile P``) reports it.
    """
    dags = [build_dag(project, read_store=False, check_missing_deps=False)]
    for name in project.config.profiles:
        try:
            dags.append(build_dag(project, profile=name, read_store=False,
                                  check_missing_deps=False))
        except AssayError as exc:
            first, sep, rest = exc.message.partition("\n")
            raise _reworded(exc, f"{first} (with --profile {name}){sep}{rest}") from None
    return dags


def _reworded(exc: AssayError, message: str, **fields: Any) -> AssayError:
    """``exc`` (same family, same exit code) with another message."""
    return type(exc)(message, **{**exc.fields, **fields})


def _plan_error(project: Project, stage: Stage, exc: AssayError) -> AssayError:
    """A usage error from a kind's plan, located at the stage in assay.yaml (same family)."""
    if exc.message.startswith((project.config_path.name, str(project.config_path))):
        return exc
    where = project.where("stages", stage.config_name, "kind")
    return _reworded(exc, f"{where}: stage '{stage.name}': {exc.message}", stage=stage.name)


def _plan_kinds(
    project: Project, instances: dict[str, Stage], groups: dict[str, list[str]],
    params: ParamsFiles, extra: dict[str, dict[str, Any]], *, read_store: bool,
    profile: str | None = None,
) -> dict[str, Stage]:
    """Apply each kind's plan; the params it adds (and alias pseudo-params) go to ``extra``."""
    if not any(s.kind for s in instances.values()):
        return instances
    from pydantic import ValidationError

    from assay.config import PlanContext, config_error_from
    from assay.pipeline._kinds import get_kind

    store_id: str | None = None  # resolved once, only if a kind has store effects

    def instances_of(name: str) -> list[str]:
        if name in groups:
            return list(groups[name])
        if name in instances:
            return [name]
        raise PipelineError(f"Unknown stage '{name}'", stage=name)

    def outs_of(name: str) -> list[str]:
        return [o for inst in instances_of(name) for o in instances[inst].all_outs]

    for name, stage in list(instances.items()):
        if stage.kind is None:
            continue
        kind = get_kind(stage.kind, where=project.where("stages", stage.config_name, "kind"))
        try:
            options = kind.options.model_validate(stage.options)
        except ValidationError as exc:
            raise config_error_from(
                exc,
                model=kind.options,
                data=stage.options,
                lines=project.lines,
                filename=str(project.config_path.name),
                prefix=("stages", stage.config_name),
            ) from None
        try:
            plan = kind.plan(
                options,
                PlanContext(
                    root=project.root,
                    stage=name,
                    matrix=stage.matrix,
                    outs_of=outs_of,
                    instances_of=instances_of,
                    profile=profile,
                ),
            )
        except AssayError as exc:
            if exit_code(exc) != EXIT_USAGE:
                raise
            raise _plan_error(project, stage, exc) from None
        where = project.where("stages", stage.config_name, "kind")
        added: dict[str, Any] = {}
        for key in plan.params:
            added[key] = params.value(key, stage=name, where=where)
        if plan.aliases:
            from assay.pipeline._aliases import ALIAS_PARAM_PREFIX, resolve_aliases, split_alias

            if read_store:
                resolved = resolve_aliases(project.store_url, list(plan.aliases), stage=name)
            else:
                resolved = {ref: None for ref in plan.aliases if split_alias(ref, stage=name)}
            for ref, model_hash in resolved.items():
                added[ALIAS_PARAM_PREFIX + ref] = model_hash
        if plan.store_effects and read_store:
            from assay.pipeline._aliases import STORE_PARAM, store_identity

            if store_id is None:
                store_id = store_identity(project.store_url)
            added[STORE_PARAM] = store_id
        extra[name] = added

        def cleaned(paths: list[str], what: str, name: str = name, where: str = where) -> list[str]:
            return [_clean(p, stage=name, what=what, where=where) for p in paths]

        instances[name] = _replace(
            stage,
            deps=list(dict.fromkeys([*stage.deps, *cleaned(plan.deps, "dep")])),
            outs=list(dict.fromkeys([*stage.outs, *cleaned(plan.outs, "out")])),
            metrics=list(dict.fromkeys([*stage.metrics,
                                        *cleaned(plan.metrics, "metrics file")])),
            needs=list(dict.fromkeys([*stage.needs, *plan.needs])),
            ignored_options=tuple(tuple(p) for p in plan.ignored_options),
        )
    return instances


def _check_needs(project: Project, instances: dict[str, Stage], groups: dict[str, list[str]]) -> None:
    from assay.config import suggest

    known = sorted({*instances, *groups})
    for stage in instances.values():
        for need in stage.needs:
            if need in (stage.name, stage.group):
                raise PipelineError(
                    f"{project.where('stages', stage.config_name, 'needs')}: stage "
                    f"'{stage.name}' needs itself; remove '{need}' from its needs",
                    stage=stage.name,
                    need=need,
                )
            if need not in instances and need not in groups:
                if need in project.config.stages:
                    raise PipelineError(
                        f"{project.where('stages', stage.config_name, 'needs')}: stage "
                        f"'{stage.name}' needs '{need}', which this profile does not run",
                        stage=stage.name,
                        need=need,
                    )
                raise PipelineError(
                    f"{project.where('stages', stage.config_name, 'needs')}: stage "
                    f"'{stage.name}' needs unknown stage '{need}'{suggest(need, known)}",
                    stage=stage.name,
                    need=need,
                )


def _cache_inside(project: Project) -> str | None:
    """The cache folder relative to the project root, if it is inside the project."""
    root = project.root.resolve()
    cache = project.cache_dir.resolve()
    return cache.relative_to(root).as_posix() if root in cache.parents else None


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def _check_outs(project: Project, instances: dict[str, Stage]) -> _OutIndex:
    """No two stages write one out (or outs inside each other), and no out is or holds the
    cache (a stage's outs are cleared before it runs); returns the outs' index."""
    index = _OutIndex()
    cache = _cache_inside(project)
    for stage in instances.values():
        where = project.where("stages", stage.config_name, "outs")
        for out in stage.all_outs:
            if cache is not None and _overlaps(out, cache):
                raise PipelineError(
                    f"{where}: stage '{stage.name}' writes '{out}', which overlaps the cache "
                    f"folder '{cache}' (cache.dir); its outs are cleared before it runs",
                    stage=stage.name, out=out,
                )
            for other_out, other in index.overlapping(out):
                if other != stage.name:
                    raise PipelineError(
                        f"{where}: Stages '{other}' and '{stage.name}' both write '{out}'"
                        + ("" if out == other_out else f" (overlaps '{other_out}')")
                        + "; each out must belong to one stage (use ${stage_slug} in matrix outs)",
                        stage=stage.name,
                        out=out,
                    )
        for out in stage.all_outs:
            index.add(out, stage.name)
    return index


def _toposort(project: Project, stages: dict[str, Stage]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        mark = state.get(name, 0)
        if mark == 2:
            return
        if mark == 1:
            cycle = [*path[path.index(name) :], name]
            raise PipelineError(
                f"{project.where('stages', stages[name].config_name)}: The pipeline has a "
                f"cycle: {' -> '.join(cycle)}; break it by removing a dep or a need",
                cycle=cycle,
            )
        state[name] = 1
        for need in stages[name].needs:
            visit(need, [*path, name])
        state[name] = 2
        order.append(name)

    for name in stages:
        visit(name, [])
    return order

