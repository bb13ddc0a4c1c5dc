from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import CorruptObject, ObjectError
from assay.objects import (
    LocalCache,
    StateDB,
    add_tree,
    choose_add_mode,
    hash_bytes,
    hash_file,
    hash_tree,
    is_object_id,
)
from assay.objects import _cache as cache_module
from assay.objects import _copying as copying_module


def _tree(root: Path) -> Path:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "a.txt").write_text("alpha")
    (root / "d" / "sub" / "b.bin").write_bytes(os.urandom(3000))
    run = root / "d" / "run.sh"
    run.write_text("#!/bin/sh\n")
    run.chmod(0o755)
    for i in range(20):
        (root / "d" / "sub" / f"n{i}").write_bytes(f"{i}".encode() * 50)
    return root / "d"


def test_copy_mode_hashes_while_copying_large_files(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(cache_module.CHUNK * 2 + 12345))
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_file(big)
    assert stored.oid == hash_file(big)
    assert cache.path_of(stored.oid).read_bytes() == big.read_bytes()
    assert not cache.path_of(stored.oid).stat().st_mode & stat.S_IWUSR
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_hash_tree_matches_add_dir_exactly_without_storing(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    cache = LocalCache(tmp_path / "cache")
    predicted = hash_tree(d)
    assert not (tmp_path / "cache").exists()
    stored = cache.add_dir(d)
    assert predicted == stored
    entries = {e.path: e for e in cache.manifest(stored.oid)}
    assert entries["run.sh"].mode == 0o755 and entries["a.txt"].mode == 0o644
    assert stored.nfiles == 23 and is_object_id(stored.oid) and stored.is_dir


def test_hardlink_mode_makes_the_workspace_file_the_readonly_object(tmp_path: Path) -> None:
    f = tmp_path / "f.csv"
    f.write_text("a,b\n1,2\n")
    cache = LocalCache(tmp_path / "cache")
    stored = add_tree(cache, f, mode="hardlink")
    obj = cache.path_of(stored.oid)
    assert os.stat(obj).st_ino == os.stat(f).st_ino
    assert not os.stat(f).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_reflink_is_probed_and_falls_back_along_the_configured_list(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    mode = choose_add_mode(cache, ["reflink", "hardlink", "copy"])
    # This ext4 has no reflink: the next type in the list is used.
    assert mode in ("reflink", "hardlink")
    assert choose_add_mode(cache, ["copy"]) == "copy"
    f = tmp_path / "x"
    f.write_bytes(b"reflink or not")
    assert add_tree(cache, f, mode="reflink").oid == hash_bytes(b"reflink or not")


def test_add_tree_records_the_stat_cache_so_readd_skips_hashing(tmp_path: Path) -> None:
    d = _tree(tmp_path)
    cache = LocalCache(tmp_path / "cache")
    state = StateDB(tmp_path / "state.db")
    first = add_tree(cache, d, state=state)
    assert hash_tree(d, state=state, only_known=True) == first
    (d / "a.txt").write_text("changed")
    with pytest.raises(LookupError, match=r"/d$"):
        hash_tree(d, state=state, only_known=True)
    state.close()


def test_disk_full_during_copy_leaves_no_partial_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(cache_module.CHUNK * 3))
    cache = LocalCache(tmp_path / "cache")
    real_copy = copying_module.copy_range
    calls = {"n": 0}

    def failing_copy(src: int, dst: int, offset: int, count: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # after the probe, the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real_copy(src, dst, offset, count)

    monkeypatch.setattr(copying_module, "copy_range", failing_copy)
    with pytest.raises(ObjectError, match="Disk full while writing to the cache"):
        cache.add_file(big)
    monkeypatch.undo()
    assert list(cache.iter_objects()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_user_space_copy_path_hashes_while_writing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(copying_module.COPY_CHUNK + cache_module.CHUNK + 7))
    monkeypatch.setattr(cache_module, "kernel_copy_hashing", lambda *a: False)
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_file(big)
    assert stored.oid == hash_file(big) and cache.verify(stored.oid)


def test_corrupt_object_is_detected_on_read(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    oid = cache.add_bytes(b"payload")
    path = cache.path_of(oid)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    assert not cache.verify(oid)
    with pytest.raises(CorruptObject, match="is corrupt; run: assay fsck"):
        cache.read_bytes(oid)


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.binary(max_size=64),
                       min_size=1, max_size=6))
def test_directory_ids_are_deterministic(tmp_path_factory: pytest.TempPathFactory,
                                         files: dict[str, bytes]) -> None:
    ids = []
    for _ in range(2):
        root = tmp_path_factory.mktemp("tree")
        for name, data in reversed(list(files.items())):
            (root / name).write_bytes(data)
        ids.append(hash_tree(root).oid)
    assert ids[0] == ids[1]
