"""gc running at the same time as ``assay run`` and tracking's ``log_artifact`` (real processes)
never removes an object that the lock file or the store references."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from assay.config import Project
from assay.data import Workspace, gc
from assay.objects import LocalCache
from tests.conftest import TmpProject

WRITE = "import os, sys; open(sys.argv[1], 'wb').write(os.urandom(int(sys.argv[2])))"
LOG = """
import os, sys, time
import assay
for i in range(int(sys.argv[1])):
    path = f"artifact-{os.getpid()}-{i}.bin"
    with open(path, "wb") as f:
        f.write(os.urandom(3000))
    assay.log_artifact(path)
    time.sleep(0.02)
"""
ADHOC = """
import sys
import assay
sys.argv[1:] = ["6"]
with assay.start_run(name="adhoc"):
    exec(open("log.py").read())
"""


def _project(project: TmpProject) -> None:
    py = sys.executable
    project.gen({"write.py": WRITE, "log.py": LOG, "adhoc.py": ADHOC})
    stages = {f"s{i}": {"cmd": f"{py} write.py o{i}.bin {2000 + i}", "outs": [f"o{i}.bin"]}
              for i in range(3)}
    stages["folder"] = {"cmd": f"mkdir -p outdir && {py} write.py outdir/a.bin 1500 && "
                               f"{py} write.py outdir/b.bin 1600", "outs": ["outdir"]}
    stages["logs"] = {"cmd": f"{py} log.py 3 && echo done > logs.txt", "outs": ["logs.txt"],
                      "needs": ["s0"]}
    # no grace period: only the cache lock protects what is written and not yet recorded
    project.config(stages=stages, cache={"gc_grace_minutes": 0})


def _spawn(project: TmpProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=project.root, text=True,
                            env={**os.environ, **project.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _referenced(root: Path) -> set[str]:
    lock = json.loads((root / "assay.lock").read_text())
    found = {oid for entry in lock["stages"].values() for oid in entry["outs"].values()}
    with sqlite3.connect(root / ".assay" / "assay.db") as conn:
        found |= {h for (h,) in conn.execute("SELECT hash FROM artifacts")}
        found |= {h for (h,) in conn.execute("SELECT env_hash FROM runs") if h}
    return found


class _Collector:
    """``gc`` in a tight loop on a thread of the test process, until stopped."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.rounds = 0
        self.removed: list[str] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        try:
            with Workspace(Project.load(self.root)) as ws:
                while not self._stop.is_set():
                    self.removed += gc(ws, grace_minutes=0).removed
                    self.rounds += 1
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> _Collector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@pytest.mark.slow
def test_gc_during_runs_and_log_artifact_never_removes_a_referenced_object(
        tmp_project: TmpProject) -> None:
    _project(tmp_project)
    root = tmp_project.root
    cache = LocalCache(root / ".assay" / "cache")
    trials = 3
    with _Collector(root) as collector:
        for _ in range(trials):
            writers = [_spawn(tmp_project, "-m", "assay", "run", "--force"),
                       _spawn(tmp_project, "adhoc.py")]
            for writer in writers:
                _, err = writer.communicate(timeout=120)
                assert writer.returncode == 0, err
            referenced = _referenced(root)
            assert len(referenced) >= 9
            gone = [oid for oid in referenced
                    if not (cache.exists(oid) and (not oid.endswith(".dir") or all(
                        cache.exists(e.oid) for e in cache.manifest(oid))))]
            assert gone == []
    assert collector.errors == [] and collector.rounds >= trials
    assert collector.removed == []  # every object written was referenced by then
    status = tmp_project.invoke("status", "--json")
    assert json.loads(status.stdout)["stale"] == []
    fsck = tmp_project.invoke("fsck")
    assert fsck.code == 0, fsck.output
