from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.config import Project, RemoteConfig
from assay.errors import CorruptObject, ObjectNotFound, RemoteError, UsageError
from assay.objects import LocalCache, Remote, remote_for
from tests.conftest import TmpProject
from tests.objects.s3server import DUMMY_CREDENTIALS, free_port, make_bucket, moto_server


def _cache_with_dir(root: Path) -> tuple[LocalCache, str]:
    d = root / "data"
    (d / "sub").mkdir(parents=True)
    for i in range(12):
        (d / "sub" / f"f{i}").write_bytes(os.urandom(500 + i))
    (d / "top.txt").write_text("top")
    cache = LocalCache(root / "cache")
    return cache, cache.add_dir(d).oid


def _all_good(cache: LocalCache) -> bool:
    return all(cache.verify(oid) for oid in cache.iter_objects())


def test_local_remote_push_pull_roundtrip_is_idempotent(tmp_path: Path) -> None:
    cache, oid = _cache_with_dir(tmp_path)
    remote = Remote(RemoteConfig(url="../remote"), tmp_path / "project", name="origin")
    assert remote.url == str(tmp_path / "remote")
    assert remote.missing([oid]) == [oid]
    seen: list[tuple[int, int]] = []
    first = remote.push(cache, [oid], jobs=4, progress=lambda d, t: seen.append((d, t)))
    assert len(first.transferred) == 14 and seen[0] == (0, 14) and seen[-1] == (14, 14)
    assert first.transferred[-1] == oid  # the manifest goes last
    assert remote.push(cache, [oid]).transferred == []
    assert remote.missing([oid]) == []
    fresh = LocalCache(tmp_path / "fresh")
    pulled = remote.pull(fresh, [oid], jobs=4)
    assert len(pulled.transferred) == 14
    assert sorted(fresh.iter_objects()) == sorted(cache.iter_objects()) and _all_good(fresh)
    assert remote.pull(fresh, [oid]).transferred == []


def test_corrupt_download_is_rejected_and_not_stored(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache")
    oid = cache.add_bytes(b"genuine bytes")
    remote = Remote(RemoteConfig(url=str(tmp_path / "remote")), tmp_path, name="origin")
    remote.push(cache, [oid])
    on_remote = tmp_path / "remote" / oid[:2] / oid[2:]
    on_remote.write_bytes(b"evil bytes")
    fresh = LocalCache(tmp_path / "fresh")
    with pytest.raises(CorruptObject, match=r"downloaded from remote 'origin' is corrupt"):
        remote.pull(fresh, [oid])
    assert list(fresh.iter_objects()) == [] and list((fresh.root / "tmp").iterdir()) == []


def test_pull_of_an_object_the_remote_lacks_says_so(tmp_path: Path) -> None:
    remote = Remote(RemoteConfig(url=str(tmp_path / "remote")), tmp_path, name="origin")
    with pytest.raises(ObjectNotFound, match=r"is not on remote 'origin'"):
        remote.pull(LocalCache(tmp_path / "c"), ["a" * 64])


def test_remote_for_picks_the_default_and_rejects_unknown_names(tmp_project: TmpProject) -> None:
    tmp_project.config(remotes={"origin": "../r", "backup": "../b"}, default_remote="origin")
    project = Project.load(tmp_project.root)
    assert remote_for(project, None).name == "origin"
    assert remote_for(project, "backup").url == str(tmp_project.root.parent / "b")
    with pytest.raises(UsageError, match=r"Unknown remote 'orgin'.*did you mean 'origin'"):
        remote_for(project, "orgin")
    tmp_project.config()
    with pytest.raises(UsageError, match="No remote is configured"):
        remote_for(Project.load(tmp_project.root), None)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def _s3(endpoint: str, url: str) -> RemoteConfig:
    return RemoteConfig(url=url, options={"client_kwargs": {"endpoint_url": endpoint}})


@pytest.mark.usefixtures("aws_env")
def test_s3_remote_roundtrip_against_moto(tmp_path: Path, s3_endpoint: str) -> None:
    make_bucket(s3_endpoint, "roundtrip")
    cache, oid = _cache_with_dir(tmp_path)
    remote = Remote(_s3(s3_endpoint, "s3://roundtrip/team/cache"), tmp_path, name="s3")
    assert remote.missing([oid]) == [oid]
    assert len(remote.push(cache, [oid], jobs=4).transferred) == 14
    assert remote.missing([oid]) == []
    fresh = LocalCache(tmp_path / "fresh")
    assert len(remote.pull(fresh, [oid], jobs=4).transferred) == 14
    assert sorted(fresh.iter_objects()) == sorted(cache.iter_objects()) and _all_good(fresh)


@pytest.mark.usefixtures("aws_env")
def test_s3_unreachable_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    remote = Remote(_s3(f"http://127.0.0.1:{free_port()}", "s3://nope/x"), tmp_path, name="s3")
    started = time.monotonic()
    with pytest.raises(RemoteError, match=r"Cannot list remote 's3' \(s3://nope/x\)"):
        remote.missing(["a" * 64])
    assert time.monotonic() - started < 30


@pytest.mark.usefixtures("aws_env")
def test_s3_wrong_credentials_is_one_clear_error(tmp_path: Path) -> None:
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        remote = Remote(_s3(endpoint, "s3://locked/x"), tmp_path, name="s3")
        with pytest.raises(RemoteError, match=r"remote 's3' .*check the URL, network and cred"):
            remote.missing(["a" * 64])
