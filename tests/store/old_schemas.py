"""Older store schemas made from a HEAD SQLite file, for the migration tests."""

from __future__ import annotations

import sqlite3


def undo_revision_0006(conn: sqlite3.Connection) -> None:
    """Drop the ``trigger_firings`` table of revision 0006."""
    conn.execute("DROP TABLE trigger_firings")


def undo_revision_0005(conn: sqlite3.Connection) -> None:
    """Drop the ``monitor_windows`` table of revision 0005, after undoing the later revisions."""
    undo_revision_0006(conn)
    conn.execute("DROP TABLE monitor_windows")


def undo_revision_0004(conn: sqlite3.Connection) -> None:
    """Put back the ``deployments`` table of revisions 0001-0003 (and drop ``rollouts``), after
    undoing the later revisions."""
    undo_revision_0005(conn)
    conn.execute("DROP TABLE rollouts")
    conn.execute("DROP TABLE deployments")
    conn.execute("CREATE TABLE deployments (id INTEGER NOT NULL, name VARCHAR(255) NOT NULL, "
                 "version INTEGER NOT NULL, target VARCHAR(255) NOT NULL, state VARCHAR(32) NOT "
                 "NULL, traffic FLOAT DEFAULT '0' NOT NULL, details JSON NOT NULL, created_at "
                 "FLOAT NOT NULL, updated_at FLOAT NOT NULL, CONSTRAINT pk_deployments PRIMARY "
                 "KEY (id))")
