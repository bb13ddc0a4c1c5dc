"""``assay data push``/``pull`` end to end through the CLI against a real moto S3 server."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TmpProject
from tests.data.conftest import write_table
from tests.objects.s3server import DUMMY_CREDENTIALS, make_bucket, moto_server


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def _s3_project(project: TmpProject, endpoint: str, bucket: str) -> TmpProject:
    project.config(remotes={"team": {"url": f"s3://{bucket}/cache", "options": {
        "client_kwargs": {"endpoint_url": endpoint}}}})
    project.env.update(DUMMY_CREDENTIALS)
    return project


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_push_then_pull_through_s3_is_bit_identical(tmp_project: TmpProject,
                                                    s3_endpoint: str) -> None:
    make_bucket(s3_endpoint, "cli-roundtrip")
    project = _s3_project(tmp_project, s3_endpoint, "cli-roundtrip")
    write_table(project.root / "data" / "table.parquet", rows=30)
    project.gen({f"data/imgs/{i}.bin": bytes([i]) * (200 + i) for i in range(5)})
    before = _digests(project.root / "data")
    added = project.run("data", "add", "data/table.parquet", "data/imgs")
    assert added.returncode == 0, added.stderr

    pushed = project.run("data", "push", "-j", "4")
    assert pushed.returncode == 0, pushed.stderr
    assert pushed.stdout.startswith("pushed 7 objects (") and "to 'team'" in pushed.stdout
    again = project.run("data", "push", "--json")
    assert json.loads(again.stdout)["transferred"] == 0  # idempotent
    status = project.run("data", "status", "-r", "--json")
    assert [e["states"] for e in json.loads(status.stdout)] == [["ok"], ["ok"]]

    shutil.rmtree(project.root / ".assay")
    shutil.rmtree(project.root / "data" / "imgs")
    (project.root / "data" / "table.parquet").unlink()
    pulled = project.run("data", "pull")
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled 7 objects" in pulled.stdout and "restored  data/imgs" in pulled.stdout
    after = _digests(project.root / "data")
    assert {k: v for k, v in after.items() if not k.endswith(".assay")} == {
        k: v for k, v in before.items()}
    fsck = project.run("fsck")
    assert fsck.returncode == 0, fsck.stdout


def test_wrong_s3_credentials_are_one_line_and_exit_1(tmp_project: TmpProject) -> None:
    with moto_server({"INITIAL_NO_AUTH_ACTION_COUNT": "0"}) as endpoint:
        project = _s3_project(tmp_project, endpoint, "locked")
        project.gen({"d.txt": "data"})
        assert project.run("data", "add", "d.txt").returncode == 0
        for command in (["data", "push"], ["data", "status", "-r"], ["data", "pull"]):
            if command[1] == "pull":  # a pull with a full cache never asks the remote
                shutil.rmtree(project.root / ".assay" / "cache")
            proc = project.run(*command)
            assert proc.returncode == 1, (command, proc.stderr)
            [line] = proc.stderr.strip().splitlines()
            verb = "download from" if command[1] == "pull" else "list"
            assert line == (
                f"error: Cannot {verb} remote 'team' (s3://locked/cache): The AWS Access Key Id "
                "you provided does not exist in our records.; check the URL, network and "
                "credentials")
            assert "Traceback" not in proc.stderr
    assert (project.root / "d.txt").read_text() == "data"  # nothing touched
