"""``assay watch`` and ``assay triggers``: the long-running process that computes monitor windows
and fires triggers, and the triggers of ``triggers:`` in assay.yaml for people and CI.

Printing only: causes, firings and the watch loop live in :mod:`assay.triggers`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import typer

from assay._console import escape
from assay.cli import _context as ctx

if TYPE_CHECKING:
    from assay.config import TriggerConfig
    from assay.triggers import Driver, Firing

WATCH_HELP = """Watch the project: compute monitor windows, send alerts, fire triggers.

The one long-running process of a project (one per project: a second one is
refused). Each monitor of monitoring: computes a window every `every:`
(default 15m) and sends its alerts; each trigger of triggers: fires once per
cause (a monitor's finding of its severity, a new version of its dataset, a
slot of its cron schedule, in UTC): it runs the pipeline in the trigger's
profile with the cause recorded on the run, and with deploy: promotes the
version that run registered (the promotion policy and its approvals apply; a
firing waits for a missing approval) and rolls it out with the deployment's
strategy and guards.

Restart-safe: a cause fires once even across a crash; a firing a stopped
watch left unfinished is carried on by the next one. SIGTERM or Ctrl-C stops
it (a run under way is recorded as interrupted and carried on next time).
--once does one round and exits (for cron or CI).

Examples:

  assay watch

  assay watch --once

  assay watch --interval 30s --json
"""

TRIGGERS_HELP = """Triggers: what starts a pipeline run without a person (triggers: in assay.yaml).

assay watch fires them; here you can list them, see their firings, and fire
one by hand (--dry-run says what it would do without doing it).

Examples:

  assay triggers list

  assay triggers fire retrain-on-drift --dry-run

  assay triggers fire retrain-on-drift

  assay triggers history retrain-on-drift --json
"""

triggers_app = typer.Typer(help=TRIGGERS_HELP, no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _seconds(text: str, option: str) -> float:
    from assay.config._team import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _driver(json_out: bool) -> Driver:
    from assay._identity import current_user
    from assay.cli.deploy import _Printer
    from assay.pipeline import PlainReporter, QuietReporter, runner_identity
    from assay.triggers import Driver

    project = ctx.project()

    def say(text: str) -> None:
        if json_out:
            sys.stdout.write(json.dumps({"ts": time.time(), "message": text}) + "\n")
            sys.stdout.flush()
        else:
            ctx.err_console().print(escape(f"{_when(time.time())} {text}"), soft_wrap=True,
                                    highlight=False)

    return Driver(project=project, store=ctx.store(), owner=runner_identity(),
                  actor=current_user(project.root), say=say,
                  reporter=QuietReporter() if json_out else PlainReporter(),  # type: ignore[arg-type]
                  on_progress=None if json_out else _Printer(False), poll_s=0.5)


def watch(
    once: bool = typer.Option(False, "--once", help="One round (monitors due, triggers due, "
                              "firings to carry on), then exit."),
    interval: str = typer.Option("60s", "--interval", help="The longest sleep between two "
                                 "looks at the store (30s, 5m)."),
    no_alerts: bool = typer.Option(False, "--no-alerts", help="Compute windows but send no "
                                   "alert."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON object per line."),
) -> None:
    from assay.triggers import Watch

    seconds = _seconds(interval, "--interval")
    done = Watch(_driver(json_out), interval=seconds, send_alerts=not no_alerts).run(once=once)
    if once and any(f.state == "failed" for f in done):
        raise typer.Exit(1)


def _cause_text(trigger: TriggerConfig) -> str:
    if trigger.monitor is not None:
        return f"monitor {trigger.monitor} finding, {trigger.severity}+"
    if trigger.data is not None:
        return f"new version of dataset {trigger.data}"
    return f"schedule {trigger.schedule} (UTC)"


@triggers_app.command("list", help="""Show the triggers: cause, profile, deployment, last firing.

Examples:

  assay triggers list

  assay triggers list --json
