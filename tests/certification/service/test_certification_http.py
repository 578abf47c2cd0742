"""The HTTP API through ASGI: documents verifiers fetch, revocation, verification, progress and operations."""

from __future__ import annotations

import copy

import pytest
from certification.adapters import sign_credential, verify_credential
from certification.store import CredentialRow
from sqlmodel import Session

from tests.certification.certification_support import (
    AI,
    AI_COURSES,
    BASE_URL,
    HERITAGE_COURSES,
    HERITAGE_TITLE,
    ISSUER_ID,
    OTHER_TOKEN,
    TOKEN,
    ai_enrolment_created,
    ai_published,
    apply,
    brussels,
    course_completed,
    credential_of,
    enrolment_created,
    heritage_published,
    passes,
    queued_events,
)

FIRST, SECOND = (course_id for course_id, _, _ in HERITAGE_COURSES)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def issued(engine, handlers):
    apply(engine, handlers, heritage_published(), enrolment_created("enr-1"), *passes("enr-1"))
    return credential_of(engine, "enr-1")


async def test_issuer_document_lists_the_signing_and_the_retired_key(client, issuer, retired_key):
    response = await client.get("/issuer")

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    document = response.json()
    assert document["id"] == ISSUER_ID
    methods = {m["id"]: m for m in document["verificationMethod"]}
    assert set(methods) == {f"{ISSUER_ID}#key-2026", f"{ISSUER_ID}#key-2025"}
    assert methods[f"{ISSUER_ID}#key-2026"]["publicKeyMultibase"] == issuer.key.public_key_multibase
    assert methods[f"{ISSUER_ID}#key-2025"]["publicKeyMultibase"] == retired_key.public_key_multibase
    assert all(m["type"] == "Multikey" and m["controller"] == ISSUER_ID for m in methods.values())
    assert set(document["assertionMethod"]) == set(methods)


async def test_context_is_served_as_json_ld_with_our_vocabulary(client):
    response = await client.get("/contexts/microcredential/v1")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/ld+json")
    context = response.json()["@context"]
    assert context["learningOutcomes"]["@id"] == f"{BASE_URL}/vocab/microcredential#learningOutcomes"


async def test_credential_and_its_status_list_are_served(client, issued, issuer):
    credential = await client.get(f"/credentials/{issued.id}")
    status_list = await client.get("/status-lists/1")

    assert credential.status_code == 200
    assert credential.json() == issued.document
    assert status_list.status_code == 200
    assert status_list.headers["cache-control"] == "no-cache"
    list_credential = status_list.json()
    assert list_credential["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert list_credential["issuer"] == ISSUER_ID
    result = verify_credential(
        list_credential, {ISSUER_ID: issuer.controller_document()}.get, loader=issuer.loader, check_status=False
    )
    assert result.verified, result.to_dict()


@pytest.mark.parametrize("path", ["/credentials/no-such-credential", "/status-lists/7"])
async def test_unknown_documents_are_404(client, path):
    response = await client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["status"] == 404


async def test_revocation_needs_a_token(client, issued):
    url = f"/credentials/{issued.id}/revocation"
    body = {"reason": "issued in error"}

    missing = await client.post(url, json=body)
    wrong = await client.post(url, json=body, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})

    assert missing.status_code == 401
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert (await client.post(url, json={}, headers=AUTH)).status_code == 422
    assert (await client.post("/credentials/unknown/revocation", json=body, headers=AUTH)).status_code == 404


