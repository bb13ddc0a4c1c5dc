"""YAML loading that remembers where every key came from, for errors that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from assay.errors import ConfigError

Loc = tuple[str | int, ...]


# libyaml's parser when PyYAML has it (10x faster on a large assay.yaml; same nodes and marks)
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[misc]
    """SafeLoader without the YAML 1.1 surprises that bite config files."""


# YAML 1.1 turns "on"/"off"/"yes"/"no" into booleans; config keys like `on:` must stay strings.
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    __import__("re").compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], filename: str) -> None:
    lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                dotted = ".".join(str(p) for p in (*loc, key))
                raise ConfigError(
                    f"{filename}:{line}: duplicate key '{dotted}' (first defined on line {seen[key]})",
                    file=filename,
                    line=line,
                    key=dotted,
                )
            seen[key] = line
            child = (*loc, key)
            lines[child] = line
            _walk(value_node, child, lines, filename)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, filename)


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text; return the data and a map from key path to 1-based line.

    Raises:
        ConfigError: malformed YAML or a duplicate key, with file and line.
    """
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Loc, int] = {}
        _walk(node, (), lines, filename)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{filename}:{line}: malformed YAML: {problem}", file=filename, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{filename}: malformed YAML: {exc}", file=filename) from None
    finally:
        loader.dispose()
    return data, lines


def read_yaml(path: Path) -> tuple[Any, dict[Loc, int]]:
    """Read and parse a YAML file (see :func:`parse_yaml`)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found", file=str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text", file=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})", file=str(path)) from None
    return parse_yaml(text, str(path))
