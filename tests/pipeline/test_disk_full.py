"""A full disk under the cache, the workspace or the store: every run and stage run still ends in
a terminal state (or the next run marks it), the exit code is 1 with one line naming the disk
and the fix, the cache and assay.lock stay consistent, and a rerun after freeing space works.

Real tmpfs disks and the real CLI in a subprocess (see tests/small_disk.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TmpProject
from tests.small_disk import assert_cache_consistent, fill, small_disk, store_rows

pytestmark = pytest.mark.slow

MIB = 1 << 20
TERMINAL = {"succeeded", "failed", "cached", "interrupted", "cancelled"}

WRITE = "python -c \"import os; open('{out}', 'wb').write(os.urandom({size}))\""
WRITE_DIR = ("python -c \"import os; os.makedirs('{out}', exist_ok=True); "
             "[open(f'{out}/f{{i}}', 'wb').write(os.urandom(16384)) for i in range(64)]\"")

SHAPES: dict[str, dict[str, Any]] = {
    "one big file": {"big": {"cmd": WRITE.format(out="out.bin", size=MIB), "outs": ["out.bin"]}},
    "a folder of small files": {"big": {"cmd": WRITE_DIR.format(out="outdir"),
                                        "outs": ["outdir"]}},
    "after a stage that fits": {
        "small": {"cmd": WRITE.format(out="small.bin", size=4096), "outs": ["small.bin"]},
        "big": {"cmd": WRITE.format(out="out.bin", size=MIB), "deps": ["small.bin"],
                "outs": ["out.bin"]},
    },
}


def _stage_line(cache: Path) -> str:
    return (f"stage 'big' failed: its outs could not be stored in the cache: Disk full (ENOSPC) "
            f"at {cache} while writing to the cache; nothing was stored. Free space there, or "
            "run: assay gc")


CASES = [*(("sqlite", shape) for shape in SHAPES), ("postgres", "after a stage that fits")]


@pytest.mark.parametrize(("store_url", "shape"), CASES, indirect=["store_url"],
                         ids=[f"{store}-{shape}" for store, shape in CASES])
def test_full_cache_disk_fails_the_stage_and_ends_every_record(
        project_on: TmpProject, store_url: str, tmp_path: Path, shape: str) -> None:
    with small_disk(tmp_path / "disk", "4m") as disk:
        cache = disk / "cache"
        project_on.config(cache={"dir": str(cache)}, stages=SHAPES[shape])
        filler = fill(disk, leave=256 * 1024)

        done = project_on.run("run")

        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1] == "error: " + _stage_line(cache)
        rows = store_rows(project_on.root, store_url)
        assert [(r["status"], r["exit_code"]) for r in rows["runs"]] == [("failed", 1)]
        stages = {r["stage"]: r for r in rows["stage_runs"]}
        assert stages["big"]["status"] == "failed"
        assert stages["big"]["reason"] == _stage_line(cache).split(" failed: ", 1)[1]
        assert all(r["status"] in TERMINAL and r["ended_at"] for r in rows["stage_runs"])
        if "small" in stages:
            assert stages["small"]["status"] == "succeeded"
        assert_cache_consistent(project_on.root, cache, project_on.env)

        filler.unlink()
        again = project_on.run("run")

        assert again.returncode == 0, again.stderr
        rows = store_rows(project_on.root, store_url)
        assert [r["status"] for r in rows["runs"]] == ["failed", "succeeded"]
        assert all(r["status"] in TERMINAL and r["ended_at"] for r in rows["stage_runs"])
        assert_cache_consistent(project_on.root, cache, project_on.env)
        assert project_on.run("status").stdout.startswith("Pipeline is up to date")


FILL_AFTER_OUT = """\
import os, sys
open('out.bin', 'wb').write(os.urandom(200_000))
if os.path.exists('FILL'):  # then the disk fills up (another program, a log...)
    try:
        with open(os.path.join('..', 'filler.bin'), 'wb') as handle:
            while True:
                handle.write(bytes(65536))
                handle.flush()
    except OSError:
        pass
