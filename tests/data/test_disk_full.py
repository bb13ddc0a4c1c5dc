"""A full, read-only or refused local disk in push, pull and checkout is reported as that (exit 1,
one line naming the path and the fix), never as "check the URL, network and credentials"; the
cache stays consistent and the same command works once the disk is fixed.

Real tmpfs disks and the real CLI in a subprocess (see tests/small_disk.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.objects import local_fault
from tests.conftest import TmpProject
from tests.objects.s3server import DUMMY_CREDENTIALS, make_bucket, moto_server
from tests.small_disk import assert_cache_consistent, fill, remount_readonly, small_disk

MIB = 1 << 20


def _digests(root: Path, paths: list[str]) -> dict[str, str]:
    found = {}
    for rel in paths:
        top = root / rel
        for p in sorted([top] if top.is_file() else top.rglob("*")):
            if p.is_file():
                found[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


DATA = {
    "one big file": {"big.bin": os.urandom(MIB)},
    "a folder of small files": {f"imgs/{i}.bin": os.urandom(16384) for i in range(64)},
}


def _pushed(project: TmpProject, files: dict[str, bytes]) -> tuple[list[str], dict[str, str]]:
    """Add and push ``files``; then drop the cache and the data, as in a fresh clone."""
    project.gen(files)
    tops = sorted({rel.split("/")[0] for rel in files})
    assert project.run("data", "add", *tops).returncode == 0
    pushed = project.run("data", "push")
    assert pushed.returncode == 0, pushed.stderr
    digests = _digests(project.root, tops)
    shutil.rmtree(project.root / ".assay" / "cache")
    for top in tops:
        target = project.root / top
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    return tops, digests


def _one_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("shape", list(DATA), ids=list(DATA))
def test_pull_into_a_full_cache_names_the_disk_not_the_network(
        tmp_project: TmpProject, tmp_path: Path, shape: str) -> None:
    tmp_project.config(remotes={"origin": "../remote"})
    tops, digests = _pushed(tmp_project, DATA[shape])
    with small_disk(tmp_path / "disk", "4m") as disk:
        cache = disk / "cache"
        tmp_project.config(remotes={"origin": "../remote"}, cache={"dir": str(cache)})
        filler = fill(disk, leave=256 * 1024)

        done = tmp_project.run("data", "pull")

        assert done.returncode == 1
        assert _one_error(done.stderr) == (
            f"error: Disk full (ENOSPC) at {cache} while downloading from remote 'origin' "
            f"({tmp_path / 'remote'}); nothing was stored. Free space there, or run: assay gc")
        assert not any((tmp_project.root / top).exists() for top in tops)
        assert_cache_consistent(tmp_project.root, cache)

        filler.unlink()
        again = tmp_project.run("data", "pull")

        assert again.returncode == 0, again.stderr
        assert _digests(tmp_project.root, tops) == digests
        assert_cache_consistent(tmp_project.root, cache)


def test_pull_into_a_read_only_cache_disk_says_read_only(tmp_project: TmpProject,
                                                         tmp_path: Path) -> None:
    tmp_project.config(remotes={"origin": "../remote"})
    _pushed(tmp_project, {"d.bin": b"d" * 5000})
    with small_disk(tmp_path / "disk", "1m") as disk:
        cache = disk / "cache"
        (cache / "tmp").mkdir(parents=True)
        tmp_project.config(remotes={"origin": "../remote"}, cache={"dir": str(cache)})
        remount_readonly(disk)

        done = tmp_project.run("data", "pull")

        assert done.returncode == 1
        assert _one_error(done.stderr) == (
            f"error: Read-only file system (EROFS) at {cache} while opening the cache lock; "
            "nothing was changed. Remount it read-write or use a writable folder")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.mark.slow
def test_pull_from_s3_into_a_full_cache_names_the_disk(tmp_project: TmpProject, tmp_path: Path,
                                                       s3_endpoint: str) -> None:
    make_bucket(s3_endpoint, "full-cache")
    remotes = {"team": {"url": "s3://full-cache/c",
                        "options": {"client_kwargs": {"endpoint_url": s3_endpoint}}}}
    tmp_project.config(remotes=remotes)
    tmp_project.env.update(DUMMY_CREDENTIALS)
    tops, digests = _pushed(tmp_project, {"big.bin": os.urandom(MIB)})
    with small_disk(tmp_path / "disk", "4m") as disk:
        cache = disk / "cache"
        tmp_project.config(remotes=remotes, cache={"dir": str(cache)})
        filler = fill(disk, leave=256 * 1024)

        done = tmp_project.run("data", "pull")

        assert done.returncode == 1
        assert _one_error(done.stderr) == (
            f"error: Disk full (ENOSPC) at {cache} while downloading from remote 'team' "
            "(s3://full-cache/c); nothing was stored. Free space there, or run: assay gc")
        assert_cache_consistent(tmp_project.root, cache)
        filler.unlink()
        assert tmp_project.run("data", "pull").returncode == 0
        assert _digests(tmp_project.root, tops) == digests


@pytest.mark.slow
@pytest.mark.parametrize("command", [["data", "pull"], ["data", "checkout"]],
                         ids=["pull", "checkout"])
def test_checkout_onto_a_full_workspace_disk_names_the_path(tmp_path: Path,
                                                            command: list[str]) -> None:
    with small_disk(tmp_path / "disk", "3m") as disk:
        # the workspace on the small disk; the cache, the store and the remote elsewhere
        project = TmpProject(disk / "project", store_url=f"sqlite:///{tmp_path / 'assay.db'}")
        project.root.mkdir()
        (project.root / ".assay").mkdir()
        project.config(remotes={"origin": str(tmp_path / "remote")},
                       cache={"dir": str(tmp_path / "cache"), "type": ["copy"]})
        project.gen({"big.bin": os.urandom(MIB)})
        assert project.run("data", "add", "big.bin").returncode == 0
        assert project.run("data", "push").returncode == 0
        digests = _digests(project.root, ["big.bin"])
        (project.root / "big.bin").unlink()
        filler = fill(disk, leave=256 * 1024)

        done = project.run(*command)

        assert done.returncode == 1
        assert _one_error(done.stderr) == (
            f"error: Disk full (ENOSPC) at {project.root / 'big.bin'} while checking out from "
            "the cache. Free space there")
        assert sorted(p.name for p in project.root.iterdir()) == [
            ".assay", ".gitignore", "assay.yaml", "big.bin.assay"]  # no partial file beside
        filler.unlink()
        assert project.run(*command).returncode == 0
        assert _digests(project.root, ["big.bin"]) == digests


@pytest.mark.slow
def test_push_to_a_full_folder_remote_names_the_remote_disk(tmp_project: TmpProject,
                                                            tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "3m") as disk:
        remote = disk / "remote"
        tmp_project.config(remotes={"origin": str(remote)})
        tmp_project.gen({"big.bin": os.urandom(MIB)})
        assert tmp_project.run("data", "add", "big.bin").returncode == 0
        filler = fill(disk, leave=256 * 1024)

        done = tmp_project.run("data", "push")

        assert done.returncode == 1
        assert _one_error(done.stderr) == (
            f"error: Disk full (ENOSPC) at {remote} while uploading to remote 'origin' "
            f"({remote}); rerun once fixed. Free space there")
        assert [p.name for p in remote.rglob("*") if p.is_file()] == []  # no partial upload
        filler.unlink()
        assert tmp_project.run("data", "push").returncode == 0
        assert tmp_project.run("data", "status", "-r").returncode == 0


# -- the classification itself, on the OSErrors each side raises ----------------------------


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device"),
     "Disk full (ENOSPC) at /data/cache while writing to the cache; nothing was stored. Free "
     "space there, or run: assay gc"),
    (OSError(errno.EDQUOT, "Disk quota exceeded", "/data/cache/tmp/x.part"),
     "Disk quota exceeded (EDQUOT) at /data/cache while writing to the cache; nothing was "
     "stored. Free space there (or raise the quota), or run: assay gc"),
    (OSError(errno.ENOSPC, "No space left", "/remote/ab/cd", None, "/data/cache/tmp/x.pull"),
     "Disk full (ENOSPC) at /data/cache while writing to the cache; nothing was stored. Free "
     "space there, or run: assay gc"),
    (OSError(errno.EROFS, "Read-only file system", "/data/cache/tmp/x.part"),
     "Read-only file system (EROFS) at /data/cache while writing to the cache; nothing was "
     "stored. Remount it read-write or use a writable folder"),
    (PermissionError(errno.EACCES, "Permission denied", "/data/cache/ab/cdef"),
     "Permission denied (EACCES) at /data/cache/ab/cdef while writing to the cache; nothing "
     "was stored. Give this user access to it (check its owner and mode)"),
    (PermissionError(errno.EPERM, "Operation not permitted", "/data/cache/ab"),
     "Operation not permitted (EPERM) at /data/cache/ab while writing to the cache; nothing "
     "was stored. Give this user access to it (check its owner and mode)"),
], ids=["enospc", "edquot", "enospc-copy-names-the-disk", "erofs", "eacces", "eperm"])
def test_local_faults_name_the_path_and_the_fix(error: OSError, expected: str) -> None:
    fault = local_fault(error, path="/data/cache", doing="writing to the cache",
                        outcome="nothing was stored", frees_cache=True)
    assert fault is not None and str(fault) == expected and fault.exit_code == 1


@pytest.mark.parametrize("error", [
    PermissionError("Access Denied"),  # s3fs: AccessDenied names no local file
    PermissionError(errno.EACCES, "Forbidden"),  # no file name: a remote's refusal
    PermissionError(errno.EACCES, "Forbidden", "s3://bucket/ab/cd"),
    ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
    OSError(errno.EIO, "Input/output error", "/data/cache/ab/cd"),
    TimeoutError("timed out"),
    ValueError("not an OSError"),
], ids=["s3-access-denied", "eacces-no-file", "eacces-url", "refused", "eio", "timeout", "other"])
def test_remote_and_other_errors_are_not_local_faults(error: Exception) -> None:
    assert local_fault(error, path="/data/cache", doing="downloading") is None
