"""``assay deploy`` and ``assay deployments``: roll a model version out to a deployment, watch
it, and steer it (pause, resume, abort, promote now).

Printing only: the rollout's rules live in :mod:`assay.deployment`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import typer

from assay._console import escape
from assay.cli import _context as ctx

if TYPE_CHECKING:
    from assay.deployment import ManagedServer, Progress, Rollout

deployments_app = typer.Typer(
    help="Deployments: what each one serves, its rollouts, and steering a running rollout.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_WATCH = typer.Option(False, "--watch", help="A live view of the rollout (step, traffic, guards).")
_LEASE = typer.Option(10.0, "--lease-seconds", min=1.0,
                      help="A controller silent this long loses the rollout to the next one.")
_POLL = typer.Option(0.5, "--poll", min=0.05, help="Seconds between the controller's looks.")

DEPLOY_HELP = """Roll MODEL:VERSION out to a deployment and drive the rollout to its end.

The version is promoted to the alias the deployment follows (the promotion
policy and its approvals apply), then moved into traffic as the deployment's
strategy says (direct, canary, shadow, blue_green). Guards decide at every
step from the server's own measurements; when one fails, traffic goes back to
the incumbent and the alias moves back. Exits 0 when the rollout completes,
1 when it was rolled back or aborted.

A deployment with serve: in assay.yaml runs on a local server assay manages:
it is started first when it is not running (and keeps running after this
command), or adopted when it is. With url:, start the server yourself.

Examples:

  assay serve --deployment churn-prod &   (a deployment with url:)

  assay deploy churn:4 --to churn-prod --watch

  assay deployments status churn-prod

  assay deployments stop churn-prod   (a deployment with serve:)
"""


def _actor() -> str:
    from assay._identity import current_user

    return current_user(ctx.project().root)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _guards_text(progress: Progress) -> str:
    parts = []
    for d in progress.decisions:
        value = "-" if d.value is None else f"{d.value:.4g}"
        parts.append(f"{d.guard} {value} (bound {d.bound:g}): {d.status}")
    return "; ".join(parts) or "no guards"


def _line(progress: Progress) -> str:
    r = progress.rollout
    steps = len(r.steps)
    head = f"#{r.id} {r.ref} -> {r.deployment} [{r.strategy}]"
    if progress.phase == "observing":
        return (f"{head} step {r.step + 1}/{steps} at {r.weight:.0%}: "
                f"{progress.requests}/{progress.min_requests} requests, "
                f"{progress.elapsed:.0f}/{progress.min_seconds:.0f} s; {_guards_text(progress)}")
    return f"{head} {progress.phase}: {progress.server}"


class _Printer:
    """Plain lines (a line when something changes, and every 5 s) or a live view."""

    def __init__(self, watch: bool) -> None:
        self.watch = watch and ctx.is_interactive()
        self.last = ""
        self.pending = ""
        self.printed = ""
        self.at = 0.0
        self.live: Any = None

    def __enter__(self) -> _Printer:
        if self.watch:
            from rich.live import Live

            self.live = Live(console=ctx.console(), refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def __call__(self, progress: Progress) -> None:
        if self.live is not None:
            self.live.update(self._view(progress))
            return
        line = _line(progress)
        key = line.split(":")[0] + progress.phase
        if key != self.last and self.pending and self.pending != self.printed:
            self._print(self.pending)  # the last look of the step that just ended
        if key != self.last or time.monotonic() - self.at > 5:
            self._print(line)
            self.last, self.at = key, time.monotonic()
        self.pending = line

    def _print(self, line: str) -> None:
        ctx.err_console().print(escape(line), soft_wrap=True, highlight=False)
        self.printed = line

    def _view(self, progress: Progress) -> Any:
        r = progress.rollout
        table = ctx.table("rollout", "step", "traffic", "requests", "time", "server")
        steps = len(r.steps)
        table.add_row(escape(f"#{r.id} {r.ref} -> {r.deployment} ({r.strategy})"),
                      f"{r.step + 1}/{steps}" if steps else "-", f"{r.weight:.0%}",
                      f"{progress.requests}/{progress.min_requests}",
                      f"{progress.elapsed:.0f}/{progress.min_seconds:.0f} s",
                      escape(progress.server))
        guards = ctx.table("guard", "value", "bound", "p", "decision")
        for d in progress.decisions:
            guards.add_row(d.guard, "-" if d.value is None else f"{d.value:.4g}", f"{d.bound:g}",
                           "-" if d.p_value is None else f"{d.p_value:.3g}", d.status)
        from rich.console import Group

        return Group(table, guards)


def _finish(rollout: Rollout, json_out: bool) -> None:
    from assay.errors import RolledBack

    if json_out:
        ctx.print_json(rollout.to_dict())
    if rollout.state == "completed":
        if not json_out:
            ctx.console().print(escape(f"Rollout #{rollout.id}: {rollout.ref} serves "
                                       f"{rollout.deployment} ({rollout.strategy}, completed)"))
        return
    if rollout.state in ("rolled_back", "aborted"):
        back = f"v{rollout.from_version}" if rollout.from_version else "nothing"
        raise RolledBack(f"Rollout #{rollout.id} of {rollout.ref} to {rollout.deployment} "
                         f"{rollout.state.replace('_', ' ')}: {rollout.reason}; {back} serves "
                         "it again", deployment=rollout.deployment)
    if not json_out:
        ctx.console().print(escape(
            f"Rollout #{rollout.id} is {rollout.state} at step {rollout.step + 1}; a controller "
            f"carries it on: assay deployments run {rollout.deployment}"))


def _managed_server(name: str) -> ManagedServer | None:
    """Deployment ``name``'s managed server (None for a deployment with ``url:``)."""
    from assay.deployment import ManagedServer, deployment_config

    project = ctx.project()
    cfg = deployment_config(project.config, name)
    return ManagedServer(project.root, name, cfg) if cfg.is_managed else None


