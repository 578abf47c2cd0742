"""Credential offers, access tokens and deliveries to wallets (OpenID4VCI, issue 13).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from reliability.columns import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "certification_offer",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("credential_id", sa.String(64), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("tx_code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("redeemed_at", UTCDateTime, nullable=True),
        sa.Column("withdrawn_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_certification_offer_credential", "certification_offer", ["credential_id"])
    op.create_index("ix_certification_offer_code", "certification_offer", ["code_hash"], unique=True)
    op.create_table(
        "certification_access_token",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("offer_id", sa.String(64), nullable=False),
        sa.Column("credential_id", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_certification_access_token_expiry", "certification_access_token", ["expires_at"])
    op.create_table(
        "certification_delivery",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("credential_id", sa.String(64), nullable=False),
        sa.Column("holder_did", sa.String(2000), nullable=False),
        sa.Column("configuration_id", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=True),
        sa.Column("delivered_at", UTCDateTime, nullable=False),
    )
    op.create_index(
        "ix_certification_delivery_holder", "certification_delivery", ["credential_id", "holder_did"]
    )


def downgrade() -> None:
    op.drop_table("certification_delivery")
    op.drop_table("certification_access_token")
    op.drop_table("certification_offer")
