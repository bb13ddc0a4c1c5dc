"""The contract a monitor checks each window against: the row-level checks of its reference
dataset's contract (``contracts:`` in assay.yaml with ``data:`` that dataset), or the one named
by the monitor's ``contract:``; ``contract: false`` checks none.

The checks are the contract engine's own (:func:`assay.contracts.row_checks`): types, nulls,
ranges, allowed values, regex and lengths of the window's input columns, aggregated in the
window's one streaming pass. Row counts, freshness, uniqueness and distributions are not
checked on a window (drift is decided by the monitor itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import MonitoringError

if TYPE_CHECKING:
    import polars as pl

    from assay.config import MonitoringConfig, Project
    from assay.contracts import CheckResult, Contract, RowChecks
    from assay.monitoring._reference import Reference


@dataclass(frozen=True)
class WindowContract:
    """A contract whose row checks run on a monitor's windows."""

    name: str
    contract: Contract

    def compile(self, window: pl.LazyFrame, inputs: list[str]) -> RowChecks:
        """The checks of the contract's columns among ``inputs``, over ``window``."""
        from assay.contracts import row_checks

        return row_checks(self.contract, window, columns=inputs)

    @staticmethod
    def summarise(results: list[CheckResult], *, rows: int) -> list[dict[str, Any]]:
        """Each check as stored with the window."""
        return [{"check": r.id, "column": r.column, "severity": r.severity,
                 "status": r.status, "failed_rows": r.failing_rows, "rows": rows,
                 "passed": not r.failed, "message": r.message} for r in results]


def monitor_contract(project: Project, config: MonitoringConfig, *, monitor: str,
                     reference: Reference) -> WindowContract | None:
    """The contract of monitor ``monitor``'s windows (None: none applies, or ``contract:
    false``).

    Raises:
        MonitoringError: ``contract:`` names no contract, or a Pandera schema (which cannot
            run on a window).
        ContractError: the contract file does not parse.
    """
    from assay._paths import resolve_inside
    from assay.contracts import load_contract

    if config.contract is False:
        return None
    contracts = project.config.contracts
    if isinstance(config.contract, str):
        name = config.contract
        entry = contracts.get(name)
        path = resolve_inside(project.root, entry.path if entry is not None and entry.path
                              else f"contracts/{name}.yaml", what="contract")
        if entry is not None and entry.pandera:
            raise MonitoringError(
                f"monitor '{monitor}': contract '{name}' is a Pandera schema, which cannot "
                "check a window; name a YAML contract or set contract: false",
                monitor=monitor, contract=name)
        if not path.is_file():
            from assay.config import suggest

            raise MonitoringError(
                f"monitor '{monitor}': no contract '{name}' (not under contracts: in assay.yaml "
                f"and no contracts/{name}.yaml){suggest(name, sorted(contracts))}; "
                "register it or set contract: false", monitor=monitor, contract=name)
        return WindowContract(name, load_contract(path))
    found = _of_dataset(project, reference)
    if found is None:
        return None
    name, raw = found
    return WindowContract(name, load_contract(resolve_inside(project.root, raw,
                                                             what="contract")))


def _of_dataset(project: Project, reference: Reference) -> tuple[str, str] | None:
    """(name, file) of the first registered YAML contract whose ``data:`` is the reference's
    dataset."""
    from assay.contracts import dataset_path

    config = project.config
    wanted = reference.path.rstrip("/")
    for name in sorted(config.contracts):
        entry = config.contracts[name]
        if entry.data is None or entry.pandera:
            continue
        if dataset_path(entry.data, config)[0].rstrip("/") == wanted:
            return name, entry.path or f"contracts/{name}.yaml"
    return None
