"""Reading a skops file without running anything it names, in four steps.

1. The archive: a zip with flat, unique member names, a bounded size and good checksums, and a
   ``schema.json`` (a pickle renamed ``.skops`` is named as such).
2. The audit: every node of ``schema.json`` is checked against the :class:`TrustPolicy`
   *before* skops reads it. A node that rebuilds an object needs its exact class on the list;
   a node that references a function, method, ``operator`` callable or ``functools.partial``
   needs the exact name listed by the user; a node kind assay does not know is refused. skops'
   own list of the file's untrusted types is checked against the same policy.
3. skops builds the model, trusting exactly the names the audit allowed.
4. Tree structures are checked: scikit-learn walks a tree's node arrays without bounds checks,
   so a crafted tree could read outside them (crash) or loop forever.
"""

from __future__ import annotations

import io
import json
import pickletools
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assay.errors import ModelError
from assay.models._trust import TRUSTED_TYPES_ENV, TrustPolicy, is_never_trusted

SCHEMA = "schema.json"
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
MAX_ARCHIVE_BYTES = 16 * 1024**3
#: deflate cannot shrink data more than about 1032:1; members declaring more than this (in
#: total) share compressed data: a zip bomb
MAX_EXPANSION = 1100
MAX_SNIFF_BYTES = 16 * 1024 * 1024
_MAGIC_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
PICKLE_STARTS = (b"(", b"]", b"}", b")", b"c", b"I", b"L", b"F", b"S", b"V", b"N", b"X", b"\x80")

#: Node kinds that reference something callable (checked with ``allows_callable``).
CALLABLE_NODES = frozenset({"FunctionNode", "MethodNode", "OperatorFuncNode", "PartialNode"})
#: Node kinds that rebuild an object or a type (checked with ``allows_type``).
OBJECT_NODES = frozenset(
    {
        "BytearrayNode", "BytesNode", "CachedNode", "ConstructorFromReduceNode", "DTypeNode",
        "DefaultDictNode", "DictNode", "ListNode", "LossNode", "MaskedArrayNode", "NdArrayNode",
        "ObjectNode", "RandomGeneratorNode", "RandomStateNode", "SetNode", "SliceNode",
        "SparseMatrixNode", "TreeNode", "TupleNode", "TypeNode",
    }
)
#: Node kinds that hold JSON data only (skops ``json.loads`` them; no type is looked up).
DATA_NODES = frozenset({"JsonNode"})


def sniff(data: bytes) -> str:
    """What a file is by its content: ``zip``, ``pickle`` or ``other``.

    A pickle is recognised by its protocol header (protocols 2-5), or, for the older text
    protocols, by parsing the bytes as pickle opcodes up to ``STOP`` (parsing runs nothing).
    Pass the whole file for the second test (at most :data:`MAX_SNIFF_BYTES` are parsed).
    """
    if data.startswith(_MAGIC_ZIP):
        return "zip"
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "pickle"
    if data[:1] in PICKLE_STARTS and len(data) <= MAX_SNIFF_BYTES:
        try:
            opcodes = [op.name for op, _, _ in pickletools.genops(data)]
        except ValueError:
            return "other"
        if opcodes and opcodes[-1] == "STOP":
            return "pickle"
    return "other"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


