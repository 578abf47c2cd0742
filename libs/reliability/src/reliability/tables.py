"""Tables the kit keeps in every service's database. Each service's Alembic migrations create them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, text
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from reliability.columns import UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ROW_ID = BigInteger().with_variant(Integer, "sqlite")
"""Type of an auto-incremented surrogate key: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite."""
_ROW_ID = ROW_ID

PENDING = text("published_at IS NULL AND parked_at IS NULL")
"""An outbox row the relay is to send (the predicate of a partial index: the relay's queries must imply it)."""
PARKED = text("published_at IS NULL AND parked_at IS NOT NULL")
"""An outbox row parked (refused, waiting behind a refused row of its key, or discarded)."""


def postgresql_only(index: Index) -> Index:
    """An index created on PostgreSQL only, by `create_all` and by the migrations; `info["dialects"]` tells the
    schema comparison of the migration tests (`reliability.migrations.for_dialect`)."""
    index.info["dialects"] = ("postgresql",)
    return index.ddl_if(dialect="postgresql")


class OutboxMessage(SQLModel, table=True):
    """An event waiting to be published; written in the same transaction as the state change it announces."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_unpublished", "published_at", "id"),
        # The relay's reads, partial so their size is the rows waiting, not the week of published rows kept:
        # PostgreSQL cannot read the index above in id order for `published_at IS NULL` (IS NULL is not an
        # equality to it), and walked the primary key past every published row instead (docs/benchmark.md).
        # SQLite takes IS NULL as an equality and searches the index above in id order: the pending one is
        # PostgreSQL's. The parked one is both's: on SQLite the index above holds every row waiting too.
        postgresql_only(Index("ix_outbox_message_pending", "id", postgresql_where=PENDING)),
        Index("ix_outbox_message_parked", "topic", "key", "id", postgresql_where=PARKED, sqlite_where=PARKED),
    )

    id: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    topic: str = Field(sa_column=Column(String(249), nullable=False))
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    parked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    """Set when the broker refused the row for good (or it waits behind such a row of its key): the relay skips it
    until an operator releases or discards it."""
    parked_reason: str | None = Field(default=None, sa_column=Column(String(4000), nullable=True))


class ProcessedEvent(SQLModel, table=True):
    """The identity of every event a consumer has applied, so a redelivered event changes nothing."""

    __tablename__ = "processed_event"

    consumer: str = Field(sa_column=Column(String(200), primary_key=True))
    source: str = Field(sa_column=Column(String(1000), primary_key=True))
    event_id: str = Field(sa_column=Column(String(128), primary_key=True))
    topic: str = Field(sa_column=Column(String(249), nullable=False))
    partition: int = Field(sa_column=Column(Integer, nullable=False))
    offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    processed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class Lease(SQLModel, table=True):
    """Who may run a singleton job (the outbox relay, a periodic job) among the replicas, and until when."""

    __tablename__ = "lease"

    name: str = Field(sa_column=Column(String(200), primary_key=True))
    owner: str = Field(sa_column=Column(String(200), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ParkedRecord(SQLModel, table=True):
    """A consumed record the consumer could neither apply nor dead-letter (the DLQ send kept failing): kept here
    whole, so its offset can be committed and the partition moves on, until an operator sends it on."""

    __tablename__ = "parked_record"
    __table_args__ = (Index("ix_parked_record_open", "released_at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
    consumer: str = Field(sa_column=Column(String(200), nullable=False))
    topic: str = Field(sa_column=Column(String(249), nullable=False))
    partition: int = Field(sa_column=Column(Integer, nullable=False))
    offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    value: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    headers: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reason: str = Field(sa_column=Column(String(4000), nullable=False))
    parked_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


KIT_TABLES = (
    OutboxMessage.__table__,  # type: ignore[attr-defined]
    ProcessedEvent.__table__,  # type: ignore[attr-defined]
    Lease.__table__,  # type: ignore[attr-defined]
    ParkedRecord.__table__,  # type: ignore[attr-defined]
)


def table_registry() -> registry:
    """A service's own SQLAlchemy registry, for `class Table(SQLModel, registry=table_registry())`.

    The three services' tables are imported into one process by the test suite, and two services may each want
    a table of the same name: each keeps its tables out of SQLModel's global registry.
    """
    return registry()


def schema_metadata(*service_tables: Table) -> MetaData:
    """Everything a service's database holds: the kit's tables and the service's (what its migrations must produce)."""
    metadata = MetaData()
    for table in (*KIT_TABLES, *service_tables):
        copy = table.to_metadata(metadata)
        postgresql_indexes = {index.name for index in table.indexes if index.info.get("dialects")}
        for index in copy.indexes:  # to_metadata copies neither an index's info nor its ddl_if
            if index.name in postgresql_indexes:
                postgresql_only(index)
    return metadata
