"""W3C Bitstring Status List: encoding, allocation, signed list, revocation check."""

from __future__ import annotations

import base64
import copy
import gzip
import random
from datetime import timedelta

import pytest
from certification.adapters import (
    MIN_STATUS_LIST_BITS,
    StatusList,
    StatusListError,
    StatusListFullError,
    allocate_index,
    build_status_list_credential,
    random_candidates,
    sign_credential,
    status_entry,
    verify_credential,
)
from certification.domain import StatusListEntry, build_credential


def test_round_trip_of_edge_bits():
    status_list = StatusList()
    for index in (0, 7, 8, 131071):
        status_list.set(index)
    decoded = StatusList.decode(status_list.encode())
    assert decoded.length == MIN_STATUS_LIST_BITS
    assert decoded.set_indices() == [0, 7, 8, 131071]
    assert not decoded.get(1) and not decoded.get(131070)


def test_bit_order_is_left_most_first():
    status_list = StatusList()
    status_list.set(0)
    status_list.set(7)
    status_list.set(8)
    status_list.set(131071)
    raw = status_list.to_bytes()
    assert raw[0] == 0b1000_0001
    assert raw[1] == 0b1000_0000
    assert raw[-1] == 0b0000_0001
    assert len(raw) == 16 * 1024


def test_encoding_is_multibase_base64url_of_gzip():
    status_list = StatusList()
    status_list.set(3)
    encoded = status_list.encode()
    assert encoded.startswith("u")
    body = encoded[1:]
    assert "=" not in body and "+" not in body and "/" not in body
    raw = gzip.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    assert raw[0] == 0b0001_0000
    # deterministic: no timestamp in the gzip header
    assert StatusList(data=raw).encode() == encoded


def test_decodes_a_list_written_by_another_implementation():
    # GZIP with a real mtime and padding-free base64url, as e.g. Node's zlib emits.
    raw = bytearray(MIN_STATUS_LIST_BITS // 8)
    raw[1] = 0b0100_0000  # index 9
    encoded = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(raw), mtime=1_700_000_000)).decode().rstrip("=")
    assert StatusList.decode(encoded).set_indices() == [9]


def test_clear_bit():
    status_list = StatusList()
    status_list.set(5)
    status_list.set(5, False)
    assert status_list.set_indices() == []


def test_lists_shorter_than_16_kib_are_refused():
    with pytest.raises(StatusListError, match="at least 131072"):
        StatusList(1024)
    short = "u" + base64.urlsafe_b64encode(gzip.compress(bytes(100))).decode().rstrip("=")
    with pytest.raises(StatusListError):
        StatusList.decode(short)


@pytest.mark.parametrize("encoded", ["zabc", "u!!!", "u" + base64.urlsafe_b64encode(b"not gzip").decode()])
def test_garbage_encodings_are_refused(encoded):
    with pytest.raises(StatusListError):
        StatusList.decode(encoded)


def test_out_of_range_index():
    with pytest.raises(IndexError):
        StatusList().set(MIN_STATUS_LIST_BITS)
    with pytest.raises(IndexError):
        StatusList().get(-1)


def test_allocate_index_is_random_and_unique():
    rng = random.Random(7)
    taken: set[int] = set()
    for _ in range(500):
        index = allocate_index(taken, rng=rng)  # type: ignore[arg-type]
        assert 0 <= index < MIN_STATUS_LIST_BITS
        assert index not in taken
        taken.add(index)
    assert sorted(taken) != list(range(500))  # not sequential


def test_allocate_index_fills_a_nearly_full_list_and_then_refuses():
    length = MIN_STATUS_LIST_BITS
    taken = set(range(length)) - {12345}
    assert allocate_index(taken, length) == 12345
    with pytest.raises(StatusListFullError):
        allocate_index(set(range(length)), length)


def test_status_entry_shape(env):
    assert status_entry(env.status_list_url, 7) == {
        "id": f"{env.status_list_url}#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": env.status_list_url,
    }


