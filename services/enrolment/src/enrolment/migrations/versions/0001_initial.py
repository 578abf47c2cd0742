"""Initial schema: the kit's tables (outbox, processed events, lease) and the enrolment registry.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

Written out column by column rather than from the models: a migration must keep describing the schema of
its time when the models move on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from reliability.columns import Money, UTCDateTime
from reliability.migrations import create_kit_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ONE_ACTIVE_API_ENROLMENT = "status = 'active' AND created_via = 'api'"


def upgrade() -> None:
    create_kit_tables_v1()
    op.create_table(
        "enrolment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("student_given_name", sa.String(200), nullable=False),
        sa.Column("student_family_name", sa.String(200), nullable=False),
        sa.Column("student_email", sa.String(320), nullable=False),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("microcredential_title", sa.String(300), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("courses", sa.JSON, nullable=False),
        sa.Column("tuition_currency", sa.String(3), nullable=False),
        sa.Column("tuition_fixed_fee", Money, nullable=False),
        sa.Column("tuition_per_credit", Money, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("origin", sa.String(2000), nullable=False),
        sa.Column("created_via", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.Column("cancellation_reason", sa.String(1000), nullable=True),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_enrolment_student_id", "enrolment", ["student_id"])
    op.create_index(
        "uq_enrolment_one_active_api_enrolment",
        "enrolment",
        ["student_id", "microcredential_id", "academic_year"],
        unique=True,
        sqlite_where=sa.text(ONE_ACTIVE_API_ENROLMENT),
        postgresql_where=sa.text(ONE_ACTIVE_API_ENROLMENT),
    )
    op.create_table(
        "enrolment_pending_cancellation",
        sa.Column("enrolment_id", sa.String(64), primary_key=True),
        sa.Column("cancelled_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("source", sa.String(2000), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "enrolment_catalogue_publication",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("enrolment_catalogue_publication")
    op.drop_table("enrolment_pending_cancellation")
    op.drop_index("uq_enrolment_one_active_api_enrolment", table_name="enrolment")
    op.drop_index("ix_enrolment_student_id", table_name="enrolment")
    op.drop_table("enrolment")
    op.drop_table("lease")
    op.drop_table("processed_event")
    op.drop_index("ix_outbox_message_unpublished", table_name="outbox_message")
    op.drop_table("outbox_message")
