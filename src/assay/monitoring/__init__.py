"""Monitoring: the drift of a deployment's live traffic against its reference, per window.

A monitor (``monitoring: {NAME: {deployment: ...}}`` in assay.yaml) reads a window of the
deployment's prediction log, compares every input column and the prediction with the
reference (by default the training data of the version the deployment serves) using the
contracts' drift engine, corrects for testing many columns, and stores the window's verdict and
every column's decision in the metadata store (``assay monitor NAME``, ``assay monitor history
NAME``). The reference's profile is computed once and stored. See docs/monitoring.md.

>>> from assay.monitoring import run_monitor
>>> window = run_monitor(project, store, "churn-drift", actor="ci")  # doctest: +SKIP
>>> window.verdict, window.drifted  # doctest: +SKIP
('drift', ['tenure'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import MonitoringError
from assay.monitoring._contract import WindowContract, monitor_contract
from assay.monitoring._records import record_window, windows
from assay.monitoring._reference import Reference, reference_profile, resolve_reference
from assay.monitoring._report import history_to_html, to_html, write_history_html, write_html
from assay.monitoring._scan import PREDICTION, log_folder, scan_window
from assay.monitoring._window import (
    STATUSES,
    ColumnResult,
    WindowResult,
    compute_window,
)

if TYPE_CHECKING:
    from assay.config import MonitoringConfig, Project
    from assay.store import Store


def monitor_config(project: Project, name: str) -> MonitoringConfig:
    """The deployment monitor ``name`` of the project's assay.yaml.

    Raises:
        MonitoringError: no such monitor, or an ``external:`` entry (watched outside assay).
    """
    from assay.config import suggest

    config = project.config.monitoring.get(name)
    if config is None:
        own = sorted(k for k, v in project.config.monitoring.items() if v.watches_data)
        raise MonitoringError(
            f"no monitor '{name}' under monitoring: in assay.yaml (monitors: "
            f"{', '.join(own) or 'none'}){suggest(name, own)}; add one: "
            f"monitoring: {{{name}: {{deployment: DEPLOYMENT}}}}", monitor=name)
    if not config.watches_data:
        raise MonitoringError(
            f"monitoring.{name} is watched outside assay ({config.external}); give it "
            "deployment: DEPLOYMENT to monitor it here", monitor=name)
    return config


def run_monitor(project: Project, store: Store, name: str, *, actor: str,
                rows: int | None = None, seconds: float | None = None,
                record: bool = True) -> WindowResult:
    """Compute one window of monitor ``name`` and store it (``record``).

    Args:
        project: the loaded project.
        store: its metadata store.
        name: the monitor (a key of ``monitoring:`` with ``deployment:``).
        actor: who ran it (recorded).
        rows: the newest N rows (overrides the monitor's window).
        seconds: the rows of the last N seconds (overrides the monitor's window).
        record: store the window and its ``monitor.window`` event.

    Returns:
        The window, with its ``id`` when recorded.

    Raises:
        MonitoringError: no such monitor, no prediction log, no reference, no such contract.
    """
    config = monitor_config(project, name)
    if config.dataset is not None:
        if rows is not None or seconds is not None:
            raise MonitoringError(f"monitor '{name}' watches dataset {config.dataset}: its "
                                  "window is the newest version, not rows or a duration",
                                  monitor=name)
        result = _dataset_window(project, store, name, config)
        return record_window(store, result, actor=actor) if record else result
    assert config.deployment is not None
    deployment = project.config.deployments[config.deployment]
    if rows is None and seconds is None:
        window = config.window_or_default
        rows, seconds = window.rows, window.seconds
    reference = resolve_reference(project, store, monitor=name, text=config.reference,
                                  deployment=deployment)
    profile = reference_profile(project, reference)
    contract = monitor_contract(project, config, monitor=name, reference=reference)
    result = compute_window(project, monitor=name, config=config,
                            model=deployment.model_name, deployment=config.deployment,
                            reference=reference, profile=profile, rows=rows, seconds=seconds,
                            contract=contract)
    return record_window(store, result, actor=actor) if record else result


def _dataset_window(project: Project, store: Store, name: str,
                    config: MonitoringConfig) -> WindowResult:
    """The newest version of the monitor's dataset against its reference (by default the
    dataset's first version)."""
    from assay.contracts import cached_source, scan
    from assay.errors import ContractError, ObjectError
    from assay.monitoring._reference import dataset_version

    assert config.dataset is not None
    current = dataset_version(project, store, monitor=name, text=config.dataset)
    reference = dataset_version(project, store, monitor=name,
                                text=config.reference or f"{config.dataset}@v1")
    profile = reference_profile(project, reference)
    contract = monitor_contract(project, config, monitor=name, reference=current)
    try:
        source = scan(cached_source(project, current.oid, current.path,
                                    what=f"dataset {current.label}", label=current.label))
    except (ObjectError, ContractError) as exc:
        raise MonitoringError(exc.message, monitor=name) from exc
    return compute_window(project, monitor=name, config=config, model=config.dataset,
                          deployment="", reference=reference, profile=profile, rows=None,
                          seconds=None, contract=contract, source=source,
                          source_version=f"v{current.dataset_version}")


__all__ = [
    "PREDICTION",
    "STATUSES",
    "ColumnResult",
    "Reference",
    "WindowContract",
    "WindowResult",
    "compute_window",
    "history_to_html",
    "log_folder",
    "monitor_config",
    "monitor_contract",
    "record_window",
    "reference_profile",
    "resolve_reference",
    "run_monitor",
    "scan_window",
    "to_html",
    "windows",
    "write_history_html",
    "write_html",
]
