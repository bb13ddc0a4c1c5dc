"""The domain entry point: resolve what to validate, run it, record the result."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.contracts._engine import run_contract
from assay.contracts._model import Contract, load_contract
from assay.contracts._reference import open_reference, reference_text
from assay.contracts._result import ContractReport
from assay.contracts._source import DataSource, dataset_path, source_for
from assay.errors import UsageError
from assay.store import statements as sql

if TYPE_CHECKING:
    from assay.config import AssayConfig
    from assay.store import Store


@dataclass(frozen=True)
class Target:
    """One contract to run over one dataset."""

    contract: str
    contract_path: Path | None  # None for a Pandera-only contract
    pandera: str | None
    data: str
    reference: str | None
    dataset: str | None  # the dataset name when the data is a named dataset


def _contract_file(root: Path, name: str, config: AssayConfig) -> tuple[str, Path | None, str | None, str | None, str | None]:
    """(name, file, pandera, data, reference) for a registered name, a file path or contracts/NAME.yaml."""
    from assay._paths import resolve_inside

    ref = config.contracts.get(name)
    if ref is not None:
        if ref.pandera:
            return name, None, ref.pandera, ref.data, ref.reference
        raw = ref.path or f"contracts/{name}.yaml"
        return name, resolve_inside(root, raw, what="contract"), None, ref.data, ref.reference
    if name.endswith((".yaml", ".yml")):
        path = resolve_inside(root, name, what="contract")
        return path.stem, path, None, None, None
    path = resolve_inside(root, f"contracts/{name}.yaml", what="contract")
    if path.is_file():
        return name, path, None, None, None
    known = sorted(config.contracts)
    from assay.config import suggest

    raise UsageError(
        f"No contract '{name}': not registered under contracts: in assay.yaml and no "
        f"contracts/{name}.yaml{suggest(name, known)}",
        contract=name,
    )


def resolve_targets(root: Path, config: AssayConfig, target: str | None = None,
                    contract: str | None = None) -> list[Target]:
    """What ``assay validate [TARGET] [--contract C]`` means.

    * ``--contract C`` alone: C on its own ``data``.
    * ``TARGET`` (dataset name, path, ``PATH.assay`` pointer, or a registered contract name)
      with ``--contract C``: C on that data; without: every registered contract whose ``data``
      is that dataset (or the contract named TARGET on its data).
    * nothing: every registered contract on its data.

    Raises:
        UsageError: nothing to validate, unknown contract, or a contract without data.
    """
    if contract is not None:
        name, path, pandera, data, reference = _contract_file(root, contract, config)
        if target is None:
            if data is None and path is not None:
                data = load_contract(path).data
            if data is None:
                raise UsageError(
                    f"Contract '{name}' names no data; run: assay validate DATA --contract {contract}",
                    contract=name,
                )
            target = data
        data_path, dataset = dataset_path(target, config)
        return [Target(name, path, pandera, data_path, reference, dataset)]
    if target is not None and target in config.contracts and target not in config.datasets:
        return resolve_targets(root, config, None, target)
    targets = []
    for name, ref in config.contracts.items():
        if ref.data is None:
            continue
        if target is not None:
            wanted = dataset_path(target, config)[0].rstrip("/")
            if dataset_path(ref.data, config)[0].rstrip("/") != wanted:
                continue
        targets.extend(resolve_targets(root, config, target or ref.data, name))
    if not targets:
        if target is None:
            raise UsageError(
                "Nothing to validate: no contracts with data: under contracts: in assay.yaml; "
                "run: assay validate DATA --contract contracts/NAME.yaml", target=target)
        raise UsageError(
            f"No contract is registered for {target!r}; pass one: assay validate {target} "
            "--contract NAME", target=target)
    return targets


def _hash_data(source: DataSource, state_dir: Path | None, out: dict[str, Any]) -> None:
    from assay.errors import ObjectError
    from assay.objects import StateDB, hash_tree

    if source.local is None:
        return
    try:
        if state_dir is not None:
            with StateDB(state_dir / "state.db") as state:
                out["hash"] = hash_tree(source.local, state=state).oid
        else:
            out["hash"] = hash_tree(source.local).oid
    except (ObjectError, OSError) as exc:
        out["error"] = str(exc)


def validate_target(
    root: Path,
    config: AssayConfig,
    target: Target,
    *,
    sample_rows: int = 5,
    streaming: bool | None = None,
    now: datetime | None = None,
    state_dir: Path | None = None,
    store_url: str | None = None,
) -> ContractReport:
    """Run one target: parse the contract, scan the data, hash it meanwhile, evaluate.

    Args:
        store_url: where a versioned reference (``churn@v1``) is looked up (default: the
            project's store).

    Raises:
        ConfigError: the contract file is malformed.
        ContractError: the contract cannot be compiled, or the reference is missing.
        ObjectNotFound, CorruptObject: a versioned reference is not (intact) in the cache.
        UsageError: the data does not exist.
    """
    source = source_for(target.data, root)
    hashed: dict[str, Any] = {}
    hasher = threading.Thread(target=_hash_data, args=(source, state_dir, hashed), daemon=True)
    hasher.start()
    try:
        if target.pandera is not None:
            from assay.contracts._pandera import run_pandera

            report = run_pandera(target.pandera, source, root=root, name=target.contract)
        else:
            assert target.contract_path is not None
            contract: Contract = load_contract(target.contract_path)
            contract = contract.model_copy(update={"name": target.contract})
            ref_raw = target.reference or reference_text(contract.reference)
            reference = None
            if ref_raw is not None and contract.distribution:
                reference = open_reference(ref_raw, root=root, config=config,
                                           contract=target.contract, store_url=store_url)
            report = run_contract(contract, source, reference=reference, sample_rows=sample_rows,
                                  streaming=streaming, now=now)
    finally:
        hasher.join()
    report.data = target.data
    report.data_hash = hashed.get("hash")
    return report


class StoreOpener:
    """Open (and migrate) the store in a background thread while the data is being validated."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self._store: Store | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._open, daemon=True)
        self._thread.start()

    def _open(self) -> None:
        from assay.store import open_store

        try:
            self._store = open_store(self.store_url)  # the store serialises migrations
        except BaseException as exc:  # re-raised in the caller's thread by get()
            self._error = exc

    def close(self) -> None:
        """Wait for the thread and close the store (errors of an unused store are dropped)."""
        self._thread.join()
        if self._store is not None:
            self._store.close()
            self._store = None

    def get(self) -> Store:
        """The opened store (waits for the thread); re-raises its error."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        return self._store


def record_result(store: str | Store | StoreOpener, report: ContractReport, *,
                  dataset: str | None = None, stage_run_id: str | None = None) -> int:
    """Store the report in ``contract_results`` (with the dataset version) plus an event.

    Args:
        store: a store URL, an open store, or a :class:`StoreOpener` (closed afterwards
            unless an open store was given).
        report: the report to record (its ``dataset_version_id`` is filled in).
        dataset: the dataset name, to find the dataset version by name and hash.
        stage_run_id: the pipeline stage run that produced it, if any.
    """
    from assay._identity import current_user
    from assay.store import open_store

    owned = not hasattr(store, "write")
    if isinstance(store, StoreOpener):
        store = store.get()
    elif isinstance(store, str):
        store = open_store(store)
    try:
        with store.write() as conn:
            if report.data_hash:  # the latest version of these bytes (under that name)
                found = [row_id for row_id, name, *_ in conn.execute(
                    sql.DATASET_VERSIONS_OF_HASH, {"hash": report.data_hash})
                    if not dataset or name == dataset]
                report.dataset_version_id = int(found[-1]) if found else None
            if stage_run_id is not None and conn.execute(
                    sql.STAGE_RUN_ID, {"id": stage_run_id}).fetchone() is None:
                stage_run_id = None  # not recorded in this store: the row names no stage run
            row_id = int(conn.execute(sql.INSERT_CONTRACT_RESULT, {
                "contract": report.contract, "data_hash": report.data_hash,
                "dataset_version_id": report.dataset_version_id, "stage_run_id": stage_run_id,
                "passed": report.passed, "errors": report.errors, "warnings": report.warnings,
                "report": report.to_dict(), "actor": current_user(), "created_at": time.time(),
            }).scalar())
            store.record_event(
                "contract.validated", report.contract,
                {"result_id": row_id, "data": report.data, "data_hash": report.data_hash,
                 "passed": report.passed, "errors": report.errors, "warnings": report.warnings,
                 "dataset_version_id": report.dataset_version_id},
                conn=conn,
            )
        return row_id
    finally:
        if owned:
            store.close()


def contract_results_for(store_url: str, *, data_hash: str | None = None,
                         contract: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Stored results, newest first (for ``assay data log`` and the dashboard)."""
    from assay.store import open_store

    store = open_store(store_url)
    try:
        with store.read() as conn:
            rows = conn.execute(*sql.recent_contract_results(
                data_hash=data_hash, contract=contract, limit=limit)).fetchall()
    finally:
        store.close()
    results = [dict(zip(sql.CONTRACT_RESULT_COLUMNS, row, strict=True)) for row in rows]
    for result in results:
        result["passed"] = bool(result["passed"])  # 0/1 on SQLite
    return results