""")
def list_cmd(json_out: bool = _JSON) -> None:
    from assay.triggers import armed_at, firings, next_slot

    project, store = ctx.project(), ctx.store()
    rows: list[dict[str, Any]] = []
    now = time.time()
    for name, trigger in sorted(project.config.triggers.items()):
        last = firings(store, name, limit=1)
        rows.append({
            "name": name, "kind": trigger.kind, "source": trigger.source,
            "severity": trigger.severity if trigger.monitor else None,
            "profile": trigger.profile, "force": trigger.force, "deploy": trigger.deploy,
            "cooldown_seconds": trigger.cooldown_seconds, "armed_at": armed_at(store, name),
            "next": (None if trigger.schedule is None else next_slot(trigger.schedule, now)),
            "last": last[0].to_dict() if last else None})
    if json_out:
        ctx.print_json(rows)
        return
    out = ctx.console()
    if not rows:
        out.print("no triggers; add one to assay.yaml, e.g. triggers: {retrain: {monitor: "
                  "MONITOR, deploy: DEPLOYMENT}} (see docs/triggers.md)")
        return
    table = ctx.table("trigger", "fires on", "profile", "deploys to", "last firing", "next")
    for row in rows:
        trigger, last = project.config.triggers[row["name"]], row["last"]
        table.add_row(
            escape(row["name"]), escape(_cause_text(trigger)), escape(row["profile"]),
            escape(row["deploy"] or "-"),
            escape(f"#{last['id']} {last['state']} {_when(last['created_at'])}") if last
            else "never",
            _when(row["next"]) if row["next"] else ("not armed: start assay watch"
                                                    if row["armed_at"] is None else "-"))
    out.print(table)


@triggers_app.command("history", help="""Show the firings: cause, state, run, version, rollout.

Examples:

  assay triggers history

  assay triggers history retrain-on-drift --limit 5 --json
""")
def history_cmd(
    name: str | None = typer.Argument(None, help="A trigger (default: every trigger)."),
    limit: int = typer.Option(20, "--limit", min=1, help="The newest N firings."),
    json_out: bool = _JSON,
) -> None:
    from assay.triggers import firings

    project = ctx.project()
    if name is not None:
        _trigger(project.config.triggers, name)
    found = firings(ctx.store(), name, limit=limit)
    if json_out:
        ctx.print_json([f.to_dict() for f in found])
        return
    out = ctx.console()
    if not found:
        out.print("no firings yet" + (f" of {escape(name)}" if name else ""))
        return
    table = ctx.table("#", "trigger", "cause", "state", "run", "version", "rollout", "when")
    for f in found:
        table.add_row(str(f.id), escape(f.trigger), escape(f.cause), _state(f),
                      escape((f.run_id or "-")[:8]), "-" if f.version is None else
                      f"v{f.version}", "-" if f.rollout_id is None else f"#{f.rollout_id}",
                      _when(f.created_at))
    out.print(table)
    for f in found[:5]:
        if f.reason:
            out.print(escape(f"  #{f.id}: {f.reason}"), soft_wrap=True, highlight=False)


def _state(firing: Firing) -> str:
    style = {"done": "green", "failed": "red", "awaiting_approval": "yellow"}.get(firing.state)
    return f"[{style}]{firing.state}[/{style}]" if style else firing.state


def _trigger(triggers: dict[str, TriggerConfig], name: str) -> TriggerConfig:
    from assay.config import suggest
    from assay.errors import TriggerError

    if name not in triggers:
        raise TriggerError(f"no trigger {name!r} under triggers: in assay.yaml (triggers: "
                           f"{', '.join(sorted(triggers)) or 'none'}){suggest(name, list(triggers))}",
                           trigger=name)
    return triggers[name]


@triggers_app.command("fire", help="""Fire a trigger now, by hand (its cause recorded as manual).

