"""Tables of the certification service and the small queries the use cases and the HTTP API need.

The tables live in their own SQLAlchemy registry (as the enrolment service's do) and carry a `certification_`
prefix: the test suite imports every service's models into one process, and several services keep an
"enrolment" table of their own.

Personal data (the student's names and e-mail address) is stored because credentials must name the learner;
it is never logged: log lines name enrolments and credentials by id only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reliability.columns import UTCDateTime
from reliability.database import lock_until_commit
from reliability.tables import schema_metadata as kit_schema_metadata
from sqlalchemy import (
    JSON,
    BigInteger,
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
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, col

certification_registry = registry()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ROW_ID = BigInteger().with_variant(Integer, "sqlite")

ACTIVE = "active"
CANCELLED = "cancelled"


class _CertificationTable(SQLModel, registry=certification_registry):
    """Base of the certification service's tables."""


class EnrolmentRow(_CertificationTable, table=True):
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


class PendingCancellationRow(_CertificationTable, table=True):
    """A cancellation that arrived before its enrolment; applied when EnrolmentCreated arrives."""

    __tablename__ = "certification_pending_cancellation"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    cancelled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    event_source: str = Field(sa_column=Column(String(2000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AssessmentRow(_CertificationTable, table=True):
    """Every assessment received (first attempts, re-sits, corrections); completion takes the latest per course.

    Kept also before the enrolment is known. `rejected_reason` is set when the enrolment, arriving later, turns
    out not to contain the course: such an outcome no longer can go to the dead-letter topic (its offset is long
    committed), so it stays here, reported by GET /assessments/rejected, and never counts.
    """

    __tablename__ = "certification_assessment"
    __table_args__ = (Index("ix_certification_assessment_enrolment", "enrolment_id"),)

    id: int | None = Field(default=None, sa_column=Column(_ROW_ID, primary_key=True, autoincrement=True))
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


class CatalogueEntryRow(_CertificationTable, table=True):
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


class CredentialRow(_CertificationTable, table=True):
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


class StatusListRow(_CertificationTable, table=True):
    """One revocation bitstring and its signed BitstringStatusListCredential, re-signed at every revocation."""

    __tablename__ = "certification_status_list"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    bits: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    credential: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    """The signed list credential served at <base>/status-lists/<id>."""
    revision: int = Field(sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class HeldCredentialRow(_CertificationTable, table=True):
    """A complete, active enrolment whose micro-credential lacks the metadata a credential needs."""

    __tablename__ = "certification_held_credential"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    missing: list[str] = Field(sa_column=Column(JSON, nullable=False))
    """What is missing: "catalogue entry", or the names of the empty metadata fields."""
    held_since: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


CERTIFICATION_TABLES = (
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
    return kit_schema_metadata(*CERTIFICATION_TABLES)


# --- locks --------------------------------------------------------------------------------------------------


def lock_enrolment(session: Session, enrolment_id: str) -> None:
    """Serialise everything that decides about one enrolment until the transaction ends.

    The events of one enrolment arrive on three topics, so two replicas can handle, say, its last pass and its
    EnrolmentCreated at the same moment; each would miss the other's uncommitted row and neither would issue.
    On PostgreSQL a transaction-scoped advisory lock makes the second wait for the first to commit (re-entrant
    within a transaction). SQLite needs none: the kit begins every transaction with BEGIN IMMEDIATE.
    """
    _advisory_lock(session, f"enrolment:{enrolment_id}", shared=False)


def lock_catalogue_entry(session: Session, academic_year: str, microcredential_id: str, *, shared: bool) -> None:
    """Shared by issuers reading the entry, exclusive for the handler replacing it: a credential held for want of
    metadata while the metadata is being stored is then seen by that handler, which issues it."""
    _advisory_lock(session, f"catalogue:{academic_year}/{microcredential_id}", shared=shared)


def _advisory_lock(session: Session, name: str, *, shared: bool) -> None:
    lock_until_commit(session, [f"certification:{name}"], shared=shared)


# --- queries ------------------------------------------------------------------------------------------------


def get_enrolment(session: Session, enrolment_id: str, *, for_update: bool = False) -> EnrolmentRow | None:
    """`for_update` locks the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    statement = select(EnrolmentRow).where(col(EnrolmentRow.id) == enrolment_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def assessments_of(session: Session, enrolment_id: str) -> list[AssessmentRow]:
    statement = (
        select(AssessmentRow)
        .where(col(AssessmentRow.enrolment_id) == enrolment_id)
        .order_by(col(AssessmentRow.assessed_at), col(AssessmentRow.id))
    )
    return list(session.scalars(statement))


def rejected_assessments(session: Session) -> list[AssessmentRow]:
    statement = (
        select(AssessmentRow)
        .where(col(AssessmentRow.rejected_reason).is_not(None))
        .order_by(col(AssessmentRow.received_at), col(AssessmentRow.id))
    )
    return list(session.scalars(statement))


def get_catalogue_entry(session: Session, academic_year: str, microcredential_id: str) -> CatalogueEntryRow | None:
    return session.get(CatalogueEntryRow, (academic_year, microcredential_id))


def credential_of_enrolment(session: Session, enrolment_id: str) -> CredentialRow | None:
    return session.scalars(select(CredentialRow).where(col(CredentialRow.enrolment_id) == enrolment_id)).one_or_none()


def get_credential(session: Session, credential_id: str, *, for_update: bool = False) -> CredentialRow | None:
    statement = select(CredentialRow).where(col(CredentialRow.id) == credential_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def allocated_indices(session: Session, status_list_id: str) -> set[int]:
    statement = select(col(CredentialRow.status_index)).where(col(CredentialRow.status_list_id) == status_list_id)
    return set(session.scalars(statement))


def get_status_list(session: Session, list_id: str, *, for_update: bool = False) -> StatusListRow | None:
    statement = select(StatusListRow).where(col(StatusListRow.id) == list_id)
    if for_update:
        statement = statement.with_for_update()
    return session.scalars(statement).one_or_none()


def newest_status_list(session: Session) -> StatusListRow | None:
    """Lists are numbered 1, 2, ...; new credentials go to the newest one until it is full."""
    rows = list(session.scalars(select(StatusListRow)))
    return max(rows, key=lambda row: int(row.id)) if rows else None


def held_credentials(session: Session) -> list[HeldCredentialRow]:
    statement = select(HeldCredentialRow).order_by(
        col(HeldCredentialRow.held_since), col(HeldCredentialRow.enrolment_id)
    )
    return list(session.scalars(statement))


def held_of_microcredential(session: Session, academic_year: str, microcredential_id: str) -> list[str]:
    statement = (
        select(col(HeldCredentialRow.enrolment_id))
        .where(col(HeldCredentialRow.academic_year) == academic_year)
        .where(col(HeldCredentialRow.microcredential_id) == microcredential_id)
        .order_by(col(HeldCredentialRow.enrolment_id))
    )
    return list(session.scalars(statement))


def release_held(session: Session, enrolment_id: str) -> None:
    session.execute(delete(HeldCredentialRow).where(col(HeldCredentialRow.enrolment_id) == enrolment_id))
