"""The enrolment service's storage: its tables, and the Store and Database every use case goes through.

The only module that touches SQLAlchemy/SQLModel and the kit's database pieces (engine, transaction, outbox):
a use case loads, decides with the domain and writes through a `Store` (one unit of work on one session);
the HTTP use cases open that unit of work themselves on the `Database`, the Kafka ones get the kit's
transaction. The tables live in the service's own registry (reliability.tables.table_registry()), and the
kit's tables (outbox, processed events, lease) stay in the kit; `schema_metadata()` joins both for Alembic.

Personal data (the student's names and e-mail address) is stored here because the API must show it and the
events must carry it, but it is never logged: log lines name enrolments by id only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from reliability.columns import Money, UTCDateTime
from reliability.migrations import upgrade_to_head
from reliability.store import ServiceDatabase, UnitOfWorkStore
from reliability.tables import schema_metadata as kit_schema_metadata
from reliability.tables import table_registry
from sqlalchemy import JSON, Column, Index, MetaData, String, delete, select, text
from sqlmodel import Field, SQLModel, col

from contracts import Student
from enrolment.domain import (
    CatalogueCourse,
    CatalogueTuition,
    EnrolledMicroCredential,
    Enrolment,
    EnrolmentStatus,
    PendingCancellation,
)

CreatedVia = Literal["api", "event"]
"""How a row got here: through our HTTP API, or applied from an event on enrolment.events."""

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

REGISTRY = table_registry()

# Only enrolments made through our own API are held to "one active enrolment per student, micro-credential and
# year" by the database; the domain checks it first, the index closes the race between two concurrent requests
# on PostgreSQL. Enrolments applied from events are facts other systems (or our past selves, on a rebuild)
# already decided: replaying partitions in a different order could otherwise trip the index and dead-letter them.
_ONE_ACTIVE_API_ENROLMENT = "status = 'active' AND created_via = 'api'"


class EnrolmentTable(SQLModel, registry=REGISTRY):
    """Base of the enrolment service's tables."""