"""


def test_store_on_the_full_disk_is_ended_by_the_next_run(tmp_path: Path) -> None:
    """The cache, the workspace and the SQLite store share the disk that fills up while a stage
    runs: the end cannot be recorded, the command says so in one line (exit 1), and the next
    run (after freeing space) marks the orphaned run and stage run as interrupted."""
    with small_disk(tmp_path / "disk", "3m") as disk:
        project = TmpProject(disk / "project")
        project.root.mkdir()
        (project.root / ".assay").mkdir()
        project.gen({"fill.py": FILL_AFTER_OUT, "FILL": ""})
        project.config(stages={"big": {"cmd": "python fill.py", "outs": ["out.bin"]}})

        done = project.run("run")

        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, done.stderr
        assert re.fullmatch(
            r"error: Disk full \((ENOSPC|SQLITE_\w+)\) at \S+ while [^.]+(; [^.]+)?\. Free "
            r"space there(, or run: assay gc)?\. Run [0-9a-f]{8} could not record its end; the "
            r"next `assay run` marks it interrupted", errors[0]), errors[0]
        (disk / "filler.bin").unlink()
        (project.root / "FILL").unlink()
        rows = store_rows(project.root)
        assert [r["status"] for r in rows["runs"]] == ["running"]  # nothing could be written

        again = project.run("run")

        assert again.returncode == 0, again.stderr
        assert "An earlier run was recorded as interrupted" in again.stderr
        rows = store_rows(project.root)
        assert [r["status"] for r in rows["runs"]] == ["interrupted", "succeeded"]
        assert [r["status"] for r in rows["stage_runs"]] == ["interrupted", "succeeded"]
        assert all(r["ended_at"] for r in rows["runs"] + rows["stage_runs"])
        assert_cache_consistent(project.root, project.root / ".assay" / "cache")


def test_workspace_and_cache_filling_up_leave_a_consistent_lock(tmp_path: Path) -> None:
    """The disk fills up while a second stage runs (the store is elsewhere): the first stage's
    out stays cached and named by assay.lock, the second fails, every record ends."""
    with small_disk(tmp_path / "disk", "3m") as disk:
        store_url = f"sqlite:///{tmp_path / 'assay.db'}"
        project = TmpProject(disk / "project", store_url=store_url)
        project.root.mkdir()
        (project.root / ".assay").mkdir()
        project.gen({"fill.py": FILL_AFTER_OUT, "FILL": ""})
        project.config(stages={
            "small": {"cmd": WRITE.format(out="small.bin", size=4096), "outs": ["small.bin"]},
            "big": {"cmd": "python fill.py", "deps": ["small.bin"], "outs": ["out.bin"]}})

        done = project.run("run")

        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr
        assert re.search(r"Disk full \(ENOSPC\) at \S+ while (writing|recording)", done.stderr)
        rows = store_rows(project.root, store_url)
        assert [(r["status"], r["exit_code"]) for r in rows["runs"]] == [("failed", 1)]
        assert {r["stage"]: r["status"] for r in rows["stage_runs"]} == {
            "small": "succeeded", "big": "failed"}
        (disk / "filler.bin").unlink()
        (project.root / "FILL").unlink()
        assert_cache_consistent(project.root, project.root / ".assay" / "cache", project.env)
        again = project.run("run")
        assert again.returncode == 0, again.stderr
        assert_cache_consistent(project.root, project.root / ".assay" / "cache", project.env)


def test_run_on_a_disk_already_full_records_nothing_and_says_so(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "3m") as disk:
        project = TmpProject(disk / "project")
        project.root.mkdir()
        (project.root / ".assay").mkdir()
        project.config(stages={"big": {"cmd": WRITE.format(out="out.bin", size=1000),
                                       "outs": ["out.bin"]}})
        assert project.run("run").returncode == 0  # the store exists, then the disk fills
        filler = fill(disk)

        done = project.run("run", "--force")

        assert done.returncode == 1, done.stderr
        assert re.fullmatch(r"error: Disk full \((ENOSPC|SQLITE_\w+)\) at \S+ while starting "
                            r"the run\. Free space there(, or run: assay gc)?\n",
                            done.stderr), done.stderr
        filler.unlink()
        rows = store_rows(project.root)
        assert [r["status"] for r in rows["runs"]] == ["succeeded"]
        assert project.run("run", "--force").returncode == 0


def test_restore_into_a_full_workspace_fails_the_stage(tmp_path: Path) -> None:
    """Outs restored from the run cache onto a full workspace disk: the stage fails with the
    reason, the run ends failed (exit 1), and nothing half-written replaces the out."""
    with small_disk(tmp_path / "disk", "2m") as disk:
        store_url = f"sqlite:///{tmp_path / 'assay.db'}"  # the cache and store: the big disk
        project = TmpProject(disk / "project", store_url=store_url)
        project.root.mkdir()
        (project.root / ".assay").mkdir()
        cache = tmp_path / "cache"
        project.config(cache={"dir": str(cache), "type": ["copy"]},
                       stages={"big": {"cmd": WRITE.format(out="out.bin", size=MIB),
                                       "outs": ["out.bin"]}})
        assert project.run("run").returncode == 0
        (project.root / "out.bin").unlink()  # restored from the cache next time
        filler = fill(disk, leave=64 * 1024)

        done = project.run("run")

        assert done.returncode == 1, done.stderr
        assert done.stderr.strip().splitlines()[-1] == (
            f"error: stage 'big' failed: its cached outs could not be restored: Disk full (ENOSPC) at "
            f"{project.root / 'out.bin'} while checking out from the cache. Free space there")
        assert not (project.root / "out.bin").exists()
        assert [p.name for p in project.root.iterdir() if "assay-tmp" in p.name] == []
        rows = store_rows(project.root, store_url)
        assert [r["status"] for r in rows["runs"]] == ["succeeded", "failed"]
        assert [r["status"] for r in rows["stage_runs"]] == ["succeeded", "failed"]
        filler.unlink()
        assert project.run("run").returncode == 0
        assert (project.root / "out.bin").stat().st_size == MIB
