"""The issuer's ES256 (ECDSA P-256) key for the JOSE editions: the SD-JWT VC and the Token Status List.

Key material formats:

* secret: base64url (or base64) of the 32-byte private scalar ``d``, as the ``d`` member of a JWK carries it, or a
  PEM private key (PKCS#8 or SEC1);
* public: a JWK (``kty: EC``, ``crv: P-256``, ``x``, ``y``, ``kid``); a retired key is configured as
  ``<kid>=<base64url of the uncompressed point 0x04 || x || y>``.

Without a configured secret the key is derived from the Ed25519 signing secret with HKDF-SHA256 (its own ``info``,
so the two keys are cryptographically separate): one secret to keep, stable across restarts, and rotated with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certification.adapters.keys import KeyFormatError

JsonObject = dict[str, Any]

JWT_ALG = "ES256"
CURVE = ec.SECP256R1()
# The order of the P-256 group.
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DERIVATION_INFO = b"certification: ES256 key for SD-JWT VC and status list tokens, v1"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(value: str) -> bytes:
    """Strict base64url without padding (what JOSE uses); raises ValueError otherwise."""
    if not isinstance(value, str) or "=" in value:
        raise ValueError("not base64url without padding")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not base64url: {error}") from None


def _scalar_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(32, "big")


def public_jwk(key: ec.EllipticCurvePublicKey, kid: str | None = None) -> JsonObject:
    numbers = key.public_numbers()
    jwk: JsonObject = {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def public_key_from_jwk(jwk: Mapping[str, Any]) -> ec.EllipticCurvePublicKey:
    """An EC P-256 public JWK (no private part) -> the key; KeyFormatError for anything else."""
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
        raise KeyFormatError("expected a public EC P-256 JWK")
    try:
        x, y = b64url_decode(str(jwk.get("x", ""))), b64url_decode(str(jwk.get("y", "")))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("x and y must be 32 bytes")
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), CURVE).public_key()
    except ValueError as error:
        raise KeyFormatError(f"invalid EC P-256 JWK: {error}") from None


def public_key_from_point(value: str) -> ec.EllipticCurvePublicKey:
    """base64url of the uncompressed point (0x04 || x || y) -> the key."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(CURVE, b64url_decode(value.strip()))
    except ValueError as error:
        raise KeyFormatError(f"not a base64url uncompressed P-256 point: {error}") from None


def point_of(key: ec.EllipticCurvePublicKey) -> str:
    return b64url(key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))


def load_jwt_private_key(secret: str) -> ec.EllipticCurvePrivateKey:
    """A configured ES256 secret: base64url/base64 of the 32-byte scalar, or a PEM private key."""
    secret = secret.strip()
    if secret.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(secret.encode("ascii"), password=None)
        except ValueError as error:
            raise KeyFormatError(f"not a PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != CURVE.name:
            raise KeyFormatError("the PEM key is not an EC P-256 private key")
        return key
    padded = secret + "=" * (-len(secret) % 4)
    for altchars in (b"-_", None):
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32 and 0 < int.from_bytes(raw, "big") < _P256_N:
            return ec.derive_private_key(int.from_bytes(raw, "big"), CURVE)
    raise KeyFormatError("the ES256 key must be base64url of the 32-byte P-256 private scalar (JWK 'd') or a PEM key")


def generate_jwt_secret() -> str:
    """A fresh ES256 secret, base64url of the scalar (for CREDENTIAL_JWT_SIGNING_KEY)."""
    return b64url(_scalar_bytes(ec.generate_private_key(CURVE)))


def derive_jwt_secret(ed25519_secret: str) -> str:
    """The ES256 secret derived from the Ed25519 signing secret (HKDF-SHA256, reduced into 1..n-1)."""
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=None, info=_DERIVATION_INFO).derive(
        hashlib.sha256(ed25519_secret.strip().encode("utf-8")).digest()
    )
    scalar = int.from_bytes(material, "big") % (_P256_N - 1) + 1
    return b64url(scalar.to_bytes(32, "big"))


@dataclass(frozen=True)
class JwtPublicKey:
    """A key listed in the JWT VC Issuer Metadata: the signing key, or a retired one that still verifies."""

    kid: str
    public_key: ec.EllipticCurvePublicKey

    def jwk(self) -> JsonObject:
        return {**public_jwk(self.public_key, self.kid), "alg": JWT_ALG, "use": "sig"}


@dataclass(frozen=True)
class JwtSigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def from_secret(cls, kid: str, secret: str) -> JwtSigningKey:
        if not kid or any(c in kid for c in "#=, "):
            raise KeyFormatError("the JWT key id must be non-empty, without '#', '=', ',' or blanks")
        return cls(kid=kid, private_key=load_jwt_private_key(secret))

    @classmethod
    def generate(cls, kid: str = "jwt-key-1") -> JwtSigningKey:
        return cls.from_secret(kid, generate_jwt_secret())

    def public(self) -> JwtPublicKey:
        return JwtPublicKey(self.kid, self.private_key.public_key())

    def __repr__(self) -> str:  # never print the secret
        return f"JwtSigningKey(kid={self.kid!r})"


def parse_retired_jwt_key(entry: str) -> JwtPublicKey:
    """``kid=<base64url uncompressed point>`` -> a retired key."""
    kid, separator, point = entry.strip().partition("=")
    kid, point = kid.strip(), point.strip()
    if not separator or not kid or not point:
        raise KeyFormatError(f'retired JWT key {entry!r} must look like "kid=BASE64URL-POINT"')
    return JwtPublicKey(kid, public_key_from_point(point))
