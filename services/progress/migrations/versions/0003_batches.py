"""Batches: a batch job's settings and children by state (jobs.batch, a serialized BatchSummary), the sum of
its children's percents (jobs.batch_percent_sum, for the mean), and each child's position and attempt.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("batch", sa.LargeBinary(), nullable=True))
    op.add_column("jobs", sa.Column("batch_percent_sum", sa.Float(), nullable=False, server_default=sa.text("0")))
    op.add_column("jobs", sa.Column("batch_index", sa.Integer(), nullable=False, server_default=sa.text("0")))
    op.add_column("jobs", sa.Column("batch_attempt", sa.Integer(), nullable=False, server_default=sa.text("0")))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as table:
        for name in ("batch_attempt", "batch_index", "batch_percent_sum", "batch"):
            table.drop_column(name)
