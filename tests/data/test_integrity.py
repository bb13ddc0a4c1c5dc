"""Corruption never propagates: every kind of damaged object is caught, quarantined and named at
each trust boundary (restore into the workspace, push, pull), and a bad remote copy is repaired
by ``assay data push --verify`` or ``assay fsck -r``, on a folder remote and on a real moto S3.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from assay.objects import LocalCache, hash_bytes
from tests.conftest import TmpProject
from tests.objects.s3server import DUMMY_CREDENTIALS, make_bucket, moto_server

KINDS = ["truncated", "flipped-byte", "empty", "other-object", "manifest"]
SIZE_CHANGING = {"truncated", "empty", "other-object"}


def mangle(data: bytes, kind: str, other: bytes) -> bytes:
    """The bytes of a damaged copy of ``data`` (``other``: another valid object's bytes)."""
    if kind == "truncated":
        return data[: len(data) // 2]
    if kind in ("flipped-byte", "manifest"):
        i = len(data) // 2
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
    if kind == "empty":
        return b""
    assert kind == "other-object" and len(other) != len(data)
    return other


@dataclass
class World:
    """A project with a tracked folder pushed to a remote, a fresh clone beside it, and raw
    access to the remote's copies."""

    origin: TmpProject
    clone: TmpProject
    read: Callable[[str], bytes]
    write: Callable[[str, bytes], None]
    quarantined: Callable[[], list[str]]
    folder: str
    files: dict[str, bytes]

    def oids(self) -> dict[str, str]:
        """file name (or "manifest") -> object id in the origin's cache."""
        cache = LocalCache(self.origin.root / ".assay" / "cache")
        pointer = json.loads(self.origin.invoke("data", "status", "--json").stdout)[0]["oid"]
        found = {e.path: e.oid for e in cache.manifest(pointer)}
        return {**found, "manifest": pointer}

    def target(self, kind: str) -> tuple[str, bytes]:
        """The object ``kind`` damages and another valid object's bytes."""
        oids = self.oids()
        if kind == "manifest":
            return oids["manifest"], self.files["b.bin"]
        return oids["a.bin"], self.files["b.bin"]


def _clone(origin: TmpProject, where: Path) -> TmpProject:
    """A fresh clone: assay.yaml and the pointer files (what git carries), no data, no cache."""
    where.mkdir()
    for rel in ("assay.yaml", "data/d.assay", ".gitignore"):
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin.root / rel, where / rel)
    (where / ".assay").mkdir()
    clone = TmpProject(where)
    clone.env.update(origin.env)
    return clone


def _world(tmp_path: Path, config: dict[str, object], env: dict[str, str],
           read: Callable[[str], bytes], write: Callable[[str, bytes], None],
           quarantined: Callable[[], list[str]]) -> World:
    origin = TmpProject(tmp_path / "project")
    origin.root.mkdir()
    (origin.root / ".assay").mkdir()
    origin.env.update(env)
    origin.config(**config)
    files = {"a.bin": bytes(range(256)) * 9, "b.bin": b"b" * 3001, "c.txt": b"c\n" * 50}
    origin.gen({f"data/d/{name}": data for name, data in files.items()})
    assert origin.invoke("data", "add", "data/d").code == 0
    pushed = origin.invoke("data", "push")
    assert pushed.code == 0, pushed.output
    return World(origin, _clone(origin, tmp_path / "clone"), read, write, quarantined,
                 "data/d", files)


@pytest.fixture
def folder_world(tmp_path: Path) -> World:
    remote = tmp_path / "remote"

    def path(oid: str) -> Path:
        return remote / oid[:2] / oid[2:]

    def write(oid: str, data: bytes) -> None:
        path(oid).chmod(0o644)
        path(oid).write_bytes(data)

    def quarantined() -> list[str]:
        folder = remote / "quarantine"
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []

    return _world(tmp_path, {"remotes": {"origin": "../remote"}}, {},
                  lambda oid: path(oid).read_bytes(), write, quarantined)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_world(tmp_path: Path, s3_endpoint: str) -> World:
    import boto3

    bucket = f"integrity-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    make_bucket(s3_endpoint, bucket)
    client = boto3.client("s3", endpoint_url=s3_endpoint,
                          aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                          region_name=DUMMY_CREDENTIALS["AWS_DEFAULT_REGION"])

    def key(oid: str) -> str:
        return f"cache/{oid[:2]}/{oid[2:]}"

    def read(oid: str) -> bytes:
        return bytes(client.get_object(Bucket=bucket, Key=key(oid))["Body"].read())

    def write(oid: str, data: bytes) -> None:
        client.put_object(Bucket=bucket, Key=key(oid), Body=data)

    def quarantined() -> list[str]:
        listed = client.list_objects_v2(Bucket=bucket, Prefix="cache/quarantine/")
        return sorted(o["Key"].rsplit("/", 1)[1] for o in listed.get("Contents", []))

    config = {"remotes": {"origin": {"url": f"s3://{bucket}/cache",
                                     "options": {"client_kwargs": {"endpoint_url": s3_endpoint}}}}}
    return _world(tmp_path, config, dict(DUMMY_CREDENTIALS), read, write, quarantined)


def _is_good(world: World, oid: str) -> bool:
    return hash_bytes(world.read(oid)) == oid.removesuffix(".dir")


def _bad_remote_copy_is_refused_then_repaired(world: World, kind: str) -> None:
    oid, other = world.target(kind)
    good = world.read(oid)
    bad = mangle(good, kind, other)
    world.write(oid, bad)

    # pull: refused, nothing bad stored, and the advice names a command that repairs it
    pulled = world.clone.invoke("data", "pull")
    assert pulled.code == 1, pulled.output
    assert f"Object {oid} downloaded from remote 'origin' is corrupt" in pulled.stderr
    assert "assay data push --verify" in pulled.stderr
    assert not LocalCache(world.clone.root / ".assay" / "cache").exists(oid)

    # status -r sees a copy of the wrong size (a hash check needs a download: push --verify)
    status = json.loads(world.origin.invoke("data", "status", "-r", "--json").stdout)
    assert status[0]["states"] == (["not_pushed"] if kind in SIZE_CHANGING else ["ok"])

    # the advice is true: push --verify replaces it, and keeps the bad copy aside
    verified = world.origin.invoke("data", "push", "--verify", "--json")
    assert verified.code == 0, verified.output
    report = json.loads(verified.stdout)
    assert list(report["repaired"]) == [oid] and report["transferred"] == 1
    assert report["checked"] == 4 - (1 if kind in SIZE_CHANGING else 0)
    assert _is_good(world, oid) and world.quarantined() == [oid]
    again = json.loads(world.origin.invoke("data", "push", "--verify", "--json").stdout)
    assert (again["repaired"], again["transferred"], again["checked"]) == ({}, 0, 4)

    pulled = world.clone.invoke("data", "pull")
    assert pulled.code == 0, pulled.output
    for name, data in world.files.items():
        assert (world.clone.root / world.folder / name).read_bytes() == data


def _fsck_remote_finds_and_repairs(world: World, kind: str) -> None:
    oid, other = world.target(kind)
    good = world.read(oid)
    world.write(oid, mangle(good, kind, other))
    before = world.quarantined()

    # a clone without a good copy sets it aside (so a plain push from any clone repairs it)
    empty = _clone(world.origin, world.origin.root.parent / "empty")
    found = empty.invoke("fsck", "-r", "--json")
    assert found.code == 1, found.output
    remote = json.loads(found.stdout)["remote"]
    assert list(remote["corrupt"]) == [oid] and remote["repaired"] == []
    assert "no copy here: run assay data push in a clone that has it" in remote["corrupt"][oid]
    assert len(world.quarantined()) == len(before) + 1
    pushed = world.origin.invoke("data", "push", "--json")
    assert json.loads(pushed.stdout)["transferred"] == 1 and _is_good(world, oid)

    # a clone with a good copy repairs it itself; fsck -r is then clean
    world.write(oid, mangle(good, kind, other))
    repaired = world.origin.invoke("fsck", "-r")
    assert repaired.code == 1, repaired.output
    assert f"corrupt on 'origin' {oid}:" in repaired.stdout
    assert "replaced by the good copy in the local cache" in repaired.stdout
    assert _is_good(world, oid)
    clean = world.origin.invoke("fsck", "-r", "--json")
    assert clean.code == 0, clean.output
    assert json.loads(clean.stdout)["remote"]["checked"] == 4


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_folder_remote_copy_is_refused_by_pull_and_repaired(folder_world: World,
                                                                  kind: str) -> None:
    _bad_remote_copy_is_refused_then_repaired(folder_world, kind)
    _fsck_remote_finds_and_repairs(folder_world, kind)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["flipped-byte", "manifest"])