def _check_archive(data: bytes, name: str) -> dict[str, Any]:
    """The archive checks (step 1); returns the parsed ``schema.json``."""
    if sniff(data) == "pickle":
        raise ModelError(
            f"{name} is a pickle, not a skops file; assay never unpickles a file it was not "
            "told to (a pickle runs code when loaded)",
            path=name,
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile raises many types for a hostile archive
        raise ModelError(
            f"{name} is not a skops file (not a valid zip archive: {_one_line(exc)})", path=name
        ) from None
    with archive:
        infos = archive.infolist()
        seen: set[str] = set()
        declared = 0
        for info in infos:
            member = info.filename
            if (
                not member
                or "/" in member
                or "\\" in member
                or member in (".", "..")
                or any(ord(c) < 32 or c == "\x7f" for c in member)
            ):
                raise ModelError(
                    f"{name} holds a member named {member!r}; a skops file holds plain file "
                    "names only",
                    path=name,
                )
            if member in seen:
                raise ModelError(f"{name} holds {member!r} twice; refusing it", path=name)
            seen.add(member)
            if info.flag_bits & 0x1:
                raise ModelError(f"{name}: member {member!r} is encrypted", path=name)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelError(
                    f"{name}: member {member!r} uses an unsupported compression", path=name
                )
            declared += info.file_size
        if declared > MAX_ARCHIVE_BYTES or declared > MAX_EXPANSION * max(len(data), 1):
            raise ModelError(
                f"{name} declares {declared} bytes of content in a {len(data)}-byte archive; "
                "refusing it (a zip bomb or a damaged file)",
                path=name,
            )
        if SCHEMA not in seen:
            raise ModelError(f"{name} is not a skops file (no {SCHEMA})", path=name)
        if archive.getinfo(SCHEMA).file_size > MAX_SCHEMA_BYTES:
            raise ModelError(f"{name}: {SCHEMA} is larger than {MAX_SCHEMA_BYTES} bytes", path=name)
        try:
            bad = archive.testzip()
            raw = archive.read(SCHEMA)
        except Exception as exc:  # zlib.error, NotImplementedError, BadZipFile, EOFError, ...
            raise ModelError(f"{name} is damaged: {_one_line(exc)}", path=name) from None
        if bad is not None:
            raise ModelError(f"{name} is damaged: member {bad!r} fails its checksum", path=name)
    try:
        schema = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ModelError(f"{name}: {SCHEMA} is not valid JSON ({_one_line(exc)})", path=name) from None
    if not isinstance(schema, dict) or "__loader__" not in schema:
        raise ModelError(f"{name}: {SCHEMA} does not describe a skops object", path=name)
    return schema


def _nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a skops schema: each dict with a ``__loader__``, at any depth.

    Iterative, so a deep schema cannot exhaust the stack; it over-approximates what skops
    reads (a dict skops would never visit is still checked), which only makes it stricter.
    """
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _bit_generator(node: dict[str, Any]) -> str | None:
    """The bit generator class a ``numpy.random.Generator`` node will call, or None."""
    try:
        state = node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
        name = json.loads(state)
    except (KeyError, TypeError, ValueError):
        return None
    return name if isinstance(name, str) else None


def _refusal(type_name: str, what: str) -> str:
    notes = [what] if what else []
    if is_never_trusted(type_name):
        notes.append("never trusted")
    return f"{type_name} ({', '.join(notes)})" if notes else type_name


def _refuse(name: str, refused: list[str]) -> None:
    shown = ", ".join(refused[:8]) + (f" and {len(refused) - 8} more" if len(refused) > 8 else "")
    if all("never trusted" in r for r in refused):
        advice = "these run arbitrary code and are never trusted: do not use this package"
    else:
        advice = (
            "only exact names are trusted: if you trust a type or function it names, list it "
            f"in {TRUSTED_TYPES_ENV}"
        )
    raise ModelError(
        f"Refusing to load {name}: it names types outside assay's trust list: {shown}; {advice}",
        path=name,
        untrusted=refused,
    )


def audit_schema(schema: dict[str, Any], policy: TrustPolicy, name: str) -> set[str]:
    """Check every node against ``policy`` (step 2); returns the type names the file uses.

    Raises:
        ModelError: naming every refused type, function or unknown node kind.
    """
    used: set[str] = set()
    refused: set[str] = set()
    for node in _nodes(schema):
        loader, module, cls = node.get("__loader__"), node.get("__module__"), node.get("__class__")
        if not (isinstance(loader, str) and isinstance(module, str) and isinstance(cls, str)):
            raise ModelError(f"{name}: {SCHEMA} holds a malformed node; refusing it", path=name)
        if loader in DATA_NODES:
            continue
        type_name = f"{module}.{cls}"
        if loader in CALLABLE_NODES:
            if loader == "MethodNode":
                content = node.get("content")
                func = content.get("func") if isinstance(content, dict) else None
                type_name = f"{type_name}.{func}"
            elif loader == "OperatorFuncNode":
                type_name = f"operator.{cls}"
            elif loader == "PartialNode":
                type_name = "functools.partial"
            if not policy.allows_callable(type_name):
                refused.add(_refusal(type_name, "a function"))
            used.add(type_name)
            continue
        if loader not in OBJECT_NODES:
            refused.add(f"{type_name} (unknown skops node {loader})")
            continue
        if not policy.allows_type(type_name):
            refused.add(_refusal(type_name, ""))
        used.add(type_name)
        if loader == "RandomGeneratorNode":
            generator = _bit_generator(node)
            generator_name = f"numpy.random.{generator}"
            if generator is None or not policy.allows_type(generator_name):
                refused.add(_refusal(generator_name, "a bit generator"))
            used.add(generator_name)
    if refused:
        _refuse(name, sorted(refused))
    return used


def _skops_untrusted(data: bytes, name: str) -> list[str]:
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(data=data))
    except Exception as exc:  # skops raises many types for a damaged file
        raise ModelError(f"Cannot read {name}: {_one_line(exc)}", path=name) from None


def read_skops(path: Path) -> bytes:
    """The bytes of a skops file (read once: the checks and the load see the same bytes)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"Cannot read {path.name}: {exc.strerror or exc}", path=str(path)) from None


def check_skops(data: bytes, name: str, policy: TrustPolicy) -> list[str]:
    """Steps 1 and 2; returns the names skops must be told to trust (all allowed by policy).

    Raises:
        ModelError: a damaged or disguised file, or a type outside the policy.
    """
    schema = _check_archive(data, name)
    audit_schema(schema, policy, name)
    found = _skops_untrusted(data, name)
    refused = sorted(
        _refusal(t, "") for t in found if not (policy.allows_type(t) or policy.allows_callable(t))
    )
    if refused:
        _refuse(name, refused)
    return found


