"""The SD-JWT VC edition through the HTTP API: its documents, POST /verify, and one revocation for both editions."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import zlib
from datetime import timedelta

import jwt
import pytest
from certification.adapters.jwt_keys import JwtSigningKey
from certification.adapters.sd_jwt_vc import issue_sd_jwt_vc

from tests.certification.certification_support import (
    BASE_URL,
    LEARNER,
    TOKEN,
    apply,
    credential_of,
    enrolment_created,
    heritage_published,
    now_utc,
    passes,
)
from tests.certification.sdjwt_support import Holder, decoded, disclosure_of, payload_of, sd_jwt_of, without

AUTH = {"Authorization": f"Bearer {TOKEN}"}
AUD = "https://employer.example.com"
NONCE = "nonce-4b1d"
SD = {"Content-Type": "application/dc+sd-jwt"}


@pytest.fixture
def issued(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    return credential_of(engine, "enr-1")


@pytest.fixture
def holder() -> Holder:
    return Holder()


@pytest.fixture
def sd_jwt(issuer, issued, holder) -> str:
    return sd_jwt_of(issuer, issued, holder)


async def verdict(client, presentation: str, **params: str) -> dict:
    response = await client.post("/verify", content=presentation, headers=SD, params=params)
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def check(body: dict, name: str) -> dict:
    found: dict = next(c for c in body["checks"] if c["name"] == name)
    return found


def no_personal_data(body: dict) -> None:
    reasons = " ".join(c["reason"] for c in body["checks"])
    for value in (LEARNER["given_name"], LEARNER["family_name"], LEARNER["id"]):
        assert value not in reasons


async def test_the_issued_sd_jwt_vc_verifies_with_what_it_says(client, sd_jwt, issued):
    body = await verdict(client, sd_jwt)

    assert body["verified"] is True, body["checks"]
    assert body["revoked"] is False
    assert [c["name"] for c in body["checks"]] == [
        "format",
        "verification_method",
        "signature",
        "disclosures",
        "vct",
        "status",
        "validity_period",
        "key_binding",
    ]
    assert body["learner"] == "Amira Peeters"
    assert body["title"] == "Heritage and Adaptive Reuse"
    assert body["issuer"] == "University of Antwerp"
    assert body["issued"] == issued.document["validFrom"]
    assert body["credential_id"] is None


async def test_public_facts_are_plain_claims_and_personal_ones_are_disclosures(sd_jwt, issued, issuer):
    header = jwt.get_unverified_header(sd_jwt.split("~")[0])
    payload = payload_of(sd_jwt)
    subject = payload["credentialSubject"]

    assert header == {"alg": "ES256", "kid": "jwt-key-1", "typ": "dc+sd-jwt"}
    assert payload["iss"] == BASE_URL and payload["_sd_alg"] == "sha-256"
    assert payload["status"] == {"status_list": {"idx": issued.status_index, "uri": f"{BASE_URL}/status-lists/1/token"}}
    assert "exp" not in payload  # the micro-credential has no end of validity
    assert {"name", "studentId", "result"}.isdisjoint(subject)
    assert len(subject["_sd"]) == 3
    achievement = issued.document["credentialSubject"]["achievement"]
    assert subject["achievement"]["learningOutcomes"] == achievement["learningOutcomes"]
    assert subject["achievement"]["creditsAvailable"] == achievement["creditsAvailable"]
    assert subject["achievement"]["alignment"][0]["targetCode"] == "7"
    assert payload["issuer"]["address"] == {"addressCountryCode": "BE", "addressRegion": "Flanders"}
    assert decoded(disclosure_of(sd_jwt, "studentId"))[2] == LEARNER["id"]
    grades = decoded(disclosure_of(sd_jwt, "result"))[2]
    assert [r["value"] for r in grades] == [r["value"] for r in issued.document["credentialSubject"]["result"]]


async def test_a_presentation_with_key_binding_verifies_for_its_audience_and_nonce(client, sd_jwt, holder):
    presentation = holder.key_binding(sd_jwt, aud=AUD, nonce=NONCE)

    right = await verdict(client, presentation, aud=AUD, nonce=NONCE)
    other_audience = await verdict(client, presentation, aud="https://other.example", nonce=NONCE)
    other_nonce = await verdict(client, presentation, aud=AUD, nonce="replayed")

    assert right["verified"] is True, right["checks"]
    assert "aud and nonce as expected" in check(right, "key_binding")["reason"]
    assert check(other_audience, "key_binding")["reason"] == "the key-binding JWT is for another audience"
    assert check(other_nonce, "key_binding")["reason"] == "the key-binding JWT has another nonce"


async def test_key_binding_refuses_a_stale_jwt_another_key_and_a_missing_one(client, sd_jwt, holder):
    stale = holder.key_binding(sd_jwt, aud=AUD, nonce=NONCE, iat=now_utc() - timedelta(minutes=6))
    thief = Holder().key_binding(sd_jwt, aud=AUD, nonce=NONCE)

    assert "not fresh" in check(await verdict(client, stale, aud=AUD, nonce=NONCE), "key_binding")["reason"]
    assert check(await verdict(client, thief, aud=AUD, nonce=NONCE), "key_binding")["reason"] == (
        "the key-binding JWT is not signed by the key in cnf.jwk"
    )
    missing = await verdict(client, sd_jwt, nonce=NONCE)
    assert missing["verified"] is False
    assert "no key-binding JWT" in check(missing, "key_binding")["reason"]


async def test_a_removed_disclosure_still_verifies_without_that_claim(client, sd_jwt, holder):
    presentation = holder.key_binding(without(sd_jwt, "name"), aud=AUD, nonce=NONCE)

    body = await verdict(client, presentation, aud=AUD, nonce=NONCE)

    assert body["verified"] is True, body["checks"]
    assert body["learner"] is None
    assert check(body, "disclosures")["reason"].startswith("2 disclosed (")


async def test_a_tampered_disclosure_fails_and_says_so_without_personal_data(client, sd_jwt, holder):
    original = disclosure_of(sd_jwt, "studentId")
    salt, name, _ = decoded(original)
    forged = base64.urlsafe_b64encode(f'["{salt}", "{name}", "r9999999"]'.encode()).rstrip(b"=").decode()
    tampered = sd_jwt.replace(original, forged)

    plain = await verdict(client, tampered)
    bound = await verdict(client, holder.key_binding(tampered, aud=AUD, nonce=NONCE), aud=AUD, nonce=NONCE)

    assert plain["verified"] is False
    assert check(plain, "disclosures")["reason"] == (
        "a disclosure is not referenced by the issuer-signed JWT (altered, or not issued with it)"
    )
    assert plain["learner"] is None  # nothing of an unverified presentation is shown
    assert bound["verified"] is False
    no_personal_data(plain)
    assert "r9999999" not in str(plain)


async def test_an_altered_payload_or_a_key_of_someone_else_fails_the_signature(client, sd_jwt, issuer, issued, holder):
    header, payload, signature = sd_jwt.split("~")[0].split(".")
    claims = payload_of(sd_jwt)
    claims["credentialSubject"]["achievement"]["creditsAvailable"] = 60
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    altered = sd_jwt.replace(f"{header}.{payload}.{signature}", f"{header}.{forged_payload}.{signature}")
    impostor = copy.copy(issuer)
    impostor.jwt_key = JwtSigningKey.generate("jwt-key-1")  # same kid, another key
    foreign = sd_jwt_of(impostor, issued, holder)

    assert check(await verdict(client, altered), "signature")["ok"] is False
    foreign_verdict = await verdict(client, foreign)
    assert check(foreign_verdict, "signature")["reason"].startswith("signature does not match")
    assert check(foreign_verdict, "status")["reason"].startswith("not checked")


async def test_an_expired_credential_fails_its_validity_period(client, issuer, issued, holder):
    document = {**issued.document, "validUntil": "2026-01-01T00:00:00Z"}
    expired = issue_sd_jwt_vc(
        issuer,
        document,
        status_list_id="1",
        status_index=issued.status_index,
        holder_jwk=holder.public_jwk,
        issued_at=now_utc(),
    )

    body = await verdict(client, expired)

    assert payload_of(expired)["exp"] == 1767225600
    assert check(body, "validity_period") == {
        "name": "validity_period",
        "ok": False,
        "reason": "expired (exp has passed)",
    }


async def test_one_revocation_revokes_both_editions(client, sd_jwt, issued):
    before = (await client.get("/status-lists/1/token")).text
    assert (await verdict(client, sd_jwt))["verified"] is True

    response = await client.post(
        f"/credentials/{issued.id}/revocation", json={"reason": "issued in error"}, headers=AUTH
    )
    assert response.status_code == 200

    after = (await client.get("/status-lists/1/token")).text
    body = await verdict(client, sd_jwt)
    assert body["verified"] is False and body["revoked"] is True
    assert check(body, "status")["reason"] == "credential has been revoked by its issuer"
    assert (await client.post("/verify", json=issued.document)).json()["revoked"] is True
    assert before != after
    lst = jwt.decode(after, options={"verify_signature": False})["status_list"]["lst"]
    raw = zlib.decompress(base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4)))
    assert raw[issued.status_index // 8] == 1 << (issued.status_index % 8)


async def test_the_status_list_token_is_signed_once_per_revision(client, issued):
    first = await client.get("/status-lists/1/token")
    second = await client.get("/status-lists/1/token")

    assert first.status_code == 200
    assert first.headers["content-type"] == "application/statuslist+jwt"
    assert first.headers["access-control-allow-origin"] == "*"
    assert first.text == second.text
    assert (await client.get("/status-lists/2/token")).status_code == 404


async def test_what_is_no_credential_is_refused_and_a_broken_sd_jwt_not_verified(client):
    refused = await client.post("/verify", content="not an sd-jwt at all", headers={"Content-Type": "text/plain"})
    broken = await client.post("/verify", json="eyJh.eyJi.c2ln~%%~")

    assert refused.status_code == 422
    assert broken.status_code == 200
    assert check(broken.json(), "format") == {
        "name": "format",
        "ok": False,
        "reason": "a disclosure is empty or not base64url",
    }
    assert all(c["reason"] == "not checked: the format check failed" for c in broken.json()["checks"][1:])


async def test_a_json_string_holding_the_sd_jwt_is_accepted(client, sd_jwt):
    response = await client.post("/verify", json=sd_jwt)

    assert response.json()["verified"] is True


async def test_the_jwt_vc_issuer_metadata_lists_the_key_by_kid(client, sd_jwt, issuer):
    metadata = (await client.get("/.well-known/jwt-vc-issuer")).json()

    assert metadata["issuer"] == BASE_URL
    [key] = metadata["jwks"]["keys"]
    assert key["kid"] == jwt.get_unverified_header(sd_jwt.split("~")[0])["kid"]
    assert "d" not in key
    assert jwt.decode(sd_jwt.split("~")[0], jwt.PyJWK(key).key, algorithms=["ES256"])["iss"] == BASE_URL


async def test_json_nested_beyond_any_limit_is_answered_not_verified(client):
    def part(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    deep = part("[" * 100_000 + "]" * 100_000)
    header = part('{"typ": "dc+sd-jwt", "alg": "ES256", "kid": "jwt-key-1"}')
    in_header = await verdict(client, f"{deep}.{part('{}')}.c2ln~")
    in_payload = await verdict(client, f"{header}.{deep}.c2ln~")

    assert check(in_header, "format")["ok"] is False
    assert check(in_payload, "format")["ok"] is True
    assert check(in_payload, "verification_method")["ok"] is False
    assert in_payload["verified"] is False


async def test_a_wallet_key_of_type_ed25519_binds_too(client, issuer, issued):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    okp = {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    sd_jwt = issue_sd_jwt_vc(
        issuer,
        issued.document,
        status_list_id="1",
        status_index=issued.status_index,
        holder_jwk=okp,
        issued_at=now_utc(),
    )
    digest = base64.urlsafe_b64encode(hashlib.sha256(sd_jwt.encode()).digest()).rstrip(b"=").decode()
    claims = {"iat": int(now_utc().timestamp()), "aud": AUD, "nonce": NONCE, "sd_hash": digest}
    presentation = sd_jwt + jwt.encode(claims, key, algorithm="EdDSA", headers={"typ": "kb+jwt"})

    body = await verdict(client, presentation, aud=AUD, nonce=NONCE)

    assert body["verified"] is True, body["checks"]
    with pytest.raises(ValueError, match="private members"):
        issue_sd_jwt_vc(
            issuer,
            issued.document,
            status_list_id="1",
            status_index=1,
            holder_jwk={**okp, "d": "secret"},
            issued_at=now_utc(),
        )