class EnrolmentRow(EnrolmentTable, table=True):
    __tablename__ = "enrolment"
    __table_args__ = (
        Index("ix_enrolment_student_id", "student_id"),
        Index(
            "uq_enrolment_one_active_api_enrolment",
            "student_id",
            "microcredential_id",
            "academic_year",
            unique=True,
            sqlite_where=text(_ONE_ACTIVE_API_ENROLMENT),
            postgresql_where=text(_ONE_ACTIVE_API_ENROLMENT),
        ),
    )

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    student_id: str = Field(sa_column=Column(String(128), nullable=False))
    student_given_name: str = Field(sa_column=Column(String(200), nullable=False))
    student_family_name: str = Field(sa_column=Column(String(200), nullable=False))
    student_email: str = Field(sa_column=Column(String(320), nullable=False))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    microcredential_title: str = Field(sa_column=Column(String(300), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    courses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """The snapshot's courses: [{id, title, credits (decimal text, so no float rounding), semester}]."""
    tuition_currency: str = Field(sa_column=Column(String(3), nullable=False))
    tuition_fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    tuition_per_credit: Decimal = Field(sa_column=Column(Money, nullable=False))
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    origin: str = Field(sa_column=Column(String(2000), nullable=False))
    created_via: str = Field(sa_column=Column(String(8), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    cancellation_reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    """When this registry learnt of the enrolment (differs from enrolled_at for events applied late)."""


class PendingCancellationRow(EnrolmentTable, table=True):
    """A cancellation published by another system before we saw the enrolment it cancels."""

    __tablename__ = "enrolment_pending_cancellation"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    cancelled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    source: str = Field(sa_column=Column(String(2000), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class CataloguePublicationRow(EnrolmentTable, table=True):
    """What we last queued on catalogue.microcredentials per key, so an unchanged entry is not published again."""

    __tablename__ = "enrolment_catalogue_publication"

    key: str = Field(sa_column=Column(String(200), primary_key=True))
    content_hash: str = Field(sa_column=Column(String(64), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


TABLES = (
    EnrolmentRow.__table__,  # type: ignore[attr-defined]
    PendingCancellationRow.__table__,  # type: ignore[attr-defined]
    CataloguePublicationRow.__table__,  # type: ignore[attr-defined]
)


def schema_metadata() -> MetaData:
    """Everything the service's database holds: the kit's tables and ours (what the migrations must produce)."""
    return kit_schema_metadata(*TABLES)


def migrate(database_url: str) -> None:
    """Bring the database to the newest schema."""
    upgrade_to_head(database_url, str(MIGRATIONS))


@dataclass(frozen=True)
class StoredEnrolment:
    """An enrolment with the personal data of its student, as the registry holds it."""

    enrolment: Enrolment
    student: Student
    created_via: CreatedVia


class WriteConflict(Exception):
    """A concurrent transaction wrote the same thing first (a unique key); running the use case again sees it."""


class Store(UnitOfWorkStore):
    """One unit of work on one session: the reads, locks and writes of the use cases, and their outbox rows."""

    # --- enrolments ---

    def enrolment(self, enrolment_id: str, *, for_update: bool = False) -> StoredEnrolment | None:
        """`for_update` locks the row on PostgreSQL, so two concurrent cancellations cannot both publish an event.

        (SQLite needs no row lock: the kit begins every transaction with BEGIN IMMEDIATE, one writer at a time.)
        """
        statement = select(EnrolmentRow).where(col(EnrolmentRow.id) == enrolment_id)
        if for_update:
            statement = statement.with_for_update()
        row = self.session.scalars(statement).one_or_none()
        return None if row is None else _from_row(row)

    def enrolments_of_student(
        self, student_id: str, offset: int = 0, limit: int | None = None
    ) -> list[StoredEnrolment]:
        statement = (
            select(EnrolmentRow)
            .where(col(EnrolmentRow.student_id) == student_id)
            .order_by(col(EnrolmentRow.enrolled_at), col(EnrolmentRow.id))
            .offset(offset)
            .limit(limit)
        )
        return [_from_row(row) for row in self.session.scalars(statement)]

    def add_enrolment(
        self, enrolment: Enrolment, student: Student, created_via: CreatedVia, recorded_at: datetime
    ) -> StoredEnrolment:
        if student.id != enrolment.student_ref:
            raise ValueError(f"student {student.id!r} is not the enrolled student {enrolment.student_ref!r}")
        self.session.add(_to_row(enrolment, student, created_via, recorded_at))
        return StoredEnrolment(enrolment, student, created_via)

    def save_status(self, stored: StoredEnrolment, enrolment: Enrolment) -> StoredEnrolment:
        """Store a status change (a cancellation); the rest of an enrolment never changes once stored."""
        row = self.session.get(EnrolmentRow, enrolment.id)
        if row is None:
            raise LookupError(f"enrolment {enrolment.id!r} is not stored")
        row.status = enrolment.status.value
        row.cancelled_at = enrolment.cancelled_at
        row.cancellation_reason = enrolment.reason
        self.session.add(row)
        return replace(stored, enrolment=enrolment)

    def flush(self) -> None:
        """Send the writes so far to the database (a unique index refuses a concurrent duplicate here)."""
        self.session.flush()

    # --- pending foreign cancellations ---

    def pending_cancellation(self, enrolment_id: str) -> PendingCancellation | None:
        row = self.session.get(PendingCancellationRow, enrolment_id)
        if row is None:
            return None
        return PendingCancellation(row.enrolment_id, row.cancelled_at, row.reason)

    def keep_pending_cancellation(self, pending: PendingCancellation, source: str, received_at: datetime) -> None:
        """Store a pending cancellation unless one is already kept: the first one kept wins (domain rule)."""
        if self.session.get(PendingCancellationRow, pending.enrolment_id) is not None:
            return
        self.session.add(
            PendingCancellationRow(
                enrolment_id=pending.enrolment_id,
                cancelled_at=pending.cancelled_at,
                reason=pending.reason,
                source=source,
                received_at=received_at,
            )
        )

    def drop_pending_cancellation(self, enrolment_id: str) -> None:
        self.session.execute(
            delete(PendingCancellationRow).where(col(PendingCancellationRow.enrolment_id) == enrolment_id)
        )

    # --- catalogue publication ---

    def published_catalogue_hashes(self) -> dict[str, str]:
        rows = self.session.execute(select(col(CataloguePublicationRow.key), col(CataloguePublicationRow.content_hash)))
        return {key: content_hash for key, content_hash in rows}

    def record_catalogue_publication(self, key: str, content_hash: str, event_id: str, published_at: datetime) -> None:
        row = self.session.get(CataloguePublicationRow, key)
        if row is None:
            row = CataloguePublicationRow(
                key=key, content_hash=content_hash, event_id=event_id, published_at=published_at
            )
        else:
            row.content_hash, row.event_id, row.published_at = content_hash, event_id, published_at
        self.session.add(row)

    # --- the outbox ---


class Database(ServiceDatabase[Store]):
    """The service's database: units of work and read-only views, as Stores.

    Raises WriteConflict when a unique key refuses a write a concurrent transaction made first.
    """

    store = Store
    conflict = WriteConflict


# --- rows <-> domain ---------------------------------------------------------------------------------------


def _to_row(enrolment: Enrolment, student: Student, created_via: CreatedVia, recorded_at: datetime) -> EnrolmentRow:
    snapshot = enrolment.microcredential
    return EnrolmentRow(
        id=enrolment.id,
        student_id=student.id,
        student_given_name=student.given_name,
        student_family_name=student.family_name,
        student_email=student.email,
        microcredential_id=snapshot.id,
        microcredential_title=snapshot.title,
        academic_year=snapshot.academic_year,
        courses=[
            {"id": c.id, "title": c.title, "credits": format(c.credits, "f"), "semester": c.semester}
            for c in snapshot.courses
        ],
        tuition_currency=snapshot.tuition.currency,
        tuition_fixed_fee=snapshot.tuition.fixed_fee,
        tuition_per_credit=snapshot.tuition.per_credit,
        enrolled_at=enrolment.enrolled_at,
        origin=enrolment.origin,
        created_via=created_via,
        status=enrolment.status.value,
        cancelled_at=enrolment.cancelled_at,
        cancellation_reason=enrolment.reason,
        recorded_at=recorded_at,
    )


def _from_row(row: EnrolmentRow) -> StoredEnrolment:
    snapshot = EnrolledMicroCredential(
        id=row.microcredential_id,
        title=row.microcredential_title,
        academic_year=row.academic_year,
        courses=tuple(
            CatalogueCourse(
                id=course["id"], title=course["title"], credits=Decimal(course["credits"]), semester=course["semester"]
            )
            for course in row.courses
        ),
        tuition=CatalogueTuition(
            currency=row.tuition_currency, fixed_fee=row.tuition_fixed_fee, per_credit=row.tuition_per_credit
        ),
    )
    enrolment = Enrolment(
        id=row.id,
        student_ref=row.student_id,
        microcredential=snapshot,
        enrolled_at=row.enrolled_at,
        origin=row.origin,
        status=EnrolmentStatus(row.status),
        cancelled_at=row.cancelled_at,
        reason=row.cancellation_reason,
    )
    student = Student(
        id=row.student_id,
        given_name=row.student_given_name,
        family_name=row.student_family_name,
        email=row.student_email,
    )
    created_via: CreatedVia = "api" if row.created_via == "api" else "event"
    return StoredEnrolment(enrolment, student, created_via)