def _ensure_server(name: str) -> ManagedServer | None:
    """Start (or adopt) deployment ``name``'s managed server before a rollout is driven."""
    server = _managed_server(name)
    if server is not None:
        _said(server.ensure(ctx.store(), actor=_actor()), name)
    return server


def _said(launch: Any, name: str) -> None:
    if launch is not None and launch.action != "adopted":
        ctx.err_console().print(escape(
            f"{launch.action.capitalize()} the managed server of {name} (pid {launch.pid}) at "
            f"{launch.url}; log: {launch.log}"), highlight=False, soft_wrap=True)


def _drive(rollout: Rollout, *, watch: bool, json_out: bool, poll: float, lease: float,
           timeout: float | None, server: ManagedServer | None = None) -> None:
    from assay.deployment import Controller

    project = ctx.project()
    with _Printer(watch and not json_out) as printer:
        controller = Controller(ctx.store(), project.config, rollout.deployment,
                                actor=_actor(), poll_s=poll, lease_s=lease,
                                on_progress=None if json_out else printer, server=server)
        ended = controller.run(rollout, timeout=timeout)
    _finish(ended, json_out)


def deploy(
    ref: str = typer.Argument(..., metavar="MODEL:VERSION", help="The version to roll out."),
    to: str = typer.Option(..., "--to", help="The deployment (a name under deployments: in assay.yaml)."),
    watch: bool = _WATCH,
    json_out: bool = _JSON,
    poll: float = _POLL,
    lease: float = _LEASE,
    timeout: float | None = typer.Option(None, "--timeout", help="Stop driving after this many seconds (the rollout stays as it is)."),
) -> None:
    from assay.deployment import deployment_config, start
    from assay.errors import UsageError
    from assay.registry import parse_ref

    parsed = parse_ref(ref)
    cfg = deployment_config(ctx.project().config, to)
    if parsed.version is None or parsed.name != cfg.model_name:
        raise UsageError(f"Deploy a version of {cfg.model_name} to {to}: assay deploy "
                         f"{cfg.model_name}:VERSION --to {to}")
    server = _ensure_server(to)
    rollout = start(ctx.store(), ctx.project().config, to, parsed.version, actor=_actor())
    if not json_out:
        ctx.err_console().print(escape(
            f"Rollout #{rollout.id}: {rollout.ref} -> {to} ({rollout.strategy}, from "
            f"{'v' + str(rollout.from_version) if rollout.from_version else 'nothing'})"),
            highlight=False)
    _drive(rollout, watch=watch, json_out=json_out, poll=poll, lease=lease, timeout=timeout,
           server=server)


