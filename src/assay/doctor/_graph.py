"""A static view of the pipeline for the doctor: which stage trains, validates, evaluates, and
which stages run before which (``needs``, kind options, and deps on other stages' outs)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from assay.config import AssayConfig, StageConfig

if TYPE_CHECKING:
    from assay.doctor._registry import HeldAlias

DATA_SUFFIXES = {
    ".csv", ".tsv", ".parquet", ".pq", ".arrow", ".feather", ".ipc", ".json", ".jsonl",
    ".ndjson", ".avro", ".orc", ".npy", ".npz", ".h5", ".hdf5", ".xlsx", ".xls", ".txt",
    ".zip", ".gz", ".tfrecord", ".db", ".sqlite",
}
CODE_SUFFIXES = {".py", ".ipynb", ".sh", ".r", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".sql"}
CODE_DIRS = {"src", "lib", "code", "scripts", "notebooks", "tests", "conf", "config"}
_TRAIN_NAME = re.compile(r"(^|[_\-.])(train|training|fit)([_\-.]|$)|^train", re.IGNORECASE)
_VALIDATE_NAME = re.compile(r"validat|contract|data[_\-]?check", re.IGNORECASE)


def _norm(path: str) -> str:
    return str(PurePosixPath(path.strip().rstrip("/"))).lstrip("./") or "."


def _under(path: str, prefix: str) -> bool:
    path, prefix = _norm(path), _norm(prefix)
    return path == prefix or path.startswith(prefix + "/")


@dataclass
class StageView:
    """What the doctor knows about one stage (as written in assay.yaml)."""

    name: str
    config: StageConfig
    deps: list[str] = field(default_factory=list)
    outs: list[str] = field(default_factory=list)
    needs: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str | None:
        return self.config.kind

    def option(self, key: str, default: Any = None) -> Any:
        """A kind option (an extra key of the stage)."""
        return (self.config.model_extra or {}).get(key, default)

    @property
    def is_training(self) -> bool:
        if self.kind is not None:
            return self.kind == "train"
        return bool(_TRAIN_NAME.search(self.name))

    @property
    def is_validation(self) -> bool:
        if self.kind == "validate":
            return True
        text = f"{self.name} {self.config.description or ''}"
        return self.kind is None and bool(_VALIDATE_NAME.search(text))

    @property
    def is_heavy(self) -> bool:
        resources = self.config.resources
        return self.kind == "train" or resources.cpus > 1 or resources.gpus > 0


def _dataset_path(config: AssayConfig, raw: str) -> str:
    entry = config.datasets.get(raw)
    return entry.path if entry is not None else raw


class PipelineView:
    """The stages of a config with their implied deps, outs and ordering, and the aliases the
    registry shows held now (``held_aliases``: empty without a store)."""

    def __init__(self, config: AssayConfig, held_aliases: list[HeldAlias] | None = None) -> None:
        self.config = config
        self.held_aliases = list(held_aliases or [])
        self.stages: dict[str, StageView] = {}
        for name, stage in config.stages.items():
            deps = [_dataset_path(config, dep) for dep in stage.deps]
            view = StageView(name, stage, deps, list(stage.outs), list(stage.needs))
            extra = stage.model_extra or {}
            if stage.kind == "train" and isinstance(extra.get("data"), str):
                view.deps.append(_dataset_path(config, extra["data"]))
                view.outs.append(f"models/{name}")
            elif stage.kind == "evaluate":
                datasets = extra.get("datasets") or {}
                if isinstance(datasets, dict):
                    view.deps += [_dataset_path(config, str(v)) for v in datasets.values()]
                view.needs += [str(c) for c in extra.get("candidates") or []]
                view.outs.append(f"reports/{name}")
            elif stage.kind == "register" and extra.get("evaluation"):
                view.needs.append(str(extra["evaluation"]))
            self.stages[name] = view

    def producer_of(self, path: str) -> str | None:
        """The stage whose outs contain ``path``, if any."""
        for view in self.stages.values():
            if any(_under(path, out) for out in view.outs):
                return view.name
        return None

    def upstream(self, name: str) -> set[str]:
        """Every stage that runs before ``name`` (transitively)."""
        seen: set[str] = set()
        todo = [name]
        while todo:
            view = self.stages.get(todo.pop())
            if view is None:
                continue
            direct = set(view.needs)
            for dep in view.deps:
                producer = self.producer_of(dep)
                if producer is not None and producer != view.name:
                    direct.add(producer)
            for parent in direct - seen:
                seen.add(parent)
                todo.append(parent)
        seen.discard(name)
        return seen

    def data_deps(self, view: StageView) -> list[str]:
        """The deps of a stage that look like data rather than code or config."""
        out = []
        for dep in view.deps:
            suffix = PurePosixPath(dep).suffix.lower()
            top = _norm(dep).split("/", 1)[0]
            if suffix in CODE_SUFFIXES or dep in self.config.params or top in CODE_DIRS:
                continue
            declared = any(_under(dep, ds.path) for ds in self.config.datasets.values())
            if declared or suffix in DATA_SUFFIXES or _under(dep, "data") or not suffix:
                out.append(dep)
        return out

    def runs_in(self, view: StageView, profile: str) -> bool:
        """True if the stage runs under ``profile``."""
        return view.config.profiles is None or profile in view.config.profiles
