"""Signing, verification and revocation of micro-credentials.

Typical issuance::

    loader = DocumentLoader(base_url)
    key = IssuerKey.from_secret(issuer_id, "key-2025", settings.signing_key)
    signed = sign_credential(build_credential(...), key, loader)

Typical verification::

    result = verify_credential(signed, resolve_controller, resolve_status_list=fetch_list, loader=loader)
"""

from certification.adapters.canonical import UndefinedTermError, assert_fully_defined, canonicalize
from certification.adapters.contexts import (
    DocumentLoader,
    DocumentNotFoundError,
    microcredential_context,
    standard_documents,
)
from certification.adapters.keys import (
    IssuerKey,
    KeyFormatError,
    PublicKeyEntry,
    build_controller_document,
    generate_secret_key,
    load_private_key,
    public_key_from_multibase,
    public_key_multibase,
)
from certification.adapters.signing import CRYPTOSUITE, sign_credential
from certification.adapters.status_list import (
    MIN_STATUS_LIST_BITS,
    StatusList,
    StatusListError,
    StatusListFullError,
    allocate_index,
    build_status_list_credential,
    random_candidates,
    status_entry,
    status_list_from_credential,
)
from certification.adapters.verification import Check, VerificationResult, verify_credential

__all__ = [
    "CRYPTOSUITE",
    "MIN_STATUS_LIST_BITS",
    "Check",
    "DocumentLoader",
    "DocumentNotFoundError",
    "IssuerKey",
    "KeyFormatError",
    "PublicKeyEntry",
    "StatusList",
    "StatusListError",
    "StatusListFullError",
    "UndefinedTermError",
    "VerificationResult",
    "allocate_index",
    "assert_fully_defined",
    "build_controller_document",
    "build_status_list_credential",
    "canonicalize",
    "generate_secret_key",
    "load_private_key",
    "microcredential_context",
    "public_key_from_multibase",
    "public_key_multibase",
    "random_candidates",
    "sign_credential",
    "standard_documents",
    "status_entry",
    "status_list_from_credential",
    "verify_credential",
]
