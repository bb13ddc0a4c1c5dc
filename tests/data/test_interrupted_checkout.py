"""An interrupted checkout or pull converges on a plain rerun (issue 11, defect 6).

A half-written folder holds only files that are in the cache, plus at most the temp files of
the killed process: a rerun replaces it without ``--force`` and removes the temps, which are
git-ignored meanwhile and never versioned.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay._paths import temp_name
from tests.conftest import TmpProject, invoke


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def _stale(name: str, pid: int) -> str:
    """A temp name of process ``pid`` (as :func:`temp_name` makes them)."""
    return temp_name(name).replace(f".{os.getpid()}-", f".{pid}-")


def _temps(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.assay-tmp")
                  if ".assay" not in p.relative_to(root).parts)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def tracked(tmp_project: TmpProject) -> TmpProject:
    subprocess.run(["git", "init", "-q", str(tmp_project.root)], check=True)
    tmp_project.gen({f"data/d/{'sub/' if i % 2 else ''}f{i}.txt": f"file {i}\n" * (i + 1)
                     for i in range(20)})
    tmp_project.gen({"data/x.csv": "a,b\n1,2\n"})
    assert tmp_project.invoke("data", "add", "data/d", "data/x.csv").code == 0
    return tmp_project


def test_a_half_written_folder_with_partial_temps_is_restored_without_force(
        tracked: TmpProject) -> None:
    root = tracked.root
    d = root / "data" / "d"
    want = _files(d)
    dead = _dead_pid()
    for i, rel in enumerate(sorted(want)):  # what a killed checkout leaves: half the files
        if i % 2:
            (d / rel).unlink()
    (d / "sub" / _stale("f3.txt", dead)).write_bytes(b"file 3\nfi")  # partial, not in cache
    (d / f".f5.txt.{dead}.assay-tmp").write_bytes(b"old style")  # before this fix
    (root / "data" / _stale("x.csv", dead)).write_bytes(b"a,")
    (root / "data" / "x.csv").unlink()
    status = tracked.invoke("data", "status", "--json")
    assert status.code == 0 and '"modified"' in status.stdout and '"missing"' in status.stdout

    result = tracked.invoke("data", "checkout")

    assert result.code == 0, result.output
    assert _files(d) == want
    assert (root / "data" / "x.csv").read_text() == "a,b\n1,2\n"
    assert _temps(root) == []


def test_stale_temps_beside_unchanged_data_are_removed_live_ones_kept(
        tracked: TmpProject) -> None:
    root = tracked.root
    dead = _dead_pid()
    stale_in = root / "data" / "d" / "sub" / _stale("f1.txt", dead)
    stale_beside = root / "data" / _stale("x.csv", dead)
    live = root / "data" / "d" / temp_name("f0.txt")  # this process: alive, maybe writing
    for temp in (stale_in, stale_beside, live):
        temp.write_bytes(b"partial")
    status = tracked.invoke("data", "status", "--json")  # temps are not data
    assert (status.code, status.stdout.count('"ok"')) == (0, 2), status.output

    result = tracked.invoke("data", "checkout")

    assert result.code == 0, result.output
    assert result.stdout.split() == ["unchanged", "data/d", "unchanged", "data/x.csv"]
    assert _temps(root) == [live.relative_to(root).as_posix()]


def test_temp_files_are_git_ignored_and_never_versioned(tracked: TmpProject) -> None:
    root = tracked.root
    temps = [root / "data" / temp_name("x.csv"), root / "data" / "d" / temp_name("f0.txt")]
    for temp in temps:
        temp.write_bytes(b"partial")
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *map(str, temps)],
                             cwd=root, capture_output=True, text=True, check=False)
    assert ignored.stdout.split() == [str(t) for t in temps]
    added = tracked.invoke("data", "add", "data/d", "--json")
    assert added.code == 0 and '"changed": false' in added.stdout, added.output


def _pull(root: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "assay", "data", "pull"], cwd=root,
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigkilled_pull_converges_on_a_plain_rerun(tmp_project: TmpProject) -> None:
    """SIGKILL ``assay data pull`` at seeded random moments (half of them while the folder
    is being written), then rerun it plainly: exact data, no temp files, every time. On a fast
    machine the pull may finish before a kill: the kill moment moves earlier and more trials run
    until at least four kills landed while the folder was being written."""
    root = tmp_project.root
    tmp_project.config(remotes={"origin": "../remote"}, default_remote="origin")
    rng = random.Random(11)
    files = {f"data/d/{'sub/' if i % 3 else ''}f{i}.bin": rng.randbytes(rng.randint(0, 8_000))
             for i in range(200)}
    files["data/d/big.bin"] = rng.randbytes(2 << 20)
    tmp_project.gen(files)
    tmp_project.gen({"data/x.bin": rng.randbytes(1 << 20)})
    assert tmp_project.invoke("data", "add", "data/d", "data/x.bin").code == 0
    assert tmp_project.invoke("data", "push").code == 0
    want = {"d": _files(root / "data" / "d"), "x": (root / "data" / "x.bin").read_bytes()}
    started = time.monotonic()
    first = _pull(root, tmp_project.env)
    first.wait(timeout=120)
    whole = time.monotonic() - started
    killed_writing = 0
    window = 0.15  # how long after the folder appears to kill; halved whenever that was too late
    for trial in range(60):  # 20 trials, more if a fast machine finished before most kills
        if trial >= 20 and killed_writing >= 4:
            break
        shutil.rmtree(root / "data" / "d")
        (root / "data" / "x.bin").unlink()
        if trial % 3 == 0:
            shutil.rmtree(root / ".assay" / "cache")
        proc = _pull(root, tmp_project.env)
        if trial % 2:  # somewhere in the whole command
            time.sleep(rng.uniform(0.0, whole))
        else:  # while the folder is being written
            deadline = time.monotonic() + 60
            while not (root / "data" / "d").exists() and proc.poll() is None:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            time.sleep(rng.uniform(0.0, window))
        if proc.poll() is None:
            killed_writing += (root / "data" / "d").exists()
        elif trial % 2 == 0:
            window /= 2
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)

        rerun = invoke(["data", "pull"], cwd=root, env=tmp_project.env)

        assert rerun.code == 0, f"trial {trial}: {rerun.output}"
        assert _files(root / "data" / "d") == want["d"], f"trial {trial}"
        assert (root / "data" / "x.bin").read_bytes() == want["x"], f"trial {trial}"
        assert _temps(root) == [], f"trial {trial}"
    assert killed_writing >= 4  # the interesting moments were hit
