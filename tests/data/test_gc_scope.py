"""gc's scope: what it keeps, what it may touch, that --dry-run is exact, the cache lock and the
grace period, and left-over temp files (local, folder remote, S3 multipart uploads)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from assay.config import Project
from assay.data import Workspace, gc
from assay.errors import ConcurrencyError
from assay.objects import LocalCache, hash_bytes
from tests.conftest import TmpProject

HOUR = 3600.0


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def _leftover_by_a_killed_writer(cache_dir: Path, size: int) -> Path:
    """A temp file named by the cache itself, in a process that then dies without cleaning up."""
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from assay.objects import LocalCache
        tmp = LocalCache(Path({str(cache_dir)!r})).new_tmp()
        with open(tmp, "wb") as f:
            f.truncate({size})
        print(tmp)
        os._exit(9)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 9, proc.stderr
    return Path(proc.stdout.strip())


def test_gc_in_a_shared_cache_dir_touches_only_objects_and_its_own_temp_files(
        tmp_project: TmpProject, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    tmp_project.config(cache={"dir": str(shared)})
    tmp_project.gen({"data/a.csv": "x\n1\n"})
    assert tmp_project.invoke("data", "add", "data/a.csv").code == 0
    orphan = LocalCache(shared).add_bytes(b"nobody points at me")
    outside = tmp_path / "precious.txt"
    outside.write_text("not the cache's")
    unrelated = {
        "notes.txt": b"a user's notes",
        "tmp/report.part": b"not a name the cache makes",
        "tmp/0123456789abcdef0123456789abcdef.partial": b"nor this",
        f"{orphan[:2]}/.hidden": b"hidden, in a fan-out folder",
        f"{orphan[:2]}/{orphan[2:]}.bak": b"a backup beside an object",
        f"zz/{'a' * 62}": b"a folder that is not hex",
        f"ABC/{'b' * 62}": b"three letters",
        f"ab/{'c' * 61}": b"one digit short",
    }
    for rel, data in unrelated.items():
        (shared / rel).parent.mkdir(parents=True, exist_ok=True)
        (shared / rel).write_bytes(data)
        _age(shared / rel, 48 * HOUR)
    (shared / "cd").mkdir(exist_ok=True)
    (shared / "cd" / ("d" * 62)).symlink_to(outside)  # a symlink named like an object
    (shared / "ef" / ("e" * 62)).mkdir(parents=True)  # a folder named like an object
    before = _files(shared)

    dry = tmp_project.invoke("gc", "--dry-run", "--grace", "0", "--json")
    assert dry.code == 0, dry.output
    plan = json.loads(dry.stdout)
    assert (plan["removed"], plan["temp_files"]) == ([orphan], [])
    result = tmp_project.invoke("gc", "--grace", "0", "--json")
    assert json.loads(result.stdout)["removed"] == [orphan]
    after = _files(shared)
    assert set(before) - set(after) == {f"{orphan[:2]}/{orphan[2:]}"}
    assert {rel: after[rel] for rel in unrelated} == unrelated
    assert outside.read_text() == "not the cache's" and (shared / "ef" / ("e" * 62)).is_dir()
    assert tmp_project.invoke("data", "status").code == 0


def test_dry_run_lists_exactly_what_gc_then_removes(data_project: TmpProject) -> None:
    root = data_project.root
    cache_dir = root / ".assay" / "cache"
    assert data_project.invoke("data", "add", "data/images").code == 0
    cache = LocalCache(cache_dir)
    orphans = sorted(cache.add_bytes(f"orphan {i}".encode()) for i in range(3))
    dead = _leftover_by_a_killed_writer(cache_dir, 1024)
    stale = cache.tmp_dir() / "0123456789abcdef0123456789abcdef.pull"  # older assay's name
    stale.write_bytes(b"x" * 10)
    _age(stale, 2 * HOUR)
    fan = cache_dir / orphans[0][:2] / f".{orphans[0][2:14]}.{_dead_pid()}.abcdef012345.part"
    fan.write_bytes(b"y" * 5)
    before = _files(cache_dir)

    dry = data_project.invoke("gc", "--dry-run", "--grace", "0")
    assert dry.code == 0, dry.output
    for oid in orphans:
        assert f"  {oid}\n" in dry.stdout
    assert dry.stdout.splitlines()[-1].startswith("would remove 3 objects and 3 left-over temp")
    plan = json.loads(data_project.invoke("gc", "--dry-run", "--grace", "0", "--json").stdout)
    assert _files(cache_dir) == before
    assert sorted(plan["removed"]) == orphans
    planned = {f"{o[:2]}/{o[2:]}" for o in orphans} | {t["name"] for t in plan["temp_files"]}
    assert {t["name"] for t in plan["temp_files"]} == {
        f"tmp/{dead.name}", f"tmp/{stale.name}", f"{fan.parent.name}/{fan.name}"}
    assert plan["bytes"] == sum(len(before[rel]) for rel in planned)

    done = json.loads(data_project.invoke("gc", "--grace", "0", "--json").stdout)
    for key in ("removed", "bytes", "kept", "young"):
        assert done[key] == plan[key]
    assert [t["name"] for t in done["temp_files"]] == [t["name"] for t in plan["temp_files"]]
    assert set(before) - set(_files(cache_dir)) == planned
    assert data_project.invoke("fsck").code == 0


def test_grace_period_keeps_young_objects_and_live_writers_temp_files(
        data_project: TmpProject) -> None:
    cache_dir = data_project.root / ".assay" / "cache"
    cache = LocalCache(cache_dir)
    young = cache.add_bytes(b"written a moment ago, not yet referenced")
    live = cache.tmp_dir() / f"{os.getppid()}.{'1' * 32}.part"  # a live process's temp file
    live.write_bytes(b"being written")
    legacy = cache.tmp_dir() / f"{'2' * 32}.part"  # no pid: only age tells
    legacy.write_bytes(b"recent")
    result = json.loads(data_project.invoke("gc", "--json").stdout)  # default grace: 60 min
    assert (result["removed"], result["temp_files"], result["young"]) == ([], [], 1)
    assert cache.exists(young) and live.exists() and legacy.exists()
    data_project.gen({"assay.yaml": {"project": "test", "cache": {"gc_grace_minutes": 0}}})
    result = json.loads(data_project.invoke("gc", "--json").stdout)
    assert result["removed"] == [young]
    assert [t["name"] for t in result["temp_files"]] == [f"tmp/{legacy.name}"]
    assert live.exists()


def test_fsck_reports_leftover_temp_files_with_their_size(data_project: TmpProject) -> None:
    cache_dir = data_project.root / ".assay" / "cache"
    big = _leftover_by_a_killed_writer(cache_dir, 1 << 30)  # a killed add of a 1 GiB file
    result = data_project.invoke("fsck")
    assert result.code == 0, result.output
    assert "1 left-over temp files (1.0 GiB); assay gc removes them:" in result.stdout
    assert f"tmp/{big.name} (1.0 GiB; its writer (pid " in result.stdout
    assert json.loads(data_project.invoke("gc", "--json").stdout)["bytes"] == 1 << 30
    assert not big.exists()


def test_data_pulled_for_another_branch_is_kept(data_project: TmpProject, tmp_path: Path
                                                ) -> None:
    root = data_project.root
    assert data_project.invoke("data", "add", "data/images").code == 0
    assert data_project.invoke("data", "push").code == 0
    clone = TmpProject(tmp_path / "clone")
    (clone.root / "data").mkdir(parents=True)
    (clone.root / ".assay").mkdir()
    for rel in ("assay.yaml", "data/images.assay"):
        (clone.root / rel).write_bytes((root / rel).read_bytes())
    assert clone.invoke("data", "pull").code == 0
    pulled = set(LocalCache(clone.root / ".assay" / "cache").iter_objects())
    log = clone.invoke("data", "log", "images")
    assert log.code == 0, log.output  # the pull recorded the version (and says so)
    assert log.stdout.splitlines()[0].startswith("v1 ") and log.stdout.splitlines()[1:] == [
        "    pulled from remote 'origin'"]

    # another branch: its pointer file is gone from the workspace, its data must stay
    (clone.root / "data" / "images.assay").unlink()
    result = clone.invoke("gc", "--grace", "0", "--json")
    assert json.loads(result.stdout)["removed"] == []
    assert set(LocalCache(clone.root / ".assay" / "cache").iter_objects()) == pulled


def test_gc_waits_for_a_command_that_is_writing_to_the_cache(data_project: TmpProject) -> None:
    cache_dir = data_project.root / ".assay" / "cache"
    code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from assay.objects import LocalCache
        cache = LocalCache(Path({str(cache_dir)!r}))
        with cache.writing():
            print(cache.add_bytes(b"written, its reference not yet recorded"), flush=True)
            time.sleep(1.5)
    """)
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert writer.stdout is not None
        oid = writer.stdout.readline().strip()
        with Workspace(Project.load(data_project.root)) as ws:
            with pytest.raises(ConcurrencyError, match=r"kept writing to the cache .* run gc "
                                                       "again when they have finished"):
                gc(ws, grace_minutes=0, timeout=0.2)
            assert LocalCache(cache_dir).exists(oid)
            started = time.monotonic()
            result = gc(ws, grace_minutes=0)  # waits for the writer
            assert writer.wait(timeout=30) == 0
            assert time.monotonic() - started > 0.5
            assert result.removed == [oid]  # its writer never recorded a reference
            with LocalCache(cache_dir).writing(), pytest.raises(ConcurrencyError,
                                                                match="wait for itself"):
                gc(ws)
    finally:
        writer.kill()
        writer.wait()