def load_skops(path: Path, policy: TrustPolicy) -> Any:
    """Check and load a skops file (all four steps).

    Raises:
        ModelError: the file is refused or cannot be loaded.
    """
    import skops.io as sio

    data = read_skops(path)
    trusted = check_skops(data, path.name, policy)
    try:
        model = sio.loads(data, trusted=trusted)
    except Exception as exc:  # skops and the classes it rebuilds raise many types
        raise ModelError(f"Cannot load {path.name}: {_one_line(exc)}", path=str(path)) from None
    check_structures(model, path.name)
    return model


# -- step 4: tree structures -------------------------------------------------------------------


def _objects(root: Any) -> Iterator[Any]:
    """Every object reachable from ``root`` through containers and instance attributes."""
    import numpy as np

    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(obj))
        yield obj
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, np.ndarray):
            if obj.dtype == object:
                stack.extend(obj.ravel().tolist())
        else:
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                stack.extend(attrs.values())


def _check_children(left: Any, right: Any, leaf: Any, what: str, name: str) -> None:
    """Each internal node's children come after it and exist (no cycle, nothing out of range)."""
    import numpy as np

    count = len(left)
    index = np.arange(count)
    internal = ~leaf
    bad = internal & ((left <= index) | (right <= index) | (left >= count) | (right >= count))
    if bad.any():
        raise ModelError(
            f"{name}: a {what} has node links out of range (node {int(np.flatnonzero(bad)[0])}); "
            "the file is damaged or crafted",
            path=name,
        )


def _check_tree(tree: Any, name: str) -> None:
    import numpy as np

    count = int(tree.node_count)
    if count < 1 or count > int(tree.capacity) or tree.value.shape[0] != count:
        raise ModelError(f"{name}: a decision tree has an inconsistent node count", path=name)
    left = np.asarray(tree.children_left)
    right = np.asarray(tree.children_right)
    feature = np.asarray(tree.feature)
    leaf = (left == -1) & (right == -1)
    _check_children(left, right, leaf, "decision tree", name)
    if ((feature[~leaf] < 0) | (feature[~leaf] >= int(tree.n_features))).any():
        raise ModelError(f"{name}: a decision tree splits on a feature it does not have", path=name)


def _check_predictor(predictor: Any, n_features: int | None, name: str) -> None:
    import numpy as np

    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or nodes.size == 0:
        raise ModelError(f"{name}: a boosting tree has no nodes", path=name)
    fields = nodes.dtype.names or ()
    needed = ("left", "right", "is_leaf", "feature_idx", "is_categorical", "bitset_idx")
    if any(f not in fields for f in needed):
        raise ModelError(f"{name}: a boosting tree has malformed nodes", path=name)
    leaf = nodes["is_leaf"].astype(bool)
    _check_children(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), leaf,
                    "boosting tree", name)
    feature = nodes["feature_idx"][~leaf].astype(np.int64)
    limit = n_features if n_features is not None else np.iinfo(np.int64).max
    if ((feature < 0) | (feature >= limit)).any():
        raise ModelError(f"{name}: a boosting tree splits on a feature it does not have", path=name)
    categorical = ~leaf & nodes["is_categorical"].astype(bool)
    bitsets = len(getattr(predictor, "raw_left_cat_bitsets", ()))
    index = nodes["bitset_idx"][categorical].astype(np.int64)
    if ((index < 0) | (index >= bitsets)).any():
        raise ModelError(f"{name}: a boosting tree points past its category sets", path=name)


_TREE = "sklearn.tree._tree.Tree"
_PREDICTOR = "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"


def _type_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def check_structures(model: Any, name: str) -> None:
    """Step 4: every decision tree and boosting tree in ``model`` is well-formed.

    Trees are recognised by the exact type names of the trust list (no sklearn internals are
    imported here).

    Raises:
        ModelError: a tree with links out of range, cycles or unknown features.
    """
    checked: set[int] = set()
    for obj in _objects(model):
        kind = _type_name(obj)
        if kind == _TREE:
            _check_tree(obj, name)
        predictors = None if isinstance(obj, type) else getattr(obj, "_predictors", None)
        if isinstance(predictors, list):
            n_features = getattr(obj, "n_features_in_", None)
            for per_iteration in predictors:
                for predictor in per_iteration if isinstance(per_iteration, list) else []:
                    if _type_name(predictor) == _PREDICTOR:
                        _check_predictor(predictor, int(n_features or 0) or None, name)
                        checked.add(id(predictor))
        if kind == _PREDICTOR and id(obj) not in checked:
            _check_predictor(obj, None, name)
            checked.add(id(obj))
