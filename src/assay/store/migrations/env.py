"""Alembic environment: runs against the connection assay passes in."""

from __future__ import annotations

from alembic import context

from assay.store._tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via `alembic` CLI by developers
    raise SystemExit("assay runs its migrations itself; use `assay` commands")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
