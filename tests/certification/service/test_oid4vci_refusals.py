"""What a careless or hostile wallet gets from the token and credential endpoints: the error the spec names."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

import jwt
import pytest

from tests.certification.certification_support import TOKEN
from tests.certification.oid4vci_support import (
    LDP_VC,
    OPERATOR_TOKEN,
    PRE_AUTHORIZED,
    WalletKey,
    access_token,
    nonce,
    offered,
    redeem,
    request_credential,
)

pytestmark = pytest.mark.usefixtures("published")


def refused(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    assert response.headers["cache-control"] == "no-store"


def ask(proof: str, configuration_id: str = LDP_VC) -> dict:
    return {"credential_configuration_id": configuration_id, "proofs": {"jwt": [proof]}}


@pytest.fixture
async def offer(wallet_client, engine, wallet_issuer):
    return await offered(wallet_client, engine, wallet_issuer, "enr-1")


@pytest.fixture
async def token(wallet_client, offer):
    return await access_token(wallet_client, offer)


# --- the token endpoint -----------------------------------------------------------------------------------------


async def test_a_pre_authorized_code_works_once(wallet_client, offer):
    assert (await redeem(wallet_client, offer.code, offer.tx_code)).status_code == 200
    refused(await redeem(wallet_client, offer.code, offer.tx_code), 400, "invalid_grant")


async def test_an_expired_code_is_refused_and_its_offer_is_gone(wallet_client, offer, clock):
    clock.advance(timedelta(days=30))

    refused(await redeem(wallet_client, offer.code, offer.tx_code), 400, "invalid_grant")
    assert (await wallet_client.get(f"/oid4vci/offers/{offer.offer_id}")).status_code == 404


async def test_a_wrong_pin_is_refused_and_the_right_one_still_works_within_the_limit(wallet_client, offer):
    wrong = "000000" if offer.tx_code != "000000" else "111111"
    for _ in range(4):
        refused(await redeem(wallet_client, offer.code, wrong), 400, "invalid_grant")

    assert (await redeem(wallet_client, offer.code, offer.tx_code)).status_code == 200


async def test_five_wrong_pins_kill_the_code_even_for_the_right_pin(wallet_client, offer):
    wrong = "000000" if offer.tx_code != "000000" else "111111"
    for _ in range(5):
        refused(await redeem(wallet_client, offer.code, wrong), 400, "invalid_grant")

    refused(await redeem(wallet_client, offer.code, offer.tx_code), 400, "invalid_grant")
    assert (await wallet_client.get(f"/oid4vci/offers/{offer.offer_id}")).status_code == 404


async def test_malformed_token_requests_get_invalid_request_or_unsupported_grant_type(wallet_client, offer):
    refused(await redeem(wallet_client, offer.code, None), 400, "invalid_request")
    as_json = {"grant_type": PRE_AUTHORIZED, "pre-authorized_code": offer.code, "tx_code": offer.tx_code}
    refused(await wallet_client.post("/oid4vci/token", json=as_json), 400, "invalid_request")
    other = {"grant_type": "authorization_code", "code": offer.code}
    refused(await wallet_client.post("/oid4vci/token", data=other), 400, "unsupported_grant_type")
    refused(await redeem(wallet_client, secrets.token_urlsafe(32), offer.tx_code), 400, "invalid_grant")


# --- the credential endpoint: the access token ------------------------------------------------------------------


async def test_no_or_an_unknown_access_token_is_401_invalid_token(wallet_client, token):
    proof = WalletKey.es256().proof(await nonce(wallet_client))
    for value in (None, secrets.token_urlsafe(32)):
        response = await request_credential(wallet_client, value, ask(proof))
        refused(response, 401, "invalid_token")
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_an_access_token_expires(wallet_client, token, clock):
    clock.advance(timedelta(minutes=11))
    proof = WalletKey.es256().proof(await nonce(wallet_client), iat=clock.at.timestamp())

    refused(await request_credential(wallet_client, token, ask(proof)), 401, "invalid_token")


async def test_an_access_token_gives_only_its_own_credential(wallet_client, engine, wallet_issuer, offer, token):
    other = await offered(wallet_client, engine, wallet_issuer, "enr-2")
    other_token = await access_token(wallet_client, other)
    key = WalletKey.es256()

    mine = await request_credential(wallet_client, token, ask(key.proof(await nonce(wallet_client))))
    theirs = await request_credential(wallet_client, other_token, ask(key.proof(await nonce(wallet_client))))

    assert mine.json()["credentials"][0]["credential"]["id"] == offer.credential.url
    assert theirs.json()["credentials"][0]["credential"]["id"] == other.credential.url != offer.credential.url


async def test_a_reoffer_or_a_revocation_stops_the_earlier_access_token(wallet_client, offer, token):
    operator_reoffer = await wallet_client.post(
        f"/credentials/{offer.credential.id}/offers",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert operator_reoffer.status_code == 201
    proof = WalletKey.es256().proof(await nonce(wallet_client))

    refused(await request_credential(wallet_client, token, ask(proof)), 401, "invalid_token")


async def test_a_revoked_credential_goes_to_no_wallet(wallet_client, offer, engine, wallet_issuer):
    second = await offered(wallet_client, engine, wallet_issuer, "enr-2")
    token = await access_token(wallet_client, second)
    for credential_id in (offer.credential.id, second.credential.id):
        revoked = await wallet_client.post(
            f"/credentials/{credential_id}/revocation",
            json={"reason": "issued in error"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert revoked.status_code == 200
    proof = WalletKey.es256().proof(await nonce(wallet_client))

    refused(await redeem(wallet_client, offer.code, offer.tx_code), 400, "invalid_grant")
    refused(await request_credential(wallet_client, token, ask(proof)), 400, "credential_request_denied")
    operator = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    assert (await wallet_client.post(f"/credentials/{offer.credential.id}/offers", headers=operator)).status_code == 409


# --- the credential endpoint: the request and its key proof -------------------------------------------------------


async def test_missing_or_batch_proofs_are_invalid_proof(wallet_client, token):
    key = WalletKey.es256()
    refused(
        await request_credential(wallet_client, token, {"credential_configuration_id": LDP_VC}), 400, "invalid_proof"
    )
    two = [key.proof(await nonce(wallet_client)), key.proof(await nonce(wallet_client))]
    body = {"credential_configuration_id": LDP_VC, "proofs": {"jwt": two}}
    refused(await request_credential(wallet_client, token, body), 400, "invalid_proof")


async def test_an_unknown_or_missing_configuration_id(wallet_client, token):
    proof = WalletKey.es256().proof(await nonce(wallet_client))
    refused(
        await request_credential(wallet_client, token, ask(proof, "UniversityDegree")),
        400,
        "unknown_credential_configuration",
    )
    body = {"proofs": {"jwt": [proof]}}
    refused(await request_credential(wallet_client, token, body), 400, "invalid_credential_request")
    body = {"credential_identifier": "x", "proofs": {"jwt": [proof]}}
    refused(await request_credential(wallet_client, token, body), 400, "invalid_credential_request")


async def test_a_proof_for_another_audience_is_invalid_proof(wallet_client, token):
    proof = WalletKey.es256().proof(await nonce(wallet_client), audience="https://other-issuer.example")

    refused(await request_credential(wallet_client, token, ask(proof)), 400, "invalid_proof")


async def test_a_stale_or_unknown_nonce_is_invalid_nonce(wallet_client, token, clock, wallet_issuer):
    key = WalletKey.es256()
    old = await nonce(wallet_client)
    clock.advance(timedelta(minutes=6))
    stale = key.proof(old, iat=clock.at.timestamp())
    unknown = key.proof(
        base64.urlsafe_b64encode(secrets.token_bytes(40)).decode().rstrip("="), iat=clock.at.timestamp()
    )

    refused(await request_credential(wallet_client, token, ask(stale)), 400, "invalid_nonce")
    refused(await request_credential(wallet_client, token, ask(unknown)), 400, "invalid_nonce")
    refused(
        await request_credential(wallet_client, token, ask(key.proof(None, iat=clock.at.timestamp()))),
        400,
        "invalid_proof",
    )


async def test_an_old_proof_with_a_fresh_nonce_is_invalid_proof(wallet_client, token, clock):
    proof = WalletKey.es256().proof(await nonce(wallet_client), iat=(clock.at - timedelta(minutes=10)).timestamp())

    refused(await request_credential(wallet_client, token, ask(proof)), 400, "invalid_proof")


async def test_a_proof_signed_by_another_key_than_its_header_names_is_invalid_proof(wallet_client, token):
    signer, named = WalletKey.es256(), WalletKey.es256()
    proof = signer.proof(await nonce(wallet_client), jwk=named.public_jwk)

    refused(await request_credential(wallet_client, token, ask(proof)), 400, "invalid_proof")


async def test_alg_none_hs256_a_wrong_typ_and_a_private_jwk_are_invalid_proof(wallet_client, token):
    key = WalletKey.es256()
    fresh = await nonce(wallet_client)
    signed = key.proof(fresh)
    header, payload, _ = signed.split(".")
    none_header = {**jwt.get_unverified_header(signed), "alg": "none"}
    unsigned = _segment(none_header) + "." + payload + "."
    hs256 = jwt.encode(
        {
            "aud": "https://credentials.test.example",
            "iat": jwt.decode(signed, options={"verify_signature": False})["iat"],
            "nonce": fresh,
        },
        "a shared secret of thirty-two bytes!",
        algorithm="HS256",
        headers={"typ": "openid4vci-proof+jwt", "jwk": key.public_jwk},
    )
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.private))
    with_private = key.proof(fresh, jwk=private)
    plain_typ = key.proof(fresh, typ="JWT")

    for proof in (unsigned, hs256, with_private, plain_typ, "not a jwt"):
        refused(await request_credential(wallet_client, token, ask(proof)), 400, "invalid_proof")
    assert header  # the ES256 original is well formed: only the changes above make it fail
    assert (await request_credential(wallet_client, token, ask(signed))).status_code == 200


def _segment(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


async def test_a_body_that_is_not_json_is_invalid_credential_request(wallet_client, token):
    response = await wallet_client.post(
        "/oid4vci/credential", content=b"{not json", headers={"Authorization": f"Bearer {token}"}
    )

    refused(response, 400, "invalid_credential_request")
