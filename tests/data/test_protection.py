"""Linked workspace files never let an edit reach the cache; modes and symlinks survive."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

from assay.objects import LocalCache
from tests.conftest import TmpProject


def _ino(path: Path) -> int:
    return os.stat(path).st_ino


def _object(project: TmpProject, oid: str) -> Path:
    return project.root / ".assay" / "cache" / oid[:2] / oid[2:]


def _add(project: TmpProject, *args: str) -> list[dict[str, object]]:
    result = project.invoke("data", "add", *args, "--json")
    assert result.code == 0, result.output
    found: list[dict[str, object]] = json.loads(result.stdout)
    return found


def _fsck_clean(project: TmpProject) -> bool:
    result = project.invoke("fsck", "--json")
    return result.code == 0 and json.loads(result.stdout)["clean"] is True


def test_unprotect_then_edit_leaves_the_cached_version_intact(tmp_project: TmpProject) -> None:
    tmp_project.config(cache={"type": ["hardlink", "copy"]})
    tmp_project.gen({"model.bin": b"version one" * 100})
    [v1] = _add(tmp_project, "model.bin")
    target = tmp_project.root / "model.bin"
    assert _ino(target) == _ino(_object(tmp_project, str(v1["oid"])))

    result = tmp_project.invoke("data", "unprotect", "model.bin")
    assert result.code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "unprotected model.bin (1 file made private and writable)")
    assert _ino(target) != _ino(_object(tmp_project, str(v1["oid"])))
    assert os.stat(target).st_mode & stat.S_IWUSR
    status = json.loads(tmp_project.invoke("data", "status", "--json").stdout)
    assert status[0]["states"] == ["ok"]  # same bytes, now a private copy

    with open(target, "r+b") as handle:  # an in-place edit, as a tool that rewrites would do
        handle.write(b"VERSION TWO")
    assert _fsck_clean(tmp_project)
    assert _object(tmp_project, str(v1["oid"])).read_bytes() == b"version one" * 100
    [v2] = _add(tmp_project, "model.bin")
    assert v2["version"] == 2 and v2["quarantined"] == []
    assert _fsck_clean(tmp_project)
    (tmp_project.root / "model.bin.assay").write_text(
        f"oid: {v1['oid']}\nsize: {v1['size']}\nnfiles: 1\nname: model\n")  # git checkout v1
    assert tmp_project.invoke("data", "checkout").code == 0
    assert target.read_bytes() == b"version one" * 100


def test_unprotect_a_folder_copies_every_linked_file(tmp_project: TmpProject) -> None:
    tmp_project.config(cache={"type": ["hardlink", "copy"]})
    tmp_project.gen({f"imgs/{i}.bin": bytes([i]) * 50 for i in range(5)})
    [added] = _add(tmp_project, "imgs")
    result = tmp_project.invoke("data", "unprotect", "imgs", "--json")
    assert json.loads(result.stdout) == {"copied": {"imgs": 5}}
    cache = LocalCache(tmp_project.root / ".assay" / "cache")
    for entry in cache.manifest(str(added["oid"])):
        ws = tmp_project.root / "imgs" / entry.path
        assert _ino(ws) != _ino(cache.path_of(entry.oid))
        ws.write_bytes(b"edited")
    assert _fsck_clean(tmp_project)
    again = tmp_project.invoke("data", "unprotect", "imgs", "--json")
    assert json.loads(again.stdout) == {"copied": {"imgs": 0}}  # already private
    untracked = tmp_project.invoke("data", "unprotect", "nope")
    assert untracked.code == 2 and "nope is not tracked" in untracked.stderr


def test_an_object_edited_in_place_is_quarantined_when_the_file_is_added_again(
    tmp_project: TmpProject,
) -> None:
    tmp_project.config(cache={"type": ["hardlink", "copy"]})
    tmp_project.gen({"d/keep.txt": "keep", "d/edit.txt": "original"})
    [v1] = _add(tmp_project, "d")
    edited = tmp_project.root / "d" / "edit.txt"
    cache = LocalCache(tmp_project.root / ".assay" / "cache")
    old = {e.path: e.oid for e in cache.manifest(str(v1["oid"]))}
    edited.chmod(0o644)  # what the old README advised: this edits the cache object too
    edited.write_text("changed in place")
    result = tmp_project.invoke("data", "add", "d")
    assert result.code == 0, result.output
    assert (f"warning: the previous version's object {old['edit.txt'][:12]} was edited in place"
            in result.stderr)
    assert not cache.exists(old["edit.txt"])
    assert (tmp_project.root / ".assay" / "quarantine" / old["edit.txt"]).is_file()
    assert cache.exists(old["keep.txt"]) and _fsck_clean(tmp_project)
    new_oid = {e.path: e.oid for e in cache.manifest(
        json.loads(tmp_project.invoke("data", "status", "--json").stdout)[0]["oid"])}
    assert _ino(edited) == _ino(cache.path_of(new_oid["edit.txt"]))  # linked to its own object
    assert not os.stat(edited).st_mode & stat.S_IWUSR


def test_checkout_refuses_to_replace_an_edit_made_through_a_link(tmp_project: TmpProject) -> None:
    tmp_project.config(cache={"type": ["hardlink", "copy"]})
    tmp_project.gen({"f.bin": b"one"})
    _add(tmp_project, "f.bin")
    (tmp_project.root / "f.bin").chmod(0o644)
    (tmp_project.root / "f.bin").write_bytes(b"two")  # also rewrites the cache object
    refused = tmp_project.invoke("data", "checkout")
    assert refused.code == 1 and "Modified in the workspace and not in the cache" in (
        refused.stderr)
    forced = tmp_project.invoke("data", "checkout", "--force")
    assert forced.code == 1 and "is corrupt; run: assay fsck, then assay data pull" in (
        forced.stderr)
    assert (tmp_project.root / "f.bin").read_bytes() == b"two"  # nothing replaced by bad bytes


def test_copy_checkout_and_pull_restore_executable_bits(data_project: TmpProject) -> None:
    root = data_project.root
    data_project.gen({"tools/run.sh": "#!/bin/sh\necho hi\n", "tools/notes.txt": "n",
                      "bin/one.sh": "#!/bin/sh\n"})
    (root / "tools" / "run.sh").chmod(0o755)
    (root / "bin" / "one.sh").chmod(0o755)
    _add(data_project, "tools", "bin/one.sh")
    assert "exec: true" in (root / "bin" / "one.sh.assay").read_text()
    assert data_project.invoke("data", "push").code == 0
    shutil.rmtree(root / "tools")
    (root / "bin" / "one.sh").unlink()
    assert data_project.invoke("data", "checkout").code == 0
    assert os.stat(root / "tools" / "run.sh").st_mode & 0o111 == 0o111
    assert os.stat(root / "tools" / "notes.txt").st_mode & 0o111 == 0
    assert os.stat(root / "bin" / "one.sh").st_mode & 0o111 == 0o111
    shutil.rmtree(root / ".assay")
    shutil.rmtree(root / "tools")
    assert data_project.invoke("data", "pull").code == 0
    assert os.stat(root / "tools" / "run.sh").st_mode & 0o111 == 0o111
    status = json.loads(data_project.invoke("data", "status", "--json").stdout)
    assert {e["path"]: e["states"] for e in status} == {"bin/one.sh": ["ok"], "tools": ["ok"]}


def test_symlinks_in_an_added_folder_are_counted_and_not_followed(
    tmp_project: TmpProject,
) -> None:
    outside = tmp_project.root.parent / "outside.txt"
    outside.write_text("not in the project")
    tmp_project.gen({"d/real.txt": "real"})
    (tmp_project.root / "d" / "out.txt").symlink_to(outside)
    (tmp_project.root / "d" / "self").symlink_to(tmp_project.root / "d")
    result = tmp_project.invoke("data", "add", "d")
    assert result.code == 0, result.output
    assert result.stdout.splitlines()[1] == (
        "  skipped 2 symlinks in d (not followed, not versioned): out.txt, self")
    [again] = _add(tmp_project, "d")
    assert again["changed"] is False and again["skipped_links"] == ["out.txt", "self"]
    assert again["nfiles"] == 1


def test_the_symlink_cache_type_keeps_objects_readonly_and_status_clean(
    tmp_project: TmpProject,
) -> None:
    tmp_project.config(cache={"type": ["symlink", "copy"]})
    tmp_project.gen({"d/a.txt": "alpha", "d/sub/b.txt": "beta", "f.csv": "x\n1\n"})
    _add(tmp_project, "d", "f.csv")
    shutil.rmtree(tmp_project.root / "d")
    (tmp_project.root / "f.csv").unlink()
    assert tmp_project.invoke("data", "checkout").code == 0
    for link in (tmp_project.root / "d" / "a.txt", tmp_project.root / "f.csv"):
        assert link.is_symlink() and not os.stat(link).st_mode & stat.S_IWUSR
    status = json.loads(tmp_project.invoke("data", "status", "--json").stdout)
    assert [e["states"] for e in status] == [["ok"], ["ok"]]
    assert tmp_project.invoke("data", "status", "f.csv").code == 0  # the link, not the object
    again = _add(tmp_project, "d", "f.csv")
    assert [r["changed"] for r in again] == [False, False]
    assert tmp_project.invoke("data", "unprotect", "d", "f.csv").code == 0
    assert not (tmp_project.root / "f.csv").is_symlink()
    (tmp_project.root / "f.csv").write_text("x\n2\n")
    assert _fsck_clean(tmp_project)
