"""How the store holds metric values (revision 0003), its SQLite write turns, and the disk it
reserves for recording how runs end."""

from __future__ import annotations

import fcntl
import math
import os
import threading
import time
from pathlib import Path

import pytest

from assay.errors import StoreError
from assay.store import HEAD_REVISION, SqlAlchemyStore, open_store
from assay.store._metric_values import metric_columns, metric_value
from assay.store._sqlite import RESERVE_BYTES, reserve_path, write_turn
from assay.store.statements import INSERT_METRIC

SHAPES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, 5e-324, -1.5]


@pytest.mark.parametrize("value", SHAPES, ids=repr)
def test_every_float_round_trips_through_its_columns(value: float) -> None:
    back = metric_value(*metric_columns(value))
    assert (math.isnan(back) and math.isnan(value)) or (
        back == value and math.copysign(1.0, back) == math.copysign(1.0, value))


def test_migrating_a_0002_store_keeps_its_metrics_and_then_holds_nan(store_url: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from assay.store._sqlalchemy_store import MIGRATIONS_DIR
    from assay.tracking import metric_history

    old = SqlAlchemyStore(store_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with old.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(text("INSERT INTO runs (id, kind, \"trigger\", status, actor, started_at) "
                          "VALUES ('r', 'adhoc', 'manual', 'running', 'a', 0)"))
        conn.execute(text("INSERT INTO stage_runs (id, run_id, stage, status, cached, attempt, "
                          "started_at) VALUES ('s', 'r', 'x', 'running', false, 1, 0)"))
        conn.execute(text("INSERT INTO metrics (stage_run_id, key, value, step, ts) "
                          "VALUES ('s', 'loss', 0.5, 1, 0), ('s', 'loss', 0.25, 2, 0)"))
        conn.commit()
    old.close()
    store = open_store(store_url)  # migrates 0002 -> HEAD
    assert isinstance(store, SqlAlchemyStore) and store.current_revision() == HEAD_REVISION
    value, kind = metric_columns(math.nan)
    with store.write() as conn:
        conn.execute(INSERT_METRIC, {"stage_run_id": "s", "key": "loss", "value": value,
                                     "value_kind": kind, "step": 2**40, "ts": 0})
    history = metric_history(store, "s", "loss")
    store.close()
    assert [s for s, _, _ in history] == [1, 2, 2**40]
    assert [v for _, v, _ in history][:2] == [0.5, 0.25] and math.isnan(history[2][1])


def _hold(db: Path) -> int:
    fd = os.open(db.with_name(db.name + ".write.lock"), os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_writer_waits_for_its_turn_and_names_the_lock_when_it_gives_up(
        tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fd = _hold(db)
    try:
        with pytest.raises(StoreError, match=r"stayed busy for 0.2 s: another writer holds "
                                             r"a\.db\.write\.lock"), write_turn(db, timeout=0.2):
            pass
        order: list[str] = []

        def waiter() -> None:
            with write_turn(db, timeout=30):
                order.append("waiter")

        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.1)
        order.append("holder")
    finally:
        os.close(fd)  # hands the turn over
    thread.join(timeout=30)
    assert order == ["holder", "waiter"]


def test_a_nested_write_in_the_same_thread_does_not_wait_for_itself(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with write_turn(db, timeout=0.2), write_turn(db, timeout=0.2):
        pass
    with write_turn(db, timeout=0.2):  # released after the outer one
        pass


def test_a_sqlite_store_reserves_real_disk_for_recording_how_runs_end(tmp_path: Path) -> None:
    db = tmp_path / "store" / "assay.db"
    open_store(f"sqlite:///{db}").close()
    reserve = reserve_path(db)
    assert reserve.stat().st_size == RESERVE_BYTES
    assert reserve.stat().st_blocks * 512 >= RESERVE_BYTES  # allocated, not a sparse file
