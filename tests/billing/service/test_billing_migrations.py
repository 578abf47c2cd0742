"""The migration scripts build exactly the schema the SQLModel tables describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from billing.bootstrap import MIGRATIONS
from billing.store import TABLES, schema_metadata
from reliability.database import create_database_engine
from reliability.migrations import for_dialect, upgrade_to_head
from reliability.tables import KIT_TABLES


def differences(url, metadata):
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            options = {"compare_type": True, "include_object": for_dialect(connection.dialect.name)}
            context = MigrationContext.configure(connection, opts=options)
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models(database_url):
    upgrade_to_head(database_url, MIGRATIONS)
    metadata = schema_metadata()
    assert {table.name for table in (*KIT_TABLES, *TABLES)} == set(metadata.tables)
    assert differences(database_url, metadata) == []
    # Running it again is a no-op (the service migrates at every start).
    upgrade_to_head(database_url, MIGRATIONS)
    assert differences(database_url, metadata) == []


def test_the_comparison_would_notice_a_drift(database_url):
    # Guards the test above: a model that no longer matches the migration must show up as a difference.
    upgrade_to_head(database_url, MIGRATIONS)
    metadata = schema_metadata()
    metadata.tables["billing_invoice"].c.total.nullable = True
    metadata.tables["billing_enrolment"].c.currency.type = sa.String(4)
    kinds = {
        difference[0][0] if isinstance(difference, list) else difference[0]
        for difference in differences(database_url, metadata)
    }
    assert kinds == {"modify_nullable", "modify_type"}
