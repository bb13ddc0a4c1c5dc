"""``monitoring:`` entries: an external place or a deployment monitor, with line-aware errors."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from assay.config import AssayConfig, Project
from assay.errors import ConfigError
from tests.conftest import TmpProject
from tests.monitoring.worlds import monitoring_config


def _load(project: TmpProject, **entry: Any) -> Project:
    config = monitoring_config()
    config["monitoring"] = {"drift": entry}
    project.gen({"assay.yaml": yaml.safe_dump(config, sort_keys=False)})
    return project.load()


def _line_of(project: TmpProject, text: str) -> int:
    lines = (project.root / "assay.yaml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if text in line)


def test_a_deployment_monitor_has_defaults() -> None:
    config = AssayConfig.model_validate(monitoring_config())
    entry = config.monitoring["drift"]
    assert (entry.deployment, entry.reference, entry.columns, entry.alpha, entry.correction,
            entry.log_dir, entry.contract) == ("toy-prod", None, None, 0.05, "bh", None, None)
    assert (entry.window_or_default.rows, entry.window_or_default.seconds) == (10_000, None)
    assert config.watched_aliases() == {"production"}


def test_a_window_takes_rows_or_a_duration() -> None:
    config = AssayConfig.model_validate(monitoring_config(window={"duration": "90m"}))
    assert config.monitoring["drift"].window_or_default.seconds == 5400.0


@pytest.mark.parametrize(("entry", "key", "words"), [
    ({"deployment": "toy-prod", "external": "grafana"}, "monitoring.drift",
     "takes one of external: (where drift is watched outside assay), deployment:"),
    ({"external": "grafana", "window": {"rows": 5}}, "monitoring.drift",
     "window belong to a deployment monitor"),
    ({"deployment": "toy-prod", "window": {"rows": 5, "duration": "1h"}},
     "monitoring.drift.window", "a window takes one of rows"),
    ({"deployment": "toy-prod", "window": {"duration": "soon"}},
     "monitoring.drift.window.duration", "'soon' is not a duration"),
    ({"deployment": "toy-prod", "correction": "holm"}, "monitoring.drift.correction",
     "'bh', 'bonferroni' or 'none'"),
    ({"deployment": "toy-prod", "windw": {"rows": 5}}, "monitoring.drift.windw",
     "unknown key 'windw'; did you mean 'window'?"),
    ({"external": "grafana", "contract": "churn"}, "monitoring.drift",
     "contract belong to a deployment monitor"),
    ({"deployment": "toy-prod", "contract": True}, "monitoring.drift.contract", "contract"),
], ids=["both", "external-with-window", "rows-and-duration", "bad-duration", "correction",
        "typo", "external-with-contract", "contract-true"])
def test_a_wrong_entry_is_a_line_aware_error(tmp_project: TmpProject, entry: dict[str, Any],
                                             key: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_project, **entry)
    message = caught.value.message
    assert caught.value.fields["key"] == key, message
    assert caught.value.fields["line"] > 0, message
    assert words in message, message


def test_an_unknown_deployment_is_named_with_its_line(tmp_project: TmpProject) -> None:
    with pytest.raises(ConfigError, match=r"monitoring\.drift\.deployment: no deployment "
                       r"'toy-prd' under deployments:; did you mean 'toy-prod'\?") as caught:
        _load(tmp_project, deployment="toy-prd")
    assert caught.value.fields["line"] == _line_of(tmp_project, "deployment: toy-prd")


def test_an_external_entry_cannot_be_run_here(tmp_project: TmpProject) -> None:
    config = monitoring_config()
    config["monitoring"] = {"production": {"external": "https://grafana.example.com/d/x"}}
    tmp_project.gen({"assay.yaml": yaml.safe_dump(config, sort_keys=False)})
    done = tmp_project.invoke("monitor", "production")
    assert done.code == 2
    assert "is watched outside assay (https://grafana.example.com/d/x)" in done.stderr
