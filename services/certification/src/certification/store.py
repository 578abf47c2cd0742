"""The certification service's storage: its tables, and the one door to them (`Store`, `Database`).

The tables live in their own SQLAlchemy registry (as every service's do) and carry a `certification_` prefix:
the test suite imports every service's models into one process, and several services keep an "enrolment"
table of their own.

Personal data (the student's names and e-mail address) is stored because credentials must name the learner;
it is never logged: log lines name enrolments and credentials by id only.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from reliability.columns import UTCDateTime
from reliability.database import lock_until_commit
from reliability.store import ServiceDatabase, UnitOfWorkStore
from reliability.tables import ROW_ID
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
from sqlmodel import Field, col

from certification.store_offers import OFFER_TABLES, OfferQueries
from certification.store_registry import REGISTRY as REGISTRY
from certification.store_registry import CertificationTable

ACTIVE = "active"
CANCELLED = "cancelled"


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
    """The enrolment snapshot's courses, in order: [{id, title, credits (exact decimal text), semester}] (rows
    recorded before the semester was kept lack it). Checked against the catalogue, never put in a credential."""
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
    """A complete, active enrolment whose catalogue entry is missing, lacks the metadata a credential needs, or
    disagrees with the enrolment's snapshot."""

    __tablename__ = "certification_held_credential"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    missing: list[str] = Field(sa_column=Column(JSON, nullable=False))
    """What is missing: "catalogue entry", the names of the empty metadata fields, or what the enrolment's
    snapshot says differently from the catalogue entry ("snapshot disagrees with the catalogue: ...")."""
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
    *OFFER_TABLES,
)


def schema_metadata() -> MetaData:
    """Everything the service's database holds: the kit's tables and ours (what the migrations must produce)."""
    return kit_schema_metadata(*TABLES)


# --- the unit of work -----------------------------------------------------------------------------------------


class Store(OfferQueries, UnitOfWorkStore):
    """What the use cases read, lock and write in one transaction, the outbox included.

    Rows come back attached to the session: a use case changes one and hands it to `save`.
    """

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
        lock_until_commit(self.session, [f"certification:{name}"], shared=shared)

    # --- writes ---

    def save(self, *rows: CertificationTable) -> None:
        """Insert new rows, or keep the changes made to loaded ones; checked against the constraints at once.

        Flushing here lets the unique constraints (one credential per enrolment, one credential per status bit)
        refuse a concurrent duplicate inside the handler's savepoint, before its event is queued.
        """
        self.session.add_all(rows)
        self.session.flush()

    def take_pending_cancellation(self, enrolment_id: str) -> PendingCancellationRow | None:
        """The cancellation kept for this enrolment, removed: it is applied now."""
        pending = self.session.get(PendingCancellationRow, enrolment_id)
        if pending is not None:
            self.session.delete(pending)
        return pending

    def release_held(self, enrolment_id: str) -> None:
        self.session.execute(delete(HeldCredentialRow).where(col(HeldCredentialRow.enrolment_id) == enrolment_id))

    # --- enrolments and assessments ---

    def enrolment(self, enrolment_id: str, *, for_update: bool = False) -> EnrolmentRow | None:
        """`for_update` locks the row on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers)."""
        statement = select(EnrolmentRow).where(col(EnrolmentRow.id) == enrolment_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def pending_cancellation(self, enrolment_id: str) -> PendingCancellationRow | None:
        return self.session.get(PendingCancellationRow, enrolment_id)

    def assessments_of(self, enrolment_id: str) -> list[AssessmentRow]:
        statement = (
            select(AssessmentRow)
            .where(col(AssessmentRow.enrolment_id) == enrolment_id)
            .order_by(col(AssessmentRow.assessed_at), col(AssessmentRow.id))
        )
        return list(self.session.scalars(statement))

    def rejected_assessments(self, offset: int = 0, limit: int | None = None) -> list[AssessmentRow]:
        statement = (
            select(AssessmentRow)
            .where(col(AssessmentRow.rejected_reason).is_not(None))
            .order_by(col(AssessmentRow.received_at), col(AssessmentRow.id))
            .offset(offset)
            .limit(limit)
        )
        return list(self.session.scalars(statement))

    # --- catalogue and held credentials ---

    def catalogue_entry(self, academic_year: str, microcredential_id: str) -> CatalogueEntryRow | None:
        return self.session.get(CatalogueEntryRow, (academic_year, microcredential_id))

    def held(self, enrolment_id: str) -> HeldCredentialRow | None:
        return self.session.get(HeldCredentialRow, enrolment_id)

    def held_credentials(self, offset: int = 0, limit: int | None = None) -> list[HeldCredentialRow]:
        statement = (
            select(HeldCredentialRow)
            .order_by(col(HeldCredentialRow.held_since), col(HeldCredentialRow.enrolment_id))
            .offset(offset)
            .limit(limit)
        )
        return list(self.session.scalars(statement))

    def held_of_microcredential(self, academic_year: str, microcredential_id: str) -> list[str]:
        statement = (
            select(col(HeldCredentialRow.enrolment_id))
            .where(col(HeldCredentialRow.academic_year) == academic_year)
            .where(col(HeldCredentialRow.microcredential_id) == microcredential_id)
            .order_by(col(HeldCredentialRow.enrolment_id))
        )
        return list(self.session.scalars(statement))

    # --- credentials and status lists ---

    def credential(self, credential_id: str, *, for_update: bool = False) -> CredentialRow | None:
        statement = select(CredentialRow).where(col(CredentialRow.id) == credential_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def credential_of_enrolment(self, enrolment_id: str) -> CredentialRow | None:
        statement = select(CredentialRow).where(col(CredentialRow.enrolment_id) == enrolment_id)
        return self.session.scalars(statement).one_or_none()

    def allocated_indices(self, status_list_id: str) -> set[int]:
        statement = select(col(CredentialRow.status_index)).where(col(CredentialRow.status_list_id) == status_list_id)
        return set(self.session.scalars(statement))

    def allocated_among(self, status_list_id: str, indices: Collection[int]) -> set[int]:
        """Which of these indices of the list are taken: a search of the (list, index) unique index, whatever
        the number of credentials the list holds."""
        statement = select(col(CredentialRow.status_index)).where(
            col(CredentialRow.status_list_id) == status_list_id, col(CredentialRow.status_index).in_(list(indices))
        )
        return set(self.session.scalars(statement))

    def status_list(self, list_id: str, *, for_update: bool = False) -> StatusListRow | None:
        statement = select(StatusListRow).where(col(StatusListRow.id) == list_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def newest_status_list(self) -> StatusListRow | None:
        """Lists are numbered 1, 2, ...; new credentials go to the newest one until it is full."""
        rows = list(self.session.scalars(select(StatusListRow)))
        return max(rows, key=lambda row: int(row.id)) if rows else None


class Database(ServiceDatabase[Store]):
    """The service's database: a unit of work per use case called from HTTP, or a Store to read from (Kafka use
    cases need neither: the kit's consumer gives them a Store on its session and commits it)."""

    store = Store
