"""The migrations produce exactly what the SQLModel metadata describes, on empty SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from enrolment.store import MIGRATIONS, migrate, schema_metadata
from reliability.database import create_database_engine
from reliability.migrations import for_dialect
from sqlalchemy import inspect

EXPECTED_TABLES = {
    "alembic_version",
    "outbox_message",
    "processed_event",
    "lease",
    "parked_record",
    "enrolment",
    "enrolment_pending_cancellation",
    "enrolment_catalogue_publication",
}


def differences(database_url: str) -> list:
    engine = create_database_engine(database_url)
    try:
        with engine.connect() as connection:
            options = {"compare_type": True, "include_object": for_dialect(connection.dialect.name)}
            context = MigrationContext.configure(connection, opts=options)
            return compare_metadata(context, schema_metadata())
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models(database_url):
    migrate(database_url)
    assert differences(database_url) == []
    engine = create_database_engine(database_url)
    try:
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == EXPECTED_TABLES
        unique = {index["name"]: index for index in inspector.get_indexes("enrolment")}
        assert unique["uq_enrolment_one_active_api_enrolment"]["unique"]
    finally:
        engine.dispose()


def test_upgrading_twice_is_harmless_and_downgrade_removes_everything(database_url):
    migrate(database_url)
    migrate(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.downgrade(config, "base")
    engine = create_database_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    migrate(database_url)
    assert differences(database_url) == []


@pytest.mark.parametrize("table", sorted(EXPECTED_TABLES - {"alembic_version"}))
def test_every_table_of_the_metadata_is_created(table):
    assert table in schema_metadata().tables
