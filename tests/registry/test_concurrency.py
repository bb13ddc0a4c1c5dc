"""Promotions racing for one alias: exactly one wins and the store stays consistent."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from assay.errors import ConcurrencyError
from assay.registry import alias_history, get_version, promote
from assay.store import Store
from tests.conftest import store_connection
from tests.registry.conftest import Registrar
from tests.registry.racers import race_promote
from tests.registry.worlds import ML, config


def _alias_row(store: Store, alias: str) -> tuple[int, int]:
    from sqlalchemy import select

    from assay.store.tables import aliases

    with store_connection(store.url) as conn:
        row = conn.execute(select(aliases).where(aliases.c.alias == alias)).one()
        return int(row.version), int(row.revision)


@pytest.mark.slow
@pytest.mark.parametrize("existing", [False, True], ids=["new-alias", "existing-alias"])
def test_racing_processes_exactly_one_wins(
    registrar: Registrar, store: Store, store_url: str, existing: bool
) -> None:
    refs = [registrar(seed).version.ref for seed in range(1, 5)]
    expected = 0
    if existing:
        promote(store, config(promotion={}), refs[0], to="production", actor=ML)
        expected = 1
    racers = refs[1:]
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(len(racers)), spawn.Queue()
    procs = [
        spawn.Process(target=race_promote,
                      args=(store_url, ref, "production", expected, barrier, results))
        for ref in racers
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    winners = [o for o in outcomes if o[0] == "won"]
    losers = [o for o in outcomes if o[0] == "lost"]
    assert len(winners) == 1, outcomes
    assert all("moved while this promote was decided" in o[2] for o in losers)
    version, revision = _alias_row(store, "production")
    assert f"churn:{version}" == winners[0][1]
    assert revision == expected + 1
    history = alias_history(store, "churn", "production")
    assert len(history) == expected + 1
    assert len(store.events(kind="model.promoted")) == expected + 1


def test_racing_threads_keep_history_and_revision_consistent(
    registrar: Registrar, store: Store
) -> None:
    refs = [registrar(seed).version.ref for seed in range(1, 7)]
    cfg = config(promotion={})
    barrier = threading.Barrier(len(refs))
    won: list[str] = []
    lost: list[str] = []

    def racer(ref: str) -> None:
        barrier.wait(timeout=30)
        try:
            promote(store, cfg, ref, to="staging", actor=ML)
            won.append(ref)
        except ConcurrencyError:
            lost.append(ref)

    threads = [threading.Thread(target=racer, args=(ref,)) for ref in refs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert won and len(won) + len(lost) == len(refs)
    version, revision = _alias_row(store, "staging")
    history = alias_history(store, "churn", "staging")
    assert revision == len(history) == len(won)
    assert f"churn:{version}" == f"churn:{history[-1].version}"
    assert get_version(store, "churn@staging").version == version
