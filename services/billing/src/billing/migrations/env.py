"""Alembic environment of the billing service; the kit runs it (reliability.migrations.upgrade_to_head)."""

from reliability.migrations import run_migrations

from billing.store import schema_metadata

run_migrations(schema_metadata())
