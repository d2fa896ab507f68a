"""PostgreSQL: every recorded event notifies the replicas (channel genmedia_events_<schema>, payload
"<sequence> <job_id>"), delivered at commit; SQLite has one process and needs nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION notify_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('genmedia_events_' || current_schema(), NEW.sequence || ' ' || NEW.job_id);
            RETURN NULL;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER job_events_notify AFTER INSERT ON job_events
        FOR EACH ROW EXECUTE FUNCTION notify_job_event()
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER job_events_notify ON job_events")
    op.execute("DROP FUNCTION notify_job_event()")
