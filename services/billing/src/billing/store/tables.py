"""Billing's tables, in their own registry (not SQLModel's global one), and the schema the migrations build.

What is stored is what was computed: invoice and reimbursement figures are written once, when the event is
handled, and read back as they are. Nothing here recomputes a stored figure, so a later policy file (or a
fixed bug in the engine) cannot silently change an amount a student was already told about.

Only the student's id is kept; names and e-mail addresses in EnrolmentCreated are not needed to bill and are
not stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from reliability.columns import Money, UTCDateTime
from reliability.tables import ROW_ID, table_registry
from reliability.tables import schema_metadata as _schema_metadata
from sqlalchemy import JSON, Column, Dialect, ForeignKey, Index, Integer, MetaData, Numeric, String, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

REGISTRY = table_registry()


class BillingTable(SQLModel, registry=REGISTRY):
    """Base of billing's table classes."""


class Credits(TypeDecorator[Decimal]):
    """ECTS credits (at most one decimal), exact: text on SQLite, whose NUMERIC goes through a binary float."""

    impl = Numeric(5, 1)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        return dialect.type_descriptor(String(8) if dialect.name == "sqlite" else Numeric(5, 1))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"credits must be a Decimal, got {type(value).__name__}")
        return format(value.normalize(), "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).normalize()


class EnrolmentRow(BillingTable, table=True):
    """The enrolment as EnrolmentCreated described it: everything a later reimbursement is computed from."""

    __tablename__ = "billing_enrolment"

    enrolment_id: str = Field(sa_column=Column(String(64), primary_key=True))
    student_id: str = Field(sa_column=Column(String(128), nullable=False))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False, index=True))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    per_credit: Decimal = Field(sa_column=Column(Money, nullable=False))
    fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    courses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """[{"id": .., "credits": "1.5", "semester": 1}] in the order of the event; credits as exact text."""
    created_event_source: str = Field(sa_column=Column(String(1000), nullable=False))
    created_event_id: str = Field(sa_column=Column(String(128), nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class InvoiceRow(BillingTable, table=True):
    __tablename__ = "billing_invoice"

    enrolment_id: str = Field(
        sa_column=Column(String(64), ForeignKey("billing_enrolment.enrolment_id"), primary_key=True)
    )
    event_id: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    """Id of the TuitionInvoiced event; derived from the enrolment id, so a replay publishes the same id."""
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    total: Decimal = Field(sa_column=Column(Money, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class InvoiceLineRow(BillingTable, table=True):
    __tablename__ = "billing_invoice_line"

    enrolment_id: str = Field(
        sa_column=Column(String(64), ForeignKey("billing_invoice.enrolment_id"), primary_key=True)
    )
    semester: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    credits: Decimal = Field(sa_column=Column(Credits, nullable=False))
    amount: Decimal = Field(sa_column=Column(Money, nullable=False))


class ReimbursementRow(BillingTable, table=True):
    """At most one per enrolment: the first cancellation applied stands."""

    __tablename__ = "billing_reimbursement"

    enrolment_id: str = Field(
        sa_column=Column(String(64), ForeignKey("billing_enrolment.enrolment_id"), primary_key=True)
    )
    event_id: str = Field(sa_column=Column(String(128), nullable=False, unique=True))
    """Id of the ReimbursementCalculated event; derived from the enrolment id."""
    cancellation_event_source: str = Field(sa_column=Column(String(1000), nullable=False))
    cancellation_event_id: str = Field(sa_column=Column(String(128), nullable=False))
    cancelled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    policy_id: str = Field(sa_column=Column(String(100), nullable=False))
    policy_version: str = Field(sa_column=Column(String(40), nullable=False))
    rule: str = Field(sa_column=Column(String(128), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    """The refunded part of the fixed fee."""
    total: Decimal = Field(sa_column=Column(Money, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def policy(self) -> str:
        return f"{self.policy_id}@{self.policy_version}"


class ReimbursementLineRow(BillingTable, table=True):
    __tablename__ = "billing_reimbursement_line"

    enrolment_id: str = Field(
        sa_column=Column(String(64), ForeignKey("billing_reimbursement.enrolment_id"), primary_key=True)
    )
    semester: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    credits: Decimal = Field(sa_column=Column(Credits, nullable=False))
    invoiced: Decimal = Field(sa_column=Column(Money, nullable=False))
    refunded: Decimal = Field(sa_column=Column(Money, nullable=False))


class PendingCancellationRow(BillingTable, table=True):
    """A cancellation that arrived before its enrolment; kept (never dropped) until the enrolment arrives.

    Rows stay after they are resolved, with the outcome, so operators can trace what happened to each one.
    """

    __tablename__ = "billing_pending_cancellation"
    __table_args__ = (Index("ix_billing_pending_cancellation_enrolment", "enrolment_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(ROW_ID, primary_key=True, autoincrement=True))
    """Arrival order: when the enrolment arrives, waiting cancellations are resolved in this order."""
    enrolment_id: str = Field(sa_column=Column(String(64), nullable=False))
    event_source: str = Field(sa_column=Column(String(1000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    cancelled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class CatalogueEntryRow(BillingTable, table=True):
    """The current catalogue entry of a micro-credential in an academic year: what enrolments are priced from.

    One row per key of catalogue.microcredentials, the entry with the latest event `time` seen (a compacted
    topic keeps the latest per key too). Only what billing needs: tuition terms and courses.
    """

    __tablename__ = "billing_catalogue_entry"

    academic_year: str = Field(sa_column=Column(String(9), primary_key=True))
    microcredential_id: str = Field(sa_column=Column(String(128), primary_key=True))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    per_credit: Decimal = Field(sa_column=Column(Money, nullable=False))
    fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    courses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    """[{"id": .., "credits": "1.5", "semester": 1}] in the order of the entry; credits as exact text."""
    event_source: str = Field(sa_column=Column(String(1000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class WaitingEnrolmentRow(BillingTable, table=True):
    """An EnrolmentCreated that arrived before the catalogue entry it must agree with; kept until the entry comes.

    As the event claimed it (ids, terms, courses; no names or e-mail addresses). Rows stay after they are
    resolved, with the outcome and, for a rejected one, what disagreed.
    """

    __tablename__ = "billing_waiting_enrolment"
    __table_args__ = (Index("ix_billing_waiting_enrolment_catalogue", "academic_year", "microcredential_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(ROW_ID, primary_key=True, autoincrement=True))
    """Arrival order: when the entry arrives, waiting enrolments are resolved in this order."""
    enrolment_id: str = Field(sa_column=Column(String(64), nullable=False))
    student_id: str = Field(sa_column=Column(String(128), nullable=False))
    microcredential_id: str = Field(sa_column=Column(String(128), nullable=False))
    academic_year: str = Field(sa_column=Column(String(9), nullable=False))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    per_credit: Decimal = Field(sa_column=Column(Money, nullable=False))
    fixed_fee: Decimal = Field(sa_column=Column(Money, nullable=False))
    enrolled_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    courses: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    event_source: str = Field(sa_column=Column(String(1000), nullable=False))
    event_id: str = Field(sa_column=Column(String(128), nullable=False))
    event_time: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    status_reason: str | None = Field(default=None, sa_column=Column(String(1000), nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


TABLES: tuple[Table, ...] = tuple(
    model.__table__  # type: ignore[union-attr]
    for model in (
        EnrolmentRow,
        InvoiceRow,
        InvoiceLineRow,
        ReimbursementRow,
        ReimbursementLineRow,
        PendingCancellationRow,
        CatalogueEntryRow,
        WaitingEnrolmentRow,
    )
)
"""Billing's tables, parents first: the order they are created and written in."""


def schema_metadata() -> MetaData:
    """The schema of this service's database: the kit's tables and billing's, nothing else (the migrations')."""
    return _schema_metadata(*TABLES)