def _server_text(server: dict[str, Any]) -> str:
    kind = "managed" if server["managed"] else "external"
    if not server["running"]:
        return f"{kind}, not running" if server["managed"] else f"{kind}, not answering"
    return f"{kind}, running" + (f" (pid {server['pid']})" if server["pid"] else "")


@deployments_app.command("list")
def list_cmd(json_out: bool = _JSON) -> None:
    """List the deployments in assay.yaml with what each serves now."""
    from assay.deployment import active_rollout, current, server_state

    project, store = ctx.project(), ctx.store()
    rows: list[dict[str, Any]] = []
    for name, cfg in sorted(project.config.deployments.items()):
        dep, active = current(store, name), active_rollout(store, name)
        rows.append({"name": name, "model": cfg.model, "url": cfg.url, "strategy": cfg.strategy,
                     "server": server_state(project.root, name, cfg).to_dict(),
                     "stable_version": dep.stable_version if dep else None,
                     "candidate_version": dep.candidate_version if dep else None,
                     "candidate_weight": dep.candidate_weight if dep else 0.0,
                     "mode": dep.mode if dep else None,
                     "rollout": active.to_dict() if active else None})
    if json_out:
        ctx.print_json(rows)
        return
    if not rows:
        ctx.console().print("No deployments in assay.yaml (add one under deployments:).")
        return
    table = ctx.table("deployment", "follows", "strategy", "serving", "rollout", "url", "server")
    for row in rows:
        serving = f"v{row['stable_version']}" if row["stable_version"] else "-"
        if row["candidate_version"]:
            serving += f" + v{row['candidate_version']} at {row['candidate_weight']:.0%}"
        r = row["rollout"]
        table.add_row(escape(row["name"]), escape(row["model"]), row["strategy"],
                      serving, escape(f"#{r['id']} {r['state']}") if r else "-",
                      escape(row["url"]), _server_text(row["server"]))
    ctx.console().print(table)


@deployments_app.command("status")
def status_cmd(name: str = typer.Argument(..., help="The deployment."),
               json_out: bool = _JSON) -> None:
    """What a deployment serves now, and its running rollout: step, traffic, last guards."""
    from assay.deployment import (
        active_rollout,
        current,
        deployment_config,
        rollouts_of,
        server_state,
    )

    project, store = ctx.project(), ctx.store()
    cfg = deployment_config(project.config, name)
    dep = current(store, name)
    active = active_rollout(store, name)
    last = active or next(iter(rollouts_of(store, name, limit=1)), None)
    server = server_state(project.root, name, cfg).to_dict()
    if json_out:
        ctx.print_json({"name": name, "model": cfg.model, "url": cfg.url,
                        "strategy": cfg.strategy, "server": server,
                        "deployment": None if dep is None else {
                            k: getattr(dep, k) for k in dep.__dataclass_fields__},
                        "rollout": None if last is None else last.to_dict()})
        return
    console = ctx.console()
    console.print(escape(f"{name}: follows {cfg.model}, {cfg.strategy}, served at {cfg.url}"))
    console.print(escape(f"  server: {_server_text(server)}"
                         + (f", log {server['log']}" if server["log"] else "")))
    if dep is None or (dep.stable_version is None and dep.candidate_version is None):
        console.print(escape(f"  nothing deployed yet; run: assay deploy {cfg.model_name}:"
                             f"VERSION --to {name}"))
        return
    serving = f"v{dep.stable_version}" if dep.stable_version else "nothing"
    if dep.candidate_version:
        kind = "mirrored" if dep.mode == "shadow" else "of traffic"
        serving += f", candidate v{dep.candidate_version} ({dep.candidate_weight:.0%} {kind})"
    console.print(escape(f"  serving: {serving} (revision {dep.revision}, "
                         f"{_when(dep.updated_at)} UTC)"))
    if last is None:
        return
    steps = len(last.steps)
    console.print(escape(f"  rollout #{last.id}: {last.ref} {last.state}, step "
                         f"{min(last.step + 1, max(steps, 1))}/{max(steps, 1)}, by {last.actor}, "
                         f"started {_when(last.started_at)} UTC"
                         + (f"; {last.reason}" if last.reason else "")))
    decisions = last.details.get("decisions") or []
    if decisions:
        table = ctx.table("step", "guard", "value", "bound", "p", "decision")
        for record in decisions:
            for d in record["decisions"]:
                table.add_row(str(record["step"] + 1), d["guard"],
                              "-" if d["value"] is None else f"{d['value']:.4g}",
                              f"{d['bound']:g}",
                              "-" if d["p_value"] is None else f"{d['p_value']:.3g}", d["status"])
        console.print(table)


