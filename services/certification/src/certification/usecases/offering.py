"""Credential offers (OpenID4VCI pre-authorized code flow): made with the credential, re-offered by an operator,
shown to the learner, and redeemed for an access token at the token endpoint.

An offer is open while it is neither redeemed nor withdrawn (a re-offer, a revocation), younger than the
configured lifetime and has PIN attempts left; its expiry and attempt limit are read from the settings when it
is redeemed, so changing them applies to open offers too. The PIN (tx_code) goes to the learner only in
CredentialOfferCreated, on the topic only the notification system reads; it is never logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci import (
    ACCESS_TOKEN_LIFETIME,
    OfferPolicy,
    WalletError,
    WalletSecrets,
    new_access_token,
    new_offer_id,
    new_tx_code,
    sha256_hex,
)
from certification.adapters.oid4vci_metadata import credential_offer
from certification.store import CredentialRow, Database, Store
from certification.store_offers import AccessTokenRow, OfferRow
from certification.usecases.events import EVENT_IDS, SOURCE
from certification.usecases.revoking import CredentialNotFound
from contracts import CredentialOfferCreated, new_event

log = logging.getLogger(__name__)


class TokenRefused(WalletError):
    """The token request is refused; `error` is the OAuth code (RFC 6749 5.2, OpenID4VCI 1.0 6.3)."""


class CredentialRevokedError(Exception):
    """A revoked credential gets no offer."""


@dataclass(frozen=True)
class OfferView:
    credential: CredentialRow
    offer: OfferRow | None
    state: str
    """open, redeemed, expired, exhausted, withdrawn, revoked, none"""
    expires_at: datetime | None


def now_of(issuer: Issuer) -> datetime:
    return issuer.clock().astimezone(UTC)


def create_offer(store: Store, credential: CredentialRow, issuer: Issuer) -> OfferRow:
    """A new offer of the credential, the earlier ones withdrawn, and its PIN to the notification system."""
    at = now_of(issuer)
    store.withdraw_offers(credential.id, at)
    secrets_ = WalletSecrets.of(issuer)
    offer_id, tx_code = new_offer_id(), new_tx_code()
    offer = OfferRow(
        id=offer_id,
        credential_id=credential.id,
        code_hash=sha256_hex(secrets_.pre_authorized_code(offer_id)),
        tx_code_hash=secrets_.tx_code_hash(offer_id, tx_code),
        created_at=at,
    )
    store.save(offer)
    payload = CredentialOfferCreated(
        enrolment_id=credential.enrolment_id,
        credential_id=credential.id,
        student_id=credential.student_id,
        offer_page_url=f"{issuer.credential_url(credential.id)}/offer",
        tx_code=tx_code,
        offered_at=at.replace(microsecond=0),
    )
    event_id = EVENT_IDS.of("credential-offer-created", offer_id)
    store.publish(new_event(payload, source=SOURCE, event_id=event_id, time=payload.offered_at))
    # Never the offer id in a log: it fetches the offer, and so the pre-authorized code.
    log.info("credential offered", extra={"credential_id": credential.id})
    return offer


def reoffer(database: Database, credential_id: str, issuer: Issuer, policy: OfferPolicy) -> OfferView:
    """An operator's re-offer: the earlier offer stops working, a new PIN goes out."""
    with database.unit_of_work() as store:
        credential = store.credential(credential_id, for_update=True)
        if credential is None:
            raise CredentialNotFound(credential_id)
        if credential.revoked_at is not None:
            raise CredentialRevokedError(credential_id)
        offer = create_offer(store, credential, issuer)
        return OfferView(credential, offer, "open", offer.created_at + policy.lifetime)


def offer_state(offer: OfferRow, credential: CredentialRow, policy: OfferPolicy, at: datetime) -> str:
    if credential.revoked_at is not None:
        return "revoked"
    if offer.withdrawn_at is not None:
        return "withdrawn"
    if offer.redeemed_at is not None:
        return "redeemed"
    if offer.failed_attempts >= policy.max_attempts:
        return "exhausted"
    if at >= offer.created_at + policy.lifetime:
        return "expired"
    return "open"


def latest_offer(database: Database, credential_id: str, issuer: Issuer, policy: OfferPolicy) -> OfferView | None:
    """The credential's newest offer and its state (for the learner's page); None for an unknown credential."""
    with database.reading() as store:
        credential = store.credential(credential_id)
        if credential is None:
            return None
        offer = store.latest_offer(credential_id)
    if offer is None:
        return OfferView(credential, None, "revoked" if credential.revoked_at else "none", None)
    state = offer_state(offer, credential, policy, now_of(issuer))
    return OfferView(credential, offer, state, offer.created_at + policy.lifetime)


def offer_document(database: Database, offer_id: str, issuer: Issuer, policy: OfferPolicy) -> dict[str, Any] | None:
    """The credential offer by reference, while the offer is open; None otherwise (a 404 says no more)."""
    with database.reading() as store:
        offer = store.offer(offer_id)
        credential = None if offer is None else store.credential(offer.credential_id)
    if offer is None or credential is None or offer_state(offer, credential, policy, now_of(issuer)) != "open":
        return None
    return credential_offer(issuer, WalletSecrets.of(issuer).pre_authorized_code(offer.id))


@dataclass(frozen=True)
class AccessGrant:
    access_token: str
    expires_in: int


_DEAD_CODE = "the pre-authorized code is unknown, already used, withdrawn or expired"


def redeem_code(database: Database, code: str, tx_code: str, issuer: Issuer, policy: OfferPolicy) -> AccessGrant:
    """Pre-authorized code + PIN -> an access token for the offer's credential (single use), or TokenRefused.

    A wrong PIN is counted (and committed) before the refusal; after `max_attempts` wrong ones the code is dead
    even with the right PIN. Unknown, used, withdrawn, expired and dead codes get the same answer."""
    secrets_ = WalletSecrets.of(issuer)
    with database.unit_of_work() as store:
        offer = store.offer_by_code(sha256_hex(code))
        credential = None if offer is None else store.credential(offer.credential_id)
        at = now_of(issuer)
        if offer is None or credential is None or offer_state(offer, credential, policy, at) != "open":
            secrets_.tx_code_matches("", tx_code, "0" * 64)  # the same work as for a live code
            raise TokenRefused("invalid_grant", _DEAD_CODE)
        if not secrets_.tx_code_matches(offer.id, tx_code, offer.tx_code_hash):
            offer.failed_attempts += 1
            store.save(offer)
            grant = None
            left = policy.max_attempts - offer.failed_attempts
            log.info("wrong tx_code", extra={"credential_id": offer.credential_id, "attempts_left": left})
        else:
            grant = _grant(store, offer, at)
    if grant is None:
        raise TokenRefused("invalid_grant", "the tx_code is wrong")
    return grant


def _grant(store: Store, offer: OfferRow, at: datetime) -> AccessGrant:
    offer.redeemed_at = at
    token = new_access_token()
    row = AccessTokenRow(
        token_hash=sha256_hex(token),
        offer_id=offer.id,
        credential_id=offer.credential_id,
        issued_at=at,
        expires_at=at + ACCESS_TOKEN_LIFETIME,
    )
    store.save(offer, row)
    log.info("pre-authorized code redeemed", extra={"credential_id": offer.credential_id})
    return AccessGrant(token, int(ACCESS_TOKEN_LIFETIME.total_seconds()))