def test_a_bad_s3_copy_is_refused_by_pull_and_repaired(s3_world: World, kind: str) -> None:
    _bad_remote_copy_is_refused_then_repaired(s3_world, kind)
    _fsck_remote_finds_and_repairs(s3_world, kind)


def _corrupt_local(world: World, kind: str) -> tuple[str, bytes, Path]:
    oid, other = world.target(kind)
    path = LocalCache(world.origin.root / ".assay" / "cache").path_of(oid)
    bad = mangle(path.read_bytes(), kind, other)
    path.chmod(0o644)
    path.write_bytes(bad)
    return oid, bad, world.origin.root / ".assay" / "quarantine" / oid


@pytest.mark.parametrize("kind", KINDS)
def test_a_corrupt_cache_object_is_never_checked_out_nor_pushed(folder_world: World,
                                                              kind: str) -> None:
    world = folder_world
    oid, bad, quarantined = _corrupt_local(world, kind)
    shutil.rmtree(world.origin.root / world.folder)
    checkout = world.origin.invoke("data", "checkout")
    assert checkout.code == 1, checkout.output
    assert f"data/d: cache object {oid} is corrupt; run: assay fsck" in checkout.stderr
    assert f"quarantined to {quarantined}" in checkout.stderr
    assert quarantined.read_bytes() == bad and not (world.origin.root / world.folder).exists()
    # the advice is true: pull fetches a good copy, checkout then restores everything
    assert world.origin.invoke("data", "pull").code == 0
    for name, data in world.files.items():
        assert (world.origin.root / world.folder / name).read_bytes() == data

    # push: a corrupt local object is quarantined, never uploaded under its good name
    world.origin.config(remotes={"origin": "../remote", "backup": "../backup"},
                        default_remote="origin")
    manifest = world.oids()["manifest"]
    oid, bad, _ = _corrupt_local(world, kind)
    pushed = world.origin.invoke("data", "push", "-r", "backup")
    assert pushed.code == 1, pushed.output
    assert f"Cache object {oid} is corrupt" in pushed.stderr and "not pushed" in pushed.stderr
    backup = world.origin.root.parent / "backup"
    on_backup = {p.parent.name + p.name for p in backup.glob("??/*")}
    assert oid not in on_backup
    assert manifest not in on_backup  # nor the manifest that lists it
    assert {p.read_bytes() for p in (world.origin.root / ".assay" / "quarantine").iterdir()} \
        >= {bad}
    assert world.origin.invoke("data", "pull").code == 0  # a good copy again, from origin
    assert world.origin.invoke("data", "push", "-r", "backup").code == 0
    assert world.origin.invoke("fsck", "--remote-name", "backup").code == 0


@pytest.mark.slow
def test_a_corrupt_cache_object_is_not_pushed_to_s3(s3_world: World) -> None:
    world = s3_world
    oid, other = world.target("flipped-byte")
    good = world.read(oid)
    # the remote lacks it: push must upload it, and must refuse the corrupt local copy
    world.write(oid, b"")  # an empty copy is the wrong size: push treats it as missing
    path = LocalCache(world.origin.root / ".assay" / "cache").path_of(oid)
    path.chmod(0o644)
    path.write_bytes(mangle(good, "flipped-byte", other))
    pushed = world.origin.invoke("data", "push")
    assert pushed.code == 1 and f"Cache object {oid} is corrupt" in pushed.stderr
    assert world.read(oid) == b""  # nothing bad uploaded; the old copy is untouched
