"""DORA's bands at their bounds, and the windows a report reads from the command line."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from assay.delivery import (
    Window,
    failure_rate_band,
    frequency_band,
    iso_weeks,
    lead_time_band,
    make_window,
    parse_range,
    restore_band,
)
from assay.delivery._figures import median, p90
from assay.errors import DeliveryError

H, D = 3600.0, 86400.0


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("per_day", "band"), [
    (None, None), (3.0, "elite"), (1.0, "elite"), (0.99, "high"), (1 / 7, "high"),
    (1 / 7.01, "medium"), (1 / 30, "medium"), (1 / 31, "low"), (0.0, "low"),
], ids=lambda v: str(v))
def test_deployment_frequency_bands(per_day: float | None, band: str | None) -> None:
    assert frequency_band(per_day) == band


@pytest.mark.parametrize(("seconds", "band"), [
    (None, None), (H, "elite"), (D - 1, "elite"), (D, "high"), (7 * D - 1, "high"),
    (7 * D, "medium"), (30 * D - 1, "medium"), (30 * D, "low"),
], ids=lambda v: str(v))
def test_lead_time_bands(seconds: float | None, band: str | None) -> None:
    assert lead_time_band(seconds) == band


@pytest.mark.parametrize(("rate", "band"), [
    (None, None), (0.0, "elite"), (0.05, "elite"), (0.051, "high"), (0.10, "high"),
    (0.15, "medium"), (0.16, "low"), (1.0, "low"),
], ids=lambda v: str(v))
def test_change_failure_rate_bands(rate: float | None, band: str | None) -> None:
    assert failure_rate_band(rate) == band


@pytest.mark.parametrize(("seconds", "band"), [
    (None, None), (59 * 60, "elite"), (H, "high"), (D - 1, "high"), (D, "medium"),
    (7 * D - 1, "medium"), (7 * D, "low"),
], ids=lambda v: str(v))
def test_time_to_restore_bands(seconds: float | None, band: str | None) -> None:
    assert restore_band(seconds) == band


def test_median_and_nearest_rank_p90() -> None:
    assert (median([]), p90([])) == (None, None)
    assert (median([5.0]), p90([5.0])) == (5.0, 5.0)
    assert (median([1.0, 4.0]), p90([1.0, 4.0])) == (2.5, 4.0)
    values = [float(v) for v in range(1, 11)]  # 1..10: 90% of them do not exceed 9
    assert (median(values), p90(values)) == (5.5, 9.0)
    assert p90([float(v) for v in range(1, 12)]) == 10.0  # ceil(9.9) = the 10th of 11


def test_windows_from_dates_and_durations() -> None:
    now = _ts("2026-12-06T12:00:00")
    assert make_window(None, None, now=now) == Window(now - 30 * D, now)
    assert make_window("7d", None, now=now) == Window(now - 7 * D, now)
    assert make_window("2026-11-01", "2026-11-02T06:00", now=now) == Window(
        _ts("2026-11-01T00:00:00"), _ts("2026-11-02T06:00:00"))
    assert make_window("2026-11-01T01:00+01:00", "12h", now=now).since == _ts(
        "2026-11-01T00:00:00")
    assert parse_range("60d..30d", now=now) == Window(now - 60 * D, now - 30 * D)
    assert Window(_ts("2026-11-01T00:00:00"), _ts("2026-11-02T06:30:00")).label == (
        "2026-11-01..2026-11-02T06:30Z")


@pytest.mark.parametrize(("since", "until", "match"), [
    ("last week", None, r"--since 'last week' is neither an ISO date"),
    (None, "tomorrow", r"--until 'tomorrow' is neither"),
    ("2026-11-02", "2026-11-01", r"the window 2026-11-02..2026-11-01 is empty"),
], ids=["since", "until", "reversed"])
def test_unreadable_windows_are_refused(since: str | None, until: str | None,
                                        match: str) -> None:
    with pytest.raises(DeliveryError, match=match):
        make_window(since, until, now=_ts("2026-12-06T00:00:00"))


def test_iso_weeks_cross_the_year() -> None:
    weeks = iso_weeks(Window(_ts("2026-12-30T00:00:00"), _ts("2027-01-12T12:00:00")))
    assert [(label, w.since, w.until) for label, w in weeks] == [
        ("2026-W53", _ts("2026-12-30T00:00:00"), _ts("2027-01-04T00:00:00")),
        ("2027-W01", _ts("2027-01-04T00:00:00"), _ts("2027-01-11T00:00:00")),
        ("2027-W02", _ts("2027-01-11T00:00:00"), _ts("2027-01-12T12:00:00")),
    ]
