"""PostgreSQL: genmedia_stale_rows(expected, matched), which aborts a statement with a serialization failure
(40001). A batch written from job rows kept by its replica (write_postgres.py) checks in that same statement that
each row is still the version it was computed from (its xmin); if another writer changed one meanwhile,
this error undoes the whole statement, and the batch is written again under row locks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION genmedia_stale_rows(expected bigint, matched bigint) RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION 'genmedia: % of % job rows changed since they were read', expected - matched, expected
                USING ERRCODE = 'serialization_failure';
        END $$
    """)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION genmedia_stale_rows(bigint, bigint)")
