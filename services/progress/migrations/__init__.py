"""Alembic migrations of the progress service's schema (applied by `genmedia-progress migrate`)."""
