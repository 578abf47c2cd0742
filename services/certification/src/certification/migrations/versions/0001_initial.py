"""Initial schema: the kit's tables (outbox, processed events, lease) and the certification service's.

Revision ID: 0001
Revises:
Create Date: 2026-05-01

Written out column by column rather than from the models: a migration must keep describing the schema of
its time when the models move on. Never edit a released migration; add the next one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from reliability.columns import UTCDateTime
from reliability.migrations import create_kit_tables_v1

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    create_kit_tables_v1()
    op.create_table(
        "certification_enrolment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("student_given_name", sa.String(200), nullable=False),
        sa.Column("student_family_name", sa.String(200), nullable=False),
        sa.Column("student_email", sa.String(320), nullable=False),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("microcredential_title", sa.String(300), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("courses", sa.JSON, nullable=False),
        sa.Column("enrolled_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cancelled_at", UTCDateTime, nullable=True),
        sa.Column("created_event_source", sa.String(2000), nullable=False),
        sa.Column("created_event_id", sa.String(128), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "certification_pending_cancellation",
        sa.Column("enrolment_id", sa.String(64), primary_key=True),
        sa.Column("cancelled_at", UTCDateTime, nullable=False),
        sa.Column("event_source", sa.String(2000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "certification_assessment",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("course_id", sa.String(128), nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("grade_value", sa.String(20), nullable=True),
        sa.Column("grade_scale", sa.String(40), nullable=True),
        sa.Column("assessed_at", UTCDateTime, nullable=False),
        sa.Column("assessment_type", sa.String(200), nullable=True),
        sa.Column("supervised", sa.Boolean, nullable=True),
        sa.Column("identity_verified", sa.Boolean, nullable=True),
        sa.Column("event_source", sa.String(2000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("rejected_reason", sa.String(1000), nullable=True),
    )
    op.create_index("ix_certification_assessment_enrolment", "certification_assessment", ["enrolment_id"])
    op.create_table(
        "certification_catalogue_entry",
        sa.Column("academic_year", sa.String(9), primary_key=True),
        sa.Column("microcredential_id", sa.String(128), primary_key=True),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("event_source", sa.String(2000), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_time", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "certification_credential",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("enrolment_id", sa.String(64), nullable=False),
        sa.Column("student_id", sa.String(128), nullable=False),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("status_list_id", sa.String(32), nullable=False),
        sa.Column("status_index", sa.Integer, nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("issued_event_id", sa.String(128), nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revocation_reason", sa.String(1000), nullable=True),
        # One credential per enrolment, whatever the application code does.
        sa.UniqueConstraint("enrolment_id", name="uq_certification_credential_enrolment"),
        # Two credentials must never share a revocation bit.
        sa.UniqueConstraint("status_list_id", "status_index", name="uq_certification_credential_status"),
    )
    op.create_table(
        "certification_status_list",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("bits", sa.LargeBinary, nullable=False),
        sa.Column("credential", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "certification_held_credential",
        sa.Column("enrolment_id", sa.String(64), primary_key=True),
        sa.Column("microcredential_id", sa.String(128), nullable=False),
        sa.Column("academic_year", sa.String(9), nullable=False),
        sa.Column("missing", sa.JSON, nullable=False),
        sa.Column("held_since", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("certification_held_credential")
    op.drop_table("certification_status_list")
    op.drop_table("certification_credential")
    op.drop_table("certification_catalogue_entry")
    op.drop_index("ix_certification_assessment_enrolment", table_name="certification_assessment")
    op.drop_table("certification_assessment")
    op.drop_table("certification_pending_cancellation")
    op.drop_table("certification_enrolment")
    op.drop_table("lease")
    op.drop_table("processed_event")
    op.drop_index("ix_outbox_message_unpublished", table_name="outbox_message")
    op.drop_table("outbox_message")
