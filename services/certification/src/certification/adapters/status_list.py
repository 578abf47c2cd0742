"""Revocation with a W3C Bitstring Status List (v1.0).

* Each credential gets an index in a list; bit set = revoked.
* Bit order: index 0 is the left-most (most significant) bit of the first byte.
* ``encodedList`` = ``u`` + base64url-without-padding(GZIP(bitstring)), multibase.
* A list has at least 131,072 bits (16 KiB) so that one revocation does not
  single a learner out (herd privacy); indices are handed out at random for the
  same reason.
* The list is published as a ``BitstringStatusListCredential`` signed by the
  same issuer as the credentials that point into it.
"""

from __future__ import annotations

import base64
import gzip
import secrets
from collections.abc import Collection
from datetime import datetime
from typing import Any

from certification.domain.credential import credential_status_entry, xsd_datetime
from certification.domain.model import StatusListEntry
from certification.domain.vocabulary import VC_V2_CONTEXT_URL

JsonObject = dict[str, Any]

MIN_STATUS_LIST_BITS = 131_072
REVOCATION = "revocation"
MULTIBASE_BASE64URL = "u"


class StatusListError(ValueError):
    pass


class StatusListFullError(StatusListError):
    pass


class StatusList:
    """A mutable bitstring of credential statuses."""

    def __init__(self, length: int = MIN_STATUS_LIST_BITS, *, data: bytes | None = None) -> None:
        if data is not None:
            length = len(data) * 8
        if length < MIN_STATUS_LIST_BITS:
            raise StatusListError(f"a status list needs at least {MIN_STATUS_LIST_BITS} bits, got {length}")
        if length % 8:
            raise StatusListError("status list length must be a multiple of 8")
        self._bits = bytearray(data if data is not None else bytes(length // 8))

    @property
    def length(self) -> int:
        return len(self._bits) * 8

    def _locate(self, index: int) -> tuple[int, int]:
        if not 0 <= index < self.length:
            raise IndexError(f"status index {index} outside 0..{self.length - 1}")
        return index // 8, 0x80 >> (index % 8)

    def get(self, index: int) -> bool:
        byte, mask = self._locate(index)
        return bool(self._bits[byte] & mask)

    def set(self, index: int, value: bool = True) -> None:
        byte, mask = self._locate(index)
        if value:
            self._bits[byte] |= mask
        else:
            self._bits[byte] &= ~mask & 0xFF

    def set_indices(self) -> list[int]:
        return [i for i in range(self.length) if self._bits[i // 8] & (0x80 >> (i % 8))]

    def to_bytes(self) -> bytes:
        return bytes(self._bits)

    def encode(self) -> str:
        # mtime=0 keeps the encoding a pure function of the bits (reproducible
        # list credentials, stable signatures in tests).
        compressed = gzip.compress(self.to_bytes(), mtime=0)
        return MULTIBASE_BASE64URL + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, encoded_list: str) -> StatusList:
        if not encoded_list.startswith(MULTIBASE_BASE64URL):
            raise StatusListError("encodedList must be multibase base64url (prefix 'u')")
        body = encoded_list[1:]
        try:
            compressed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            data = gzip.decompress(compressed)
        except (ValueError, OSError, EOFError) as exc:
            raise StatusListError(f"encodedList is not base64url(GZIP(...)): {exc}") from exc
        return cls(data=data)


def random_candidates(
    length: int = MIN_STATUS_LIST_BITS, count: int = 64, *, rng: secrets.SystemRandom | None = None
) -> list[int]:
    """`count` distinct random indices of a list of `length`, in random order: the first of them that is free is
    a uniformly random free index, as `allocate_index` picks, found without reading every allocated one."""
    return (rng or secrets.SystemRandom()).sample(range(length), min(count, length))


def allocate_index(
    allocated: Collection[int],
    length: int = MIN_STATUS_LIST_BITS,
    *,
    rng: secrets.SystemRandom | None = None,
) -> int:
    """A random index not yet in ``allocated``.

    Random rather than sequential so that an index does not reveal issuance
    order. The caller persists the allocation (and must do so atomically with
    issuing the credential, e.g. a unique constraint on (list, index)).
    """
    if len(allocated) >= length:
        raise StatusListFullError(f"all {length} indices are allocated; start a new list")
    rng = rng or secrets.SystemRandom()
    # Rejection sampling is fast while the list is sparse; fall back to scanning
    # the free indices when it is nearly full.
    for _ in range(64):
        candidate = rng.randrange(length)
        if candidate not in allocated:
            return candidate
    taken = set(allocated)
    free = [i for i in range(length) if i not in taken]
    return rng.choice(free)


def status_entry(list_credential_url: str, index: int, purpose: str = REVOCATION) -> JsonObject:
    """The ``credentialStatus`` value for a credential at ``index`` of the list."""
    return credential_status_entry(StatusListEntry(list_credential_url, index, purpose))


def build_status_list_credential(
    *,
    list_credential_url: str,
    issuer_id: str,
    status_list: StatusList,
    valid_from: datetime,
    valid_until: datetime | None = None,
    purpose: str = REVOCATION,
) -> JsonObject:
    """The unsigned ``BitstringStatusListCredential``; sign it with ``sign_credential``.

    The issuer is a plain URL (not an OB Profile): the list uses only the VC 2.0
    context, which does not define ``Profile``; verifiers compare issuer ids.
    """
    credential: JsonObject = {
        "@context": [VC_V2_CONTEXT_URL],
        "id": list_credential_url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_id,
        "validFrom": xsd_datetime(valid_from),
        "credentialSubject": {
            "id": f"{list_credential_url}#list",
            # A string, not an array: Digital Bazaar's checker compares it as such.
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": status_list.encode(),
        },
    }
    if valid_until is not None:
        credential["validUntil"] = xsd_datetime(valid_until)
    return credential


def status_list_from_credential(list_credential: JsonObject) -> StatusList:
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") not in ("BitstringStatusList", ["BitstringStatusList"]):
        raise StatusListError("not a BitstringStatusList credential")
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str):
        raise StatusListError("status list credential has no encodedList")
    return StatusList.decode(encoded)
