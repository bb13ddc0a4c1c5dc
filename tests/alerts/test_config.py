"""``alerts:`` in assay.yaml: defaults, and line-aware errors that name the fix; a window's
severity and the routes a finding takes."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from assay.config import AssayConfig
from assay.errors import ConfigError
from tests.conftest import TmpProject
from tests.monitoring.worlds import monitoring_config


def _write(project: TmpProject, alerts: dict[str, Any], **extra: Any) -> None:
    config = {**monitoring_config(), "alerts": alerts, **extra}
    project.gen({"assay.yaml": yaml.safe_dump(config, sort_keys=False)})


def _line_of(project: TmpProject, text: str) -> int:
    lines = (project.root / "assay.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_a_channel_has_defaults() -> None:
    config = AssayConfig.model_validate({"alerts": {
        "channels": {"ops": {"url": "https://hooks.example.com/a"}},
        "routes": [{"channels": ["ops"]}]}})
    ops = config.alerts.channels["ops"]
    assert (ops.kind, ops.format, ops.secret_env, ops.timeout, ops.retries, ops.backoff) == (
        "webhook", "json", None, 5.0, 3, 1.0)
    assert config.alerts.cooldown_of("ops") == 3600.0
    assert config.alerts.routes[0].severity == "warn"
    assert AssayConfig.model_validate({}).alerts.channels == {}


@pytest.mark.parametrize(("alerts", "marker", "message"), [
    ({"channels": {"ops": {"url": "https://h.example.com/a"}},
      "routes": [{"channels": ["opps"]}]},
     "opps", r"alerts\.routes\.0\.channels: unknown channel 'opps' \(channels: ops\); did you "
             r"mean 'ops'\?; add it under alerts\.channels"),
    ({"channels": {"ops": {"format": "slack"}}},
     "ops:", r"a channel takes url: \(a webhook"),
    ({"channels": {"ops": {"url": "https://h.example.com/a", "secret": "hunter2"}}},
     "ops:", r"a secret never goes in assay\.yaml; .*secret_env: ASSAY_ALERT_SECRET"),
    ({"channels": {"ops": {"url": "https://h.example.com/a", "secret_env": "abc-123=x"}}},
     "abc-123", r"is not an environment variable's name"),
    ({"channels": {"ops": {"url": "ftp://h.example.com/a"}}},
     "ftp://", r"is not an http\(s\) URL"),
    ({"channels": {"ops": {"command": ["./page.sh"], "format": "slack"}}},
     "ops:", r"format belong to a webhook"),
    ({"channels": {"ops": {"url": "https://h.example.com/a"}},
      "routes": [{"channels": ["ops"], "owner": "nobody@example.com"}]},
     "nobody@", r"alerts\.routes\.0\.owner: 'nobody@example\.com' is neither a role"),
    ({"channels": {"ops": {"url": "https://h.example.com/a"}},
      "routes": [{"channels": ["ops"], "severity": "panic"}]},
     "panic", r"severity"),
    ({"channels": {"ops": {"url": "https://h.example.com/a"}}, "cooldown": "soon"},
     "soon", r"is not a duration"),
], ids=["unknown-channel", "missing-url", "inline-secret", "secret-env-not-a-name", "not-http",
        "webhook-keys-on-command", "unknown-owner", "unknown-severity", "bad-cooldown"])
def test_bad_alerts_name_the_line_and_the_fix(tmp_project: TmpProject, alerts: dict[str, Any],
                                              marker: str, message: str) -> None:
    _write(tmp_project, alerts)
    with pytest.raises(ConfigError, match=message) as caught:
        tmp_project.load()
    assert caught.value.line == _line_of(tmp_project, marker)  # type: ignore[attr-defined]


def test_a_route_owner_may_be_a_role_or_a_member(tmp_project: TmpProject) -> None:
    _write(tmp_project, {"channels": {"ops": {"url": "https://h.example.com/a"}},
                         "routes": [{"channels": ["ops"], "owner": "ml"},
                                    {"channels": ["ops"], "owner": "ana@example.com"}]},
           team=[{"id": "ana@example.com", "roles": ["ml"]}])
    assert [r.owner for r in tmp_project.load().config.alerts.routes] == ["ml",
                                                                          "ana@example.com"]


def _window(statuses: dict[str, str], verdict: str = "drift") -> Any:
    from assay.monitoring import ColumnResult, WindowResult

    columns = [ColumnResult(column=name, status=status,
                            role="prediction" if name == "prediction" else "input")
               for name, status in statuses.items()]
    return WindowResult(monitor="m", deployment="d", model="toy", versions=["1"], start=None,
                        end=None, rows=100, verdict=verdict, columns=columns, reference="r",
                        reference_hash=None, alpha=0.05, correction="bh")


@pytest.mark.parametrize(("statuses", "verdict", "severity"), [
    ({"a": "drift", "b": "no_drift", "c": "no_drift", "d": "no_drift"}, "drift", "warn"),
    ({"a": "drift", "b": "drift", "c": "no_drift", "d": "no_drift"}, "drift", "error"),
    ({"a": "drift", "b": "no_drift", "c": "no_drift", "prediction": "drift"}, "drift", "error"),
    ({"a": "no_drift", "b": "no_drift", "prediction": "drift"}, "drift", "error"),
    ({"a": "drift", "b": "drift", "c": "no_drift", "prediction": "drift"}, "drift", "critical"),
    ({"a": "schema_mismatch", "b": "no_drift"}, "schema_mismatch", "error"),
    ({"a": "no_drift"}, "no_drift", None),
    ({"a": "insufficient_data"}, "insufficient_data", None),
], ids=["one-input", "half-the-inputs", "prediction-one-input", "prediction-only",
        "prediction-and-half", "schema-mismatch", "no-drift", "insufficient"])
def test_a_windows_severity(statuses: dict[str, str], verdict: str,
                            severity: str | None) -> None:
    from assay.alerts import severity_of

    assert severity_of(_window(statuses, verdict)) == severity


def test_a_finding_is_the_same_for_the_same_monitor_verdict_and_columns() -> None:
    from assay.alerts import finding_of

    config = AssayConfig.model_validate({})
    one = finding_of(_window({"a": "drift", "b": "drift", "c": "no_drift"}), config)
    two = finding_of(_window({"b": "drift", "a": "drift", "c": "no_drift"}), config)
    other = finding_of(_window({"a": "drift", "b": "no_drift", "c": "drift"}), config)
    assert one is not None and two is not None and other is not None
    assert one.id == two.id != other.id
    assert finding_of(_window({"a": "no_drift"}, "no_drift"), config) is None


def test_routes_pick_channels_by_severity_owner_and_monitor() -> None:
    from assay.alerts import channels_for, finding_of

    config = AssayConfig.model_validate({
        "team": [{"id": "ana@example.com", "roles": ["ml"]}],
        "models": {"toy": {"owner": "ana@example.com"}},
        "alerts": {"channels": {n: {"url": "https://h.example.com/" + n}
                                for n in ("all", "ml", "ana", "platform", "crit", "other")},
                   "routes": [{"channels": ["all"]},
                              {"channels": ["ml", "all"], "owner": "ml"},
                              {"channels": ["ana"], "owner": "ana@example.com",
                               "severity": "error"},
                              {"channels": ["platform"], "owner": "platform"},
                              {"channels": ["crit"], "severity": "critical"},
                              {"channels": ["other"], "monitors": ["elsewhere"]}]}})
    warn = finding_of(_window({"a": "drift", "b": "no_drift", "c": "no_drift"}), config)
    error = finding_of(_window({"a": "drift", "b": "drift", "c": "no_drift"}), config)
    assert warn is not None and error is not None and warn.owner == "ana@example.com"
    assert channels_for(config, warn) == ["all", "ml"]
    assert channels_for(config, error) == ["all", "ml", "ana"]
