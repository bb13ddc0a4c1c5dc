from __future__ import annotations

import json
import os

from assay.config import Project
from assay.data import Workspace, fsck, gc
from assay.objects import LocalCache
from tests.conftest import TmpProject


def test_gc_keeps_everything_referenced_and_removes_the_rest(data_project: TmpProject) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/images").code == 0
    cache = LocalCache(root / ".assay" / "cache")
    orphan = cache.add_bytes(b"nobody points at me")
    in_lock = cache.add_bytes(b"a stage output")
    data_project.gen({"assay.lock": {"stages": {"train": {"outs": {"model.bin": in_lock}}}}})
    (root / "data" / "images" / "img2.bin").write_bytes(b"v2")
    assert data_project.invoke("data", "add", "data/images").code == 0
    # v1's objects are still referenced by the store's dataset_versions.
    before = set(cache.iter_objects())
    # --grace 0: the orphan is seconds old, and gc keeps younger objects than the grace period
    dry = json.loads(data_project.invoke("gc", "--dry-run", "--grace", "0", "--json").stdout)
    assert dry["removed"] == [orphan] and dry["dry_run"] is True
    assert set(cache.iter_objects()) == before
    result = data_project.invoke("gc", "--grace", "0")
    assert result.code == 0 and result.stdout.startswith("removed 1 objects")
    assert set(cache.iter_objects()) == before - {orphan}
    assert data_project.invoke("fsck").code == 0


def test_fsck_quarantines_and_names_corrupt_objects(data_project: TmpProject) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/images").code == 0
    cache = LocalCache(root / ".assay" / "cache")
    victim = next(o for o in cache.iter_objects() if not o.endswith(".dir"))
    os.chmod(cache.path_of(victim), 0o644)
    cache.path_of(victim).write_bytes(b"flipped bits")
    result = data_project.invoke("fsck")
    assert result.code == 1
    assert f"corrupt {victim}: content does not match its hash; moved to" in result.stdout
    assert (root / ".assay" / "quarantine" / victim).read_bytes() == b"flipped bits"
    assert not cache.exists(victim)
    with Workspace(Project.load(root)) as ws:
        assert fsck(ws).is_clean
        assert "not_in_cache" in ws.status()[0].states
        assert gc(ws, dry_run=True).removed == []
