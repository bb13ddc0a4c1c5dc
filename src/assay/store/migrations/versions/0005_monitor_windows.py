"""monitor_windows: one row per window a deployment monitor computed (assay monitor NAME)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=255), nullable=False),
        sa.Column("deployment", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=True),
        sa.Column("window_end", sa.Float(), nullable=True),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=32), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("reference_hash", sa.String(length=80), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_windows")),
    )
    with op.batch_alter_table("monitor_windows", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_windows_monitor", ["monitor", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_windows", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_windows_monitor")
    op.drop_table("monitor_windows")
