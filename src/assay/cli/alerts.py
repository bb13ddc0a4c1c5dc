"""``assay alerts``: the channels and routes of ``alerts:`` in assay.yaml, and a test alert.

Printing only: routing and delivery live in :mod:`assay.alerts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from assay._console import escape
from assay.cli import _context as ctx

if TYPE_CHECKING:
    from assay.alerts import Delivery
    from assay.config import ChannelConfig

ALERTS_HELP = """Alerts: where a monitor's findings are sent (alerts: in assay.yaml).

assay monitor NAME sends the finding a drifted window raises to the channels
its routes name (by severity and owner), once per cooldown; every delivery is
an event (alert.sent, alert.failed, alert.suppressed).

Examples:

  assay alerts list

  assay alerts test ops

  assay alerts test ops --json
"""

alerts_app = typer.Typer(help=ALERTS_HELP, no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _target(channel: ChannelConfig) -> str:
    if channel.url is not None:
        return channel.url
    return " ".join(channel.command or [])


def _channel_dict(name: str, channel: ChannelConfig, cooldown: float) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": channel.kind, "timeout": channel.timeout,
                           "cooldown_seconds": cooldown}
    if channel.url is not None:
        out.update(url=channel.url, format=channel.format, secret_env=channel.secret_env,
                   retries=channel.retries, backoff=channel.backoff)
    else:
        out["command"] = channel.command
    return out


@alerts_app.command("list", help="""Show the alert channels and the routes to them.

Examples:

  assay alerts list

  assay alerts list --json
""")
def list_alerts(json_out: bool = _JSON) -> None:
    config = ctx.project().config.alerts
    channels = [_channel_dict(n, c, config.cooldown_of(n)) for n, c in config.channels.items()]
    routes = [r.model_dump(mode="json") for r in config.routes]
    if json_out:
        ctx.print_json({"cooldown": config.cooldown, "channels": channels, "routes": routes})
        return
    out = ctx.console()
    if not channels:
        out.print("no alert channels; add alerts: {channels: {ops: {url: https://...}}, "
                  "routes: [{channels: [ops]}]} to assay.yaml (see docs/monitoring.md)")
        return
    table = ctx.table("channel", "kind", "target", "format", "signed", "timeout", "cooldown")
    for n, c in config.channels.items():
        table.add_row(escape(n), c.kind, escape(_target(c)),
                      c.format if c.url is not None else "-",
                      "-" if c.url is None else ("yes" if c.secret_env else "no"),
                      f"{c.timeout:g}s", f"{config.cooldown_of(n):g}s")
    out.print(table)
    if not config.routes:
        out.print("no routes: no finding is sent; add alerts.routes: [{channels: [NAME]}]")
        return
    lines = ctx.table("#", "severity", "owner", "monitors", "channels")
    for i, r in enumerate(config.routes):
        lines.add_row(str(i), f"{r.severity}+", escape(r.owner or "any"),
                      escape(", ".join(r.monitors) if r.monitors else "all"),
                      escape(", ".join(r.channels)))
    out.print(lines)


def print_deliveries(deliveries: list[Delivery]) -> None:
    """One line per delivery (on stderr: stdout may hold a command's JSON)."""
    err = ctx.err_console()
    for d in deliveries:
        style = {"sent": "green", "failed": "red", "suppressed": "dim"}[d.status]
        attempts = (f" after {d.outcome.attempts} attempt(s)"
                    if d.outcome is not None and d.outcome.attempts else "")
        why = f": {d.reason}" if d.reason and d.status != "sent" else ""
        err.print(f"alert {d.finding} ({d.severity}) -> {escape(d.channel)}: "
                  f"[{style}]{d.status}[/{style}]{attempts}{escape(why)}", soft_wrap=True)


@alerts_app.command("test", help="""Send a test alert through CHANNEL.

The alert has "test": true and verdict "test"; no cooldown applies. Exits 1
when the delivery failed (the reason is printed and recorded as an
alert.failed event).

Examples:

  assay alerts test ops

  ASSAY_ALERT_SECRET=... assay alerts test ops --json
""")
def test_alert(
    channel: str = typer.Argument(..., help="A channel under alerts.channels in assay.yaml."),
    json_out: bool = _JSON,
) -> None:
    from assay._identity import current_user
    from assay.alerts import send_test

    project = ctx.project()
    done = send_test(project, ctx.store(), channel, actor=current_user(project.root))
    if json_out:
        ctx.print_json(done.to_dict())
    else:
        print_deliveries([done])
    if done.status != "sent":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(alerts_app, name="alerts")
