from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TmpProject, run_assay


def _digest_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                   cwd=cwd, check=True, capture_output=True)


def test_version_push_delete_clone_pull_is_bit_identical(data_project: TmpProject) -> None:
    root = data_project.root
    (root / ".gitignore").write_text("/.assay/\n")
    before = _digest_tree(root / "data")
    added = run_assay(["data", "add", "data/table.parquet", "data/images"], root,
                      env=data_project.env)
    assert added.returncode == 0, added.stderr
    pushed = run_assay(["data", "push"], root, env=data_project.env)
    assert pushed.returncode == 0 and "pushed 9 objects" in pushed.stdout, pushed.stdout
    _git(root, "init", "-q", ".")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "version the data")
    origin = root.parent / "origin.git"
    _git(root.parent, "clone", "-q", "--bare", str(root), str(origin))
    shutil.rmtree(root)
    _git(root.parent, "clone", "-q", str(origin), str(root))
    assert not (root / "data" / "table.parquet").exists()
    assert sorted(p.name for p in (root / "data").iterdir()) == [
        "images.assay", "table.parquet.assay"]
    pulled = run_assay(["data", "pull"], root, env=data_project.env)
    assert pulled.returncode == 0, pulled.stderr
    assert "restored  data/images" in pulled.stdout
    assert _digest_tree(root / "data") == {
        **before,
        "images.assay": _digest_tree(root / "data")["images.assay"],
        "table.parquet.assay": _digest_tree(root / "data")["table.parquet.assay"],
    }
    assert run_assay(["fsck"], root, env=data_project.env).returncode == 0


def _many_files(project: TmpProject, count: int = 600) -> None:
    project.gen({f"bulk/f{i:04}": os.urandom(32 * 1024) for i in range(count)})


def _count_objects(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    from assay.objects import is_object_id

    return sum(1 for fan in folder.iterdir() if len(fan.name) == 2
               for item in fan.iterdir() if is_object_id(fan.name + item.name))


def _kill_when(proc: subprocess.Popen[str], folder: Path, threshold: int) -> None:
    deadline = time.monotonic() + 60
    while _count_objects(folder) < threshold and proc.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _start(project: TmpProject, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "assay", *args], cwd=project.root,
                            env={**os.environ, **project.env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True)


@pytest.mark.slow
def test_push_and_pull_killed_midway_resume_and_fsck_is_clean(tmp_project: TmpProject) -> None:
    tmp_project.config(remotes={"origin": "../remote"})
    _many_files(tmp_project)
    assert tmp_project.invoke("data", "add", "bulk").code == 0
    remote = tmp_project.root.parent / "remote"

    push = _start(tmp_project, "data", "push", "--jobs", "1")
    _kill_when(push, remote, 30)
    assert push.returncode == -signal.SIGKILL
    assert 0 < _count_objects(remote) < 601
    again = tmp_project.invoke("data", "push", "--json")
    assert again.code == 0, again.output
    assert _count_objects(remote) == 601

    before = _digest_tree(tmp_project.root / "bulk")
    shutil.rmtree(tmp_project.root / ".assay")
    shutil.rmtree(tmp_project.root / "bulk")
    cache = tmp_project.root / ".assay" / "cache"
    pull = _start(tmp_project, "data", "pull", "--jobs", "1")
    _kill_when(pull, cache, 30)
    assert pull.returncode == -signal.SIGKILL
    assert 0 < _count_objects(cache) < 601
    fsck = tmp_project.invoke("fsck")
    assert fsck.code == 0, fsck.output  # nothing partial is ever visible
    resumed = tmp_project.invoke("data", "pull")
    assert resumed.code == 0, resumed.output
    assert _digest_tree(tmp_project.root / "bulk") == before
    assert tmp_project.invoke("fsck").code == 0
