"""Delivery metrics: how often a project deploys models to production and how well it goes,
measured from the metadata store (read only).

DORA's four keys (deployment frequency, lead time for changes, change failure rate, time to
restore service), each placed in DORA's performance bands, and the keys of ML delivery DORA
lacks (model age in production, retraining cadence, drift alert to retrained model in
production, gate pass rate, promotions approved by a person, time waiting for approval), over a
window, a comparison window and every ISO week. Definitions: docs/delivery.md.

>>> window = make_window("30d", None, now=time.time())  # doctest: +SKIP
>>> report = delivery_report(store, project.config, window=window, root=project.root)  # doctest: +SKIP
>>> report.to_dict()["dora"]["change_failure_rate"]["rate"]  # doctest: +SKIP
0.25
"""

from __future__ import annotations

from assay.delivery._bands import (
    BANDS,
    failure_rate_band,
    frequency_band,
    lead_time_band,
    restore_band,
)
from assay.delivery._facts import Scope
from assay.delivery._figures import Figures
from assay.delivery._git import commit_times
from assay.delivery._html import render_html
from assay.delivery._report import FIX_WINDOW, DeliveryReport, Week, delivery_report
from assay.delivery._text import figure_rows, week_rows
from assay.delivery._window import Window, iso_weeks, make_window, parse_moment, parse_range

__all__ = [
    "BANDS",
    "FIX_WINDOW",
    "DeliveryReport",
    "Figures",
    "Scope",
    "Week",
    "Window",
    "commit_times",
    "delivery_report",
    "failure_rate_band",
    "figure_rows",
    "frequency_band",
    "iso_weeks",
    "lead_time_band",
    "make_window",
    "parse_moment",
    "parse_range",
    "render_html",
    "restore_band",
    "week_rows",
]
