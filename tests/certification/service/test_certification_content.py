"""A credential issued through the handlers, checked field by field against Annex I (docs/credentials.md lists
the JSON paths), and its printable certificate from the HTTP endpoint."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from pypdf import PdfReader

from tests.certification.certification_support import (
    BASE_URL,
    HERITAGE,
    HERITAGE_ASSESSMENT,
    HERITAGE_COURSES,
    HERITAGE_OUTCOMES,
    HERITAGE_PARTICIPATION,
    HERITAGE_PREREQUISITES,
    HERITAGE_STACKABILITY,
    HERITAGE_TITLE,
    ISSUER_ID,
    LEARNER,
    UANTWERP_QA,
    YEAR,
    apply,
    brussels,
    course_completed,
    credential_of,
    enrolment_created,
    heritage_published,
)

FIRST, SECOND = (course_id for course_id, _, _ in HERITAGE_COURSES)


@pytest.fixture
def issued(engine, handlers):
    """One enrolment: course 1 failed then passed at the re-sit (unsupervised online exam), course 2 passed."""
    apply(
        engine,
        handlers,
        heritage_published(),
        enrolment_created("enr-annex"),
        course_completed("enr-annex", FIRST, passed=False, grade="8", assessed_at=brussels(2026, 1, 20, 10)),
        course_completed(
            "enr-annex",
            FIRST,
            grade="13",
            assessed_at=brussels(2026, 6, 29, 14),
            supervised=False,
            identity_verified=True,
        ),
        course_completed("enr-annex", SECOND, grade="17", assessed_at=brussels(2026, 1, 27, 9)),
    )
    row = credential_of(engine, "enr-annex")
    assert row is not None
    return row


def test_mandatory_annex_i_elements(issued):
    document = issued.document
    subject = document["credentialSubject"]
    achievement = subject["achievement"]

    # Identification of the learner: name and student number in clear, the e-mail address only as a salted hash.
    identifiers = {i["identityType"]: i for i in subject["identifier"]}
    assert set(identifiers) == {"name", "sisSourcedId", "emailAddress"}
    assert identifiers["name"] == {
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": False,
        "identityHash": "Amira Peeters",
    }
    assert identifiers["sisSourcedId"]["identityHash"] == LEARNER["id"]
    assert identifiers["sisSourcedId"]["hashed"] is False
    email = identifiers["emailAddress"]
    assert email["hashed"] is True
    salt = email["salt"]
    expected_hash = hashlib.sha256(("amira.peeters@student.example.org" + salt).encode()).hexdigest()
    assert email["identityHash"] == "sha256$" + expected_hash
    assert LEARNER["email"].lower() not in str(document).lower()

    # Title of the micro-credential.
    assert achievement["name"] == document["name"] == HERITAGE_TITLE

    # Country and region of the issuer; the awarding body.
    assert document["issuer"] == {
        "id": ISSUER_ID,
        "type": ["Profile"],
        "name": "University of Antwerp",
        "url": "https://www.uantwerpen.be",
        "address": {"type": ["Address"], "addressCountryCode": "BE", "addressRegion": "Flanders"},
    }

    # Date of issuing.
    issued_at = datetime.fromisoformat(document["validFrom"])
    assert issued_at == issued.issued_at
    assert timedelta(0) <= datetime.now(UTC) - issued_at < timedelta(minutes=5)
    assert document["validFrom"].endswith("Z")

    # Learning outcomes.
    assert achievement["learningOutcomes"] == list(HERITAGE_OUTCOMES)

    # Notional workload: the enrolment's courses, 3 + 3 ECTS, an integer (canonicalises the same in JS).
    assert achievement["creditsAvailable"] == 6
    assert subject["creditsEarned"] == 6
    assert isinstance(achievement["creditsAvailable"], int)

    # Level and cycle.
    alignments = {a["targetFramework"]: a for a in achievement["alignment"]}
    assert alignments["European Qualifications Framework"]["targetCode"] == "7"
    cycle = alignments["Qualifications Framework for the European Higher Education Area"]
    assert cycle["targetCode"] == "second cycle (master's level)"

    # Type of assessment, form of participation, type of quality assurance.
    assert achievement["assessmentType"] == HERITAGE_ASSESSMENT
    assert HERITAGE_ASSESSMENT in achievement["criteria"]["narrative"]
    assert achievement["participationForm"] == HERITAGE_PARTICIPATION
    assert achievement["qualityAssurance"] == UANTWERP_QA


def test_optional_annex_i_elements_and_results(issued):
    subject = issued.document["credentialSubject"]
    achievement = subject["achievement"]

    assert achievement["prerequisites"] == HERITAGE_PREREQUISITES
    assert achievement["stackability"] == HERITAGE_STACKABILITY

    descriptions = {rd["id"]: rd["name"] for rd in achievement["resultDescription"]}
    assert list(descriptions.values()) == ["Reading Historic Buildings", "Adaptive Reuse Design Studio"]
    results = [
        (
            descriptions[r["resultDescription"]],
            r["value"],
            r["gradingScale"],
            r["assessmentDate"],
            r["supervisedAssessment"],
            r["identityVerified"],
            r["status"],
        )
        for r in subject["result"]
    ]
    assert results == [
        # The re-sit counts (June, unsupervised), not the failed January attempt.
        ("Reading Historic Buildings", "13", "0-20", "2026-06-29T12:00:00Z", False, True, "Completed"),
        ("Adaptive Reuse Design Studio", "17", "0-20", "2026-01-27T08:00:00Z", True, True, "Completed"),
    ]


def test_identity_type_context_and_status(issued):
    document = issued.document
    assert document["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        f"{BASE_URL}/contexts/microcredential/v1",
    ]
    assert document["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert document["id"] == issued.url == f"{BASE_URL}/credentials/{issued.id}"
    achievement = document["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "MicroCredential"
    assert achievement["id"] == f"{ISSUER_ID}/achievements/{HERITAGE}"
    assert achievement["description"].startswith("How to give historic buildings")
    assert document["credentialSubject"]["term"] == YEAR
    assert document["credentialStatus"] == {
        "id": f"{BASE_URL}/status-lists/1#{issued.status_index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(issued.status_index),
        "statusListCredential": f"{BASE_URL}/status-lists/1",
    }
    proof = document["proof"]
    assert (proof["type"], proof["cryptosuite"], proof["proofPurpose"]) == (
        "DataIntegrityProof",
        "eddsa-rdfc-2022",
        "assertionMethod",
    )
    assert proof["verificationMethod"] == f"{ISSUER_ID}#key-2026"
    assert proof["created"] == document["validFrom"]


async def test_certificate_pdf_shows_the_credential(client, issued):
    response = await client.get(f"/credentials/{issued.id}/certificate.pdf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1
    text = re.sub(r"\s+", " ", reader.pages[0].extract_text())
    for expected in (
        "Amira Peeters",
        HERITAGE_TITLE,
        "6 ECTS credits",
        "EQF level 7",
        "second cycle (master's level)",
        f"academic year {YEAR}",
        "Issued by University of Antwerp",
        "Flanders, BE",
        f"Credential {issued.url}",
    ):
        assert expected in text, expected
    assert LEARNER["email"] not in text
    # The QR code links to the verification page of this very credential.
    links = [
        annotation.get_object()["/A"]["/URI"]
        for annotation in reader.pages[0].get("/Annots", [])
        if "/A" in annotation.get_object()
    ]
    assert f"{BASE_URL}/verify?credential=https%3A%2F%2Fcredentials.test.example%2Fcredentials%2F{issued.id}" in links


async def test_certificate_of_an_unknown_credential_is_404(client):
    response = await client.get("/credentials/00000000-0000-0000-0000-000000000000/certificate.pdf")
    assert response.status_code == 404
