"""Verifying a submitted document: one of ours is compared with what we issued before anything is canonicalised."""

from __future__ import annotations

from typing import Any

from certification.adapters.issuer import Issuer
from certification.adapters.sd_jwt_vc_verification import SdJwtVcVerification, verify_sd_jwt_vc
from certification.adapters.status_list import StatusList
from certification.adapters.verification import HashData, VerificationResult
from certification.domain.certificate import first_difference
from certification.store import Database
from certification.usecases.delivering import delivered_editions
from certification.usecases.reading import credential_document, status_list_document

JsonObject = dict[str, Any]


def verify(
    database: Database, issuer: Issuer, document: JsonObject, hash_data: HashData | None = None
) -> VerificationResult:
    """Verify against this issuer's keys and status lists; nothing is fetched from elsewhere.

    A document whose `id` is the URL of a credential we issued is compared with the stored credential first: if
    it differs as JSON (`first_difference`) it is not what we signed, and the signature check says so without
    canonicalising it (what an attacker sends never reaches RDFC-1.0 under our name). The same document, and any
    other, is verified the normal way with `hash_data` (the caller bounds it; raises CanonicalLimitExceeded).
    """

    def status_list_of(list_id: str) -> JsonObject | None:
        return status_list_document(database, list_id)

    issued = _issued_under_its_id(database, issuer, document)
    refused = None
    if issued is not None:
        where = first_difference(issued, document)
        if where is not None:
            refused = (
                f"the document differs from the credential issued under its id {document['id']} (first at {where}):"
                " it is not what this service signed"
            )
    return issuer.verify(document, status_list_of, hash_data=hash_data, signature_refused=refused)


def _issued_under_its_id(database: Database, issuer: Issuer, document: JsonObject) -> JsonObject | None:
    """What we signed under the document's id: a wallet's holder-bound edition (OpenID4VCI) when the document
    names a holder it was delivered to, else the credential as issued."""
    url = document.get("id")
    credential_id = issuer.credential_id(url) if isinstance(url, str) else None
    if credential_id is None:
        return None
    subject = document.get("credentialSubject")
    holder = subject.get("id") if isinstance(subject, dict) else None
    if isinstance(holder, str):
        delivered = delivered_editions(database, credential_id, holder)
        matching = next((edition for edition in delivered if first_difference(edition, document) is None), None)
        if matching is not None or delivered:
            return matching or delivered[0]
    return credential_document(database, credential_id)


def verify_sd_jwt(
    database: Database, issuer: Issuer, presentation: str, *, audience: str | None = None, nonce: str | None = None
) -> SdJwtVcVerification:
    """Verify an SD-JWT VC (issued, or presented with a key-binding JWT) against this issuer's ES256 keys and the
    bits of its own status lists (the ones both editions share); nothing is fetched."""

    def status_of(list_id: str, index: int) -> bool | None:
        with database.reading() as store:
            row = store.status_list(list_id)
        if row is None:
            return None
        bits = StatusList(data=row.bits)
        return bits.get(index) if index < bits.length else None

    return verify_sd_jwt_vc(presentation, issuer, status_of, now=issuer.clock(), audience=audience, nonce=nonce)