def test_status_list_credential_shape(env):
    credential = build_status_list_credential(
        list_credential_url=env.status_list_url,
        issuer_id=env.issuer_id,
        status_list=StatusList(),
        valid_from=env.issued_at,
    )
    assert credential["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert credential["issuer"] == env.issuer_id
    subject = credential["credentialSubject"]
    assert subject["type"] == "BitstringStatusList"
    assert subject["statusPurpose"] == "revocation"
    assert subject["id"] == f"{env.status_list_url}#list"


# --- revocation end to end (Python verifier) --------------------------------------------------


@pytest.fixture
def world(env, learner, microcredential, results, issuer_key, loader, controller_document):
    def issue(index):
        return sign_credential(
            build_credential(
                learner=learner,
                microcredential=microcredential,
                results=results,
                issued_at=env.issued_at,
                credential_id=f"{env.credential_id}-{index}",
                issuer_id=env.issuer_id,
                identity_salt="salt",
                status=StatusListEntry(env.status_list_url, index),
            ),
            issuer_key,
            loader,
            created=env.issued_at,
        )

    status_list = StatusList()
    status_list.set(99)
    published = {
        env.issuer_id: controller_document,
        env.status_list_url: sign_credential(
            build_status_list_credential(
                list_credential_url=env.status_list_url,
                issuer_id=env.issuer_id,
                status_list=status_list,
                valid_from=env.issued_at,
            ),
            issuer_key,
            loader,
            created=env.issued_at,
        ),
    }

    def verify(credential, documents=published):
        return verify_credential(
            credential, documents.get, resolve_status_list=documents.get, loader=loader, now=env.now
        )

    return issue, verify, published


def test_not_revoked(world):
    issue, verify, _ = world
    result = verify(issue(5))
    assert result.verified, result.to_dict()
    assert result.revoked is False
    assert result.check("status").reason == "not revoked"


def test_revoked(world):
    issue, verify, _ = world
    result = verify(issue(99))
    assert result.revoked is True
    assert not result.check("status").ok
    assert result.check("signature").ok
    assert not result.verified


def test_tampered_status_list_is_not_trusted(world, env):
    issue, verify, published = world
    forged = copy.deepcopy(published[env.status_list_url])
    forged["credentialSubject"]["encodedList"] = StatusList().encode()  # "un-revoke" everybody
    result = verify(issue(99), {**published, env.status_list_url: forged})
    assert not result.check("status").ok
    assert "status list credential does not verify" in result.check("status").reason


def test_status_list_unavailable(world, env):
    issue, _, published = world
    credential = issue(5)
    result = verify_credential(credential, published.get, loader=None, now=env.now)
    assert not result.check("status").ok
    assert "no status list resolver" in result.check("status").reason
    result = verify_credential(credential, published.get, resolve_status_list=lambda url: None, now=env.now)
    assert "not found" in result.check("status").reason


def test_status_list_of_another_issuer_is_refused(world, env, issuer_key, loader):
    issue, verify, published = world
    foreign = copy.deepcopy(published[env.status_list_url])
    foreign["issuer"] = "https://evil.example/issuer"
    result = verify(issue(5), {**published, env.status_list_url: foreign})
    assert "different issuers" in result.check("status").reason


def test_expired_status_list_is_not_trusted(world, env, issuer_key, loader):
    issue, verify, published = world
    stale = sign_credential(
        build_status_list_credential(
            list_credential_url=env.status_list_url,
            issuer_id=env.issuer_id,
            status_list=StatusList(),
            valid_from=env.issued_at,
            valid_until=env.now - timedelta(days=1),
        ),
        issuer_key,
        loader,
        created=env.issued_at,
    )
    result = verify(issue(5), {**published, env.status_list_url: stale})
    assert not result.check("status").ok


def test_random_candidates_are_distinct_indices_of_the_list():
    candidates = random_candidates(1000, 64)
    assert len(candidates) == len(set(candidates)) == 64
    assert all(0 <= index < 1000 for index in candidates)
    assert sorted(random_candidates(10, 64)) == list(range(10))  # a list shorter than the count: all of it