def test_remote_leftovers_are_reported_by_fsck_and_removed_by_gc(data_project: TmpProject
                                                                 ) -> None:
    assert data_project.invoke("data", "add", "data/images").code == 0
    assert data_project.invoke("data", "push").code == 0
    remote = data_project.root.parent / "remote"
    fan = next(p for p in remote.iterdir() if p.is_dir() and len(p.name) == 2)
    part = fan / f".{'a' * 8}.{'b' * 32}.part"  # a killed push
    part.write_bytes(b"z" * 100)
    _age(part, 2 * HOUR)
    fresh = fan / f".{'c' * 8}.{'d' * 32}.part"  # another machine's push in progress
    fresh.write_bytes(b"z")
    other = fan / "unrelated.part"
    other.write_bytes(b"not ours")
    _age(other, 48 * HOUR)

    fsck = data_project.invoke("fsck", "-r", "--json")
    assert fsck.code == 0, fsck.output
    assert [t["name"] for t in json.loads(fsck.stdout)["remote"]["leftovers"]] == [
        f"{fan.name}/{part.name}"]
    dry = json.loads(data_project.invoke("gc", "-r", "--dry-run", "--json").stdout)
    assert [t["name"] for t in dry["remote_leftovers"]] == [f"{fan.name}/{part.name}"]
    assert part.exists()
    done = data_project.invoke("gc", "-r")
    assert done.code == 0 and "1 left-over temp file" in done.stdout
    assert not part.exists() and fresh.exists() and other.exists()


