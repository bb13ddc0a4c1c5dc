"""Hostile and malformed packages: refused before anything in them runs, with one line saying why."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import ModelError
from assay.models import check_package, load_package
from tests.models.worlds import HOSTILE_PACKAGES, good_package, hostile_package

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
