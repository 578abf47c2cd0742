"""Someone else's wallet code against the running certification service (issue 13).

The wallet is Animo's openid4vc-ts (npm @openid4vc/openid4vci, wallet.mjs) with keys from node:crypto; the SD-JWT
VC is checked with the OpenWallet Foundation's sd-jwt-js (npm @sd-jwt/sd-jwt-vc, sdjwt.mjs) and the W3C edition
with Digital Bazaar's verifier (tests/certification/interop/verify.mjs). None of them shares code with the service;
everything they need they fetch from it over HTTP, as an outside wallet and verifier would.

The service runs as its own uvicorn process (serve.py) on a free port, on PostgreSQL where POSTGRES_URL is set
(else a SQLite file). Run with -s to see the redacted transcript of the full flow; it is also written to the
test's tmp dir as wallet-transcript.json.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.certification.certification_support import HERITAGE_TITLE, LEARNER
from tests.certification.wallet.wallet_support import (
    MAX_PIN_ATTEMPTS,
    Service,
    digital_bazaar,
    documents_for,
    offer_uri_of,
    running_service,
    sd_jwt,
    wallet,
)

pytestmark = pytest.mark.node

W3C = "microcredential_ldp_vc"
SD_JWT = "microcredential_dc_sd_jwt"
VERIFIER = "https://verifier.example.org"
LEARNER_NAME = f"{LEARNER['given_name']} {LEARNER['family_name']}"
QR_PAYLOAD = re.compile(r"openid-credential-offer://\?credential_offer_uri=[^\"'<>\s]+")


@pytest.fixture(scope="module")
def service(node, tmp_path_factory: pytest.TempPathFactory, postgres_or_sqlite: str) -> Iterator[Service]:
    tokens = (secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    with running_service(postgres_or_sqlite, tmp_path_factory.mktemp("wallet-service"), tokens) as running:
        yield running


def learner_offer(service: Service, credential_id: str, enrolment_id: str) -> tuple[str, str]:
    """What the learner has: the PIN and the link to their offer page from the notification, and the QR payload
    from that page."""
    notified = service.notified_offer(enrolment_id)
    assert notified["credential_id"] == credential_id
    assert notified["offer_page_url"] == f"{service.base_url}/credentials/{credential_id}/offer"
    with service.client(service.reader_token) as client:
        page = client.get(notified["offer_page_url"])
    assert page.status_code == 200, page.text
    shown = {html.unescape(match) for match in QR_PAYLOAD.findall(page.text)}
    assert len(shown) == 1, f"the offer page shows {len(shown)} offer payloads"
    qr_payload = shown.pop()
    assert offer_uri_of(qr_payload).startswith(f"{service.base_url}/oid4vci/offers/")
    return qr_payload, notified["tx_code"]


@pytest.fixture(scope="module")
def received(node, service: Service, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One learner's full flow: QR payload and PIN into the wallet, both editions out."""
    enrolment_id = f"enr-wallet-{uuid.uuid4().hex[:8]}"
    credential_id = service.issue_credential(enrolment_id)
    qr_payload, pin = learner_offer(service, credential_id, enrolment_id)
    got = wallet(node, action="issue", offer=qr_payload, tx_code=pin)
    transcript = tmp_path_factory.mktemp("wallet-transcript") / "wallet-transcript.json"
    transcript.write_text(json.dumps(got["transcript"], indent=2))
    print(f"\n--- redacted transcript of one full flow ({transcript}) ---\n{transcript.read_text()}")
    assert got["ok"], {key: value for key, value in got.items() if key != "transcript"}
    return {**got, "credential_id": credential_id, "enrolment_id": enrolment_id, "pin": pin}


def test_the_wallet_receives_both_editions_bound_to_its_own_keys(received):
    assert set(received["credentials"]) == {W3C, SD_JWT}
    w3c = received["credentials"][W3C]
    assert w3c["credentialSubject"]["id"] == received["holders"][W3C]["binding"]["did"]
    assert received["holders"][W3C]["binding"]["did"].startswith("did:jwk:")
    issuer_jwt = received["credentials"][SD_JWT].split("~")[0]
    payload = json.loads(base64.urlsafe_b64decode(issuer_jwt.split(".")[1] + "=="))
    assert payload["cnf"]["jwk"] == received["holders"][SD_JWT]["publicJwk"]