@pytest.mark.slow
def test_abandoned_s3_multipart_uploads_are_found_and_aborted(tmp_project: TmpProject) -> None:
    import boto3

    from tests.objects.s3server import DUMMY_CREDENTIALS, make_bucket, moto_server

    with moto_server() as endpoint:
        make_bucket(endpoint, "mpu")
        tmp_project.config(remotes={"team": {"url": "s3://mpu/cache", "options": {
            "client_kwargs": {"endpoint_url": endpoint}}}})
        tmp_project.env.update(DUMMY_CREDENTIALS)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        oid = hash_bytes(b"never finished")
        ours = client.create_multipart_upload(Bucket="mpu", Key=f"cache/{oid[:2]}/{oid[2:]}")
        client.upload_part(Bucket="mpu", Key=f"cache/{oid[:2]}/{oid[2:]}", PartNumber=1,
                           UploadId=ours["UploadId"], Body=b"p" * 1000)
        theirs = client.create_multipart_upload(Bucket="mpu", Key="elsewhere/file")

        fsck = json.loads(tmp_project.invoke("fsck", "-r", "--json").stdout)
        [found] = fsck["remote"]["leftovers"]
        assert (found["name"], found["upload"], found["size"]) == (
            f"{oid[:2]}/{oid[2:]}", ours["UploadId"], 1000)
        # (moto dates every upload 2010-11-10, so the grace period cannot be seen here)
        done = json.loads(tmp_project.invoke("gc", "-r", "--json").stdout)
        assert [t["upload"] for t in done["remote_leftovers"]] == [ours["UploadId"]]
        left = client.list_multipart_uploads(Bucket="mpu").get("Uploads", [])
        assert [u["UploadId"] for u in left] == [theirs["UploadId"]]
