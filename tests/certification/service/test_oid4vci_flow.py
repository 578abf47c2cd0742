"""OpenID4VCI 1.0 pre-authorized code flow on the real HTTP stack: metadata, offer, token, nonce, credential,
the holder-bound W3C edition verified by our own POST /verify, the learner's page and the operator's re-offer."""

from __future__ import annotations

import io
import json
import logging
from urllib.parse import quote

import httpx
import jwt
import pytest
from certification.adapters import generate_secret_key
from certification.adapters.issuer import Issuer
from certification.adapters.sd_jwt_vc import credential_configuration
from certification.config import CertificationSettings
from certification.entrypoints.http import create_app
from certification.entrypoints.kafka import event_handlers
from certification.store import Database
from pypdf import PdfReader
from reliability.topics import topic_config

from tests.certification.certification_support import API_TOKENS, BASE_URL, TOKEN, apply, heritage_published
from tests.certification.oid4vci_support import (
    AS_JSON,
    LDP_VC,
    OPERATOR_TOKEN,
    PRE_AUTHORIZED,
    SD_JWT,
    WalletKey,
    access_token,
    nonce,
    offered,
    offers_made,
    redeem,
    request_credential,
)

pytestmark = pytest.mark.usefixtures("published")


async def test_the_metadata_names_our_endpoints_and_the_w3c_edition(wallet_client):
    issuer = (await wallet_client.get("/.well-known/openid-credential-issuer")).json()
    oauth = (await wallet_client.get("/.well-known/oauth-authorization-server")).json()

    assert issuer["credential_issuer"] == BASE_URL and issuer["authorization_servers"] == [BASE_URL]
    assert issuer["credential_endpoint"] == "https://credentials.test.example/oid4vci/credential"
    assert issuer["nonce_endpoint"] == "https://credentials.test.example/oid4vci/nonce"
    assert {entry["locale"] for entry in issuer["display"]} == {"en", "nl"}
    ldp = issuer["credential_configurations_supported"][LDP_VC]
    assert ldp["format"] == "ldp_vc" and ldp["cryptographic_binding_methods_supported"] == ["did:jwk"]
    assert ldp["credential_signing_alg_values_supported"] == ["eddsa-rdfc-2022"]
    assert ldp["proof_types_supported"] == {"jwt": {"proof_signing_alg_values_supported": ["ES256", "EdDSA"]}}
    assert {entry["locale"] for entry in ldp["credential_metadata"]["display"]} == {"en", "nl"}
    assert all(claim["path"] and claim["display"] for claim in ldp["credential_metadata"]["claims"])
    assert oauth["issuer"] == BASE_URL and oauth["token_endpoint"] == "https://credentials.test.example/oid4vci/token"
    assert oauth["pre-authorized_grant_anonymous_access_supported"] is True
    logo = await wallet_client.get("/oid4vci/logo.svg")
    assert logo.status_code == 200 and logo.headers["content-type"].startswith("image/svg+xml")


async def test_issuing_a_credential_offers_it_with_a_pin_sent_only_in_the_notification(
    wallet_client, engine, wallet_issuer
):
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")

    notices = offers_made(engine)
    assert len(notices) == 1 and notices[0]["enrolment_id"] == "enr-1"
    assert notices[0]["offer_page_url"] == f"{BASE_URL}/credentials/{offer.credential.id}/offer"
    assert offer.offer_id not in str(notices[0])  # the PIN's channel does not carry the offer
    page = await wallet_client.get(
        notices[0]["offer_page_url"], headers={"Authorization": f"Bearer {TOKEN}", **AS_JSON}
    )
    assert page.json()["qr_payload"] == (
        "openid-credential-offer://?credential_offer_uri="
        + quote(f"{BASE_URL}/oid4vci/offers/{offer.offer_id}", safe="")
    )
    assert len(offer.tx_code) == 6 and offer.tx_code.isdigit()
    response = await wallet_client.get(f"/oid4vci/offers/{offer.offer_id}")
    assert response.headers["cache-control"] == "no-store"
    document = response.json()
    assert document["credential_issuer"] == BASE_URL and LDP_VC in document["credential_configuration_ids"]
    grant = document["grants"][PRE_AUTHORIZED]
    assert grant["tx_code"]["input_mode"] == "numeric" and grant["tx_code"]["length"] == 6
    assert offer.tx_code not in response.text