Runs the pipeline in the trigger's profile, then (deploy:) promotes and rolls
out the version the run registered, as assay watch would. --dry-run prints
what it would do: the stages that would run or be restored, the deployment,
its strategy and the promotion policy, and changes nothing. Exits 1 when the
firing failed (a failed stage or gate, a rollback).

Examples:

  assay triggers fire retrain-on-drift --dry-run

  assay triggers fire nightly --json
""")
def fire_cmd(
    name: str = typer.Argument(..., help="A trigger under triggers: in assay.yaml."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what it would do; do nothing."),
    json_out: bool = _JSON,
) -> None:
    import uuid

    from assay.triggers import Cause, fire

    project = ctx.project()
    trigger = _trigger(project.config.triggers, name)
    if dry_run:
        _dry_run(name, trigger, json_out)
        return
    driver = _driver(json_out)
    cause = Cause(key=f"manual:{uuid.uuid4()}", kind="manual", at=time.time(),
                  summary=f"fired by hand by {driver.actor}", details={"by": driver.actor})
    firing = fire(driver, name, cause)
    if json_out:
        ctx.print_json(firing.to_dict())
    if firing.state == "failed":
        raise typer.Exit(1)


def _dry_run(name: str, trigger: TriggerConfig, json_out: bool) -> None:
    from assay.pipeline import plan_pipeline

    project = ctx.project()
    _, states = plan_pipeline(project, profile=trigger.profile)
    stages: list[dict[str, Any]] = [{"stage": s.stage,
                                     "action": "run" if trigger.force else s.action,
                                     "reasons": s.reasons} for s in states]
    plan: dict[str, Any] = {"trigger": name, "profile": trigger.profile,
                            "force": trigger.force, "stages": stages}
    deploy: dict[str, Any] | None = None
    if trigger.deploy is not None:
        cfg = project.config.deployments[trigger.deploy]
        policy = project.config.promotion.get(cfg.alias)
        deploy = {"deployment": trigger.deploy, "model": cfg.model, "strategy": cfg.strategy,
                  "steps": [s.weight for s in cfg.plan],
                  "policy": None if policy is None else policy.model_dump(mode="json")}
    plan["deploy"] = deploy
    if json_out:
        ctx.print_json(plan)
        return
    out = ctx.console()
    out.print(escape(f"trigger {name} would run the pipeline (profile {trigger.profile}"
                     + (", every stage forced" if trigger.force else "") + "):"),
              highlight=False)
    table = ctx.table("stage", "would", "why")
    for s in stages:
        table.add_row(escape(s["stage"]), s["action"] or "skip (up to date)",
                      escape("; ".join(s["reasons"][:2]) or "-"))
    out.print(table)
    if deploy is None:
        out.print("and deploy nothing (no deploy: in the trigger)")
        return
    weights = " -> ".join(f"{w:.0%}" for w in plan_steps(deploy)) or "100%"
    out.print(escape(f"then roll the version it registers out to {deploy['deployment']} "
                     f"({deploy['model']}, {deploy['strategy']} {weights})"), highlight=False)
    out.print(escape(f"promotion policy of {deploy['model']}: "
                     + _policy_text(deploy["policy"])), highlight=False, soft_wrap=True)


def _policy_text(policy: dict[str, Any] | None) -> str:
    if policy is None:
        return "none (any version may take the alias)"
    gates = policy.get("gates")
    parts = [f"gates {gates if isinstance(gates, str) else ', '.join(gates or [])}"]
    approvals = policy.get("approvals") or []
    parts.append("approvals: " + (", ".join(
        f"{a.get('count', 1)} from {'/'.join(a.get('roles') or ['anyone'])}" for a in approvals)
        or "none"))
    if policy.get("from_aliases"):
        parts.append("only from " + ", ".join(policy["from_aliases"]))
    return "; ".join(parts)


def plan_steps(deploy: dict[str, Any]) -> list[float]:
    return [float(w) for w in deploy["steps"]]


def register(app: typer.Typer) -> None:
    app.command("watch", help=WATCH_HELP)(watch)
    app.add_typer(triggers_app, name="triggers")
