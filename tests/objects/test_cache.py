from __future__ import annotations

import errno
import os
import stat
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assay.errors import CorruptObject, LocalDiskError
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


def test_a_small_file_that_grew_after_its_stat_is_stored_whole(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    files = []
    for i in range(3):
        f = folder / f"f{i}.bin"
        f.write_bytes(b"x" * 10)
        files.append((f.name, os.fspath(f), os.stat(f)))  # stats taken before the growth
    (folder / "f1.bin").write_bytes(b"y" * 5000)
    (folder / "f2.bin").write_bytes(os.urandom(cache_module.CHUNK + 10))  # now too big to slurp
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_files(files, durable=False)
    entries = {e.path: e for e in cache.manifest(stored.oid)}
    for name in ("f0.bin", "f1.bin", "f2.bin"):
        data = (folder / name).read_bytes()
        assert (entries[name].size, entries[name].oid) == (len(data), hash_bytes(data))
        assert cache.path_of(entries[name].oid).read_bytes() == data


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
    with pytest.raises(LocalDiskError, match=r"^Disk full \(ENOSPC\) at .*cache while writing "
                       r"to the cache; nothing was stored\. Free space there, or run: assay gc$"):
        cache.add_file(big)
    monkeypatch.undo()
    assert list(cache.iter_objects()) == []
    assert list((tmp_path / "cache" / "tmp").iterdir()) == []


def test_user_space_copy_path_hashes_while_writing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(copying_module.COPY_CHUNK + cache_module.CHUNK + 7))
    monkeypatch.setattr(copying_module, "kernel_copy_hashing", lambda *a, **k: False)
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_file(big)
    assert stored.oid == hash_file(big) and cache.verify(stored.oid)


@pytest.mark.parametrize("path", ["kernel", "user-space"])
def test_a_durable_copy_starts_writing_each_chunk_before_the_fsync(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str) -> None:
    chunk = copying_module.COPY_CHUNK
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(3 * chunk + 11))
    if path == "user-space":
        monkeypatch.setattr(copying_module, "kernel_copy_hashing", lambda *a, **k: False)
    kicked: list[tuple[int, int]] = []
    real = copying_module.start_writeback

    def record(fd: int, offset: int, count: int) -> None:
        kicked.append((offset, count))
        real(fd, offset, count)

    monkeypatch.setattr(copying_module, "start_writeback", record)
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_file(big, durable=True)
    assert stored.oid == hash_file(big) and cache.verify(stored.oid)
    covered = sorted(kicked)
    assert covered[0][0] == 0 and all(a + n == b for (a, n), (b, _) in pairwise(covered))
    assert covered[-1][0] + covered[-1][1] >= 3 * chunk  # all but (at most) the last chunk
    kicked.clear()
    cache.add_file(tmp_path / "big.bin", durable=False, known_oid=None)  # already stored
    (tmp_path / "other.bin").write_bytes(os.urandom(2 * chunk))
    cache.add_file(tmp_path / "other.bin", durable=False)
    assert kicked == []  # batched adds sync once at the end instead


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


@pytest.mark.parametrize("link_types", [["copy"], ["reflink", "copy"], ["hardlink", "copy"]],
                         ids=["copy", "reflink-or-copy", "hardlink-falls-back-for-exec"])
def test_checkout_restores_each_files_manifest_mode(tmp_path: Path,
                                                    link_types: list[str]) -> None:
    d = _tree(tmp_path)
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_dir(d)  # copy mode: objects are 0o444, no executable bit
    out = tmp_path / "out"
    cache.checkout(stored.oid, out, link_types, root=tmp_path)
    assert stat.S_IMODE(os.stat(out / "run.sh").st_mode) & 0o111 == 0o111
    assert stat.S_IMODE(os.stat(out / "a.txt").st_mode) & 0o111 == 0
    assert hash_tree(out).oid == stored.oid  # the modes are part of the folder's id


