"""Hostile and malformed packages: refused before anything in them runs, with one line saying why."""

from __future__ import annotations

import io
import json
import random
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

from assay.errors import ModelError
from assay.models import check_package, load_package
from tests.models.worlds import HOSTILE_PACKAGES, canary_code, good_package, hostile_package

SHAPES = sorted(HOSTILE_PACKAGES)


def test_the_corpus_covers_the_reported_classes() -> None:
    assert len(SHAPES) >= 17
    for needed in ("exec-chain", "eval-chain", "numpy-function", "unknown-class",
                   "pickle-renamed-skops", "pickle-flavor-without-opt-in",
                   "path-outside-the-package", "symlinked-model-file", "skops-content-as-xgboost",
                   "truncated-skops", "zip-member-traversal", "garbage-onnx", "garbage-ubj",
                   "missing-model-file", "zip-huge-entry", "zip-duplicate-member"):
        assert needed in SHAPES


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPES)
def test_load_refuses_a_hostile_package_without_running_it(tmp_path: Path, shape: str) -> None:
    canary = tmp_path / "canary"
    package = hostile_package(tmp_path, shape, canary)
    for check in (load_package, check_package):
        with pytest.raises(ModelError, match=HOSTILE_PACKAGES[shape].reason) as refused:
            check(package)
        assert "\n" not in str(refused.value)
    assert not canary.exists()


def test_the_good_package_the_corpus_starts_from_loads(tmp_path: Path) -> None:
    package = good_package(tmp_path)
    assert check_package(package).flavor == "sklearn"
    assert load_package(package).predict_proba({"tenure_months": [1, 50]}).shape == (2, 2)


def test_an_opted_in_pickle_is_hash_checked_but_never_unpickled_by_the_check(
    tmp_path: Path,
) -> None:
    canary = tmp_path / "canary"
    package = hostile_package(tmp_path, "pickle-flavor-without-opt-in", canary)
    assert check_package(package, allow_pickle=True).flavor == "pyfunc"
    assert not canary.exists()
    (package / "model.pkl").write_bytes((package / "model.pkl").read_bytes() + b"\x00")
    with pytest.raises(ModelError, match=r"Refusing to unpickle .*does not match the recorded"):
        check_package(package, allow_pickle=True)
    assert not canary.exists()


def _outcome(package: Path) -> str:
    """``loaded`` or ``refused``; anything else raised is a crash and fails the test."""
    try:
        load_package(package).predict_proba({"tenure_months": [1, 50, 70]})
    except ModelError as exc:
        assert "\n" not in str(exc), str(exc)
        return "refused"
    return "loaded"


def _nodes(schema: Any) -> list[dict[str, Any]]:
    found, stack = [], [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_damaged_skops_bytes_are_refused_never_a_crash(tmp_path: Path) -> None:
    package = good_package(tmp_path)
    data = (package / "model.skops").read_bytes()
    rng = random.Random(11)
    outcomes = []
    for _ in range(40):
        damaged = bytearray(data)
        for _ in range(rng.choice([1, 3, 20])):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        if rng.random() < 0.2:
            damaged = damaged[: rng.randrange(len(damaged))]
        (package / "model.skops").write_bytes(bytes(damaged))
        outcomes.append(_outcome(package))
    assert outcomes.count("refused") > 30


def test_rewritten_schema_nodes_are_refused_or_load_without_running_code(tmp_path: Path) -> None:
    canary = tmp_path / "canary"
    package = good_package(tmp_path)
    with zipfile.ZipFile(package / "model.skops") as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    rng = random.Random(5)
    choices: dict[str, list[Any]] = {
        "__class__": ["exec", "eval", "system", "Popen", "Tree", "dict", "LogisticRegression", 7],
        "__module__": ["builtins", "os", "posix", "subprocess", "numpy", "sklearn.tree._tree"],
        "__loader__": ["ObjectNode", "TypeNode", "FunctionNode", "MethodNode", "LossNode",
                       "CachedNode", "PartialNode", "OperatorFuncNode", "EvalNode", None],
        "content": [canary_code(canary), 1, [], {}, None],
        "__id__": [1, 2, 3, 17],
    }
    outcomes = []
    for _ in range(60):
        schema = json.loads(members["schema.json"])
        for _ in range(rng.choice([1, 2, 4])):
            key = rng.choice(sorted(choices))
            rng.choice(_nodes(schema))[key] = rng.choice(choices[key])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, json.dumps(schema) if name == "schema.json" else data)
        (package / "model.skops").write_bytes(buffer.getvalue())
        with warnings.catch_warnings():  # sklearn warns about a rewritten version attribute
            warnings.simplefilter("ignore")
            outcomes.append(_outcome(package))
    assert outcomes.count("refused") > 30
    assert not canary.exists()


def test_rewritten_model_json_is_refused_or_loads_never_a_crash(tmp_path: Path) -> None:
    package = good_package(tmp_path)
    original = json.loads((package / "model.json").read_text())
    values: list[Any] = [None, 1, "x", "", [], {}, [1], {"a": 1}, "../x", "/etc/passwd",
                         "model.skops", True, "pyfunc", "onnx", 10**30]
    rng = random.Random(3)
    outcomes = []
    for _ in range(100):
        meta = json.loads(json.dumps(original))
        keys = [("files", "model"), ("signature", "inputs"), ("flavor",), ("task",), ("files",),
                ("lineage",), ("classes",), ("pickle_hash",), ("format_version",), ("name",)]
        *parents, last = rng.choice(keys)
        target = meta
        for key in parents:
            target = target[key]
        target[last] = rng.choice(values)
        (package / "model.json").write_text(json.dumps(meta))
        for check in (check_package, load_package):
            try:
                check(package)
                outcomes.append("loaded")
            except ModelError as exc:
                assert "\n" not in str(exc), str(exc)
                outcomes.append("refused")
    assert outcomes.count("refused") > 100
