"""Notifications: each job's notify settings, and the delivery log (one row per notification of an event
to a target, one per attempt at sending it).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "job_notify",
        sa.Column("job_id", sa.String(200), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("notify", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(200), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("event", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("redeliveries", sa.JSON(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("update_time", TIME, nullable=False),
    )
    op.create_index("ix_deliveries_job", "deliveries", ["job_id", "create_time", "id"])
    op.create_table(
        "delivery_attempts",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(64), sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("time", TIME, nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("latency_us", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("redelivery", sa.Integer(), nullable=False),
        sa.UniqueConstraint("delivery_id", "number", name="uq_delivery_attempts_number"),
        sa.UniqueConstraint("delivery_id", "key", name="uq_delivery_attempts_key"),
    )


def downgrade() -> None:
    op.drop_table("delivery_attempts")
    op.drop_index("ix_deliveries_job", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("job_notify")
