"""Revoking a credential: its bit in the status list, the re-signed list, and CredentialRevoked, in one unit of work."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC

from certification.adapters.issuer import Issuer
from certification.adapters.status_list import StatusList
from certification.store import CredentialRow, Database, Store
from certification.usecases.events import SOURCE, revoked_event_id
from contracts import CredentialRevoked, new_event

log = logging.getLogger(__name__)


class CredentialNotFound(LookupError):
    def __init__(self, credential_id: str) -> None:
        super().__init__(f"there is no credential {credential_id!r}")


@dataclass(frozen=True)
class RevokeOutcome:
    credential: CredentialRow
    changed: bool
    """False for a repeated revocation: nothing changed, nothing published; the first reason stands."""


def revoke_credential(database: Database, credential_id: str, reason: str, issuer: Issuer) -> RevokeOutcome:
    """Set the credential's revocation bit, re-sign its status list and announce CredentialRevoked."""
    with database.unit_of_work() as store:
        return _revoke(store, credential_id, reason, issuer)


def _revoke(store: Store, credential_id: str, reason: str, issuer: Issuer) -> RevokeOutcome:
    credential = store.credential(credential_id, for_update=True)
    if credential is None:
        raise CredentialNotFound(credential_id)
    if credential.revoked_at is not None:
        return RevokeOutcome(credential, changed=False)
    now = issuer.clock().astimezone(UTC).replace(microsecond=0)
    # Locked: two revocations in the same list at once must not both start from the old bits.
    status_list = store.status_list(credential.status_list_id, for_update=True)
    if status_list is None:
        raise RuntimeError(f"status list {credential.status_list_id} of credential {credential_id} is missing")
    bits = StatusList(data=status_list.bits)
    bits.set(credential.status_index)
    status_list.bits = bits.to_bytes()
    status_list.credential = issuer.signed_status_list(status_list.id, bits, now)
    status_list.revision += 1
    status_list.updated_at = now
    credential.revoked_at, credential.revocation_reason = now, reason
    store.save(status_list, credential)
    store.withdraw_offers(credential.id, now)  # a revoked credential goes to no wallet any more
    payload = CredentialRevoked(
        credential_id=credential.id, enrolment_id=credential.enrolment_id, revoked_at=now, reason=reason
    )
    store.publish(new_event(payload, source=SOURCE, event_id=revoked_event_id(credential.enrolment_id), time=now))
    log.info("credential revoked", extra={"enrolment_id": credential.enrolment_id, "credential_id": credential.id})
    return RevokeOutcome(credential, changed=True)