async def test_revocation_sets_the_bit_and_verification_then_fails(client, issued, engine):
    assert (await client.post("/verify", json=issued.document)).json()["verified"] is True

    response = await client.post(
        f"/credentials/{issued.id}/revocation", json={"reason": "issued in error"}, headers=AUTH
    )
    repeated = await client.post(f"/credentials/{issued.id}/revocation", json={"reason": "again"}, headers=AUTH)

    assert response.status_code == 200
    body = response.json()
    assert body["credential_id"] == issued.id
    assert body["enrolment_id"] == "enr-1"
    assert body["reason"] == "issued in error"
    assert body["status_list"] == f"{BASE_URL}/status-lists/1"
    assert body["status_list_index"] == issued.status_index
    assert body["already_revoked"] is False
    assert repeated.status_code == 200
    assert repeated.json()["already_revoked"] is True
    assert repeated.json()["reason"] == "issued in error"
    assert len(queued_events(engine, "CredentialRevoked")) == 1

    verdict = (await client.post("/verify", json=issued.document)).json()
    assert verdict["verified"] is False
    assert verdict["revoked"] is True
    status = next(check for check in verdict["checks"] if check["name"] == "status")
    assert status == {"name": "status", "ok": False, "reason": "credential has been revoked by its issuer"}
    # The credential itself stays readable: verifiers must be able to see that it is revoked.
    assert (await client.get(f"/credentials/{issued.id}")).status_code == 200


async def test_verify_a_valid_credential(client, issued):
    response = await client.post("/verify", json=issued.document)

    assert response.status_code == 200
    verdict = response.json()
    assert verdict["verified"] is True
    assert verdict["revoked"] is False
    assert all(check["ok"] for check in verdict["checks"])
    assert [check["name"] for check in verdict["checks"]] == [
        "proof_present",
        "cryptosuite_supported",
        "verification_method",
        "signature",
        "status",
        "validity_period",
    ]
    assert verdict["learner"] == "Amira Peeters"
    assert verdict["title"] == HERITAGE_TITLE
    assert verdict["issuer"] == "University of Antwerp"
    assert verdict["issued"] == issued.document["validFrom"]
    assert verdict["credential_id"] == issued.url


async def test_verify_a_tampered_credential(client, issued):
    tampered = copy.deepcopy(issued.document)
    tampered["credentialSubject"]["result"][0]["value"] = "20"

    verdict = (await client.post("/verify", json=tampered)).json()

    assert verdict["verified"] is False
    failed = [check for check in verdict["checks"] if not check["ok"]]
    assert [check["name"] for check in failed] == ["signature"]
    # It claims one of our ids: compared with what we issued, never canonicalised (test_certification_verify_bounds).
    assert "differs from the credential issued under its id" in failed[0]["reason"]


async def test_a_credential_signed_with_the_retired_key_still_verifies(client, engine, issued, issuer, retired_key):
    unsigned = {key: value for key, value in issued.document.items() if key != "proof"}
    old = sign_credential(unsigned, retired_key, issuer.loader)
    with Session(engine) as session:  # as if issued before the rotation: the stored copy is the one it signed
        row = session.get(CredentialRow, issued.id)
        assert row is not None
        row.document = old
        session.commit()

    verdict = (await client.post("/verify", json=old)).json()

    assert verdict["verified"] is True, verdict
    assert old["proof"]["verificationMethod"] == f"{ISSUER_ID}#key-2025"


async def test_a_foreign_issuers_credential_is_not_verified_and_says_why(client, issued):
    foreign = copy.deepcopy(issued.document)
    foreign["issuer"]["id"] = "https://credentials.elsewhere.example/issuer"
    foreign["proof"]["verificationMethod"] = "https://credentials.elsewhere.example/issuer#key-1"

    verdict = (await client.post("/verify", json=foreign)).json()

    assert verdict["verified"] is False
    check = next(check for check in verdict["checks"] if check["name"] == "verification_method")
    assert check["ok"] is False
    assert f"this service verifies only credentials issued by {ISSUER_ID}" in check["reason"]


async def test_verify_refuses_what_is_not_json_or_no_object(client):
    not_json = await client.post("/verify", content=b"{not json", headers={"Content-Type": "application/json"})
    not_object = await client.post("/verify", json=[1, 2, 3])
    too_big = await client.post(  # REQUEST_BODY_LIMIT defaults to 1 MiB
        "/verify", content=b" " * (1024 * 1024 + 1), headers={"Content-Type": "application/json"}
    )

    assert not_json.status_code == 422
    assert "not JSON" in not_json.json()["error"]["message"]
    assert not_object.status_code == 422
    assert "a credential is a JSON object" in not_object.json()["error"]["message"]
    assert too_big.status_code == 413


