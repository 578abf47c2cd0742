"""The Token Status List encoding: the Bitstring list's bits, numbered from the other end of each byte."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime

import jwt
import pytest
from certification.adapters.jwt_keys import JwtSigningKey
from certification.adapters.status_list import StatusList
from certification.adapters.token_status_list import bitstring_bytes, status_list_token, token_status_bytes

AT = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)
URI = "https://credentials.example.edu/status-lists/1/token"


def bitstring_with(*indices: int) -> bytes:
    bits = StatusList()
    for index in indices:
        bits.set(index)
    return bits.to_bytes()


@pytest.mark.parametrize(
    ("index", "byte", "value"),
    [(0, 0, 0x01), (1, 0, 0x02), (7, 0, 0x80), (8, 1, 0x01), (13, 1, 0x20), (131_071, 16_383, 0x80)],
)
def test_status_index_counts_from_the_least_significant_bit(index, byte, value):
    # draft-ietf-oauth-status-list, section 4.1: index 0 is the least significant bit of byte 0.
    encoded = token_status_bytes(bitstring_with(index))

    assert encoded[byte] == value
    assert sum(1 for b in encoded if b) == 1


def test_the_reencoding_is_its_own_inverse():
    bits = bitstring_with(0, 5, 9, 4096, 131_070)

    assert bitstring_bytes(token_status_bytes(bits)) == bits


def test_the_token_carries_the_list_compressed_with_zlib_under_its_own_url():
    key = JwtSigningKey.generate("jwt-2026")
    token = status_list_token(
        key, issuer="https://credentials.example.edu", uri=URI, bitstring=bitstring_with(3), at=AT
    )

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, key.private_key.public_key(), algorithms=["ES256"], options={"verify_exp": False})
    assert header == {"alg": "ES256", "kid": "jwt-2026", "typ": "statuslist+jwt"}
    assert claims["sub"] == URI
    assert claims["iat"] == int(AT.timestamp())
    assert claims["exp"] == claims["iat"] + 86_400
    assert claims["ttl"] == 300
    assert claims["status_list"]["bits"] == 1
    lst = claims["status_list"]["lst"]
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert len(raw) == 16_384
    assert raw[0] == 0b0000_1000
    assert not any(raw[1:])
