"""Finding and loading a project: the folder holding assay.yaml and its ``.assay/`` state."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from assay import _layout
from assay._layout import CONFIG_FILE, DEFAULT_PROFILE, POINTER_SUFFIX, STATE_DIR
from assay.config._errors import config_error_from
from assay.config._schema import AssayConfig
from assay.config._yaml import Loc, parse_yaml, read_yaml, read_yaml_text
from assay.errors import ConfigError, UsageError


def find_root(start: Path | None = None) -> Path:
    """The project root (see :func:`assay._layout.find_root`), or a reason to run assay init.

    Raises:
        UsageError: no assay.yaml in ``start`` (default: ``ASSAY_PROJECT`` or the working
            directory) or any parent.
    """
    root = _layout.find_root(start)
    if root is None:
        env = os.environ.get(_layout.PROJECT_ENV)
        here = (start if start is not None else Path(env) if env else Path.cwd()).resolve()
        raise UsageError(
            f"No {CONFIG_FILE} in {here} or any parent; run: assay init", path=str(here)
        )
    return root


def load_model(
    path: Path, model: type[BaseModel], *, data: Any = None, lines: dict[Loc, int] | None = None
) -> Any:
    """Read a YAML file into ``model``; errors name the file, line and key."""
    if data is None:
        data, lines = read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: expected a mapping at the top level, got {type(data).__name__}",
            file=str(path),
            line=1,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(
            exc, model=model, data=data, lines=lines or {}, filename=str(path)
        ) from None


def _check_plain_stages(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """Stages without a built-in ``kind`` take no extra keys (kinds validate their own)."""
    from assay.config._errors import suggest
    from assay.config._pipeline import StageConfig

    problems = []
    fields = [f.alias or n for n, f in StageConfig.model_fields.items()]
    for name, stage in config.stages.items():
        if stage.kind is None and stage.model_extra:
            for key in stage.model_extra:
                line = lines.get(("stages", name, key), 0)
                problems.append(
                    f"{filename}:{line}: stages.{name}.{key}: unknown key '{key}'"
                    f"{suggest(key, fields)}"
                )
    if problems:
        first = problems[0]
        raise ConfigError(
            "\n".join(problems),
            file=filename,
            line=int(first.split(":")[1]) if first.count(":") > 1 else 0,
            key=first.split(": ")[1],
        )


def _check_default_remote(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """``default_remote`` must name one of ``remotes`` (a typo would only fail at push time)."""
    from assay.config._errors import suggest

    name = config.default_remote
    if name is None or name in config.remotes:
        return
    line = lines.get(("default_remote",), 0)
    known = sorted(config.remotes)
    where = f"{filename}:{line}" if line else filename
    raise ConfigError(
        f"{where}: default_remote: unknown remote '{name}' (configured: "
        f"{', '.join(known) or 'none'}){suggest(name, known)}",
        file=filename, line=line, key="default_remote",
    )


def _check_monitored_deployments(config: AssayConfig, lines: dict[Loc, int],
                                  filename: str) -> None:
    from assay.config._errors import suggest

    for name, entry in config.monitoring.items():
        if entry.dataset is not None and entry.dataset not in config.datasets:
            where, line = _where(filename, lines, "monitoring", name, "dataset")
            key = f"monitoring.{name}.dataset"
            raise ConfigError(f"{where}: {key}: no dataset {entry.dataset!r} under datasets:"
                              f"{suggest(entry.dataset, list(config.datasets))}",
                              file=filename, line=line, key=key)
        if entry.deployment is None or entry.deployment in config.deployments:
            continue
        where, line = _where(filename, lines, "monitoring", name, "deployment")
        key = f"monitoring.{name}.deployment"
        hint = suggest(entry.deployment, list(config.deployments))
        raise ConfigError(f"{where}: {key}: no deployment {entry.deployment!r} under "
                          f"deployments:{hint}", file=filename, line=line, key=key)


def _check_alert_routes(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """Every channel a route names is under ``alerts.channels``; a route's ``owner`` is a role
    or a member of ``team:``; its ``monitors`` are monitors of ``monitoring:``."""
    from assay.config._errors import suggest
    from assay.config._team import ROLES

    alerts = config.alerts
    known = sorted(alerts.channels)
    members = [m.id for m in config.team]
    for i, route in enumerate(alerts.routes):
        for j, channel in enumerate(route.channels):
            if channel in alerts.channels:
                continue
            where, line = _where(filename, lines, "alerts", "routes", i, "channels", j)
            key = f"alerts.routes.{i}.channels"
            raise ConfigError(f"{where}: {key}: unknown channel {channel!r} (channels: "
                              f"{', '.join(known) or 'none'}){suggest(channel, known)}; add it "
                              "under alerts.channels", file=filename, line=line, key=key)
        if route.owner is not None and route.owner not in (*ROLES, *members):
            where, line = _where(filename, lines, "alerts", "routes", i, "owner")
            key = f"alerts.routes.{i}.owner"
            raise ConfigError(f"{where}: {key}: {route.owner!r} is neither a role "
                              f"({', '.join(ROLES)}) nor a member of team:"
                              f"{suggest(route.owner, [*ROLES, *members])}",
                              file=filename, line=line, key=key)
        for monitor in route.monitors or []:
            if monitor not in config.monitoring:
                where, line = _where(filename, lines, "alerts", "routes", i, "monitors")
                key = f"alerts.routes.{i}.monitors"
                raise ConfigError(f"{where}: {key}: no monitor {monitor!r} under monitoring:"
                                  f"{suggest(monitor, list(config.monitoring))}",
                                  file=filename, line=line, key=key)


def _check_triggers(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """A trigger's monitor is a deployment monitor of ``monitoring:``, its dataset one of
    ``datasets:``, its profile ``default`` or one of ``profiles:``, its deployment one of
    ``deployments:``."""
    from assay.config._errors import suggest

    monitors = sorted(k for k, v in config.monitoring.items() if v.watches_data)
    profiles = [_layout.DEFAULT_PROFILE, *config.profiles]
    for name, trigger in config.triggers.items():
        checks: list[tuple[str, str | None, list[str], str]] = [
            ("monitor", trigger.monitor, monitors, "a deployment or dataset monitor under "
             "monitoring:"),
            ("data", trigger.data, sorted(config.datasets), "a dataset under datasets:"),
            ("profile", trigger.profile, profiles, "default or a profile under profiles:"),
            ("deploy", trigger.deploy, sorted(config.deployments),
             "a deployment under deployments:"),
        ]
        for field_name, value, known, what in checks:
            if value is None or value in known:
                continue
            where, line = _where(filename, lines, "triggers", name, field_name)
            key = f"triggers.{name}.{field_name}"
            raise ConfigError(f"{where}: {key}: {value!r} is not {what} (known: "
                              f"{', '.join(known) or 'none'}){suggest(value, known)}",
                              file=filename, line=line, key=key)


def _where(filename: str, lines: dict[Loc, int], *loc: Any) -> tuple[str, int]:
    """(``file:line`` or ``file``, line) of the most specific known line for ``loc``."""
    for cut in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:cut]))
        if line:
            return f"{filename}:{line}", line
    return filename, 0


def _path_error(filename: str, lines: dict[Loc, int], loc: tuple[Any, ...],
                reason: str) -> ConfigError:
    where, line = _where(filename, lines, *loc)
    dotted = ".".join(str(p) for p in loc)
    return ConfigError(f"{where}: {dotted}: {reason}", file=filename, line=line, key=dotted)


def _check_paths(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """Paths in the project's own sections are relative, inside it and clear of ``.git`` and
    ``.assay`` (the one path choke point, :func:`assay._paths.clean_relative`)."""
    from assay._paths import clean_relative

    checked: list[tuple[tuple[Any, ...], str, str]] = [
        (("params", i), file, "params file") for i, file in enumerate(config.params)]
    for name, ds in config.datasets.items():
        if "://" not in ds.path:
            loc = ("datasets", name, "path") if ("datasets", name, "path") in lines else (
                "datasets", name)
            checked.append((loc, ds.path, "dataset path"))
    for name, ref in config.contracts.items():
        if ref.path is not None:
            checked.append((("contracts", name, "path"), ref.path, "contract path"))
    for loc, raw, what in checked:
        try:
            clean_relative(raw, what=what)
        except UsageError as exc:
            raise _path_error(filename, lines, loc, str(exc)) from None


def _check_cache_dir(config: AssayConfig, root: Path, lines: dict[Loc, int],
                     filename: str) -> None:
    """``cache.dir`` is a folder of its own: not the project (or a folder holding it), not in
    ``.git``, not ``.assay`` itself, and not tracked data or a dataset (gc and checkout would
    treat the data as cache, and the cache as data)."""
    from assay._paths import clean_relative

    raw = config.cache.dir
    loc = ("cache", "dir")

    def refuse(reason: str) -> ConfigError:
        return _path_error(filename, lines, loc, f"'{raw}' {reason}; use a folder of its own, "
                           "such as .assay/cache (the default)")

    top = root.resolve()
    path = Path(raw)
    cache = (path if path.is_absolute() else top / path).resolve()
    if cache == top or cache in top.parents:
        raise refuse("is the project folder or holds it")
    if top not in cache.parents:
        return  # a cache outside the project (shared between clones) is fine
    parts = cache.relative_to(top).parts
    if parts[0] == ".git":
        raise refuse("is inside .git")
    if parts == (STATE_DIR,):
        raise refuse(f"is {STATE_DIR} itself, which holds the store, locks and logs")
    if parts[0] == STATE_DIR:
        return
    rel = "/".join(parts)
    try:
        clean_relative(rel, what="cache dir")
    except UsageError as exc:
        raise refuse(f"is not allowed ({exc})") from None
    for i in range(1, len(parts) + 1):
        tracked = "/".join(parts[:i])
        if (top / f"{tracked}{POINTER_SUFFIX}").is_file():
            raise refuse(f"is tracked data ({tracked}{POINTER_SUFFIX} points at {tracked})"
                         if i == len(parts) else f"is inside tracked data {tracked}")
    for name, ds in config.datasets.items():
        data = ds.path.strip("/")
        if data == rel or rel.startswith(data + "/") or data.startswith(rel + "/"):
            raise refuse(f"overlaps dataset '{name}' ({ds.path})")


def _check_stage_profiles(config: AssayConfig, lines: dict[Loc, int], filename: str) -> None:
    """Every name in a stage's ``profiles:`` is ``default`` or a profile of ``profiles:``."""
    from assay.config._errors import suggest

    if DEFAULT_PROFILE in config.profiles:
        line = lines.get(("profiles", DEFAULT_PROFILE), 0)
        raise ConfigError(
            f"{filename}:{line}: profiles.{DEFAULT_PROFILE}: '{DEFAULT_PROFILE}' is the built-in "
            "profile of a plain `assay run`; it takes no overrides (put its values in "
            "params.yaml) -- name this profile differently",
            file=filename, line=line, key=f"profiles.{DEFAULT_PROFILE}",
        )
    known = [DEFAULT_PROFILE, *config.profiles]
    for name, stage in config.stages.items():
        for index, profile in enumerate(stage.profiles or []):
            if profile in known:
                continue
            line = lines.get(("stages", name, "profiles", index)) or lines.get(
                ("stages", name, "profiles"), 0)
            raise ConfigError(
                f"{filename}:{line}: stages.{name}.profiles: unknown profile '{profile}'"
                f"{suggest(profile, known)} (profiles: {', '.join(sorted(known))})",
                file=filename, line=line, key=f"stages.{name}.profiles", profile=profile,
            )