def test_symlink_checkout_is_listed_as_the_folders_files(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("alpha")
    (d / "b.txt").write_text("beta")
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_dir(d)
    out = tmp_path / "out"
    cache.checkout(stored.oid, out, ["symlink"], root=tmp_path)
    assert (out / "a.txt").is_symlink()
    assert not os.stat(out / "a.txt").st_mode & stat.S_IWUSR  # the object stays read-only
    assert hash_tree(out).oid == stored.oid


def test_other_symlinks_are_not_followed_and_are_reported(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not part of the dataset")
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "real.txt").write_text("real")
    (d / "link.txt").symlink_to(elsewhere)
    (d / "sub" / "loop").symlink_to(d)
    cache = LocalCache(tmp_path / "cache")
    stored = cache.add_dir(d)
    assert [e.path for e in cache.manifest(stored.oid)] == ["real.txt"]
    assert stored.skipped_links == ("link.txt", "sub/loop")
    assert hash_tree(d).skipped_links == ("link.txt", "sub/loop")


def test_hardlink_add_of_a_file_with_other_links_stores_a_private_copy(tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(b"version one")
    cache = LocalCache(tmp_path / "cache")
    v1 = add_tree(cache, f, mode="hardlink")
    # Someone ignores the read-only bit and edits the linked file in place: that edits the
    # v1 object too (it is the same inode). Adding the result must not link v2 to it as well.
    f.chmod(0o644)
    f.write_bytes(b"version two")
    v2 = add_tree(cache, f, mode="hardlink")
    v2_object = cache.path_of(v2.oid)
    assert v2_object.read_bytes() == b"version two" and cache.verify(v2.oid)
    assert os.stat(v2_object).st_ino != os.stat(cache.path_of(v1.oid)).st_ino
    assert os.stat(f).st_ino == os.stat(v2_object).st_ino  # relinked to its own object
    assert not os.stat(f).st_mode & stat.S_IWUSR
    assert not cache.verify(v1.oid)  # the in-place edit did reach v1 (the data layer says so)


@pytest.mark.parametrize("damage", ["truncated", "emptied", "replaced by a directory"])
def test_adding_again_heals_an_object_of_the_wrong_size(tmp_path: Path, damage: str) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(5000))
    cache = LocalCache(tmp_path / "cache")
    oid = cache.add_file(source).oid
    path = cache.path_of(oid)
    path.chmod(0o644)
    if damage == "replaced by a directory":
        path.unlink()
        path.mkdir()
    else:
        path.write_bytes(b"" if damage == "emptied" else source.read_bytes()[:100])
    assert LocalCache(tmp_path / "cache").add_file(source).oid == oid
    assert cache.verify(oid)
    assert (tmp_path / "quarantine" / oid).exists()  # the damaged copy, kept and named


def test_a_damaged_manifest_of_the_right_size_is_replaced_when_written_again(
        tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    oid = cache.add_dir(_tree(tmp_path)).oid
    path = cache.path_of(oid)
    good = path.read_bytes()
    path.chmod(0o644)
    path.write_bytes(good.replace(b"a.txt", b"a.txq"))
    assert LocalCache(tmp_path / "cache").add_dir(tmp_path / "d").oid == oid
    assert path.read_bytes() == good
    assert (tmp_path / "quarantine" / oid).read_bytes() == good.replace(b"a.txt", b"a.txq")


def test_pull_then_checkout_hashes_each_object_once(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from assay.config import RemoteConfig
    from assay.objects import Remote
    from assay.objects import _remote as remote_module

    cache = LocalCache(tmp_path / "cache")
    oid = cache.add_dir(_tree(tmp_path)).oid
    remote = Remote(RemoteConfig(url=str(tmp_path / "remote")), tmp_path, name="origin")
    remote.push(cache, [oid])
    hashed: list[str] = []

    def counting(path: Path | str) -> str:
        hashed.append(os.fspath(path))
        return hash_file(path)

    monkeypatch.setattr(cache_module, "hash_file", counting)
    monkeypatch.setattr(remote_module, "hash_file", counting)
    fresh = LocalCache(tmp_path / "fresh")
    pulled = remote.pull(fresh, [oid])
    fresh.checkout(oid, tmp_path / "out", ["copy"], root=tmp_path)
    assert len(hashed) == len(pulled.transferred) == 24  # once each, on download
    assert hash_tree(tmp_path / "out").oid == oid
    fresh.checkout(oid, tmp_path / "again", ["copy"], root=tmp_path)  # hashed already: trusted
    assert len(hashed) == 24
    assert not LocalCache(tmp_path / "fresh").is_verified(oid)  # another process would rehash
