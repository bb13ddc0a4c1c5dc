"""Causes: cron slots in UTC, nothing from before a trigger was armed, the newest cause after
the last firing, and one firing per (trigger, cause) on both store backends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import TmpProject


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def test_cron_slots_are_utc_and_inclusive_of_the_minute() -> None:
    from assay.triggers import next_slot, previous_slot

    monday_3am = _ts("2026-11-30T03:00:00")
    assert previous_slot("0 3 * * 1", _ts("2026-12-06T07:00:00")) == monday_3am
    assert previous_slot("0 3 * * 1", monday_3am + 30) == monday_3am  # within the minute
    assert next_slot("0 3 * * 1", monday_3am) == _ts("2026-12-07T03:00:00")
    assert previous_slot("*/15 * * * *", _ts("2026-12-06T07:44:59")) == _ts("2026-12-06T07:30:00")


def test_a_schedule_fires_once_per_slot_and_never_for_slots_before_it_was_armed(
    project_on: TmpProject,
) -> None:
    from assay.store import open_store
    from assay.triggers import arm, claim, due

    project_on.config(triggers={"nightly": {"schedule": "0 2 * * *"}})
    loaded = project_on.load()
    trigger = loaded.config.triggers["nightly"]
    armed_at = _ts("2026-12-06T07:00:00")
    with open_store(loaded.store_url) as store:
        armed = arm(store, "nightly", trigger, actor="t", now=armed_at)
        assert armed == armed_at
        assert arm(store, "nightly", trigger, actor="t", now=armed_at + 999) == armed_at
        # today's 02:00 slot is before the trigger was armed: not due
        assert due(store, loaded.config, trigger, armed=armed, last_at=None,
                   now=_ts("2026-12-06T23:59:00")) is None
        cause = due(store, loaded.config, trigger, armed=armed, last_at=None,
                    now=_ts("2026-12-07T02:00:30"))
        assert cause is not None and cause.key == "schedule:2026-12-07T02:00:00Z"
        owner = {"host": "h", "pid": 1, "start": 1}
        first = claim(store, "nightly", cause.key, kind=cause.kind, details=cause.to_dict(),
                      owner=owner, actor="t")
        second = claim(store, "nightly", cause.key, kind=cause.kind, details=cause.to_dict(),
                       owner=owner, actor="t")
        assert first.new and not second.new and first.id == second.id
        # after that firing, the same slot is not due again; the next day's is
        assert due(store, loaded.config, trigger, armed=armed, last_at=cause.at,
                   now=_ts("2026-12-07T12:00:00")) is None
        later = due(store, loaded.config, trigger, armed=armed, last_at=cause.at,
                    now=_ts("2026-12-08T02:01:00"))
        assert later is not None and later.key == "schedule:2026-12-08T02:00:00Z"
        events = [e.kind for e in store.events(kind="trigger.", subject="nightly")]
        assert events == ["trigger.armed", "trigger.fired"]


@pytest.mark.parametrize("severity, fires", [("warn", True), ("error", True),
                                             ("critical", False)])
def test_a_monitor_trigger_fires_on_findings_of_its_severity_or_more(
    tmp_project: TmpProject, severity: str, fires: bool,
) -> None:
    import time

    import yaml

    from assay.monitoring import run_monitor
    from assay.store import open_store
    from assay.triggers import arm, due
    from tests.monitoring.worlds import live, make_project, training_frame, write_log

    project = make_project(tmp_project)
    config = yaml.safe_load((project.root / "assay.yaml").read_text())
    config["triggers"] = {"retrain": {"monitor": "drift", "severity": severity}}
    (project.root / "assay.yaml").write_text(yaml.safe_dump(config))
    loaded = project.load()
    trigger = loaded.config.triggers["retrain"]
    # two of three inputs moved by a whole standard deviation: an "error" finding
    drifted = training_frame(1500, seed=5, shift=1.0).with_columns(
        (training_frame(1500, seed=6)["c"] + 1.0).alias("c"))
    write_log(project.root, live(drifted))
    with open_store(loaded.store_url) as store:
        armed = arm(store, "retrain", trigger, actor="t")
        time.sleep(0.01)
        window = run_monitor(loaded, store, "drift", actor="t")
        assert window.verdict == "drift"
        cause = due(store, loaded.config, trigger, armed=armed, last_at=None, now=time.time())
    if not fires:
        assert cause is None
        return
    assert cause is not None and cause.key == f"window:{window.id}"
    assert cause.details["severity"] == "error" and "a" in cause.details["columns"]
