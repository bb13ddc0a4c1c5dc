"""A real small disk for full-disk tests: a tmpfs mounted for one test (root only; CI runs as
root in a container that allows it). Tests that cannot mount one skip with the reason."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@contextlib.contextmanager
def small_disk(path: Path, size: str = "2m") -> Iterator[Path]:
    """Mount a tmpfs of ``size`` at ``path`` for the block; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True, timeout=30, check=False)
    except OSError as exc:
        pytest.skip(f"cannot mount a tmpfs for a full-disk test: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for a full-disk test (needs root and a container "
                    f"that allows mount): {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30, check=False)


def fill(disk: Path, *, leave: int = 0) -> Path:
    """Fill ``disk`` with one file until it is full, then free ``leave`` bytes; returns the
    file (delete it to free the space)."""
    filler = disk / "filler.bin"
    block = b"\0" * 65536
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    if leave:
        os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def remount_readonly(disk: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True, capture_output=True,
                   timeout=30)


def store_rows(root: Path, store_url: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every run and stage run of the project's store (status, exit code, reason)."""
    from sqlalchemy import create_engine, text

    url = store_url or f"sqlite:///{root / '.assay' / 'assay.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            runs = [dict(r._mapping) for r in conn.execute(text(
                "SELECT id, status, exit_code, ended_at FROM runs ORDER BY started_at"))]
            stages = [dict(r._mapping) for r in conn.execute(text(
                "SELECT run_id, stage, status, ended_at, details FROM stage_runs "
                "ORDER BY started_at"))]
    finally:
        engine.dispose()
    for row in stages:
        details = row["details"]
        row["reason"] = (json.loads(details) if isinstance(details, str) else details or {}
                         ).get("reason")
    return {"runs": runs, "stage_runs": stages}


def assert_cache_consistent(root: Path, cache: Path, env: dict[str, str] | None = None) -> None:
    """No partial object under a final name, no temp file left, ``assay.lock`` names only
    objects that are there, and ``assay fsck`` agrees."""
    from assay.objects import LocalCache
    from tests.conftest import invoke

    local = LocalCache(cache)
    objects = list(local.iter_objects())
    assert all(local.verify(oid) for oid in objects)
    leftovers = [p.name for p in (cache / "tmp").glob("*")] if (cache / "tmp").is_dir() else []
    leftovers += [p.name for fan in cache.glob("??") for p in fan.glob(".*")]
    assert leftovers == []
    lock = root / "assay.lock"
    if lock.exists():
        named = [oid for entry in json.loads(lock.read_text())["stages"].values()
                 for oid in entry["outs"].values()]
        assert named and all(oid in objects for oid in named)
    fsck = invoke(["fsck", "--json"], cwd=root, env=env)
    assert fsck.code == 0 and json.loads(fsck.stdout)["clean"] is True, fsck.output
