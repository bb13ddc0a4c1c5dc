"""One registered model served by one real server process for the whole module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.worlds import Server, World, make_world, serving, train_package


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    made = make_world(tmp_path_factory.mktemp("serving"))
    made.register(train_package(made.root, "models/v1"), alias="production")
    return made


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    with serving(world.root, "toy@production", "--max-rows", "1000", "--max-body-bytes",
                 "200000", "--max-concurrency", "64") as running:
        yield running


@pytest.fixture
def root(world: World) -> Path:
    return world.root