async def test_a_wallet_gets_the_w3c_edition_bound_to_its_key_and_our_verify_accepts_it(
    wallet_client, engine, wallet_issuer
):
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    token = await redeem(wallet_client, offer.code, offer.tx_code)
    assert token.status_code == 200 and token.headers["cache-control"] == "no-store"
    assert token.json()["token_type"] == "Bearer" and 0 < token.json()["expires_in"] <= 600
    key = WalletKey.eddsa()
    body = {"credential_configuration_id": LDP_VC, "proofs": {"jwt": [key.proof(await nonce(wallet_client))]}}

    response = await request_credential(wallet_client, token.json()["access_token"], body)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    credential = response.json()["credentials"][0]["credential"]
    holder = credential["credentialSubject"]["id"]
    assert holder.startswith("did:jwk:")
    assert jwt.utils.base64url_decode(holder.removeprefix("did:jwk:")) and credential["id"] == offer.credential.url
    assert credential["proof"]["cryptosuite"] == "eddsa-rdfc-2022"
    assert {k: v for k, v in credential.items() if k not in ("proof", "credentialSubject")} == {
        k: v for k, v in offer.credential.document.items() if k not in ("proof", "credentialSubject")
    }
    verdict = (await wallet_client.post("/verify", json=credential)).json()
    assert verdict["verified"] is True, verdict
    tampered = {**credential, "credentialSubject": {**credential["credentialSubject"], "id": "did:jwk:e30"}}
    assert (await wallet_client.post("/verify", json=tampered)).json()["verified"] is False


async def test_a_did_jwk_kid_binds_the_credential_to_that_did(wallet_client, engine, wallet_issuer):
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    token = await access_token(wallet_client, offer)
    key = WalletKey.es256()
    did = "did:jwk:" + jwt.utils.base64url_encode(json.dumps(key.public_jwk).encode()).decode()
    proof = key.proof(await nonce(wallet_client), jwk=None, kid=f"{did}#0")

    response = await request_credential(
        wallet_client, token, {"credential_configuration_id": LDP_VC, "proofs": {"jwt": [proof]}}
    )

    assert response.status_code == 200, response.text
    assert response.json()["credentials"][0]["credential"]["credentialSubject"]["id"] == did


async def test_the_learner_page_shows_the_offer_qr_and_a_reoffer_replaces_it(wallet_client, engine, wallet_issuer):
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    registrar = {"Authorization": f"Bearer {TOKEN}"}
    page = await wallet_client.get(f"/credentials/{offer.credential.id}/offer", headers=registrar)
    shown = await wallet_client.get(
        f"/credentials/{offer.credential.id}/offer", headers={**registrar, "Accept": "application/json"}
    )
    assert page.status_code == 200 and "<svg" in page.text and offer.tx_code not in page.text
    assert shown.json()["state"] == "open" and shown.json()["offer_id"] == offer.offer_id

    refused = await wallet_client.post(f"/credentials/{offer.credential.id}/offers", headers=registrar)
    again = await wallet_client.post(
        f"/credentials/{offer.credential.id}/offers", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )

    assert refused.status_code == 403  # credentials:read and :revoke are not credentials:offer
    assert again.status_code == 201 and again.json()["offer_id"] != offer.offer_id
    assert len(offers_made(engine)) == 2 and offers_made(engine)[1]["tx_code"] != ""
    assert (await wallet_client.get(f"/oid4vci/offers/{offer.offer_id}")).status_code == 404
    now_shown = await wallet_client.get(
        f"/credentials/{offer.credential.id}/offer", headers={**registrar, "Accept": "application/json"}
    )
    assert now_shown.json()["offer_id"] == again.json()["offer_id"]  # the test's clock stood still meanwhile
    old = await redeem(wallet_client, offer.code, offer.tx_code)
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"


