"""A monitor's windows in the store, on SQLite and PostgreSQL: one row per window with every
column's decision, a ``monitor.window`` event, ``assay monitor history``; and revision 0005."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from assay.store import HEAD_REVISION, SqlAlchemyStore, SqliteStore, open_store
from tests.conftest import TmpProject
from tests.monitoring.worlds import live, make_project, training_frame, write_log
from tests.store.old_schemas import undo_revision_0005


def test_windows_are_stored_with_their_columns_and_an_event(project_on: TmpProject) -> None:
    from assay.monitoring import windows

    world = make_project(project_on)
    write_log(world.root, live(training_frame(1000, seed=1)))
    first = world.invoke("monitor", "drift", "--json")
    assert first.code == 0, first.output
    write_log(world.root, live(training_frame(1000, seed=2, shift=1.0)))
    second = world.invoke("monitor", "drift", "--window-rows", "1000", "--json")
    assert second.code == 1, second.output
    assert project_on.store_url is not None
    with open_store(project_on.store_url) as store:
        stored = windows(store, "drift")
        events = store.events(kind="monitor.window")
    assert [w.to_dict() for w in stored] == [json.loads(first.stdout), json.loads(second.stdout)]
    assert [(w.verdict, w.rows, w.versions, w.deployment, w.model) for w in stored] == [
        ("no_drift", 1000, ["1"], "toy-prod", "toy"), ("drift", 1000, ["1"], "toy-prod", "toy")]
    assert [(e.subject, e.details["verdict"], e.details["window_id"], e.details["drifted"])
            for e in events] == [("drift", "no_drift", stored[0].id, []),
                                 ("drift", "drift", stored[1].id, ["a", "prediction"])]
    assert stored[0].start is not None and stored[0].end is not None
    assert stored[0].start <= stored[0].end <= stored[1].start  # type: ignore[operator]

    history = world.invoke("monitor", "history", "drift", "--json")
    assert history.code == 0, history.output
    assert [w["verdict"] for w in json.loads(history.stdout)["windows"]] == ["no_drift", "drift"]
    table = world.invoke("monitor", "history", "drift")
    assert table.code == 0, table.output
    line_a = next(line for line in table.stdout.splitlines() if line.lstrip().startswith("a "))
    assert line_a.split()[1:] == [_spark(stored[0], "a") + _spark(stored[1], "a"), "drift"]


def _spark(window: object, column: str) -> str:
    from assay.cli.monitor import _sparkline

    col = next(c for c in window.columns if c.column == column)  # type: ignore[attr-defined]
    return _sparkline([col.p_value])


def test_history_of_a_monitor_without_windows_says_how_to_start(world_sqlite: TmpProject) -> None:
    done = world_sqlite.invoke("monitor", "history", "drift")
    assert done.code == 0, done.output
    assert "no windows yet; run: assay monitor drift" in done.stdout


def test_a_store_at_revision_0004_gets_the_windows_table(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    SqliteStore.open(f"sqlite:///{db}").close()  # type: ignore[union-attr]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = '0004'")
    undo_revision_0005(conn)
    conn.commit()
    conn.close()
    assert SqliteStore.open(f"sqlite:///{db}") is None  # not at HEAD: Alembic migrates it
    with open_store(f"sqlite:///{db}") as store:
        assert isinstance(store, SqlAlchemyStore) and store.current_revision() == HEAD_REVISION
    tables = {row[0] for row in sqlite3.connect(db).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "monitor_windows" in tables


def test_history_html_shows_each_column_over_the_windows(world_sqlite: TmpProject) -> None:
    import base64
    import re

    world = world_sqlite
    write_log(world.root, live(training_frame(1000, seed=1)))
    assert world.invoke("monitor", "drift").code == 0
    write_log(world.root, live(training_frame(1000, seed=2, shift=1.0)))
    assert world.invoke("monitor", "drift", "--window-rows", "1000").code == 1
    page = world.root / "history.html"
    done = world.invoke("monitor", "history", "drift", "--html", page)
    assert done.code == 0, done.output
    text = page.read_text()
    assert "<h1>assay monitor history drift</h1>" in text and "2 window(s)" in text
    assert "<td class='drift'>drift</td>" in text and "<td class='no_drift'>no_drift</td>" in text
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    # per column (a, b, c, plan, prediction): its drift over time and its newest distribution
    assert len(images) >= 2 * 4
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "a over time" in text and "report: " in done.stdout
