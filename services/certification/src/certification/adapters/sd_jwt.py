"""SD-JWT (RFC 9901) building blocks: disclosures, their digests, the compact form, and reading one back.

* A disclosure is base64url(JSON ``[salt, name, value]``), its digest base64url(SHA-256(the disclosure's ASCII)),
  listed in the ``_sd`` array of the object the claim belongs to (sorted, so their order says nothing).
* Salts: 128 bits from ``secrets``.
* Compact form: ``<issuer-signed JWT>~<disclosure>~...~`` and, presented with key binding, ``...~<KB-JWT>``.
* A verifier rebuilds the claims from the disclosures it was given; one whose digest the signed payload does not
  list (directly or inside another disclosure) makes the whole SD-JWT invalid (RFC 9901, section 7.1).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certification.adapters.jwt_keys import b64url, b64url_decode

JsonObject = dict[str, Any]
SD_ALG = "sha-256"
SD_DIGESTS = "_sd"
RESERVED = frozenset({SD_DIGESTS, "..."})
_COMPACT_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_DISCLOSURES = 64
"""More than an SD-JWT VC of ours ever has; beyond it a presentation is refused before any digest is computed."""


class SdJwtFormatError(ValueError):
    """Not a well-formed SD-JWT; the message names what, never the claims' values."""


def digest(disclosure: str) -> str:
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(name: str, value: Any) -> str:
    if name in RESERVED:
        raise ValueError(f"{name!r} cannot be selectively disclosed")
    salt = b64url(secrets.token_bytes(16))
    return b64url(json.dumps([salt, name, value], ensure_ascii=False).encode("utf-8"))


def conceal(claims: Mapping[str, Any], disclosable: set[str], disclosures: list[str]) -> JsonObject:
    """``claims`` with the names in ``disclosable`` replaced by digests in ``_sd``; their disclosures appended."""
    packed = {name: value for name, value in claims.items() if name not in disclosable}
    digests = []
    for name in sorted(disclosable & claims.keys()):
        disclosure = make_disclosure(name, claims[name])
        disclosures.append(disclosure)
        digests.append(digest(disclosure))
    if digests:
        packed[SD_DIGESTS] = sorted(digests)
    return packed


@dataclass(frozen=True)
class SdJwt:
    """A compact SD-JWT split into its parts (nothing verified yet)."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    key_binding_jwt: str | None

    @property
    def without_key_binding(self) -> str:
        """The presentation up to and including the last ``~``: what a KB-JWT's ``sd_hash`` is taken over."""
        return "~".join((self.issuer_jwt, *self.disclosures)) + "~"


def parse_compact(text: str) -> SdJwt:
    if "~" not in text:
        raise SdJwtFormatError("an SD-JWT is '<issuer-signed JWT>~<disclosures>~', and this has no '~'")
    parts = text.split("~")
    issuer_jwt, middle, last = parts[0], parts[1:-1], parts[-1]
    if not _COMPACT_JWT.fullmatch(issuer_jwt):
        raise SdJwtFormatError("the issuer-signed part is not a compact JWS")
    if len(middle) > MAX_DISCLOSURES:
        raise SdJwtFormatError(f"more than {MAX_DISCLOSURES} disclosures")
    if any(not _B64URL.fullmatch(d) for d in middle):
        raise SdJwtFormatError("a disclosure is empty or not base64url")
    if last and not _COMPACT_JWT.fullmatch(last):
        raise SdJwtFormatError("the part after the last '~' is neither empty nor a key-binding JWT")
    return SdJwt(issuer_jwt, tuple(middle), last or None)


def decode_disclosure(disclosure: str) -> tuple[str, Any]:
    """(name, value) of an object-property disclosure; SdJwtFormatError for anything else."""
    try:
        content = json.loads(b64url_decode(disclosure).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise SdJwtFormatError("a disclosure is not base64url-encoded JSON") from None
    if not (isinstance(content, list) and len(content) == 3 and all(isinstance(c, str) for c in content[:2])):
        raise SdJwtFormatError("a disclosure is not [salt, claim name, value]")
    if content[1] in RESERVED:
        raise SdJwtFormatError(f"a disclosure names the reserved claim {content[1]!r}")
    return content[1], content[2]


def disclose(payload: JsonObject, disclosures: tuple[str, ...]) -> tuple[JsonObject, list[str]]:
    """The payload with the given disclosures put back in place of their digests, and the names disclosed.

    Raises SdJwtFormatError when a disclosure is not referenced, referenced twice, or repeats a claim.
    """
    by_digest: dict[str, str] = {}
    for disclosure in disclosures:
        key = digest(disclosure)
        if key in by_digest:
            raise SdJwtFormatError("the same disclosure is presented twice")
        by_digest[key] = disclosure
    used: set[str] = set()
    names: list[str] = []
    claims = _unpack(payload, by_digest, used, names, "")
    if used != by_digest.keys():
        raise SdJwtFormatError(
            "a disclosure is not referenced by the issuer-signed JWT (altered, or not issued with it)"
        )
    return claims, names


def _unpack(value: Any, by_digest: dict[str, str], used: set[str], names: list[str], path: str) -> Any:
    if isinstance(value, list):
        return [_unpack(item, by_digest, used, names, f"{path}[]") for item in value]
    if not isinstance(value, dict):
        return value
    digests = value.get(SD_DIGESTS, [])
    if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
        raise SdJwtFormatError(f"{path or 'the payload'}: _sd is not an array of digests")
    unpacked = {k: _unpack(v, by_digest, used, names, f"{path}.{k}".lstrip(".")) for k, v in value.items()}
    unpacked.pop(SD_DIGESTS, None)
    for sd_digest in digests:
        disclosure = by_digest.get(sd_digest)
        if disclosure is None:
            continue  # not presented (or a decoy)
        if sd_digest in used:
            raise SdJwtFormatError("a digest is referenced twice")
        used.add(sd_digest)
        name, claim = decode_disclosure(disclosure)
        if name in unpacked:
            raise SdJwtFormatError(f"a disclosure repeats the claim {name!r} already in the payload")
        here = f"{path}.{name}".lstrip(".")
        unpacked[name] = _unpack(claim, by_digest, used, names, here)
        names.append(here)
    return unpacked
