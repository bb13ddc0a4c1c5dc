"""metrics: NaN and negative zero (value_kind, a nullable value), 64-bit steps

SQLite's REAL turns NaN into NULL and stores -0.0 as the integer 0, so these two are marked in
``value_kind`` (see assay.store._metric_values); steps are 64-bit on every backend, as in MLflow.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("step", existing_type=sa.Integer(), type_=sa.BigInteger(),
                              existing_nullable=False, server_default="0")
        batch_op.add_column(sa.Column("value_kind", sa.String(length=8), nullable=True))


def downgrade() -> None:
    # The old schema holds neither NaN nor negative zero: NaN points are deleted, -0.0 is 0.0.
    op.execute("DELETE FROM metrics WHERE value IS NULL")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_column("value_kind")
        batch_op.alter_column("step", existing_type=sa.BigInteger(), type_=sa.Integer(),
                              existing_nullable=False, server_default="0")
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=False)
