"""store identity: a store_info table holding this database's instance id

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 22:20:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "store_info",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_info")),
    )
    op.bulk_insert(table, [{"key": "instance_id", "value": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("store_info")
