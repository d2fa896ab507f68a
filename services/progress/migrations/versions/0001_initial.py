"""Initial schema: jobs (with priority, deadline, review, batch and ETA), their labels and events, and the
indexes behind every ListJobs filter and the WatchJobs cursor.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=False),
        sa.Column("spec", sa.LargeBinary(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("assets", sa.LargeBinary(), nullable=False),
        sa.Column("error_code", sa.Text(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("error_retryable", sa.Boolean(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("start_time", TIME, nullable=True),
        sa.Column("update_time", TIME, nullable=False),
        sa.Column("end_time", TIME, nullable=True),
        sa.Column("last_sequence", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("deadline", TIME, nullable=True),
        sa.Column("review", sa.Boolean(), nullable=False),
        sa.Column("review_timeout_us", sa.BigInteger(), nullable=True),
        sa.Column("review_round", sa.Integer(), nullable=False),
        sa.Column("reviews", sa.LargeBinary(), nullable=False),
        sa.Column("batch_id", sa.String(200), nullable=False),
        sa.Column("estimated_completion_time", TIME, nullable=True),
    )
    op.create_index("ix_jobs_newest", "jobs", ["create_time", "id"])
    op.create_index("ix_jobs_state", "jobs", ["state", "create_time", "id"])
    op.create_index("ix_jobs_kind", "jobs", ["kind", "create_time", "id"])
    op.create_index("ix_jobs_batch", "jobs", ["batch_id", "create_time", "id"])
    op.create_index("ix_jobs_owner", "jobs", ["owner", "create_time", "id"])
    op.create_index("ix_jobs_end_time", "jobs", ["end_time"])
    op.create_table(
        "job_labels",
        sa.Column("job_id", sa.String(200), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("key", sa.String(63), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    op.create_index("ix_job_labels_value", "job_labels", ["key", "value", "job_id"])
    postgres = op.get_bind().dialect.name == "postgresql"
    # The writing transaction's id orders commits across replicas (see store.EventCursor).
    commit_tx = sa.text("(pg_current_xact_id()::text)::bigint") if postgres else sa.text("0")
    op.create_table(
        "job_events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(200), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("commit_tx", sa.BigInteger(), nullable=False, server_default=commit_tx),
        sa.Column("time", TIME, nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("job_id", "sequence", name="uq_job_events_sequence"),
        sa.UniqueConstraint("job_id", "idempotency_key", name="uq_job_events_key"),
    )
    op.create_index("ix_job_events_cursor", "job_events", ["commit_tx", "id"])
    op.create_index("ix_job_events_type_time", "job_events", ["type", "time"])


def downgrade() -> None:
    op.drop_table("job_events")
    op.drop_table("job_labels")
    op.drop_table("jobs")