@deployments_app.command("history")
def history_cmd(name: str = typer.Argument(..., help="The deployment."),
                limit: int = typer.Option(20, "--limit", min=1, help="Newest rollouts shown."),
                json_out: bool = _JSON) -> None:
    """A deployment's rollouts, newest first: version, strategy, outcome, reason, who, when."""
    from assay.deployment import deployment_config, rollouts_of

    deployment_config(ctx.project().config, name)
    found = rollouts_of(ctx.store(), name, limit=limit)
    if json_out:
        ctx.print_json([r.to_dict() for r in found])
        return
    if not found:
        ctx.console().print(escape(f"No rollouts on {name} yet."))
        return
    table = ctx.table("#", "version", "from", "strategy", "state", "started (UTC)", "ended (UTC)",
                   "by", "reason")
    for r in found:
        table.add_row(str(r.id), f"v{r.version}",
                      f"v{r.from_version}" if r.from_version else "-", r.strategy, r.state,
                      _when(r.started_at), _when(r.ended_at), escape(r.actor),
                      escape(r.reason or "-"))
    ctx.console().print(table)


def _ask(name: str, what: str, json_out: bool) -> None:
    from assay.deployment import ask

    rollout = ask(ctx.store(), ctx.project().config, name, what, actor=_actor())
    if json_out:
        ctx.print_json(rollout.to_dict())
        return
    ctx.console().print(escape(f"Asked rollout #{rollout.id} on {name} to "
                               f"{what.replace('_', ' ')}; its controller acts on its next look"))


@deployments_app.command("pause")
def pause_cmd(name: str = typer.Argument(..., help="The deployment."),
              json_out: bool = _JSON) -> None:
    """Hold a running rollout at its step (traffic stays as it is)."""
    _ask(name, "pause", json_out)


@deployments_app.command("resume")
def resume_cmd(name: str = typer.Argument(..., help="The deployment."),
               json_out: bool = _JSON) -> None:
    """Resume a paused rollout (its step's window starts again)."""
    _ask(name, "resume", json_out)


@deployments_app.command("abort")
def abort_cmd(name: str = typer.Argument(..., help="The deployment."),
              json_out: bool = _JSON) -> None:
    """Stop a rollout: traffic back to the incumbent, the alias moved back."""
    _ask(name, "abort", json_out)


@deployments_app.command("promote-now")
def promote_now_cmd(name: str = typer.Argument(..., help="The deployment."),
                    json_out: bool = _JSON) -> None:
    """End a rollout at once with the candidate taking all traffic."""
    _ask(name, "promote_now", json_out)


