from __future__ import annotations

import pytest

from tests.conftest import TmpProject
from tests.monitoring.worlds import make_project


@pytest.fixture
def world_sqlite(tmp_project: TmpProject) -> TmpProject:
    return make_project(tmp_project)
