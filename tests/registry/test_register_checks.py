"""Registration checks a package as load does: a hostile package is refused and nothing recorded."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from assay.errors import ModelError
from assay.registry import RegisterOptions, list_models, register
from assay.registry._register_kind import KIND
from assay.store import Store, open_store
from tests.conftest import TmpProject, store_connection
from tests.models.worlds import HOSTILE_PACKAGES, hostile_package, stage_context
from tests.registry.worlds import ML, config, report_for

SHAPES = sorted(HOSTILE_PACKAGES)


def _objects(cache: Path) -> list[Path]:
    return [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []


def _recorded(store_url: str) -> tuple[int, int, int]:
    """(registered models, versions, events) in the store."""
    from sqlalchemy import func, select

    from assay.store.tables import events, model_versions, registered_models

    store = open_store(store_url)
    try:
        with store_connection(store.url) as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                for t in (registered_models, model_versions, events)
            )
    finally:
        store.close()


@pytest.mark.parametrize("shape", SHAPES, ids=SHAPES)
def test_models_register_refuses_a_hostile_package_in_one_line_and_records_nothing(
    tmp_project: TmpProject, shape: str
) -> None:
    canary = tmp_project.root / "canary"
    hostile_package(tmp_project.root, shape, canary)
    result = tmp_project.invoke("models", "register", f"models/{shape}", "--name", "churn")
    assert result.code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(HOSTILE_PACKAGES[shape].reason, lines[0]), lines[0]
    assert _objects(tmp_project.root / ".assay" / "cache") == []
    assert _recorded(f"sqlite:///{tmp_project.root / '.assay' / 'assay.db'}") == (0, 0, 0)
    assert not canary.exists()


#: One shape per check (types, pickle, symlinks, archive, engine format, opt-in): the CLI test
#: above runs every shape on SQLite.
REPRESENTATIVE = ["exec-chain", "pickle-renamed-skops", "symlinked-model-file", "zip-huge-entry",
                  "garbage-ubj", "pickle-flavor-without-opt-in"]


def test_register_refuses_hostile_packages_on_each_store_backend(
    store: Store, store_url: str, cache_dir: Path, tmp_path: Path
) -> None:
    canary = tmp_path / "canary"
    for shape in REPRESENTATIVE:
        package = hostile_package(tmp_path / "work", shape, canary)
        with pytest.raises(ModelError, match=HOSTILE_PACKAGES[shape].reason):
            register(store, name="churn", cache_dir=cache_dir, package_dir=package,
                     author=ML, config=config())
    assert list_models(store) == []
    assert _recorded(store_url)[:2] == (0, 0)
    assert _objects(cache_dir) == []
    assert not canary.exists()


@pytest.mark.parametrize(
    "shape", ["exec-chain", "pickle-renamed-skops", "crafted-tree", "zip-member-traversal"]
)
def test_register_by_object_id_checks_the_cached_package_too(
    store: Store, store_url: str, cache_dir: Path, tmp_path: Path, shape: str
) -> None:
    from assay.objects import LocalCache

    canary = tmp_path / "canary"
    package = hostile_package(tmp_path / "work", shape, canary)
    oid = LocalCache(cache_dir).add_dir(package).oid
    shutil.rmtree(package)
    with pytest.raises(ModelError, match=HOSTILE_PACKAGES[shape].reason):
        register(store, name="churn", cache_dir=cache_dir, oid=oid,
                 evaluation=report_for(oid), author=ML, config=config())
    assert _recorded(store_url)[:2] == (0, 0)
    assert not canary.exists()


def test_the_register_stage_refuses_a_hostile_selected_candidate(tmp_project: TmpProject) -> None:
    from assay.objects import LocalCache

    canary = tmp_project.root / "canary"
    package = hostile_package(tmp_project.root, "exec-chain", canary, rel="models/train")
    oid = LocalCache(tmp_project.root / ".assay" / "cache").add_dir(package).oid
    out = tmp_project.root / "reports" / "evaluate" / "evaluation.json"
    out.parent.mkdir(parents=True)
    out.write_text(json.dumps(report_for(oid)))
    store_url = f"sqlite:///{tmp_project.root / '.assay' / 'assay.db'}"
    ctx = stage_context(tmp_project.root, store_url, "register",
                        upstream_outs={"evaluate": ["reports/evaluate"]})
    options = RegisterOptions(evaluation="evaluate", model="churn")
    for _ in ("from the workspace", "from the cache"):
        with pytest.raises(ModelError, match=HOSTILE_PACKAGES["exec-chain"].reason):
            KIND.run(options, ctx)
        assert _recorded(store_url)[:2] == (0, 0)
        shutil.rmtree(package, ignore_errors=True)  # the second time: registered by oid
    assert not canary.exists()


def test_a_pickled_package_registers_only_with_the_opt_in_and_is_not_unpickled(
    tmp_project: TmpProject,
) -> None:
    canary = tmp_project.root / "canary"
    hostile_package(tmp_project.root, "pickle-flavor-without-opt-in", canary, rel="models/p")
    refused = tmp_project.invoke("models", "register", "models/p", "--name", "churn")
    assert refused.code == 2
    assert "is a pickled (pyfunc) model; loading it runs code" in refused.stderr
    assert "--allow-pickle" in refused.stderr
    accepted = tmp_project.invoke("models", "register", "models/p", "--name", "churn",
                                  "--allow-pickle")
    assert accepted.code == 0, accepted.output
    assert accepted.stdout.strip() == "registered churn:1"
    assert not canary.exists()  # checked by its hash, never loaded
