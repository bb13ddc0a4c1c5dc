"""Usage errors of the deployment commands: one line, exit 2, nothing recorded."""

from __future__ import annotations

from pathlib import Path

from tests.deployment.live import assay, deployment_world, store_state
from tests.serving.worlds import train_package


def test_unknown_deployment_other_model_and_no_rollout_are_one_line_exit_2(
        tmp_path: Path) -> None:
    world, _ = deployment_world(tmp_path)
    world.register(train_package(world.root, "models/v1"), alias="production")
    for args, says in (
        (("deploy", "toy:1", "--to", "nope"), "No deployment 'nope' in assay.yaml"),
        (("deploy", "other:1", "--to", "prod"), "Deploy a version of toy to prod"),
        (("deploy", "toy@production", "--to", "prod"), "Deploy a version of toy to prod"),
        (("deployments", "abort", "prod"), "No rollout is running on prod"),
        (("deployments", "status", "nope"), "No deployment 'nope'"),
        (("deployments", "stop", "prod"), "by a server assay does not manage (url: in "
                                          "assay.yaml)"),
    ):
        done = assay(world.root, *args)
        assert done.returncode == 2, (args, done.stderr)
        [line] = done.stderr.strip().splitlines()
        assert line.startswith("error: ") and says in line, line
    state = store_state(world.root)
    assert state["deployment"] is None and state["rollouts"] == []
    assert state["alias"] == 1
