from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from assay.objects import _cache as cache_module
from tests.conftest import TmpProject


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def test_path_that_does_not_exist(tmp_project: TmpProject) -> None:
    result = tmp_project.invoke("data", "add", "data/nope.csv")
    assert result.code == 2
    assert _one_line(result.stderr) == "error: data/nope.csv does not exist"


def test_path_outside_the_project(tmp_project: TmpProject) -> None:
    outside = tmp_project.root.parent / "elsewhere.csv"
    outside.write_text("a\n1\n")
    for arg in (str(outside), "../elsewhere.csv"):
        result = tmp_project.invoke("data", "add", arg)
        assert result.code == 2, result.output
        assert "is outside the project" in _one_line(result.stderr)
    assert tmp_project.invoke("data", "add", ".assay").code == 2


def test_unreadable_file(tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch) -> None:
    tmp_project.gen({"secret.bin": b"x" * 100})
    real_open, real_os_open = open, os.open

    def deny(file: object, *args: object, **kwargs: object) -> object:
        if str(file).endswith("secret.bin"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    def deny_fd(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(file).endswith("secret.bin"):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_os_open(file, flags, *args, **kwargs)

    # the tests run as root, whom chmod does not stop: refuse the reads themselves
    monkeypatch.setattr(cache_module, "open", deny, raising=False)
    monkeypatch.setattr(os, "open", deny_fd)
    result = tmp_project.invoke("data", "add", "secret.bin")
    assert result.code == 1
    assert _one_line(result.stderr) == (
        f"error: Cannot add secret.bin: Permission denied (EACCES) at "
        f"{tmp_project.root / 'secret.bin'} while reading it. Give this user access to it "
        "(check its owner and mode)")
    assert not (tmp_project.root / "secret.bin.assay").exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("oid: 1234\nsize: 3\nnfiles: 1\nname: x\n", "bad oid 1234"),
        (f"oid: {'a' * 64}\nsize: -1\nnfiles: 1\nname: x\n", "size must be a non-negative"),
        (f"oid: {'a' * 64}\nsize: 3\nnfiles: 1\n", "missing name"),
        ("- just\n- a list\n", "not a mapping"),
        ("oid: [unclosed\n", "unreadable pointer file"),
        (f"oid: {'a' * 64}\nsize: 3\nnfiles: 1\nname: x\nsise: 4\n",
         "unknown key 'sise', did you mean 'size'?"),
        (f"oid: {'a' * 64}\nsize: 3\nnfiles: 1\nname: x\nowner: me\n",
         "unknown key 'owner'; known: oid, size, nfiles, name, exec"),
        (f"oid: {'a' * 64}\nsize: 3\nnfiles: 2\nname: x\n",
         "nfiles is 2 but the oid names a single file"),
        (f"oid: {'a' * 64}\nsize: 3\nnfiles: 1\nname: x\nexec: maybe\n",
         "exec must be true or false"),
    ],
    ids=["bad-oid", "negative-size", "no-name", "list", "not-yaml", "typo-key", "unknown-key",
         "file-with-nfiles", "exec-not-bool"],
)
def test_corrupt_or_hand_edited_pointer(tmp_project: TmpProject, content: str,
                                        reason: str) -> None:
    tmp_project.config(remotes={"origin": "../remote"})
    tmp_project.gen({"data/x.csv.assay": content, "data/x.csv": "a\n"})
    for command in (("data", "status"), ("data", "checkout"), ("data", "push"), ("gc",)):
        result = tmp_project.invoke(*command)
        assert result.code == 2, (command, result.output)
        line = _one_line(result.stderr)
        assert line.startswith("error: data/x.csv.assay: ") and reason in line, line


def test_remote_unreachable(tmp_project: TmpProject) -> None:
    tmp_project.gen({"blocker": "a file where the remote folder should be", "d.txt": "d"})
    tmp_project.config(remotes={"origin": "blocker"})
    assert tmp_project.invoke("data", "add", "d.txt").code == 0
    result = tmp_project.invoke("data", "push")
    assert result.code == 1
    assert _one_line(result.stderr).startswith("error: Remote 'origin' (") and "not a folder" in (
        result.stderr)
    unknown = tmp_project.invoke("data", "push", "--remote", "orgin")
    assert unknown.code == 2 and "did you mean 'origin'" in _one_line(unknown.stderr)


