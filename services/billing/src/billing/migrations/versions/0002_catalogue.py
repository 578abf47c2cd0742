"""Billing keeps the catalogue: the current entry per key, and enrolments waiting for their entry.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Column types are written out here rather than imported from billing.store, so a later change to the models
cannot change what this revision created.
"""

import sqlalchemy as sa
from alembic import op
from reliability.columns import Money, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_catalogue_entry",
        sa.Column("academic_year", sa.String(9), primary_key=True),
        sa.Column("microcredential_id", sa.String(128), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_credit", Money, nullable=False),
        sa.Column("fixed_fee", Money, nullable=False),
        sa.Column("courses", sa.JSON, nullable=False),
        sa.Column("event_source", sa.String(1000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_time", UTCDateTime, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "billing_waiting_enrolment",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("per_credit", Money, nullable=False),
        sa.Column("fixed_fee", Money, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("courses", sa.JSON, nullable=False),
        sa.Column("event_source", sa.String(1000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_time", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(1000), nullable=True),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_billing_waiting_enrolment_catalogue",
        "billing_waiting_enrolment",
        ["academic_year", "microcredential_id", "id"],
    )
    op.create_index("ix_billing_waiting_enrolment_status", "billing_waiting_enrolment", ["status"])


def downgrade() -> None:
    op.drop_table("billing_waiting_enrolment")
    op.drop_table("billing_catalogue_entry")
