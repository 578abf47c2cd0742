"""Issuer keys (Ed25519) and the issuer's controller document.

Key material formats follow the W3C Controlled Identifiers / Multikey encoding
that Digital Bazaar's ``@digitalbazaar/ed25519-multikey`` also uses:

* public key:  ``z`` + base58btc(0xed 0x01 + 32-byte key)      (``publicKeyMultibase``)
* secret key:  ``z`` + base58btc(0x80 0x26 + 32-byte seed)     (``secretKeyMultibase``)

The signing key is configuration (an environment variable or secret store), never
a file in the repository.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from certification.domain.credential import xsd_datetime
from certification.domain.vocabulary import MULTIKEY_V1_CONTEXT_URL, SECURITY_V2_CONTEXT_URL

JsonObject = dict[str, Any]

ED25519_PUB_HEADER = b"\xed\x01"
ED25519_PRIV_HEADER = b"\x80\x26"
MULTIBASE_BASE58BTC = "z"
# Security v2 defines verificationMethod/assertionMethod (jsonld-signatures frames
# controller documents with it); Multikey v1 defines the key type.
CONTROLLER_DOCUMENT_CONTEXT = [SECURITY_V2_CONTEXT_URL, MULTIKEY_V1_CONTEXT_URL]


class KeyFormatError(ValueError):
    """A key string is not in a format we accept."""


def multibase_base58btc(data: bytes) -> str:
    return MULTIBASE_BASE58BTC + base58.b58encode(data).decode("ascii")


def decode_multibase_base58btc(value: str) -> bytes:
    if not value.startswith(MULTIBASE_BASE58BTC):
        raise KeyFormatError("expected a multibase base58btc string (starting with 'z')")
    try:
        return base58.b58decode(value[1:])
    except ValueError as exc:
        raise KeyFormatError(f"invalid base58btc: {exc}") from exc


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_key_multibase(key: Ed25519PublicKey) -> str:
    return multibase_base58btc(ED25519_PUB_HEADER + _raw_public(key))


def public_key_from_multibase(value: str) -> Ed25519PublicKey:
    data = decode_multibase_base58btc(value)
    if not data.startswith(ED25519_PUB_HEADER) or len(data) != 34:
        raise KeyFormatError("publicKeyMultibase is not an Ed25519 public key (0xed01 + 32 bytes)")
    return Ed25519PublicKey.from_public_bytes(data[2:])


def secret_key_multibase(key: Ed25519PrivateKey) -> str:
    return multibase_base58btc(ED25519_PRIV_HEADER + _raw_private(key))


def generate_secret_key() -> str:
    """A fresh Ed25519 secret key as ``secretKeyMultibase`` (for development and key rotation)."""
    return secret_key_multibase(Ed25519PrivateKey.generate())


def _from_seed_or_pair(raw: bytes) -> Ed25519PrivateKey:
    if len(raw) == 32:
        return Ed25519PrivateKey.from_private_bytes(raw)
    if len(raw) == 64:
        # NaCl/libsodium layout: seed || public key. Check the halves agree so a
        # truncated or mixed-up secret fails loudly instead of signing wrongly.
        key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        if _raw_public(key.public_key()) != raw[32:]:
            raise KeyFormatError("64-byte secret key: public half does not match the seed")
        return key
    raise KeyFormatError(f"an Ed25519 secret key has 32 (or 64) bytes, got {len(raw)}")


def load_private_key(secret: str) -> Ed25519PrivateKey:
    """Parse a configured secret key.

    Accepts ``secretKeyMultibase`` (``z…``, multicodec ed25519-priv) or base64 /
    base64url (padded or not) of the raw 32-byte seed (or 64-byte seed||public).
    """
    secret = secret.strip()
    if secret.startswith(MULTIBASE_BASE58BTC):
        try:
            data = decode_multibase_base58btc(secret)
        except KeyFormatError:
            data = b""
        if data.startswith(ED25519_PRIV_HEADER) and len(data) in (34, 66):
            return _from_seed_or_pair(data[2:])
    padded = secret + "=" * (-len(secret) % 4)
    for altchars in (None, b"-_"):  # base64, then base64url
        try:
            raw = base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) in (32, 64):
            return _from_seed_or_pair(raw)
    raise KeyFormatError(
        "signing key must be a secretKeyMultibase ('z' + base58btc of 0x8026 + seed) "
        "or base64 of the 32-byte Ed25519 seed"
    )


@dataclass(frozen=True)
class IssuerKey:
    """The key the issuer signs with, addressed as ``<issuer_id>#<key_id>``."""

    issuer_id: str
    key_id: str
    private_key: Ed25519PrivateKey

    @classmethod
    def from_secret(cls, issuer_id: str, key_id: str, secret: str) -> IssuerKey:
        if not key_id or "#" in key_id:
            raise KeyFormatError("key_id must be a non-empty fragment without '#'")
        return cls(issuer_id=issuer_id, key_id=key_id, private_key=load_private_key(secret))

    @property
    def verification_method(self) -> str:
        return f"{self.issuer_id}#{self.key_id}"

    @property
    def public_key_multibase(self) -> str:
        return public_key_multibase(self.private_key.public_key())

    def public(self) -> PublicKeyEntry:
        return PublicKeyEntry(key_id=self.key_id, public_key_multibase=self.public_key_multibase)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def __repr__(self) -> str:  # never print the secret
        return f"IssuerKey(verification_method={self.verification_method!r})"


@dataclass(frozen=True)
class PublicKeyEntry:
    """One key listed in the controller document.

    Rotation: keep old keys listed (they verify the credentials they signed) and
    sign with the newest. Set ``revoked`` only for a compromised key: every
    credential it signed then stops verifying.
    """

    key_id: str
    public_key_multibase: str
    revoked: datetime | None = None


def verification_method_document(issuer_id: str, entry: PublicKeyEntry) -> JsonObject:
    vm: JsonObject = {
        "id": f"{issuer_id}#{entry.key_id}",
        "type": "Multikey",
        "controller": issuer_id,
        "publicKeyMultibase": entry.public_key_multibase,
    }
    if entry.revoked is not None:
        vm["revoked"] = xsd_datetime(entry.revoked)
    return vm


def build_controller_document(issuer_id: str, keys: Iterable[PublicKeyEntry]) -> JsonObject:
    """The document to serve at ``issuer_id``: every key, all usable for assertions."""
    entries = list(keys)
    if not entries:
        raise ValueError("a controller document needs at least one key")
    key_ids = [e.key_id for e in entries]
    if len(set(key_ids)) != len(key_ids):
        raise ValueError(f"duplicate key ids: {key_ids}")
    methods = [verification_method_document(issuer_id, e) for e in entries]
    return {
        "@context": list(CONTROLLER_DOCUMENT_CONTEXT),
        "id": issuer_id,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods if "revoked" not in m],
    }
