"""Data Integrity proofs with the ``eddsa-rdfc-2022`` cryptosuite.

W3C "Data Integrity EdDSA Cryptosuites v1.0", section 3.3 (eddsa-rdfc-2022):

1. proof configuration = the proof options without ``proofValue``, with the
   document's ``@context``; canonicalise it with RDFC-1.0;
2. canonicalise the unsecured document (no ``proof``) with RDFC-1.0;
3. hashData = SHA-256(canonical proof config) || SHA-256(canonical document);
4. proofValue = multibase base58btc of the Ed25519 signature over hashData.

The proof attached to the credential carries no ``@context`` of its own (as
Digital Bazaar's implementation also emits): a verifier rebuilds the proof
configuration with the document's context.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

from certification.adapters.canonical import DEFAULT_LIMITS, CanonicalLimits, canonicalize
from certification.adapters.contexts import DocumentLoader
from certification.adapters.keys import IssuerKey, multibase_base58btc
from certification.domain.credential import xsd_datetime

JsonObject = dict[str, Any]

PROOF_TYPE = "DataIntegrityProof"
CRYPTOSUITE = "eddsa-rdfc-2022"
PROOF_PURPOSE = "assertionMethod"


def proof_configuration(document: JsonObject, proof: JsonObject) -> JsonObject:
    """The proof options as they are canonicalised (no proofValue, document's context)."""
    config = {k: v for k, v in proof.items() if k != "proofValue"}
    config["@context"] = copy.deepcopy(proof.get("@context", document["@context"]))
    return config


def hash_data(
    unsecured: JsonObject, config: JsonObject, loader: DocumentLoader, limits: CanonicalLimits = DEFAULT_LIMITS
) -> bytes:
    proof_hash = hashlib.sha256(canonicalize(config, loader, limits).encode("utf-8")).digest()
    document_hash = hashlib.sha256(canonicalize(unsecured, loader, limits).encode("utf-8")).digest()
    return proof_hash + document_hash


def sign_credential(
    credential: JsonObject,
    key: IssuerKey,
    loader: DocumentLoader,
    *,
    created: datetime | None = None,
) -> JsonObject:
    """Return a copy of ``credential`` with an ``eddsa-rdfc-2022`` proof.

    Raises :class:`~certification.adapters.canonical.UndefinedTermError` if any
    part of the credential would not be covered by the signature.
    """
    if "proof" in credential:
        raise ValueError("credential already has a proof; proof sets/chains are not supported")
    if "@context" not in credential:
        raise ValueError("credential has no @context")
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if issuer_id != key.issuer_id:
        # A verifier checks that the key's controller is the issuer; catching a
        # mismatch here avoids minting credentials nobody can verify.
        raise ValueError(f"credential issuer {issuer_id!r} is not the key's controller {key.issuer_id!r}")
    unsecured = copy.deepcopy(credential)
    proof: JsonObject = {
        "type": PROOF_TYPE,
        "cryptosuite": CRYPTOSUITE,
        "created": xsd_datetime(created or datetime.now(UTC)),
        "verificationMethod": key.verification_method,
        "proofPurpose": PROOF_PURPOSE,
    }
    data = hash_data(unsecured, proof_configuration(unsecured, proof), loader)
    proof["proofValue"] = multibase_base58btc(key.sign(data))
    secured = copy.deepcopy(unsecured)
    secured["proof"] = proof
    return secured
