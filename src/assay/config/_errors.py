"""Turn pydantic validation errors into one-line messages with file, line, key and a suggestion."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from assay.config._yaml import Loc
from assay.errors import ConfigError


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType) or origin is typing.Annotated:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one level below ``annotation`` at key ``part``."""
    model = _model_in(annotation)
    if model is not None:
        field = model.model_fields.get(str(part))
        if field is None:
            for candidate in model.model_fields.values():
                if candidate.alias == part:
                    return candidate.annotation
            return None
        return field.annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            below = _step(arg, part)
            if below is not None:
                return below
        return None
    if origin in (dict, typing.Mapping) or origin is getattr(typing, "Dict", None):
        args = typing.get_args(annotation)
        return args[1] if len(args) == 2 else None
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return args[0] if args else None
    return None


def valid_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed in the mapping at ``loc`` of ``model`` (empty if unknown)."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return []
    found = _model_in(annotation)
    if found is None:
        return []
    return [field.alias or name for name, field in found.model_fields.items()]


def suggest(word: str, choices: list[str]) -> str:
    """``"; did you mean 'x'?"`` for the nearest choice, else ``""``."""
    near = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"; did you mean '{near[0]}'?" if near else ""


def _data_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Drop pydantic's union/validator tags from ``loc`` so it follows the data."""
    kept: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)):
            kept.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and not part.startswith(
            ("function-", "tagged-union", "union[")
        ) and "[" not in part:
            kept.append(part)  # a missing or extra key: keep it as the last part
            node = None
    return tuple(kept)


def config_error_from(
    exc: ValidationError,
    *,
    model: type[BaseModel],
    data: Any,
    lines: dict[Loc, int],
    filename: str,
    prefix: Loc = (),
) -> ConfigError:
    """Build a ConfigError from a pydantic ValidationError, one line per problem."""
    messages: list[str] = []
    first: dict[str, Any] = {}
    for err in exc.errors():
        loc = _data_loc(tuple(err["loc"]), data)
        full = (*prefix, *loc)
        line = 0
        for cut in range(len(full), -1, -1):
            if full[:cut] in lines:
                line = lines[full[:cut]]
                break
        dotted = ".".join(str(p) for p in full) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden" and loc:
            key = str(loc[-1])
            hint = suggest(key, valid_keys(model, loc[:-1]))
            text = f"unknown key '{key}'{hint}"
        elif kind == "missing":
            text = "required key is missing"
        else:
            text = str(err["msg"]).removeprefix("Value error, ")  # our validators' own words
            if "input" in err and kind not in ("model_type", "dict_type"):
                shown = repr(err["input"])
                if len(shown) <= 60:
                    text += f" (got {shown})"
        where = f"{filename}:{line}" if line else filename
        messages.append(f"{where}: {dotted}: {text}")
        if not first:
            first = {"file": filename, "line": line, "key": dotted}
    return ConfigError("\n".join(messages), **first)
