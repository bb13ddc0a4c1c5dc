"""The time windows a delivery report covers: ``--since``/``--until`` as ISO dates or durations
back from now, ``--compare-to SINCE..UNTIL``, and the ISO weeks inside a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from assay.errors import DeliveryError

DAY = 86400.0
WEEK = 7 * DAY
DEFAULT_DAYS = 30
"""A report without ``--since`` covers this many days up to ``--until`` (default: now)."""


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[since, until)`` in UNIX seconds (UTC)."""

    since: float
    until: float

    @property
    def seconds(self) -> float:
        return self.until - self.since

    @property
    def days(self) -> float:
        return self.seconds / DAY

    def holds(self, ts: float | None) -> bool:
        """True when ``ts`` falls inside the window."""
        return ts is not None and self.since <= ts < self.until

    @property
    def label(self) -> str:
        """``2026-11-01..2026-12-01`` (times, to the minute, only when not midnight UTC)."""
        return f"{iso(self.since)}..{iso(self.until)}"

    def to_dict(self) -> dict[str, object]:
        return {"since": iso_full(self.since), "until": iso_full(self.until),
                "days": round(self.days, 6)}


def iso(ts: float) -> str:
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)
    if moment.time() == datetime.min.time():
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def iso_full(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str, *, now: float, option: str) -> float:
    """UNIX seconds for ``text``: an ISO date or date-time (UTC unless it says otherwise), or a
    duration back from ``now`` (``30d``, ``12h``, ``2w``).

    Raises:
        DeliveryError: ``text`` is neither.
    """
    from assay.config._team import parse_duration

    value = text.strip()
    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DeliveryError(
            f"{option} {text!r} is neither an ISO date (2026-11-01, 2026-11-01T09:00) nor a "
            "duration back from now (30d, 12h, 2w)", option=option, value=text) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def make_window(since: str | None, until: str | None, *, now: float) -> Window:
    """The window ``--since``/``--until`` ask for (default: the last :data:`DEFAULT_DAYS` days).

    Raises:
        DeliveryError: a bound cannot be read, or the window is empty or reversed.
    """
    end = now if until is None else parse_moment(until, now=now, option="--until")
    start = (end - DEFAULT_DAYS * DAY if since is None
             else parse_moment(since, now=now, option="--since"))
    if start >= end:
        raise DeliveryError(f"the window {iso(start)}..{iso(end)} is empty: --since must be "
                            "before --until", since=start, until=end)
    return Window(start, end)


def parse_range(text: str, *, now: float) -> Window:
    """A ``--compare-to`` window written ``SINCE..UNTIL`` (each as :func:`parse_moment` reads).

    Raises:
        DeliveryError: not two bounds joined by ``..``, or an empty window.
    """
    since, sep, until = text.partition("..")
    if not sep or not since.strip() or not until.strip():
        raise DeliveryError(f"--compare-to {text!r} is not SINCE..UNTIL (e.g. "
                            "2026-10-01..2026-11-01, or 60d..30d)", value=text)
    start = parse_moment(since, now=now, option="--compare-to")
    end = parse_moment(until, now=now, option="--compare-to")
    if start >= end:
        raise DeliveryError(f"--compare-to {text!r} is empty: its first bound must come first",
                            value=text)
    return Window(start, end)


def iso_weeks(window: Window) -> list[tuple[str, Window]]:
    """``("2026-W48", window)`` for every ISO week (Monday 00:00 UTC to the next) the window
    touches, clipped to the window, oldest first."""
    first = datetime.fromtimestamp(window.since, tz=timezone.utc).date()
    monday = first - timedelta(days=first.weekday())
    out = []
    while True:
        start = _midnight(monday)
        if start >= window.until:
            break
        year, week, _ = monday.isocalendar()
        out.append((f"{year}-W{week:02d}",
                    Window(max(start, window.since), min(start + WEEK, window.until))))
        monday += timedelta(days=7)
    return out


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
