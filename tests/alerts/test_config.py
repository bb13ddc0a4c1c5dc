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