def test_the_transcript_carries_no_code_pin_token_or_personal_claim(received):
    text = json.dumps(received["transcript"])
    offer_grant = received["offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
    assert offer_grant["pre-authorized_code"] not in text
    assert f'"{received["pin"]}"' not in text  # (a bare six-digit substring could be part of a timestamp)
    for personal in (LEARNER["given_name"], LEARNER["family_name"], LEARNER["id"]):
        assert personal not in text
    assert received["holders"][W3C]["binding"]["did"] not in text
    statuses = [entry["response"]["status"] for entry in received["transcript"]]
    assert statuses and all(status == 200 for status in statuses), statuses


def test_the_w3c_edition_verifies_with_digital_bazaar_and_with_our_verifier(node, service, received):
    credential = received["credentials"][W3C]
    js = digital_bazaar(node, credential, documents_for(service, credential))
    assert js["verified"] is True, js
    assert js["status"] == {"verified": True, "status": False, "errors": []}
    verdict = ours_w3c(service, credential)
    assert verdict["verified"] is True, verdict


def test_the_sd_jwt_vc_verifies_with_sd_jwt_js_issuer_key_status_and_type(node, received):
    credential = received["credentials"][SD_JWT]
    result = sd_jwt(node, action="verify", presentation=credential, type_metadata=True)
    assert result["verified"] is True, result
    claims = result["claims"]
    assert claims["cnf"]["jwk"] == received["holders"][SD_JWT]["publicJwk"]
    assert claims["vct"] == f"{claims['iss']}/types/microcredential/v1"
    assert claims["status"]["status_list"]["uri"].startswith(f"{claims['iss']}/status-lists/")
    assert result["type_metadata"]["vctValues"] == [claims["vct"]]
    subject = claims["credentialSubject"]
    assert (subject["name"], subject["studentId"]) == (LEARNER_NAME, LEARNER["id"])
    assert subject["achievement"]["name"] == HERITAGE_TITLE


def disclosures(sd_jwt_vc: str) -> dict[str, Any]:
    """Claim name -> value of each (object property) disclosure in an SD-JWT."""
    found = {}
    for part in sd_jwt_vc.split("~")[1:]:
        if part and "." not in part:
            disclosure = json.loads(base64.urlsafe_b64decode(part + "=="))
            if len(disclosure) == 3:
                found[disclosure[1]] = disclosure[2]
    return found


def present(node, received, **options) -> str:
    holder = received["holders"][SD_JWT]
    made = sd_jwt(node, action="present", credential=received["credentials"][SD_JWT], holder=holder, **options)
    return str(made["presentation"])


def ours_w3c(service: Service, credential: dict[str, Any]) -> dict[str, Any]:
    """Our POST /verify on the W3C edition."""
    with service.client() as client:
        answer = client.post("/verify", json=credential)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ours(service: Service, presentation: str, **query: str) -> dict[str, Any]:
    """Our POST /verify on an SD-JWT VC presentation."""
    with service.client() as client:
        answer = client.post(
            "/verify", content=presentation, params=query, headers={"Content-Type": "application/dc+sd-jwt"}
        )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_presentation_with_the_wallets_key_binding_jwt_verifies(node, service, received):
    presentation = present(node, received, kb={"aud": VERIFIER, "nonce": "verifier-nonce-1"})
    result = sd_jwt(node, action="verify", presentation=presentation, kb_nonce="verifier-nonce-1")
    assert result["verified"] is True, result
    assert result["kb"]["payload"]["aud"] == VERIFIER
    replayed = sd_jwt(node, action="verify", presentation=presentation, kb_nonce="another-verifiers-nonce")
    assert replayed["verified"] is False
    assert ours(service, presentation, aud=VERIFIER, nonce="verifier-nonce-1")["verified"] is True
    assert ours(service, presentation, aud=VERIFIER, nonce="another-verifiers-nonce")["verified"] is False


def test_a_presentation_without_a_disclosure_verifies_without_that_claim(node, service, received):
    assert {"name", "studentId", "result"} <= set(disclosures(received["credentials"][SD_JWT]))
    kept = ["credentialSubject.name", "credentialSubject.result"]
    presentation = present(node, received, disclose=kept, kb={"aud": VERIFIER, "nonce": "verifier-nonce-2"})
    assert set(disclosures(presentation)) == {"name", "result"}
    result = sd_jwt(node, action="verify", presentation=presentation, kb_nonce="verifier-nonce-2")
    assert result["verified"] is True, result
    subject = result["claims"]["credentialSubject"]
    assert "studentId" not in subject
    assert subject["name"] == LEARNER_NAME
    verdict = ours(service, presentation, aud=VERIFIER, nonce="verifier-nonce-2")
    assert verdict["verified"] is True, verdict
    assert verdict["learner"] == LEARNER_NAME


def tamper_first_disclosure(presentation: str) -> tuple[str, str]:
    parts = presentation.split("~")
    index = next(i for i, part in enumerate(parts[1:], 1) if part and "." not in part)
    salt, name, value = json.loads(base64.urlsafe_b64decode(parts[index] + "=="))
    forged = [salt, name, f"forged {value}"]
    parts[index] = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    return "~".join(parts), name


def test_a_tampered_disclosure_fails(node, service, received):
    presentation = present(node, received, kb={"aud": VERIFIER, "nonce": "verifier-nonce-3"})
    tampered, name = tamper_first_disclosure(presentation)
    result = sd_jwt(node, action="verify", presentation=tampered, kb_nonce="verifier-nonce-3")
    assert result["verified"] is False, result
    assert "sd_hash" in " ".join(result["errors"])
    assert ours(service, tampered, aud=VERIFIER, nonce="verifier-nonce-3")["verified"] is False
    # Without a key-binding JWT sd-jwt-js 0.19 drops a disclosure whose digest the issuer never signed instead of
    # refusing the presentation (RFC 9901 says reject): the forged value at least never comes out as a claim.
    # Our verifier refuses it.
    bare, _ = tamper_first_disclosure(received["credentials"][SD_JWT])
    unbound = sd_jwt(node, action="verify", presentation=bare)
    forged = unbound.get("claims", {}).get("credentialSubject", {}).get(name)
    assert not str(forged).startswith("forged"), unbound
    refused = ours(service, bare)
    assert refused["verified"] is False
    assert not next(check for check in refused["checks"] if check["name"] == "disclosures")["ok"]


def test_a_key_binding_jwt_signed_by_another_key_fails(node, service, received):
    stranger = copy.deepcopy(received["holders"][W3C])  # a key of the same wallet, but not the one in cnf
    made = sd_jwt(
        node,
        action="present",
        credential=received["credentials"][SD_JWT],
        holder=stranger,
        kb={"aud": VERIFIER, "nonce": "verifier-nonce-4"},
    )
    result = sd_jwt(node, action="verify", presentation=made["presentation"], kb_nonce="verifier-nonce-4")
    assert result["verified"] is False, result
    assert ours(service, made["presentation"], aud=VERIFIER, nonce="verifier-nonce-4")["verified"] is False


def fresh_offer(node, service: Service) -> tuple[str, str]:
    enrolment_id = f"enr-wallet-{uuid.uuid4().hex[:8]}"
    credential_id = service.issue_credential(enrolment_id)
    return learner_offer(service, credential_id, enrolment_id)


def test_the_same_pre_authorized_code_twice_gets_invalid_grant(node, received):
    again = wallet(node, action="redeem", offer_object=received["offer"], tx_code=received["pin"])
    assert again["ok"] is False
    assert (again["status"], again["error"]) == (400, "invalid_grant"), again


def test_a_wrong_pin_gets_invalid_grant_and_the_right_one_still_works(node, service):
    qr_payload, pin = fresh_offer(node, service)
    wrong = f"{(int(pin) + 1) % 1_000_000:06d}"
    refused = wallet(node, action="redeem", offer=qr_payload, tx_code=wrong)
    assert (refused["ok"], refused.get("status"), refused.get("error")) == (False, 400, "invalid_grant"), refused
    accepted = wallet(node, action="redeem", offer=qr_payload, tx_code=pin)
    assert accepted["ok"] is True, accepted


def test_after_the_allowed_wrong_pins_even_the_right_one_gets_invalid_grant(node, service):
    qr_payload, pin = fresh_offer(node, service)
    scanned = wallet(node, action="resolve", offer=qr_payload)  # the wallet keeps the offer it scanned
    assert scanned["ok"], scanned
    wrong = f"{(int(pin) + 7) % 1_000_000:06d}"
    for _ in range(MAX_PIN_ATTEMPTS):
        refused = wallet(node, action="redeem", offer_object=scanned["offer"], tx_code=wrong)
        assert (refused.get("status"), refused.get("error")) == (400, "invalid_grant"), refused
    spent = wallet(node, action="redeem", offer_object=scanned["offer"], tx_code=pin)
    assert (spent["ok"], spent.get("status"), spent.get("error")) == (False, 400, "invalid_grant"), spent
    rescanned = wallet(node, action="resolve", offer=qr_payload)
    assert (rescanned["ok"], rescanned.get("status")) == (False, 404), rescanned


def test_a_revoked_credential_fails_in_both_formats(node, service):
    enrolment_id = f"enr-wallet-{uuid.uuid4().hex[:8]}"
    credential_id = service.issue_credential(enrolment_id)
    qr_payload, pin = learner_offer(service, credential_id, enrolment_id)
    got = wallet(node, action="issue", offer=qr_payload, tx_code=pin)
    assert got["ok"], got.get("message")
    with service.client(service.operator_token) as client:
        revoked = client.post(f"/credentials/{credential_id}/revocation", json={"reason": "Issued in error"})
    assert revoked.status_code == 200, revoked.text

    w3c = got["credentials"][W3C]
    js = digital_bazaar(node, w3c, documents_for(service, w3c))
    assert js["status"] is not None and js["status"]["status"] is True, js  # the revocation bit, as DB reports it
    verdict = ours_w3c(service, w3c)
    assert (verdict["verified"], verdict["revoked"]) == (False, True), verdict
    sd = sd_jwt(node, action="verify", presentation=got["credentials"][SD_JWT])
    assert sd["verified"] is False
    assert "Status is not valid" in " ".join(sd["errors"])
    verdict = ours(service, got["credentials"][SD_JWT])
    assert (verdict["verified"], verdict["revoked"]) == (False, True), verdict
