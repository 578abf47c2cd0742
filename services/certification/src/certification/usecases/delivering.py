"""The credential endpoint (OpenID4VCI 1.0 section 8): an access token and a key proof in, the credential bound to
the proven key out, in the edition asked for.

- `microcredential_ldp_vc`: the stored W3C credential with `credentialSubject.id` = the holder's did:jwk, signed
  as every credential is (eddsa-rdfc-2022). The delivered document is recorded, so POST /verify recognises it,
  and a second request with the same key gets the same document back.
- `microcredential_dc_sd_jwt`: the SD-JWT VC edition (`adapters.sd_jwt_vc`), `cnf.jwk` = the proven key.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from certification.adapters import sd_jwt_vc
from certification.adapters.issuer import Issuer
from certification.adapters.oid4vci import HolderKey, WalletError, WalletSecrets, sha256_hex, verify_key_proof
from certification.adapters.oid4vci_metadata import LDP_VC_CONFIGURATION_ID, credential_configurations
from certification.store import CredentialRow, Database, Store
from certification.store_offers import DeliveryRow
from certification.usecases.offering import now_of

log = logging.getLogger(__name__)

JsonObject = dict[str, Any]


def nonce(issuer: Issuer) -> str:
    return WalletSecrets.of(issuer).nonce(now_of(issuer))


def deliver(database: Database, issuer: Issuer, access_token: str | None, request: Any) -> JsonObject:
    """The credential response `{"credentials": [{"credential": ...}]}`, or WalletError with the spec's code."""
    at = now_of(issuer)
    with database.unit_of_work() as store:
        credential = _authorised_credential(store, access_token, at)
        configuration_id = _configuration_id(request, issuer)
        holder = verify_key_proof(
            _single_proof(request), audience=issuer.base_url, now=at, secrets_=WalletSecrets.of(issuer)
        )
        if configuration_id == LDP_VC_CONFIGURATION_ID:
            issued: Any = _holder_bound_w3c(store, credential, holder, issuer, at)
        else:
            issued = _sd_jwt_vc(store, credential, holder, issuer, at)
    log.info("credential delivered to a wallet", extra={"credential_id": credential.id, "edition": configuration_id})
    return {"credentials": [{"credential": issued}]}


def _authorised_credential(store: Store, access_token: str | None, at: datetime) -> CredentialRow:
    if not access_token:
        raise WalletError("invalid_token", "an access token from the token endpoint is required", 401)
    token = store.access_token(sha256_hex(access_token))
    if token is None or token.expires_at <= at:
        raise WalletError("invalid_token", "the access token is unknown or expired", 401)
    offer = store.offer(token.offer_id)
    credential = store.credential(token.credential_id)
    if credential is not None and credential.revoked_at is not None:
        raise WalletError("credential_request_denied", "the credential has been revoked")
    if offer is None or offer.withdrawn_at is not None or credential is None:
        raise WalletError("invalid_token", "the access token's offer was withdrawn", 401)
    return credential


def _configuration_id(request: Any, issuer: Issuer) -> str:
    if not isinstance(request, dict):
        raise WalletError("invalid_credential_request", "the credential request is a JSON object")
    if "credential_identifier" in request:
        raise WalletError(
            "invalid_credential_request", "no credential_identifiers were issued: send credential_configuration_id"
        )
    configuration_id = request.get("credential_configuration_id")
    if not isinstance(configuration_id, str):
        raise WalletError("invalid_credential_request", "credential_configuration_id (a string) is required")
    if configuration_id not in credential_configurations(issuer):
        raise WalletError("unknown_credential_configuration", "that credential configuration is not offered here")
    return configuration_id


def _single_proof(request: JsonObject) -> Any:
    proofs = request.get("proofs")
    if not isinstance(proofs, dict) or not proofs:
        raise WalletError("invalid_proof", "proofs with one jwt key proof is required")
    if list(proofs) != ["jwt"]:
        raise WalletError("invalid_proof", "only the jwt proof type is supported")
    jwts = proofs["jwt"]
    if not isinstance(jwts, list) or len(jwts) != 1:
        raise WalletError("invalid_proof", "exactly one jwt key proof (no batch issuance)")
    return jwts[0]


def _holder_bound_w3c(
    store: Store, credential: CredentialRow, holder: HolderKey, issuer: Issuer, at: datetime
) -> JsonObject:
    earlier = store.deliveries(credential.id, holder.did, LDP_VC_CONFIGURATION_ID)
    if earlier and earlier[0].document is not None:
        return earlier[0].document
    unsigned = {name: value for name, value in credential.document.items() if name != "proof"}
    unsigned["credentialSubject"] = {"id": holder.did, **credential.document["credentialSubject"]}
    signed = issuer.sign(unsigned, at.replace(microsecond=0))
    store.save(
        DeliveryRow(
            credential_id=credential.id,
            holder_did=holder.did,
            configuration_id=LDP_VC_CONFIGURATION_ID,
            document=signed,
            delivered_at=at,
        )
    )
    return signed


def _sd_jwt_vc(store: Store, credential: CredentialRow, holder: HolderKey, issuer: Issuer, at: datetime) -> str:
    issued = sd_jwt_vc.issue_sd_jwt_vc(
        issuer,
        credential.document,
        status_list_id=credential.status_list_id,
        status_index=credential.status_index,
        holder_jwk=holder.jwk,
        issued_at=at.replace(microsecond=0),
    )
    store.save(
        DeliveryRow(
            credential_id=credential.id,
            holder_did=holder.did,
            configuration_id=sd_jwt_vc.SD_JWT_VC_CONFIGURATION_ID,
            document=None,
            delivered_at=at,
        )
    )
    return issued


def delivered_editions(database: Database, credential_id: str, holder_did: str) -> list[JsonObject]:
    """The holder-bound W3C editions of a credential delivered to that holder's wallet."""
    with database.reading() as store:
        rows = store.deliveries(credential_id, holder_did, LDP_VC_CONFIGURATION_ID)
    return [row.document for row in rows if row.document is not None]
