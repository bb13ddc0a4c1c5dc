"""A stage that depends on a registry alias goes stale when the alias moves, fast path included."""

from __future__ import annotations

import json
import time

from assay.store import open_store
from tests.conftest import TmpProject, store_connection


def _point(store_url: str, version: int) -> None:
    """Register churn v1 and v2 (once) and point churn@production at ``version``."""
    from sqlalchemy import delete, select

    from assay.store.tables import aliases, model_versions, registered_models

    store = open_store(store_url)
    now = time.time()
    with store_connection(store.url) as conn:
        if conn.execute(select(registered_models.c.name)).first() is None:
            conn.execute(registered_models.insert().values(name="churn", created_at=now))
            for v in (1, 2):
                conn.execute(model_versions.insert().values(
                    name="churn", version=v, model_hash=f"{v}" * 64, author="a@example.com",
                    gates_passed=True, meta={}, created_at=now))
        conn.execute(delete(aliases))
        conn.execute(aliases.insert().values(
            name="churn", alias="production", version=version, updated_at=now, actor="a"))
    store.close()


def test_alias_move_makes_dependent_stage_stale(tmp_project: TmpProject) -> None:
    tmp_project.gen({"params.yaml": {"seed": 1}})
    tmp_project.config(stages={
        "compare": {"kind": "echo", "message": "vs champion", "out": "out/compare.json",
                    "depends_on": ["churn@production"]},
        "plain": {"kind": "echo", "message": "no alias", "out": "out/plain.json"},
    })
    url = tmp_project.load().store_url
    _point(url, 1)

    first = tmp_project.run("run")
    assert first.returncode == 0, first.stderr
    fresh = tmp_project.run("run")
    assert fresh.returncode == 0, fresh.stderr
    assert "up to date" in fresh.stdout  # the no-op fast path, aliases checked with sqlite3

    _point(url, 2)
    status = tmp_project.invoke("status", "--json")
    assert status.code == 0, status.output
    states = {s["stage"]: s for s in json.loads(status.stdout)["stages"]}
    assert states["compare"]["reasons"] == [
        "alias 'churn@production' moved: model 111111111111 -> 222222222222"
    ]
    assert states["plain"]["stale"] is False

    again = tmp_project.run("run")
    assert again.returncode == 0, again.stderr
    assert "up to date" not in again.stdout
    assert tmp_project.run("run").stdout.count("up to date") == 1


def test_unset_alias_counts_as_none(tmp_project: TmpProject) -> None:
    from assay.pipeline import build_dag

    tmp_project.gen({"params.yaml": {"seed": 1}})
    tmp_project.config(stages={"compare": {
        "kind": "echo", "message": "m", "out": "o.json", "depends_on": ["churn@production"]}})
    dag = build_dag(tmp_project.load())
    assert dag.stages["compare"].params == {"seed": 1, "@alias:churn@production": None}
