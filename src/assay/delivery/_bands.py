"""DORA's performance bands (elite, high, medium, low) for the four keys.

The bounds come from the Accelerate State of DevOps reports (DORA, 2023 and 2024); the reports'
clusters are descriptive, so each key needs one stated rule to place a figure in a band
(docs/delivery.md gives the clusters and these rules side by side):

- deployment frequency (2024: elite on demand, high between once a day and once a week,
  medium between once a week and once a month, low between once a month and once every six
  months): at least one a day is elite, one a week high, one a month medium, fewer low;
- lead time for changes (2024: less than a day, between a day and a week, between a week and a
  month, between a month and six months): the median against those bounds;
- change failure rate (2023: 5%, 10%, 15%, 64%; 2024's 5%, 20%, 10%, 40% are not ordered, so
  the 2023 values place a rate): at most 5% elite, 10% high, 15% medium, above that low;
- time to restore (2023: less than an hour, less than a day, a day to a week, a month to six
  months): the median under an hour elite, a day high, a week medium, longer low.
"""

from __future__ import annotations

from assay.delivery._window import DAY, WEEK

HOUR = 3600.0
MONTH = 30 * DAY

BANDS = ("elite", "high", "medium", "low")


def frequency_band(per_day: float | None) -> str | None:
    """The band of a deployment frequency (production deployments per day)."""
    if per_day is None:
        return None
    if per_day >= 1.0:
        return "elite"
    if per_day >= DAY / WEEK:
        return "high"
    if per_day >= DAY / MONTH:
        return "medium"
    return "low"


def lead_time_band(median_seconds: float | None) -> str | None:
    """The band of a median lead time for changes."""
    return _under(median_seconds, (DAY, WEEK, MONTH))


def failure_rate_band(rate: float | None) -> str | None:
    """The band of a change failure rate (0..1)."""
    if rate is None:
        return None
    for band, most in zip(BANDS, (0.05, 0.10, 0.15), strict=False):
        if rate <= most + 1e-12:
            return band
    return "low"


def restore_band(median_seconds: float | None) -> str | None:
    """The band of a median time to restore service."""
    return _under(median_seconds, (HOUR, DAY, WEEK))


def _under(seconds: float | None, bounds: tuple[float, float, float]) -> str | None:
    if seconds is None:
        return None
    for band, bound in zip(BANDS, bounds, strict=False):
        if seconds < bound:
            return band
    return "low"
