"""Initial schema: the kit's tables (outbox, processed events, lease) and billing's.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Never edit a released migration; add the next one. Column types are written out here rather than imported
from billing.storage, so a later change to the models cannot change what this revision created.
"""

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op
from reliability.columns import Money, UTCDateTime
from reliability.migrations import create_kit_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


class _Credits(sa.types.TypeDecorator[Decimal]):
    """Same storage as billing.storage.Credits at this revision: text on SQLite, NUMERIC(5, 1) elsewhere."""

    impl = sa.Numeric(5, 1)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> Any:
        return dialect.type_descriptor(sa.String(8) if dialect.name == "sqlite" else sa.Numeric(5, 1))


def upgrade() -> None:
    create_kit_tables_v1()
    op.create_table(
        "billing_enrolment",
        sa.Column("enrolment_id", sa.String(64), primary_key=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_credit", Money, nullable=False),
        sa.Column("fixed_fee", Money, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("courses", sa.JSON, nullable=False),
        sa.Column("created_event_source", sa.String(1000), nullable=False),
        sa.Column("created_event_id", sa.String(128), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_billing_enrolment_academic_year", "billing_enrolment", ["academic_year"])
    op.create_table(
        "billing_invoice",
        sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("billing_enrolment.enrolment_id"), primary_key=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fixed_fee", Money, nullable=False),
        sa.Column("total", Money, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "billing_invoice_line",
        sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("billing_invoice.enrolment_id"), primary_key=True),
        sa.Column("semester", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("credits", _Credits, nullable=False),
        sa.Column("amount", Money, nullable=False),
    )
    op.create_table(
        "billing_reimbursement",
        sa.Column("enrolment_id", sa.String(64), sa.ForeignKey("billing_enrolment.enrolment_id"), primary_key=True),
        sa.Column("event_id", sa.String(128), nullable=False, unique=True),
        sa.Column("cancellation_event_source", sa.String(1000), nullable=False),
        sa.Column("cancellation_event_id", sa.String(128), nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=False),
        sa.Column("policy_id", sa.String(100), nullable=False),
        sa.Column("policy_version", sa.String(40), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("fixed_fee", Money, nullable=False),
        sa.Column("total", Money, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "billing_reimbursement_line",
        sa.Column(
            "enrolment_id", sa.String(64), sa.ForeignKey("billing_reimbursement.enrolment_id"), primary_key=True
        ),
        sa.Column("semester", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("credits", _Credits, nullable=False),
        sa.Column("invoiced", Money, nullable=False),
        sa.Column("refunded", Money, nullable=False),
    )
    op.create_table(
        "billing_pending_cancellation",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("event_source", sa.String(1000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_time", UTCDateTime, nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(1000), nullable=True),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_billing_pending_cancellation_enrolment", "billing_pending_cancellation", ["enrolment_id", "id"]
    )
    op.create_index("ix_billing_pending_cancellation_status", "billing_pending_cancellation", ["status"])


def downgrade() -> None:
    for table in (
        "billing_pending_cancellation",
        "billing_reimbursement_line",
        "billing_reimbursement",
        "billing_invoice_line",
        "billing_invoice",
        "billing_enrolment",
        "lease",
        "processed_event",
        "outbox_message",
    ):
        op.drop_table(table)
