"""Fixtures: a store on each backend, a cache, and a way to register versions quickly."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assay.config import AssayConfig
from assay.registry import Registration, register
from assay.store import Store, open_store
from tests.registry.worlds import ML, config, make_package, oid_of, report_for


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    handle = open_store(store_url)
    yield handle
    handle.close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


Registrar = Callable[..., Registration]


@pytest.fixture
def registrar(store: Store, cache_dir: Path, tmp_path: Path) -> Registrar:
    """``registrar(seed, passed=True, alias=None)`` registers a fresh package as churn (with the
    team and policies of :func:`tests.registry.worlds.config`, or ``cfg``)."""

    def _register(seed: int, *, passed: bool = True, alias: str | None = None,
                  name: str = "churn", author: str = ML,
                  cfg: AssayConfig | None = None) -> Registration:
        package = make_package(tmp_path / "work", f"models/m{seed}", seed=seed)
        report = report_for(oid_of(cache_dir, package), passed=passed)
        return register(
            store, name=name, cache_dir=cache_dir, package_dir=package, evaluation=report,
            author=author, alias=alias, config=cfg if cfg is not None else config(),
        )

    return _register
