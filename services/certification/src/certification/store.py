"""The certification service's storage: its tables, and the one door to them (`Store`, `Database`).

The tables live in their own SQLAlchemy registry (as every service's do) and carry a `certification_` prefix:
the test suite imports every service's models into one process, and several services keep an "enrolment"
table of their own.

Personal data (the student's names and e-mail address) is stored because credentials must name the learner;
it is never logged: log lines name enrolments and credentials by id only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from reliability.columns import UTCDateTime
from reliability.database import create_database_engine, lock_until_commit, transaction
from reliability.outbox import add_to_outbox
from reliability.runtime import ServiceRuntime, notify_relay
from reliability.tables import ROW_ID, table_registry
from reliability.tables import schema_metadata as kit_schema_metadata
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Field, Session, SQLModel, col

from contracts import CloudEvent

REGISTRY = table_registry()

ACTIVE = "active"
CANCELLED = "cancelled"


class CertificationTable(SQLModel, registry=REGISTRY):
    """Base of the certification service's tables."""


class EnrolmentRow(CertificationTable, table=True):
    """An enrolment as EnrolmentCreated described it: who the learner is and which courses must be passed."""

    __tablename__ = "certification_enrolment"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    student_id: str = Field(sa_column=Column(String(128), nullable=False))
    student_given_name: str = Field(sa_column=Column(String(200), nullable=False))
    student_family_name: str = Field(sa_column=Column(String(200), nullable=False))
    student_email: str = Field(sa_column=Column(String(320), nullable=False))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    microcredential_title: str = Field(sa_column=Column(String(300), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    courses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """The enrolment snapshot's courses, in order: [{id, title, credits (exact decimal text)}]."""
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    created_event_source: str = Field(sa_column=Column(String(2000), nullable=False))
    created_event_id: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def course_ids(self) -> list[str]:
        return [course["id"] for course in self.courses]


class PendingCancellationRow(CertificationTable, table=True):
    """A cancellation that arrived before its enrolment; applied when EnrolmentCreated arrives."""

    __tablename__ = "certification_pending_cancellation"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    cancelled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    event_source: str = Field(sa_column=Column(String(2000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AssessmentRow(CertificationTable, table=True):
    """Every assessment received (first attempts, re-sits, corrections); completion takes the latest per course.

    Kept also before the enrolment is known. `rejected_reason` is set when the enrolment, arriving later, turns
    out not to contain the course: such an outcome no longer can go to the dead-letter topic (its offset is long
    committed), so it stays here, reported by GET /assessments/rejected, and never counts.
    """

    __tablename__ = "certification_assessment"
    __table_args__ = (Index("ix_certification_assessment_enrolment", "enrolment_id"),)

    id: int | None = Field(default=None, sa_column=Column(ROW_ID, primary_key=True, autoincrement=True))
    enrolment_id: str = Field(sa_column=Column(String(64), nullable=False))
    course_id: str = Field(sa_column=Column(String(128), nullable=False))
    passed: bool = Field(sa_column=Column(Boolean, nullable=False))
    grade_value: str | None = Field(default=None, sa_column=Column(String(20), nullable=True))
    grade_scale: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    assessed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    assessment_type: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    supervised: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    identity_verified: bool | None = Field(default=None, sa_column=Column(Boolean, nullable=True))
    event_source: str = Field(sa_column=Column(String(2000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    rejected_reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))


class CatalogueEntryRow(CertificationTable, table=True):
    """The latest MicroCredentialPublished per (academic year, micro-credential): the credential's metadata."""

    __tablename__ = "certification_catalogue_entry"

    academic_year: str = Field(sa_column=Column(String(9), primary_key=True))
    microcredential_id: str = Field(sa_column=Column(String(128), primary_key=True))
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The MicroCredentialPublished payload as JSON (contract field names)."""
    event_source: str = Field(sa_column=Column(String(2000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CredentialRow(CertificationTable, table=True):
    """An issued credential: the signed document exactly as published. One per enrolment, ever."""

    __tablename__ = "certification_credential"
    __table_args__ = (
        UniqueConstraint("enrolment_id", name="uq_certification_credential_enrolment"),
        UniqueConstraint("status_list_id", "status_index", name="uq_certification_credential_status"),
    )

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    enrolment_id: str = Field(sa_column=Column(String(64), nullable=False))
    student_id: str = Field(sa_column=Column(String(128), nullable=False))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    url: str = Field(sa_column=Column(String(2000), nullable=False))
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status_list_id: str = Field(sa_column=Column(String(32), nullable=False))
    status_index: int = Field(sa_column=Column(Integer, nullable=False))
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    issued_event_id: str = Field(sa_column=Column(String(128), nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revocation_reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))


class StatusListRow(CertificationTable, table=True):
    """One revocation bitstring and its signed BitstringStatusListCredential, re-signed at every revocation."""

    __tablename__ = "certification_status_list"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    bits: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    credential: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The signed list credential served at <base>/status-lists/<id>."""
    revision: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class HeldCredentialRow(CertificationTable, table=True):
    """A complete, active enrolment whose micro-credential lacks the metadata a credential needs."""

    __tablename__ = "certification_held_credential"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    missing: list[str] = Field(sa_column=Column(JSON, nullable=False))
    """What is missing: "catalogue entry", or the names of the empty metadata fields."""
    held_since: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


TABLES = (
    EnrolmentRow.__table__,  # type: ignore[attr-defined]
    PendingCancellationRow.__table__,  # type: ignore[attr-defined]
    AssessmentRow.__table__,  # type: ignore[attr-defined]
    CatalogueEntryRow.__table__,  # type: ignore[attr-defined]
    CredentialRow.__table__,  # type: ignore[attr-defined]
    StatusListRow.__table__,  # type: ignore[attr-defined]
    HeldCredentialRow.__table__,  # type: ignore[attr-defined]
)


def schema_metadata() -> MetaData:
    """Everything the service's database holds: the kit's tables and ours (what the migrations must produce)."""
    return kit_schema_metadata(*TABLES)


# --- the unit of work -----------------------------------------------------------------------------------------


class Store:
    """What the use cases read, lock and write in one transaction, the outbox included.

    Rows come back attached to the session: a use case changes one and hands it to `save`.
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self.published = False
        """Whether an event went to the outbox in this unit of work (then the relay is worth waking)."""

    # --- locks ---

    def lock_enrolment(self, enrolment_id: str) -> None:
        """Serialise everything that decides about one enrolment until the transaction ends.

        The events of one enrolment arrive on three topics, so two replicas can handle, say, its last pass and
        its EnrolmentCreated at the same moment; each would miss the other's uncommitted row and neither would
        issue. On PostgreSQL a transaction-scoped advisory lock makes the second wait for the first to commit
        (re-entrant within a transaction). SQLite needs none: the kit begins every transaction with BEGIN
        IMMEDIATE.
        """
        self._advisory_lock(f"enrolment:{enrolment_id}", shared=False)

    def lock_catalogue_entry(self, academic_year: str, microcredential_id: str, *, shared: bool) -> None:
        """Shared by issuers reading the entry, exclusive for the handler replacing it: a credential held for want
        of metadata while the metadata is being stored is then seen by that handler, which issues it."""
        self._advisory_lock(f"catalogue:{academic_year}/{microcredential_id}", shared=shared)

    def _advisory_lock(self, name: str, *, shared: bool) -> None:
        lock_until_commit(self._session, [f"certification:{name}"], shared=shared)

    # --- writes ---

    def save(self, *rows: CertificationTable) -> None:
        """Insert new rows, or keep the changes made to loaded ones; checked against the constraints at once.

        Flushing here lets the unique constraints (one credential per enrolment, one credential per status bit)
        refuse a concurrent duplicate inside the handler's savepoint, before its event is queued.
        """
        self._session.add_all(rows)
        self._session.flush()

    def take_pending_cancellation(self, enrolment_id: str) -> PendingCancellationRow | None:
        """The cancellation kept for this enrolment, removed: it is applied now."""
        pending = self._session.get(PendingCancellationRow, enrolment_id)
        if pending is not None:
            self._session.delete(pending)
        return pending

    def release_held(self, enrolment_id: str) -> None:
        self._session.execute(delete(HeldCredentialRow).where(col(HeldCredentialRow.enrolment_id) == enrolment_id))

    def publish(self, event: CloudEvent[Any]) -> None:
        """Queue the event in the outbox; the relay publishes it once this transaction has committed."""
        add_to_outbox(self._session, event)
        self.published = True

    # --- enrolments and assessments ---

    def enrolment(self, enrolment_id: str, *, for_update: bool = False) -> EnrolmentRow | None:
        """`for_update` locks the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
        statement = select(EnrolmentRow).where(col(EnrolmentRow.id) == enrolment_id)
        if for_update:
            statement = statement.with_for_update()
        return self._session.scalars(statement).one_or_none()

    def pending_cancellation(self, enrolment_id: str) -> PendingCancellationRow | None:
        return self._session.get(PendingCancellationRow, enrolment_id)

    def assessments_of(self, enrolment_id: str) -> list[AssessmentRow]:
        statement = (
            select(AssessmentRow)
            .where(col(AssessmentRow.enrolment_id) == enrolment_id)
            .order_by(col(AssessmentRow.assessed_at), col(AssessmentRow.id))
        )
        return list(self._session.scalars(statement))

    def rejected_assessments(self) -> list[AssessmentRow]:
        statement = (
            select(AssessmentRow)
            .where(col(AssessmentRow.rejected_reason).is_not(None))
            .order_by(col(AssessmentRow.received_at), col(AssessmentRow.id))
        )
        return list(self._session.scalars(statement))

    # --- catalogue and held credentials ---

    def catalogue_entry(self, academic_year: str, microcredential_id: str) -> CatalogueEntryRow | None:
        return self._session.get(CatalogueEntryRow, (academic_year, microcredential_id))

    def held(self, enrolment_id: str) -> HeldCredentialRow | None:
        return self._session.get(HeldCredentialRow, enrolment_id)

    def held_credentials(self) -> list[HeldCredentialRow]:
        statement = select(HeldCredentialRow).order_by(
            col(HeldCredentialRow.held_since), col(HeldCredentialRow.enrolment_id)
        )
        return list(self._session.scalars(statement))

    def held_of_microcredential(self, academic_year: str, microcredential_id: str) -> list[str]:
        statement = (
            select(col(HeldCredentialRow.enrolment_id))
            .where(col(HeldCredentialRow.academic_year) == academic_year)
            .where(col(HeldCredentialRow.microcredential_id) == microcredential_id)
            .order_by(col(HeldCredentialRow.enrolment_id))
        )
        return list(self._session.scalars(statement))

    # --- credentials and status lists ---

    def credential(self, credential_id: str, *, for_update: bool = False) -> CredentialRow | None:
        statement = select(CredentialRow).where(col(CredentialRow.id) == credential_id)
        if for_update:
            statement = statement.with_for_update()
        return self._session.scalars(statement).one_or_none()

    def credential_of_enrolment(self, enrolment_id: str) -> CredentialRow | None:
        statement = select(CredentialRow).where(col(CredentialRow.enrolment_id) == enrolment_id)
        return self._session.scalars(statement).one_or_none()

    def allocated_indices(self, status_list_id: str) -> set[int]:
        statement = select(col(CredentialRow.status_index)).where(col(CredentialRow.status_list_id) == status_list_id)
        return set(self._session.scalars(statement))

    def status_list(self, list_id: str, *, for_update: bool = False) -> StatusListRow | None:
        statement = select(StatusListRow).where(col(StatusListRow.id) == list_id)
        if for_update:
            statement = statement.with_for_update()
        return self._session.scalars(statement).one_or_none()

    def newest_status_list(self) -> StatusListRow | None:
        """Lists are numbered 1, 2, ...; new credentials go to the newest one until it is full."""
        rows = list(self._session.scalars(select(StatusListRow)))
        return max(rows, key=lambda row: int(row.id)) if rows else None


class Database:
    """The service's database: a unit of work per use case called from HTTP, or a Store to read from."""

    def __init__(self, engine: Engine, runtime: ServiceRuntime | None = None) -> None:
        self.engine = engine
        self._runtime = runtime

    @classmethod
    def connect(cls, database_url: str) -> Database:
        return cls(create_database_engine(database_url))

    def waking(self, runtime: ServiceRuntime) -> Database:
        """The same database, waking the runtime's outbox relay after a unit of work that queued an event."""
        return Database(self.engine, runtime)

    @contextmanager
    def unit_of_work(self) -> Iterator[Store]:
        """A Store in one transaction that commits at the end of the block; then the relay is woken if the unit
        of work queued an event (Kafka use cases need none of this: the kit's consumer gives them the Store's
        session and commits it)."""
        with transaction(self.engine) as session:
            store = Store(session)
            yield store
        if store.published:
            notify_relay(self._runtime)

    @contextmanager
    def reading(self) -> Iterator[Store]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield Store(session)


def create_sqlite_directory(database_url: str) -> None:
    """The directory of a SQLite database file, made if missing (the migrations then create the file)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
