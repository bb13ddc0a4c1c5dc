"""A firing carried out: the pipeline run in the trigger's profile (the cause recorded on the
run), then, for a trigger with ``deploy:``, the version that run registered promoted to the
deployment's alias under its promotion policy and rolled out with its strategy and guards.

Each step moves the firing on in the store first, so a watch that dies mid-way leaves a firing
the next one carries on (:func:`carry_on`) instead of firing the cause again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.triggers._causes import Cause, iso
from assay.triggers._firings import Firing, claim, update

if TYPE_CHECKING:
    from assay.config import Project, TriggerConfig
    from assay.deployment import Progress
    from assay.pipeline import Reporter
    from assay.store import Store


@dataclass
class Driver:
    """Who carries firings out, and where they report."""

    project: Project
    store: Store
    owner: dict[str, Any]
    """This process (:func:`assay.pipeline.runner_identity`)."""
    actor: str
    say: Callable[[str], None]
    """One line of progress for people."""
    reporter: Reporter | None = None
    """The pipeline run's progress (default: none)."""
    on_progress: Callable[[Progress], None] | None = None
    """The rollout's progress (default: none)."""
    poll_s: float = 0.5
    lease_s: float = 10.0


def fire(driver: Driver, name: str, cause: Cause) -> Firing:
    """Fire trigger ``name`` for ``cause`` once: claim it (a cause that fired before is left
    as it is and returned) and carry it out."""
    trigger = driver.project.config.triggers[name]
    firing = claim(driver.store, name, cause.key, kind=cause.kind,
                   details={**cause.to_dict(), "profile": trigger.profile,
                            "deploy": trigger.deploy},
                   owner=driver.owner, actor=driver.actor)
    if not firing.new:
        driver.say(f"trigger {name}: {cause.key} fired before (firing #{firing.id}, "
                   f"{firing.state}); not again")
        return firing
    driver.say(f"trigger {name} fired (#{firing.id}): {cause.summary}")
    return carry_on(driver, firing)


def carry_on(driver: Driver, firing: Firing) -> Firing:
    """Take ``firing`` from its state to its end (or to ``awaiting_approval``)."""
    trigger = driver.project.config.triggers.get(firing.trigger)
    if trigger is None:
        return _move(driver, firing, "failed", f"trigger {firing.trigger} is no longer in "
                     "assay.yaml; nothing was carried out")
    if firing.state in ("pending", "running"):
        firing = _run(driver, firing, trigger)
        if firing.finished:
            return firing
    if firing.state == "awaiting_approval":
        firing = _start_rollout(driver, firing, trigger)
    if firing.state == "deploying":
        firing = _drive(driver, firing, trigger)
    return firing


def _move(driver: Driver, firing: Firing, state: str, reason: str | None,
          **changes: Any) -> Firing:
    moved = update(driver.store, firing, owner=driver.owner, state=state, reason=reason,
                   **changes)
    driver.say(f"trigger {firing.trigger} #{firing.id}: {state}" + (f": {reason}" if reason
                                                                   else ""))
    return moved


def _run(driver: Driver, firing: Firing, trigger: TriggerConfig) -> Firing:
    from assay.pipeline import QuietReporter, run_pipeline

    firing = _move(driver, firing, "running", f"pipeline run, profile {trigger.profile}"
                   + (" (every stage forced)" if trigger.force else ""))
    cause = {"trigger": firing.trigger, "firing": firing.id, "kind": firing.kind,
             "cause": firing.cause, "summary": firing.details.get("summary"),
             "at": iso(float(firing.details.get("at") or firing.created_at))}
    result = run_pipeline(driver.project, profile=trigger.profile, force=trigger.force,
                          trigger="manual" if firing.kind == "manual" else trigger.run_label,
                          cause=cause,
                          reporter=driver.reporter or QuietReporter())
    if result.status == "interrupted":  # a stop (Ctrl-C, SIGTERM) during the run: the next
        # assay watch carries the firing on; the run cache keeps what this run finished
        _move(driver, firing, "pending", "interrupted during the run; the next assay watch "
              "carries it on", run_id=result.run_id)
        raise KeyboardInterrupt
    failure = result.failure()
    if failure is not None:
        return _move(driver, firing, "failed", f"the run failed: {failure}",
                     run_id=result.run_id)
    if trigger.deploy is None:
        return _move(driver, firing, "done", "nothing changed: every stage was up to date"
                     if result.run_id is None else "the run succeeded", run_id=result.run_id)
    model = driver.project.config.deployments[trigger.deploy].model_name
    version = registered_by(driver.store, model, result.run_id)
    if version is None:
        what = ("nothing changed: every stage was up to date, so no new version" if
                result.run_id is None else f"the run registered no version of {model}")
        return _move(driver, firing, "done", f"{what}; nothing to roll out to "
                     f"{trigger.deploy}", run_id=result.run_id)
    return _move(driver, firing, "awaiting_approval",
                 f"{model}:{version} registered; promoting it for {trigger.deploy}",
                 run_id=result.run_id, version=version)


def registered_by(store: Store, model: str, run_id: str | None) -> int | None:
    """The newest version of ``model`` that run ``run_id`` registered (None: none)."""
    from assay.errors import RegistryError
    from assay.registry import versions

    if run_id is None:
        return None
    try:
        mine = [v.version for v in versions(store, model) if v.run_id == run_id]
    except RegistryError:  # no such model yet
        return None
    return max(mine) if mine else None


def _start_rollout(driver: Driver, firing: Firing, trigger: TriggerConfig) -> Firing:
    from assay.deployment import start
    from assay.errors import PolicyViolation

    assert trigger.deploy is not None and firing.version is not None
    try:
        rollout = start(driver.store, driver.project.config, trigger.deploy, firing.version,
                        actor=driver.actor)
    except PolicyViolation as exc:
        if firing.reason != str(exc):
            return _move(driver, firing, "awaiting_approval", str(exc))
        return firing  # still waiting, for the same reason: nothing new to record
    return _move(driver, firing, "deploying",
                 f"rollout #{rollout.id}: {rollout.ref} -> {trigger.deploy} "
                 f"({rollout.strategy})", rollout_id=rollout.id)


def _drive(driver: Driver, firing: Firing, trigger: TriggerConfig) -> Firing:
    from assay.deployment import Controller, ManagedServer, deployment_config, get_rollout

    assert trigger.deploy is not None and firing.rollout_id is not None
    project = driver.project
    cfg = deployment_config(project.config, trigger.deploy)
    server = ManagedServer(project.root, trigger.deploy, cfg) if cfg.is_managed else None
    if server is not None:
        launch = server.ensure(driver.store, actor=driver.actor)
        if launch is not None and launch.action != "adopted":
            driver.say(f"{launch.action} the managed server of {trigger.deploy} "
                       f"(pid {launch.pid}) at {launch.url}")
    controller = Controller(driver.store, project.config, trigger.deploy, actor=driver.actor,
                            poll_s=driver.poll_s, lease_s=driver.lease_s,
                            on_progress=driver.on_progress, server=server)
    ended = controller.run(get_rollout(driver.store, firing.rollout_id))
    if ended.state == "completed":
        return _move(driver, firing, "done", f"{ended.ref} serves {trigger.deploy} "
                     f"(rollout #{ended.id} completed)")
    return _move(driver, firing, "failed", f"rollout #{ended.id} {ended.state}"
                 + (f": {ended.reason}" if ended.reason else ""))
