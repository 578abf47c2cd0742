"""Helpers of the SD-JWT VC tests: a holder's key, the edition of a stored credential, a key-binding JWT."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any

import jwt
from certification.adapters.issuer import Issuer
from certification.adapters.sd_jwt_vc import issue_sd_jwt_vc
from certification.store import CredentialRow
from cryptography.hazmat.primitives.asymmetric import ec

from tests.certification.certification_support import now_utc


def _b64(number: int) -> str:
    return base64.urlsafe_b64encode(number.to_bytes(32, "big")).rstrip(b"=").decode("ascii")


class Holder:
    """A wallet's P-256 key: its public JWK goes into cnf.jwk, its private one signs key-binding JWTs."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        self.public_jwk = {"kty": "EC", "crv": "P-256", "x": _b64(numbers.x), "y": _b64(numbers.y)}
        self.private_jwk = {**self.public_jwk, "d": _b64(self.key.private_numbers().private_value)}

    def key_binding(self, presentation: str, *, aud: str, nonce: str, iat: datetime | None = None) -> str:
        """``presentation`` (ending in '~') with a KB-JWT over it appended."""
        sd_hash = base64.urlsafe_b64encode(hashlib.sha256(presentation.encode("ascii")).digest()).rstrip(b"=")
        claims = {"iat": int((iat or now_utc()).timestamp()), "aud": aud, "nonce": nonce, "sd_hash": sd_hash.decode()}
        return presentation + jwt.encode(claims, self.key, algorithm="ES256", headers={"typ": "kb+jwt"})


def sd_jwt_of(issuer: Issuer, row: CredentialRow, holder: Holder, issued_at: datetime | None = None) -> str:
    return issue_sd_jwt_vc(
        issuer,
        row.document,
        status_list_id=row.status_list_id,
        status_index=row.status_index,
        holder_jwk=holder.public_jwk,
        issued_at=issued_at or now_utc(),
    )


def disclosure_of(presentation: str, name: str) -> str:
    """The disclosure of claim ``name`` in a compact SD-JWT."""
    return next(part for part in presentation.split("~")[1:-1] if decoded(part)[1] == name)


def decoded(disclosure: str) -> list[Any]:
    return json.loads(base64.urlsafe_b64decode(disclosure + "=" * (-len(disclosure) % 4)))


def without(presentation: str, name: str) -> str:
    return presentation.replace(disclosure_of(presentation, name) + "~", "")


def payload_of(presentation: str) -> dict[str, Any]:
    return jwt.decode(presentation.split("~")[0], options={"verify_signature": False})
