"""Alembic environment of the enrolment service: the kit runs the migrations on its engine settings.

The target metadata (kit tables + ours) is what `alembic revision --autogenerate` compares against.
"""

from enrolment.store import schema_metadata
from reliability.migrations import run_migrations

run_migrations(schema_metadata())