def test_remote_with_wrong_endpoint_through_the_cli(tmp_project: TmpProject) -> None:
    from tests.objects.s3server import DUMMY_CREDENTIALS, free_port

    tmp_project.config(remotes={"s3": {"url": "s3://bucket/x", "options": {
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{free_port()}"}}}})
    tmp_project.gen({"d.txt": "d"})
    assert tmp_project.invoke("data", "add", "d.txt").code == 0
    result = tmp_project.invoke("data", "push", env=DUMMY_CREDENTIALS)
    assert result.code == 1
    assert _one_line(result.stderr).startswith("error: Cannot list remote 's3' (s3://bucket/x)")


def test_disk_full_during_add_leaves_cache_and_store_consistent(
    tmp_project: TmpProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_project.gen({f"d/f{i}": os.urandom(3000) for i in range(30)})
    real_write = os.write
    calls = {"n": 0}

    def failing_write(fd: int, data: bytes | memoryview) -> int:
        calls["n"] += 1
        if calls["n"] == 17:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(cache_module.os, "write", failing_write)
    result = tmp_project.invoke("data", "add", "d")
    monkeypatch.undo()
    assert result.code == 1
    assert _one_line(result.stderr) == (
        f"error: Cannot add d: Disk full (ENOSPC) at {tmp_project.root / '.assay' / 'cache'} "
        "while writing to the cache; nothing was stored. Free space there, or run: assay gc")
    assert not (tmp_project.root / "d.assay").exists()
    assert not (tmp_project.root / ".gitignore").exists()
    assert list((tmp_project.root / ".assay" / "cache" / "tmp").iterdir()) == []
    fsck = tmp_project.invoke("fsck", "--json")
    assert fsck.code == 0 and json.loads(fsck.stdout)["clean"] is True
    assert tmp_project.invoke("data", "log", "d").code == 1  # no version was recorded
    again = tmp_project.invoke("data", "add", "d")
    assert again.code == 0 and "as 'd' v1" in again.stdout


def test_a_pointer_cannot_escape_the_project(tmp_project: TmpProject, tmp_path: Path) -> None:
    result = tmp_project.invoke("data", "checkout", "../../etc/passwd")
    assert result.code == 2 and "outside the project" in _one_line(result.stderr)


@pytest.mark.parametrize(
    ("path", "edit", "reason"),
    [
        ("data/table.parquet", ("size", "7"), "size is 7 but the data has {size} bytes"),
        ("data/images", ("nfiles", "3"), "nfiles is 3 but the data has 7 files"),
        ("data/images", ("size", "1"), "size is 1 but the data has {size} bytes"),
    ],
    ids=["file-size", "folder-nfiles", "folder-size"],
)
def test_a_pointer_that_contradicts_its_object_is_reported_as_corrupt(
    data_project: TmpProject, path: str, edit: tuple[str, str], reason: str
) -> None:
    [added] = json.loads(data_project.invoke("data", "add", path, "--json").stdout)
    pfile = data_project.root / f"{path}.assay"
    key, value = edit
    lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line
             for line in pfile.read_text().splitlines()]
    pfile.write_text("\n".join(lines) + "\n")
    expected = (f"{path}.assay: corrupt pointer file ({reason.format(size=added['size'])}); "
                f"restore it from git (git checkout -- {path}.assay) or re-run: "
                f"assay data add {path}")
    target = data_project.root / path
    for workspace_state in ("intact", "deleted"):
        if workspace_state == "deleted":
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        status = data_project.invoke("data", "status", "--json")
        assert status.code == 2, (workspace_state, status.output)
        [entry] = json.loads(status.stdout)
        assert (entry["states"], entry["reason"]) == (["corrupt_pointer"], expected)
        assert _one_line(status.stderr) == f"error: {expected}"
        checkout = data_project.invoke("data", "checkout")
        assert checkout.code == 2 and _one_line(checkout.stderr) == f"error: {expected}"
    assert not target.exists()  # checkout touched nothing
    pfile.write_text(pfile.read_text().replace(f"{key}: {value}", f"{key}: {added[key]}"))
    assert data_project.invoke("data", "checkout").code == 0
    assert target.exists()


def test_readding_repairs_a_hand_edited_pointer(data_project: TmpProject) -> None:
    assert data_project.invoke("data", "add", "data/images").code == 0
    pfile = data_project.root / "data" / "images.assay"
    good = pfile.read_text()
    pfile.write_text(good.replace("nfiles: 7", "nfiles: 9"))
    again = data_project.invoke("data", "add", "data/images")
    assert again.code == 0 and "as 'images' v1" in again.stdout  # rewritten, same version
    assert pfile.read_text() == good
