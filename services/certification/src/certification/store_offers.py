"""The wallet side of the store (OpenID4VCI): credential offers, access tokens and deliveries to wallets.

Secrets are kept only as hashes: the pre-authorized code (SHA-256; it is 256 bits of key-derived randomness),
the transaction code (HMAC with a key derived from the signing key, since six digits hashed plainly would fall
to a dictionary of a million entries) and the access tokens (SHA-256). Every replica reads the same rows, so a
token one replica issued is accepted by any other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reliability.columns import UTCDateTime
from reliability.tables import ROW_ID
from sqlalchemy import JSON, Column, Index, Integer, String, select, update
from sqlmodel import Field, Session, col

from certification.store_registry import CertificationTable


class OfferRow(CertificationTable, table=True):
    """A credential offer (pre-authorized code flow). Open while neither redeemed nor withdrawn, younger than the
    configured lifetime and with PIN attempts left; a re-offer or a revocation withdraws it."""

    __tablename__ = "certification_offer"
    __table_args__ = (
        Index("ix_certification_offer_credential", "credential_id"),
        Index("ix_certification_offer_code", "code_hash", unique=True),
    )

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    credential_id: str = Field(sa_column=Column(String(64), nullable=False))
    code_hash: str = Field(sa_column=Column(String(64), nullable=False))
    tx_code_hash: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    failed_attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    redeemed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    withdrawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AccessTokenRow(CertificationTable, table=True):
    """An access token of the credential endpoint, bound to the one credential its offer was for."""

    __tablename__ = "certification_access_token"
    __table_args__ = (Index("ix_certification_access_token_expiry", "expires_at"),)

    token_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    offer_id: str = Field(sa_column=Column(String(64), nullable=False))
    credential_id: str = Field(sa_column=Column(String(64), nullable=False))
    issued_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class DeliveryRow(CertificationTable, table=True):
    """A credential delivered to a wallet, bound to the holder's key: the W3C edition as signed (so POST /verify
    can recognise it), or for the SD-JWT VC edition only the fact."""

    __tablename__ = "certification_delivery"
    __table_args__ = (Index("ix_certification_delivery_holder", "credential_id", "holder_did"),)

    id: int | None = Field(default=None, sa_column=Column(ROW_ID, primary_key=True, autoincrement=True))
    credential_id: str = Field(sa_column=Column(String(64), nullable=False))
    holder_did: str = Field(sa_column=Column(String(2000), nullable=False))
    configuration_id: str = Field(sa_column=Column(String(64), nullable=False))
    document: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    delivered_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


OFFER_TABLES = (
    OfferRow.__table__,  # type: ignore[attr-defined]
    AccessTokenRow.__table__,  # type: ignore[attr-defined]
    DeliveryRow.__table__,  # type: ignore[attr-defined]
)


class OfferQueries:
    """The Store's queries of these tables (mixed into `certification.store.Store`)."""

    session: Session

    def offer(self, offer_id: str) -> OfferRow | None:
        return self.session.get(OfferRow, offer_id)

    def offer_by_code(self, code_hash: str) -> OfferRow | None:
        """Locked (PostgreSQL; SQLite serialises writers): two redemptions of one code must not both succeed."""
        statement = select(OfferRow).where(col(OfferRow.code_hash) == code_hash).with_for_update()
        return self.session.scalars(statement).one_or_none()

    def latest_offer(self, credential_id: str) -> OfferRow | None:
        """The one not withdrawn if there is one (a re-offer in the same instant must not lose to the old one),
        else the newest."""
        statement = (
            select(OfferRow)
            .where(col(OfferRow.credential_id) == credential_id)
            .order_by(col(OfferRow.withdrawn_at).is_not(None), col(OfferRow.created_at).desc(), col(OfferRow.id))
            .limit(1)
        )
        return self.session.scalars(statement).one_or_none()

    def withdraw_offers(self, credential_id: str, at: datetime) -> None:
        """Every offer of the credential not yet withdrawn stops working (a re-offer, a revocation)."""
        self.session.execute(
            update(OfferRow)
            .where(col(OfferRow.credential_id) == credential_id)
            .where(col(OfferRow.withdrawn_at).is_(None))
            .values(withdrawn_at=at)
        )

    def access_token(self, token_hash: str) -> AccessTokenRow | None:
        return self.session.get(AccessTokenRow, token_hash)

    def deliveries(self, credential_id: str, holder_did: str, configuration_id: str) -> list[DeliveryRow]:
        statement = (
            select(DeliveryRow)
            .where(col(DeliveryRow.credential_id) == credential_id)
            .where(col(DeliveryRow.holder_did) == holder_did)
            .where(col(DeliveryRow.configuration_id) == configuration_id)
            .order_by(col(DeliveryRow.id))
            .limit(20)
        )
        return list(self.session.scalars(statement))