async def test_neither_the_pin_nor_the_codes_nor_the_access_token_are_logged(
    wallet_client, engine, wallet_issuer, caplog
):
    caplog.set_level(logging.DEBUG)
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    wrong = "000000" if offer.tx_code != "000000" else "111111"
    await redeem(wallet_client, offer.code, wrong)
    token = await access_token(wallet_client, offer)
    key = WalletKey.es256()
    body = {"credential_configuration_id": LDP_VC, "proofs": {"jwt": [key.proof(await nonce(wallet_client))]}}
    assert (await request_credential(wallet_client, token, body)).status_code == 200

    # The service's records; the test's own HTTP client (httpx) logs the URLs it asks for.
    service = [record for record in caplog.records if not record.name.startswith("httpx")]
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in service)
    assert "credential offered" in logged and "pre-authorized code redeemed" in logged
    for secret in (offer.tx_code, offer.code, offer.offer_id, token):
        assert secret not in logged


def test_the_notification_topic_keeps_its_pins_only_a_month():
    config = topic_config("t1.certification.notifications", "t1.")
    assert config["retention.ms"] == str(31 * 24 * 3600 * 1000)
    assert topic_config("t1.certification.events", "t1.")["retention.ms"] == "-1"


async def test_the_sd_jwt_vc_edition_is_bound_to_the_proof_key(wallet_client, engine, wallet_issuer):
    try:
        credential_configuration(wallet_issuer)
    except NotImplementedError:
        pytest.skip("the SD-JWT VC edition (wt-sdjwt) is not on this branch yet: credential_configuration raises")
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    metadata = (await wallet_client.get("/.well-known/openid-credential-issuer")).json()
    assert SD_JWT in metadata["credential_configurations_supported"]
    assert (
        SD_JWT in (await wallet_client.get(f"/oid4vci/offers/{offer.offer_id}")).json()["credential_configuration_ids"]
    )
    token = await access_token(wallet_client, offer)
    key = WalletKey.es256()
    body = {"credential_configuration_id": SD_JWT, "proofs": {"jwt": [key.proof(await nonce(wallet_client))]}}

    response = await request_credential(wallet_client, token, body)

    assert response.status_code == 200, response.text
    issued = response.json()["credentials"][0]["credential"]
    assert isinstance(issued, str) and "~" in issued
    claims = jwt.decode(issued.split("~")[0], options={"verify_signature": False})
    assert claims["cnf"]["jwk"] == key.public_jwk and claims["iss"] == BASE_URL


async def test_the_certificate_carries_the_open_offer_and_drops_it_once_used(wallet_client, engine, wallet_issuer):
    offer = await offered(wallet_client, engine, wallet_issuer, "enr-1")
    pdf_url = f"/credentials/{offer.credential.id}/certificate.pdf"
    qr_payload = "openid-credential-offer://?credential_offer_uri=" + quote(
        f"{BASE_URL}/oid4vci/offers/{offer.offer_id}", safe=""
    )

    before = _links((await wallet_client.get(pdf_url)).content)
    await access_token(wallet_client, offer)
    after = _links((await wallet_client.get(pdf_url)).content)

    assert qr_payload in before and len(before) == 2
    assert qr_payload not in after and len(after) == 1


def _links(pdf: bytes) -> list[str]:
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    return [a.get_object()["/A"]["/URI"] for a in page.get("/Annots", []) if "/A" in a.get_object()]


async def test_another_replica_accepts_the_offer_token_and_nonce_of_the_first(
    database_url, engine, canonical_workers, clock
):
    secret = generate_secret_key()
    replicas = [Issuer.create(base_url=BASE_URL, key_id="key-2026", secret=secret, clock=clock) for _ in range(3)]
    settings = CertificationSettings(database_url=database_url, public_base_url=BASE_URL, api_tokens=API_TOKENS)
    apps = [
        create_app(settings, Database(engine), replica, canonical_workers=canonical_workers) for replica in replicas
    ]
    clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) for app in apps]
    apply(engine, event_handlers(replicas[0]), heritage_published())
    try:
        offer = await offered(clients[0], engine, replicas[0], "enr-1")
        token = await access_token(clients[1], offer)
        key = WalletKey.es256()
        body = {"credential_configuration_id": LDP_VC, "proofs": {"jwt": [key.proof(await nonce(clients[1]))]}}
        response = await request_credential(clients[2], token, body)
    finally:
        for client in clients:
            await client.aclose()

    assert response.status_code == 200, response.text