@deployments_app.command("run")
def run_cmd(
    name: str = typer.Argument(..., help="The deployment."),
    follow: bool = typer.Option(False, "--follow", help="Keep running: roll out every version the alias moves to (Ctrl-C stops)."),
    watch: bool = _WATCH,
    json_out: bool = _JSON,
    poll: float = _POLL,
    lease: float = _LEASE,
    timeout: float | None = typer.Option(None, "--timeout", help="Stop driving after this many seconds (with --follow: stop following)."),
) -> None:
    """Drive the deployment's rollout: carry on one whose controller stopped (killed, Ctrl-C),
    or start one when the followed alias moved (assay models promote). With --follow, keep
    watching the alias and roll out each version it moves to.

    A deployment with serve: has its managed server started first (or adopted); the
    controller starts it again whenever its process dies (with --follow, also between
    rollouts).

    Examples:

      assay models promote churn:4 --to production && assay deployments run churn-prod --watch

      assay deployments run churn-prod --follow

      assay deployments run churn-prod --follow --timeout 3600   (stops after an hour)
    """
    from assay.errors import RolledBack

    server = _ensure_server(name)
    if not follow:
        rollout = _pending(name)
        if rollout is None:
            if json_out:
                ctx.print_json(None)
            return
        _drive(rollout, watch=watch, json_out=json_out, poll=poll, lease=lease, timeout=timeout,
               server=server)
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    quiet = False
    while deadline is None or time.monotonic() < deadline:
        if server is not None:
            _said(server.revive(ctx.store(), actor=_actor()), name)
        rollout = _pending(name, quiet=quiet)
        quiet = True
        if rollout is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                _drive(rollout, watch=watch, json_out=json_out, poll=poll, lease=lease,
                       timeout=left, server=server)
            except RolledBack as exc:  # reported; the follower goes on watching
                ctx.err_console().print(f"error: {escape(str(exc))}", soft_wrap=True)
            quiet = False
        time.sleep(poll)


@deployments_app.command("stop")
def stop_cmd(name: str = typer.Argument(..., help="The deployment."),
             grace: float = typer.Option(30.0, "--grace", min=0.0, help="Seconds to wait for the server to exit after SIGTERM (then SIGKILL)."),
             json_out: bool = _JSON) -> None:
    """Stop the managed server of a deployment with serve:.

    SIGTERM once the recorded pid is confirmed to be the server, then SIGKILL after --grace
    seconds. The next command that drives a rollout (deploy, deployments run) starts it
    again. A deployment with url: is refused: assay does not manage its server.

    Examples:

      assay deployments stop churn-prod
    """
    from assay.deployment import ManagedServer, deployment_config

    project = ctx.project()
    server = ManagedServer(project.root, name, deployment_config(project.config, name))
    stopped = server.stop(ctx.store(), actor=_actor(), grace=grace)
    if json_out:
        ctx.print_json(stopped.to_dict())
        return
    if stopped.action == "not_running":
        ctx.console().print(escape(f"The managed server of {name} is not running"))
        return
    how = "stopped" if stopped.action == "stopped" else f"killed (no exit within {grace:g} s)"
    ctx.console().print(escape(f"Stopped the managed server of {name} (pid {stopped.pid}) at "
                               f"{stopped.url}: {how}"))


def _pending(name: str, *, quiet: bool = False) -> Rollout | None:
    """The rollout to drive on ``name``: the active one, or a new one when the followed alias
    names another version than the deployment serves (None: nothing to do)."""
    from assay.deployment import active_rollout, current, deployment_config, start
    from assay.errors import RegistryError
    from assay.registry import get_version

    project, store = ctx.project(), ctx.store()
    cfg = deployment_config(project.config, name)
    rollout = active_rollout(store, name)
    if rollout is not None:
        return rollout
    try:
        held = get_version(store, cfg.model).version
    except RegistryError:
        if quiet:  # a follower waits for the alias to exist
            return None
        raise
    dep = current(store, name)
    if dep is not None and dep.stable_version == held:
        if not quiet:
            ctx.err_console().print(escape(f"{name} serves {cfg.model} (v{held}); nothing "
                                           "to roll out"), highlight=False)
        return None
    return start(store, project.config, name, held, actor=_actor())


def register(app: typer.Typer) -> None:
    app.command("deploy", help=DEPLOY_HELP)(deploy)
    app.add_typer(deployments_app, name="deployments")
