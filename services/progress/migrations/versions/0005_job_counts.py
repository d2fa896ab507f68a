"""job_counts: how many jobs each (owner, kind, state) has, kept in the same transaction as every state
change, so ListJobs' total_size for state/kind/owner filters is a sum of a few rows instead of a count
over an index range (100k+ rows with a million jobs). Filled from the jobs already stored.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
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
        "job_counts",
        sa.Column("owner", sa.Text(), primary_key=True),
        sa.Column("kind", sa.Integer(), primary_key=True),
        sa.Column("state", sa.Integer(), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO job_counts (owner, kind, state, count) "
               "SELECT owner, kind, state, count(*) FROM jobs GROUP BY owner, kind, state")


def downgrade() -> None:
    op.drop_table("job_counts")
