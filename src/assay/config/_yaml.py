"""The one YAML reader: bounded, and remembering where every key came from, for errors that
name the line.

Every YAML file assay reads (assay.yaml, contracts, params files, pointer files, metrics files
written as YAML) goes through :func:`read_yaml` or :func:`parse_yaml`. Parsing is bounded
(RELIABILITY.md rule 8), so a hostile or broken file is a one-line :class:`ConfigError` naming
the file and line, never a runaway process:

* size: at most :data:`MAX_BYTES` per file (checked before the file is read whole);
* values: at most :data:`MAX_NODES` scalars, lists and mappings, counting every alias use as the
  values it stands for, so a "billion laughs" file is refused after a few thousand steps;
* nesting: at most :data:`MAX_DEPTH` levels (aliases count with the depth they expand to);
* aliases that refer to a node containing them (recursive aliases) are refused;
* mapping keys are plain values (``? [a, b]`` complex keys are refused), and unique;
* integers have at most :data:`MAX_INT_DIGITS` characters (converting a huge one is quadratic);
* only plain YAML types: strings, numbers, booleans, null, dates and binary (no ``!!set``,
  ``!!omap`` or application tags).

The document is built straight from libyaml's event stream with an explicit stack (no node graph,
no recursion), so memory stays proportional to the values kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from assay.errors import ConfigError

Loc = tuple[Any, ...]  # a key path: mapping keys and list indexes, e.g. ("stages", "train", "deps", 0)

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 250_000
MAX_DEPTH = 64
MAX_INT_DIGITS = 64

# libyaml's parser when PyYAML has it (10x faster on a large assay.yaml; same events and marks)
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
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _MERGE, _VALUE = _TAG + "str", _TAG + "int", _TAG + "merge", _TAG + "value"
_SCALAR_TAGS = {_TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp", "binary")}
_SEQ_TAG, _MAP_TAG = _TAG + "seq", _TAG + "map"
_NO_KEY = object()
_MERGE_KEY = object()  # the `<<` key of a mapping being built


class _Open:
    """A list or mapping whose end event has not come yet."""

    __slots__ = ("anchor", "height", "is_map", "key", "key_line", "loc", "merge", "seen", "size",
                 "value")

    def __init__(self, value: Any, loc: Loc, anchor: str | None) -> None:
        self.value = value
        self.is_map = isinstance(value, dict)
        self.loc = loc
        self.anchor = anchor
        self.size = 1  # values in this subtree, aliases expanded
        self.height = 1  # levels of nesting in this subtree, aliases expanded
        self.key: Any = _NO_KEY  # the key waiting for its value (mappings)
        self.key_line = 0
        self.seen: dict[Any, int] = {}  # key -> line (mappings)
        self.merge: tuple[Any, int] | None = None  # the value of a `<<` key, and its line


class _Anchor:
    """What ``&name`` stands for: its value once complete, and how big it expands."""

    __slots__ = ("height", "is_open", "is_scalar", "size", "value")

    def __init__(self, value: Any, *, size: int, height: int, is_scalar: bool,
                 is_open: bool) -> None:
        self.value = value
        self.size = size
        self.height = height
        self.is_scalar = is_scalar
        self.is_open = is_open


class _Builder:
    """Builds one document from the event stream, within the limits."""

    def __init__(self, loader: Any, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.lines: dict[Loc, int] = {}
        self.stack: list[_Open] = []
        self.anchors: dict[str, _Anchor] = {}
        self.nodes = 0
        self.aliases = 0
        self.root: Any = None

    def fail(self, line: int, reason: str) -> ConfigError:
        return ConfigError(f"{self.filename}:{line}: {reason}", file=self.filename, line=line,
                           reason=reason)

    def build(self) -> Any:
        documents = 0
        while True:
            event = self.loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                return self.root
            line = event.start_mark.line + 1
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.fail(line, "expected one YAML document, found a second one "
                                    "(remove the '---' line)")
            elif isinstance(event, yaml.ScalarEvent):
                self._scalar(event, line)
            elif isinstance(event, yaml.AliasEvent):
                self._alias(event, line)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                self._start(event, line)
            elif isinstance(event, yaml.CollectionEndEvent):
                self._end()

    def _count(self, size: int, line: int) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            expanded = " once aliases are expanded" if self.aliases else ""
            raise self.fail(line, f"too many values: more than {MAX_NODES:,}{expanded} (the "
                            "limit of assay's YAML reader)")

    def _depth(self, height: int, line: int) -> None:
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(line, f"nested deeper than {MAX_DEPTH} levels (the limit of assay's "
                            "YAML reader)")

    def _is_key(self) -> bool:
        return bool(self.stack) and self.stack[-1].is_map and self.stack[-1].key is _NO_KEY

    def _loc(self, line: int) -> Loc:
        """The key path of the value starting now, recording its line."""
        if not self.stack:
            self.lines.setdefault((), line)
            return ()
        parent = self.stack[-1]
        if parent.key is _MERGE_KEY:
            return parent.loc  # merged values are the mapping's own
        if parent.is_map:
            loc = (*parent.loc, parent.key)
            self.lines[loc] = parent.key_line
        else:
            loc = (*parent.loc, len(parent.value))
            self.lines.setdefault(loc, line)
        return loc

    def _key(self, key: Any, tag: str, line: int) -> None:
        parent = self.stack[-1]
        if key in parent.seen:
            dotted = ".".join(str(p) for p in (*parent.loc, key))
            reason = f"duplicate key '{dotted}' (first defined on line {parent.seen[key]})"
            raise ConfigError(f"{self.filename}:{line}: {reason}", file=self.filename,
                              line=line, key=dotted, reason=reason)
        parent.seen[key] = line
        parent.key = _MERGE_KEY if tag == _MERGE else key
        parent.key_line = line

    def _attach(self, value: Any, size: int, height: int, line: int) -> None:
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if not parent.is_map:
            parent.value.append(value)
            return
        if parent.key is _MERGE_KEY:
            parent.merge = (value, line)
        else:
            parent.value[parent.key] = value
        parent.key = _NO_KEY

    def _scalar(self, event: Any, line: int) -> None:
        self._count(1, line)
        value, tag = self._construct(event, line)
        if event.anchor is not None:
            self._anchor(event.anchor, line, _Anchor(value, size=1, height=0, is_scalar=True,
                                                     is_open=False))
        if self._is_key():
            self._key(value, tag, line)
            return
        self._loc(line)
        self._attach(value, 1, 0, line)

    def _construct(self, event: Any, line: int) -> tuple[Any, str]:
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        if tag in (_STR, _MERGE, _VALUE):
            return event.value, tag
        if tag not in _SCALAR_TAGS:
            raise self.fail(line, f"unsupported tag {_short(tag)}: assay reads plain YAML "
                            "(strings, numbers, booleans, null, dates, lists and mappings)")
        if tag == _INT and len(event.value) > MAX_INT_DIGITS:
            raise self.fail(line, f"an integer of {len(event.value):,} characters (at most "
                            f"{MAX_INT_DIGITS})")
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                               style=event.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node), tag
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            shown = event.value if len(event.value) <= 40 else event.value[:40] + "..."
            raise self.fail(line, f"{shown!r} is not a valid {_short(tag)[2:]} "
                            f"({str(exc).splitlines()[0]})") from None

    def _anchor(self, name: str, line: int, anchor: _Anchor) -> None:
        if name in self.anchors:
            raise self.fail(line, f"anchor '&{name}' is defined twice")
        self.anchors[name] = anchor

    def _alias(self, event: Any, line: int) -> None:
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise self.fail(line, f"alias '*{event.anchor}' names no anchor defined before it")
        if anchor.is_open:
            raise self.fail(line, f"recursive alias '*{event.anchor}': it refers to a value "
                            "that contains it")
        self.aliases += 1
        self._count(anchor.size, line)
        if self._is_key():
            if not anchor.is_scalar:
                raise self.fail(line, _COMPLEX_KEY)
            self._key(anchor.value, _STR, line)
            return
        self._depth(anchor.height, line)
        self._loc(line)
        self._attach(anchor.value, anchor.size, anchor.height, line)

    def _start(self, event: Any, line: int) -> None:
        self._count(1, line)
        if self._is_key():
            raise self.fail(line, _COMPLEX_KEY)
        is_map = isinstance(event, yaml.MappingStartEvent)
        tag = event.tag
        if tag is not None and tag != "!" and tag != (_MAP_TAG if is_map else _SEQ_TAG):
            raise self.fail(line, f"unsupported tag {_short(tag)}: assay reads plain YAML "
                            "(strings, numbers, booleans, null, dates, lists and mappings)")
        self._depth(1, line)
        node = _Open({} if is_map else [], self._loc(line), event.anchor)
        if event.anchor is not None:
            self._anchor(event.anchor, line, _Anchor(node.value, size=0, height=0,
                                                     is_scalar=False, is_open=True))
        self.stack.append(node)

    def _end(self) -> None:
        node = self.stack.pop()
        value = node.value
        if node.merge is not None:
            value = self._merged(node.value, *node.merge)
        if node.anchor is not None:
            self.anchors[node.anchor] = _Anchor(value, size=node.size, height=node.height,
                                                is_scalar=False, is_open=False)
        self._attach(value, node.size, node.height, self.lines.get(node.loc, 0))

    def _merged(self, own: dict[Any, Any], merge: Any, line: int) -> dict[Any, Any]:
        """``<<: *base`` (or ``<<: [*a, *b]``): the merged keys, then the mapping's own keys
        over them; of several merged mappings, the first wins (as PyYAML does)."""
        sources = merge if isinstance(merge, list) else [merge]
        if not all(isinstance(source, dict) for source in sources):
            raise self.fail(line, "'<<' merges a mapping or a list of mappings")
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            merged.update(source)
        merged.update(own)
        return merged


_COMPLEX_KEY = ("a mapping key must be a plain value, not a list or mapping (complex keys such "
                "as '? [a, b]' are not supported)")


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(index, 0)) + 1


def parse_yaml(text: str, filename: str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML text within the limits; return the data and a map from key path to 1-based
    line (values reached through an alias have the alias's line).

    Raises:
        ConfigError: malformed YAML, a duplicate key or a limit exceeded, with file and line.
    """
    if len(text) > MAX_BYTES:
        line = _line_at(text, MAX_BYTES)
        raise ConfigError(
            f"{filename}:{line}: larger than {MAX_BYTES // 2**20} MiB, the limit for YAML files",
            file=filename, line=line, reason="too large")
    loader = _StrictLoader(text)
    builder = _Builder(loader, filename)
    try:
        data = builder.build()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        problem = exc.problem or exc.context or "invalid YAML"
        if "cannot start any token" in problem and "\t" in (text.splitlines()[line - 1:line]
                                                             or [""])[0]:
            problem += " (a tab: indent YAML with spaces)"
        raise ConfigError(f"{filename}:{line}: malformed YAML: {problem}", file=filename,
                          line=line, reason=f"malformed YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = _line_at(text, exc.position)
        problem = str(exc.reason)
        raise ConfigError(f"{filename}:{line}: malformed YAML: {problem}", file=filename,
                          line=line, reason=f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0]
        raise ConfigError(f"{filename}: malformed YAML: {problem}", file=filename,
                          reason=f"malformed YAML: {problem}") from None
    finally:
        loader.dispose()
    return data, builder.lines


def read_yaml(path: Path, *, shown: str | None = None) -> tuple[Any, dict[Loc, int]]:
    """Read and parse a YAML file within the limits (see :func:`parse_yaml`).

    Args:
        path: the file.
        shown: how errors name the file (default: ``path``).

    Raises:
        ConfigError: the file is missing (field ``missing``), unreadable, too large, not UTF-8
            or not valid YAML; its ``reason`` field is the message without the location.
    """
    return parse_yaml(read_yaml_text(path, shown=shown), shown or str(path))


def read_yaml_text(path: Path, *, shown: str | None = None) -> str:
    """The text of a YAML file, read within :data:`MAX_BYTES` and checked to be UTF-8.

    Raises:
        ConfigError: as :func:`read_yaml` does for the file itself.
    """
    name = shown or str(path)

    def fail(reason: str, line: int | None = None, **fields: Any) -> ConfigError:
        where = name if line is None else f"{name}:{line}"
        return ConfigError(f"{where}: {reason}", file=name, line=line or 0, reason=reason,
                           **fields)

    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                size = os.fstat(stream.fileno()).st_size
                total = f" (it is {size:,} bytes)" if size > MAX_BYTES else ""
                raise fail(f"larger than {MAX_BYTES // 2**20} MiB, the limit for YAML files"
                           f"{total}", raw.count(b"\n", 0, MAX_BYTES) + 1)
    except FileNotFoundError:
        raise fail("file not found", missing=True) from None
    except IsADirectoryError:
        raise fail("is a folder, not a file") from None
    except OSError as exc:
        raise fail(f"cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise fail(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {column})",
                   line) from None
    return text