async def test_progress_shows_each_course_with_the_counting_assessment(client, engine, handlers):
    apply(
        engine,
        handlers,
        heritage_published(),
        enrolment_created("enr-2"),
        course_completed("enr-2", FIRST, passed=False, grade="8", assessed_at=brussels(2026, 1, 20, 10)),
    )
    assert (await client.get("/enrolments/enr-2/progress")).status_code == 401

    before = (await client.get("/enrolments/enr-2/progress", headers=AUTH)).json()
    apply(engine, handlers, course_completed("enr-2", FIRST, grade="12", assessed_at=brussels(2026, 6, 28, 10)))
    middle = (await client.get("/enrolments/enr-2/progress", headers=AUTH)).json()
    apply(engine, handlers, course_completed("enr-2", SECOND, grade="16", assessed_at=brussels(2026, 6, 30, 10)))
    after = (await client.get("/enrolments/enr-2/progress", headers=AUTH)).json()

    assert [(c["course_id"], c["state"], c["attempts"]) for c in before["courses"]] == [
        (FIRST, "failed", 1),
        (SECOND, "missing", 0),
    ]
    assert before["courses"][0]["counting"]["grade"] == "8"
    assert before["complete"] is False and before["credential"] is None
    assert [(c["state"], c["attempts"]) for c in middle["courses"]] == [("passed", 2), ("missing", 0)]
    assert middle["courses"][0]["counting"] == {
        "passed": True,
        "assessed_at": "2026-06-28T08:00:00Z",
        "grade": "12",
        "grading_scale": "0-20",
        "assessment_type": "written exam",
    }
    assert after["complete"] is True
    assert after["status"] == "active"
    assert after["credential"]["url"].startswith(f"{BASE_URL}/credentials/")
    assert after["credential"]["revoked_at"] is None
    assert (await client.get("/enrolments/unknown/progress", headers=AUTH)).status_code == 404


async def test_held_credentials_are_listed_until_the_metadata_arrives(client, engine, handlers):
    apply(engine, handlers, ai_published(), ai_enrolment_created("enr-ai"), *passes("enr-ai", AI_COURSES))
    assert (await client.get("/credentials/held")).status_code == 401

    listed = (await client.get("/credentials/held", headers=AUTH)).json()
    progress = (await client.get("/enrolments/enr-ai/progress", headers=AUTH)).json()
    apply(engine, handlers, ai_published(complete=True))
    after = (await client.get("/credentials/held", headers=AUTH)).json()

    assert listed["count"] == 1
    [held] = listed["held"]
    assert (held["enrolment_id"], held["microcredential_id"], held["missing"]) == (
        "enr-ai",
        AI,
        ["learning_outcomes", "eqf_level"],
    )
    assert progress["complete"] is True and progress["held"]["missing"] == ["learning_outcomes", "eqf_level"]
    assert after == {"count": 0, "held": [], "next_cursor": None}


async def test_outcomes_rejected_after_the_fact_are_listed(client, engine, handlers):
    apply(engine, handlers, course_completed("enr-3", "2026MCAIP1"), enrolment_created("enr-3"))

    listed = (await client.get("/assessments/rejected", headers=AUTH)).json()

    assert listed["count"] == 1
    assert listed["assessments"][0]["course_id"] == "2026MCAIP1"
    assert "not part of enrolment enr-3" in listed["assessments"][0]["reason"]


async def test_operations_page_and_openapi(client):
    health = await client.get("/health")
    page = await client.get("/verify")
    script = await client.get("/static/verify.js")
    openapi = await client.get("/openapi.json")

    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert (await client.get("/metrics")).status_code == 200
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert f'data-public-base-url="{BASE_URL}"' in page.text
    assert script.headers["content-type"].startswith("text/javascript")
    paths = openapi.json()["paths"]
    for path in (
        "/credentials/{credential_id}",
        "/credentials/{credential_id}/certificate.pdf",
        "/credentials/{credential_id}/revocation",
        "/status-lists/{list_id}",
        "/issuer",
        "/verify",
        "/enrolments/{enrolment_id}/progress",
    ):
        assert path in paths, path
