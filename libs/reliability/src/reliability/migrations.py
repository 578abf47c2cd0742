"""Alembic glue shared by the services: each service keeps its own migration scripts, the kit runs them.

Migrations run with ``render_as_batch`` so ALTERs work on SQLite (which rebuilds the table) as on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url

from reliability.columns import UTCDateTime
from reliability.database import advisory_lock_key, create_database_engine
from reliability.tables import PARKED, PENDING

MIGRATION_LOCK = advisory_lock_key("reliability.migrations")
"""The PostgreSQL advisory lock every migration holds until it commits, so replicas migrate one at a time."""


def upgrade_to_head(database_url: str, script_location: str) -> None:
    """Bring the database at `database_url` to the newest schema of the service whose scripts are given.

    A SQLite file's directory is made first: the default URLs point at ./var/<service>.db, and SQLite creates the
    file but not its directory.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", script_location)
    # Alembic's config is an INI file underneath: a '%' in a password would start an interpolation.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")


def run_migrations(target_metadata: MetaData | None = None) -> None:
    """The body of every service's ``env.py``: online migrations on our own engine settings."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("sqlalchemy.url is not set; run migrations through reliability.migrations.upgrade_to_head")
    engine = create_database_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    # Replicas that start together on an empty database would each create the tables, and all
                    # but one fail. Held until the migration commits; the next reads the version it left.
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                context.run_migrations()
    finally:
        engine.dispose()


def create_kit_tables_v1() -> None:
    """The kit's tables as of version 1; a service's first migration calls this. Never edit: add a v2."""
    op.create_table(
        "outbox_message",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_outbox_message_unpublished", "outbox_message", ["published_at", "id"])
    op.create_table(
        "processed_event",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(1000), primary_key=True),
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("processed_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "lease",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )


def create_kit_tables_v2() -> None:
    """Version 2 of the kit's tables: outbox rows can be parked, and consumed records parked. Never edit: add a v3."""
    with op.batch_alter_table("outbox_message") as table:
        table.add_column(sa.Column("parked_at", UTCDateTime, nullable=True))
        table.add_column(sa.Column("parked_reason", sa.String(4000), nullable=True))
    op.create_table(
        "parked_record",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=True),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("reason", sa.String(4000), nullable=False),
        sa.Column("parked_at", UTCDateTime, nullable=False),
        sa.Column("released_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_parked_record_open", "parked_record", ["released_at", "id"])


def drop_kit_tables_v2() -> None:
    """Undoes `create_kit_tables_v2`."""
    op.drop_index("ix_parked_record_open", table_name="parked_record")
    op.drop_table("parked_record")
    with op.batch_alter_table("outbox_message") as table:
        table.drop_column("parked_reason")
        table.drop_column("parked_at")


def create_kit_tables_v3() -> None:
    """Version 3: partial indexes of the outbox rows waiting to be sent and of those parked, so that the relay's
    reads cost what is waiting, not what the outbox keeps. Never edit: add a v4.

    On PostgreSQL `CREATE INDEX` blocks the outbox's writers while it reads the table (seconds for a week of
    rows); the service migrates at start, before it consumes or publishes. SQLite needs neither (see
    `reliability.tables.OutboxMessage`)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index("ix_outbox_message_pending", "outbox_message", ["id"], postgresql_where=PENDING)
    op.create_index("ix_outbox_message_parked", "outbox_message", ["topic", "key", "id"], postgresql_where=PARKED)


def drop_kit_tables_v3() -> None:
    """Undoes `create_kit_tables_v3`."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_outbox_message_parked", table_name="outbox_message")
    op.drop_index("ix_outbox_message_pending", table_name="outbox_message")


def create_kit_tables_v4() -> None:
    """Version 4: the parked rows' partial index on SQLite too. Never edit: add a v5.

    The relay reads the parked heads every round (joined to its next batch); on SQLite that read walked the index
    of every unpublished row, so its cost grew with how far the relay was behind: 18.6 ms a round with 50 000 rows
    waiting, 2.3 with 5 000 (37 and 5 µs an event at 500 rows a round), in a rebuild where the relay falls behind.
    Without statistics SQLite still prefers that other index, so the read names this one (`INDEXED BY`,
    `reliability.outbox_parking.blocking_heads_query`)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.create_index("ix_outbox_message_parked", "outbox_message", ["topic", "key", "id"], sqlite_where=PARKED)


def drop_kit_tables_v4() -> None:
    """Undoes `create_kit_tables_v4`."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.drop_index("ix_outbox_message_parked", table_name="outbox_message")


def for_dialect(dialect_name: str) -> Callable[..., bool]:
    """Alembic's `include_object` for comparing a database with the models: an object made for other dialects
    only (`reliability.tables.postgresql_only`) is not expected in this one."""

    def include(candidate: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        dialects = getattr(candidate, "info", {}).get("dialects")
        return dialects is None or dialect_name in dialects

    return include
