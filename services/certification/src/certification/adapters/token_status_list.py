"""Revocation for the SD-JWT VC edition: the IETF Token Status List (draft-ietf-oauth-status-list), JWT form.

The same bits as the W3C Bitstring Status List of the same list id (one revocation sets both), 1 bit per credential,
re-encoded: the Token Status List numbers the statuses of a byte from its *least* significant bit (index 0 is
``byte[0] & 0x01``), the Bitstring Status List from its most significant (index 0 is ``byte[0] & 0x80``), so every
byte is bit-reversed. Then ``lst`` = base64url(ZLIB/DEFLATE(bytes)).

The token (``typ: statuslist+jwt``, ES256): ``sub`` = its own URL (which the referenced credential's
``status.status_list.uri`` names), ``iat``, ``exp`` and ``ttl`` (how long a verifier may cache it), and
``status_list: {bits: 1, lst}``.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

import jwt

from certification.adapters.jwt_keys import JWT_ALG, JwtSigningKey, b64url

STATUS_LIST_JWT_TYP = "statuslist+jwt"
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"
TOKEN_LIFETIME = timedelta(days=1)
"""``exp`` - ``iat``; a token is re-signed when half of it has passed, and at every revision of the list."""
TOKEN_TTL_SECONDS = 300
"""``ttl``: a verifier should fetch a fresh token after this long (revocations reach it within five minutes)."""

_REVERSED = bytes(int(f"{byte:08b}"[::-1], 2) for byte in range(256))


def token_status_bytes(bitstring: bytes) -> bytes:
    """The Bitstring Status List's bytes (MSB first) as the Token Status List's (LSB first), 1 bit per status."""
    return bitstring.translate(_REVERSED)


def bitstring_bytes(token_bytes: bytes) -> bytes:
    """The inverse (the reversal is its own inverse)."""
    return token_bytes.translate(_REVERSED)


def encode_lst(bitstring: bytes) -> str:
    return b64url(zlib.compress(token_status_bytes(bitstring), level=9))


def status_list_token(key: JwtSigningKey, *, issuer: str, uri: str, bitstring: bytes, at: datetime) -> str:
    """The signed Status List Token of ``bitstring`` (a Bitstring Status List's bytes), published at ``uri``."""
    issued = int(at.timestamp())
    payload = {
        "iss": issuer,
        "sub": uri,
        "iat": issued,
        "exp": issued + int(TOKEN_LIFETIME.total_seconds()),
        "ttl": TOKEN_TTL_SECONDS,
        "status_list": {"bits": 1, "lst": encode_lst(bitstring)},
    }
    headers = {"typ": STATUS_LIST_JWT_TYP, "kid": key.kid}
    return jwt.encode(payload, key.private_key, algorithm=JWT_ALG, headers=headers)