@dataclass(frozen=True)
class Project:
    """A loaded project: its root folder, parsed config, and where its state lives."""

    root: Path
    config: AssayConfig
    lines: dict[Loc, int] = field(default_factory=dict, compare=False, repr=False)
    digest: str | None = field(default=None, compare=False, repr=False)
    """BLAKE3 of the assay.yaml bytes this project was loaded from (None if built by hand)."""

    @classmethod
    def load(cls, root: Path | None = None) -> Project:
        """Load the project at ``root`` (or discover it from the working directory), and keep
        what fast readers need in the settings cache (see :mod:`assay._layout`)."""
        root = find_root(root) if root is None or not (root / CONFIG_FILE).is_file() else root
        root = root.resolve()
        path = root / CONFIG_FILE
        text = read_yaml_text(path)
        data, lines = parse_yaml(text, str(path))
        config = load_model(path, AssayConfig, data=data, lines=lines)
        _check_plain_stages(config, lines, str(path))
        _check_stage_profiles(config, lines, str(path))
        _check_default_remote(config, lines, str(path))
        _check_monitored_deployments(config, lines, str(path))
        _check_alert_routes(config, lines, str(path))
        _check_triggers(config, lines, str(path))
        _check_paths(config, lines, str(path))
        _check_cache_dir(config, root, lines, str(path))
        project = cls(root=root, config=config, lines=lines,
                      digest=_layout.digest_of(text.encode("utf-8")))
        _layout.remember_settings(root, project.digest or "", project.settings())
        return project

    def settings(self) -> dict[str, Any]:
        """What the shortcuts need from assay.yaml, as JSON (the settings cache keeps it under
        :attr:`digest`; :class:`assay.data.DataSettings` and the store URL are read from it)."""
        config = self.config
        try:
            cache = self.cache_dir.relative_to(self.root).as_posix()
        except ValueError:
            cache = str(self.cache_dir)
        return {
            "store": config.store,
            "cache_dir": cache,
            "cache_types": [str(t) for t in config.cache.type],
            "params_files": list(config.params),
            "datasets": {name: ds.path for name, ds in config.datasets.items()},
            "dataset_lines": {name: self.where("datasets", name) for name in config.datasets},
            "warm_starts": self._warm_starts(),
        }

    def _warm_starts(self) -> dict[str, dict[str, Any]]:
        """Per profile (``default`` and each of ``profiles:``), what the warm worker of its
        run's first built-in stage (in assay.yaml's order) is started with before the pipeline
        is planned (see ``assay.pipeline._jobs.first_warm_job``): the stage, the environment
        the profile and the stage add, and the run's built-in kinds, each with whether its
        stages share that environment (they run in the same worker). A profile whose first
        built-in stage's environment is only known once planned (interpolated) is left out."""
        config = self.config
        found: dict[str, dict[str, Any]] = {}
        for profile in [_layout.DEFAULT_PROFILE, *config.profiles]:
            added = dict(config.profiles[profile].env) if profile in config.profiles else {}
            kinds = [(name, stage) for name, stage in config.stages.items() if stage.kind and (
                stage.profiles is None or profile in stage.profiles)]
            if not kinds or any("${" in v for v in kinds[0][1].env.values()):
                continue
            name, first = kinds[0]
            env = {**added, **first.env}
            found[profile] = {"stage": name, "kind": first.kind, "env": env,
                              "kinds": [[s.kind, {**added, **s.env} == env] for _, s in kinds]}
        return found

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def state_dir(self) -> Path:
        """``.assay/``: local state that is never committed."""
        return _layout.state_dir(self.root)

    @property
    def cache_dir(self) -> Path:
        raw = Path(self.config.cache.dir)
        return raw if raw.is_absolute() else self.root / raw

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / _layout.LOGS_DIR

    @property
    def store_url(self) -> str:
        """``ASSAY_STORE_URL``, else ``store:`` in assay.yaml, else SQLite in ``.assay/``."""
        return _layout.store_url(self.config.store, self.state_dir)

    def line_of(self, *loc: str | int) -> int | None:
        """The assay.yaml line where ``loc`` is defined, if known."""
        return self.lines.get(tuple(loc))

    def where(self, *loc: str | int) -> str:
        """``assay.yaml:LINE`` for messages: the line of ``loc``, or of its nearest parent
        that has one."""
        return _where(CONFIG_FILE, self.lines, *loc)[0]
