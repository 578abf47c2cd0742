"""OpenID4VCI 1.0 secrets and key proofs: offer codes, PINs, access tokens, nonces, and `jwt` key proofs.

Every secret the wallet flow hands out is random (`secrets`) or derived with a key only this service holds:
`WalletSecrets` is an HKDF of the issuer's signing key, so all replicas derive the same key and nothing new
has to be configured. Consequence: after a signing-key rotation, open offers must be re-offered.

The c_nonce is stateless and bounded in time (NONCE_LIFETIME), not single-use: the nonce endpoint is open to
anyone, so it must not write a row per call, and any replica checks a nonce with the derived key alone. A
replayed proof within its few minutes gains nothing: it can only fetch, with the same access token, the
credential bound to the same holder key again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from certification.adapters.issuer import Issuer

PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYPE = "openid4vci-proof+jwt"
PROOF_ALGORITHMS = ("ES256", "EdDSA")
"""Key proofs we accept: asymmetric only (never `none`, never HS*), and the curves wallets use."""
TX_CODE_LENGTH = 6
ACCESS_TOKEN_LIFETIME = timedelta(minutes=10)
NONCE_LIFETIME = timedelta(minutes=5)
PROOF_MAX_AGE = timedelta(minutes=5)
"""A proof's `iat` may lie this far in the past, and (clock skew) a minute in the future."""
PROOF_MAX_SKEW = timedelta(minutes=1)
_CURVES = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "k")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class WalletError(Exception):
    """A refused wallet request: `error` is the code the spec names (OAuth 2.0, RFC 6750, OpenID4VCI 1.0), the
    description is safe to show (no secrets, no personal data), `status` the HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


class ProofRefused(WalletError):
    """A key proof we do not accept: invalid_proof, or invalid_nonce for a nonce that is not a current one."""


@dataclass(frozen=True)
class WalletSecrets:
    key: bytes

    @classmethod
    def of(cls, issuer: Issuer) -> WalletSecrets:
        raw = issuer.key.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"certification/oid4vci/v1")
        return cls(hkdf.derive(raw))

    def _mac(self, *parts: str | bytes) -> bytes:
        data = b"\x00".join(part.encode("utf-8") if isinstance(part, str) else part for part in parts)
        return hmac.new(self.key, data, hashlib.sha256).digest()

    def pre_authorized_code(self, offer_id: str) -> str:
        """Derived, not stored: the offer (and its QR code) can be shown again, the database holds only a hash."""
        return b64url(self._mac("pre-authorized_code", offer_id))

    def tx_code_hash(self, offer_id: str, tx_code: str) -> str:
        return self._mac("tx_code", offer_id, tx_code).hex()

    def tx_code_matches(self, offer_id: str, presented: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.tx_code_hash(offer_id, presented), stored_hash)

    def nonce(self, now: datetime) -> str:
        expires = int((now + NONCE_LIFETIME).timestamp()).to_bytes(8, "big")
        body = expires + secrets.token_bytes(16)
        return b64url(body + self._mac("c_nonce", body)[:16])

    def nonce_is_fresh(self, nonce: str, now: datetime) -> bool:
        try:
            raw = b64url_decode(nonce)
        except (binascii.Error, ValueError):
            return False
        if len(raw) != 40:
            return False
        body, tag = raw[:24], raw[24:]
        if not hmac.compare_digest(tag, self._mac("c_nonce", body)[:16]):
            return False
        return int.from_bytes(body[:8], "big") >= now.timestamp()


@dataclass(frozen=True)
class OfferPolicy:
    """How long an offer works and how many wrong PINs it survives (settings OFFER_LIFETIME_DAYS,
    OFFER_MAX_PIN_ATTEMPTS)."""

    lifetime: timedelta = timedelta(days=30)
    max_attempts: int = 5


def new_offer_id() -> str:
    return secrets.token_urlsafe(24)


def new_tx_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(TX_CODE_LENGTH))


def new_access_token() -> str:
    return secrets.token_urlsafe(32)


def did_jwk(public_jwk: Mapping[str, Any]) -> str:
    """`did:jwk:<base64url(JWK)>` of a public key (its members in a fixed order, so one key gives one DID)."""
    text = json.dumps(dict(public_jwk), separators=(",", ":"), sort_keys=True)
    return f"did:jwk:{b64url(text.encode('utf-8'))}"


def jwk_of_did(kid: str) -> dict[str, Any]:
    """The key a `did:jwk:...#0` key id names (did:jwk resolves without any network)."""
    did = kid.split("#", 1)[0]
    if not did.startswith("did:jwk:"):
        raise ProofRefused("invalid_proof", "kid must be a did:jwk DID URL (or send the key as jwk)")
    try:
        jwk = json.loads(b64url_decode(did.removeprefix("did:jwk:")))
    except (binascii.Error, ValueError) as error:
        raise ProofRefused("invalid_proof", "the did:jwk in kid does not decode to a JWK") from error
    if not isinstance(jwk, dict):
        raise ProofRefused("invalid_proof", "the did:jwk in kid does not decode to a JWK")
    return jwk


@dataclass(frozen=True)
class HolderKey:
    jwk: dict[str, Any]
    did: str


def verify_key_proof(proof: Any, *, audience: str, now: datetime, secrets_: WalletSecrets) -> HolderKey:
    """The holder key a `jwt` key proof (OpenID4VCI 1.0 appendix F.1) proves possession of, or ProofRefused.

    Checked: `typ`, an accepted `alg` whose key type matches, the key from exactly one of `jwk` (public members
    only) or a did:jwk `kid`, the signature with that key, `aud` = the credential issuer identifier, `iat`
    within PROOF_MAX_AGE, and `nonce` one of ours still fresh (else invalid_nonce)."""
    if not isinstance(proof, str):
        raise ProofRefused("invalid_proof", "a jwt key proof is a string")
    header = _proof_header(proof)
    jwk, did = _proof_key(header)
    try:
        key = jwt.PyJWK(jwk, algorithm=header["alg"])
        claims = jwt.decode(
            proof,
            key.key,
            algorithms=[header["alg"]],
            options={"verify_aud": False, "verify_iat": False, "verify_exp": False, "verify_nbf": False},
        )
    except jwt.InvalidSignatureError as error:
        raise ProofRefused(
            "invalid_proof", "the proof's signature does not verify with the key in its header"
        ) from error
    except (jwt.PyJWTError, jwt.PyJWKError, ValueError, TypeError) as error:
        raise ProofRefused("invalid_proof", f"the proof is not a usable JWT ({type(error).__name__})") from error
    _check_claims(claims, audience=audience, now=now, secrets_=secrets_)
    return HolderKey(jwk=jwk, did=did)


def _proof_header(proof: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(proof)
    except jwt.PyJWTError as error:
        raise ProofRefused("invalid_proof", "the proof is not a JWS in compact form") from error
    if header.get("typ") != PROOF_TYPE:
        raise ProofRefused("invalid_proof", f"the proof's typ must be {PROOF_TYPE}")
    if header.get("alg") not in PROOF_ALGORITHMS:
        raise ProofRefused("invalid_proof", f"the proof's alg must be one of {', '.join(PROOF_ALGORITHMS)}")
    return header


def _proof_key(header: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    present = [name for name in ("jwk", "kid", "x5c") if name in header]
    if present == ["jwk"] and isinstance(header["jwk"], dict):
        jwk, did = dict(header["jwk"]), None
    elif present == ["kid"] and isinstance(header["kid"], str):
        jwk, did = jwk_of_did(header["kid"]), header["kid"].split("#", 1)[0]
    else:
        raise ProofRefused("invalid_proof", "the proof's header must name its key by exactly one of jwk or kid")
    if any(member in jwk for member in _PRIVATE_MEMBERS):
        raise ProofRefused("invalid_proof", "the proof's key contains private key material")
    kty, crv = _CURVES[header["alg"]]
    if jwk.get("kty") != kty or jwk.get("crv") != crv:
        raise ProofRefused("invalid_proof", f"alg {header['alg']} needs a {kty} {crv} key")
    public = {name: value for name, value in jwk.items() if name in ("kty", "crv", "x", "y")}
    return public, did or did_jwk(public)


def _check_claims(claims: Mapping[str, Any], *, audience: str, now: datetime, secrets_: WalletSecrets) -> None:
    if claims.get("aud") != audience:
        raise ProofRefused("invalid_proof", "the proof's aud is not this credential issuer's identifier")
    issued = claims.get("iat")
    if not isinstance(issued, int | float) or isinstance(issued, bool):
        raise ProofRefused("invalid_proof", "the proof has no numeric iat")
    age = now.timestamp() - issued
    if age > PROOF_MAX_AGE.total_seconds() or -age > PROOF_MAX_SKEW.total_seconds():
        raise ProofRefused("invalid_proof", "the proof's iat is not recent")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str):
        raise ProofRefused("invalid_proof", "the proof has no nonce; get a c_nonce from the nonce endpoint")
    if not secrets_.nonce_is_fresh(nonce, now):
        raise ProofRefused("invalid_nonce", "the proof's nonce is not a current c_nonce of this issuer")
