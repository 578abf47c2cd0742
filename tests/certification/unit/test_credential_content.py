"""The unsigned credential, field by field against Annex I of the Council
Recommendation of 16 June 2022 and the Open Badges 3.0 / VC 2.0 shapes."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from certification.domain import (
    CourseResult,
    CredentialContentError,
    Learner,
    MicroCredential,
    StatusListEntry,
    build_credential,
    microcredential_context_url,
)

CREDENTIAL_ID = "https://credentials.example.edu/credentials/5b0f8c1e-7d1a-4a52-9a53-0c0f7a1c9e11"
ISSUER_ID = "https://credentials.example.edu/issuers/faculty-of-engineering"
STATUS_LIST_URL = "https://credentials.example.edu/status/revocation/1"
ISSUED_AT = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)


def build(learner, microcredential, results, **overrides):
    args = dict(
        learner=learner,
        microcredential=microcredential,
        results=results,
        issued_at=ISSUED_AT,
        credential_id=CREDENTIAL_ID,
        issuer_id=ISSUER_ID,
        identity_salt="c2FsdA",
    )
    args.update(overrides)
    return build_credential(**args)


@pytest.fixture
def credential(learner, microcredential, results):
    return build(learner, microcredential, results, status=StatusListEntry(STATUS_LIST_URL, 42))


def identifiers(credential) -> dict[str, dict]:
    return {i["identityType"]: i for i in credential["credentialSubject"]["identifier"]}


# --- VC 2.0 / OB 3.0 envelope -------------------------------------------------------------


def test_contexts_types_and_envelope(credential):
    assert credential["@context"] == [
        "https://www.w3.org/ns/credentials/v2",
        "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        "https://credentials.example.edu/contexts/microcredential/v1",
    ]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"] == CREDENTIAL_ID
    assert credential["name"] == "Applied Machine Learning for Engineers"
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    achievement = subject["achievement"]
    assert achievement["type"] == ["Achievement"]
    assert achievement["achievementType"] == "MicroCredential"
    assert achievement["criteria"]["narrative"].startswith("Awarded on passing")
    assert "Foundations of Machine Learning" in achievement["criteria"]["narrative"]


def test_context_base_url_is_a_parameter(learner, microcredential, results):
    cred = build(learner, microcredential, results, context_base_url="https://vc.uni.example/")
    assert cred["@context"][2] == "https://vc.uni.example/contexts/microcredential/v1"
    assert microcredential_context_url("https://vc.uni.example/") == cred["@context"][2]


# --- Annex I mandatory elements -------------------------------------------------------------


def test_annex1_learner_identification(credential):
    ids = identifiers(credential)
    assert ids["name"] == {
        "type": "IdentityObject",
        "identityType": "name",
        "hashed": False,
        "identityHash": "Ada Lovelace",
    }
    assert ids["sisSourcedId"]["identityHash"] == "r0123456"
    email = ids["emailAddress"]
    assert email["hashed"] is True
    assert email["salt"] == "c2FsdA"
    # OB 3.0 IdentityHash over the normalised (lower-case) address plus salt.
    expected = hashlib.sha256(b"ada.lovelace@example.orgc2FsdA").hexdigest()
    assert email["identityHash"] == f"sha256${expected}"
    assert "Ada.Lovelace@Example.org" not in str(credential)


def test_annex1_title(credential):
    assert credential["credentialSubject"]["achievement"]["name"] == "Applied Machine Learning for Engineers"


def test_annex1_country_and_region_of_issuer(credential):
    address = credential["issuer"]["address"]
    assert address == {"type": ["Address"], "addressCountryCode": "BE", "addressRegion": "Flanders"}


def test_annex1_awarding_body(credential):
    issuer = credential["issuer"]
    assert issuer["id"] == ISSUER_ID
    assert issuer["type"] == ["Profile"]
    assert issuer["name"] == "Example University, Faculty of Engineering"
    assert issuer["url"] == "https://www.example.edu"


def test_annex1_date_of_issuing(credential):
    assert credential["validFrom"] == "2025-07-01T09:30:00Z"


def test_annex1_date_of_issuing_normalised_to_utc(learner, microcredential, results):
    brussels = timezone(timedelta(hours=2))
    cred = build(learner, microcredential, results, issued_at=datetime(2025, 7, 1, 11, 30, 15, 999, brussels))
    assert cred["validFrom"] == "2025-07-01T09:30:15Z"


def test_annex1_learning_outcomes(credential, microcredential):
    assert credential["credentialSubject"]["achievement"]["learningOutcomes"] == list(microcredential.learning_outcomes)


def test_annex1_notional_workload_ects(credential):
    assert credential["credentialSubject"]["achievement"]["creditsAvailable"] == 6
    assert isinstance(credential["credentialSubject"]["achievement"]["creditsAvailable"], int)
    assert credential["credentialSubject"]["creditsEarned"] == 6


def test_fractional_ects_stays_exact(learner, microcredential, results):
    cred = build(learner, replace(microcredential, ects_credits=Decimal("4.5")), results)
    assert cred["credentialSubject"]["achievement"]["creditsAvailable"] == 4.5


def test_annex1_level_eqf_and_cycle(credential):
    eqf, cycle = credential["credentialSubject"]["achievement"]["alignment"]
    assert eqf["type"] == ["Alignment"]
    assert eqf["targetFramework"] == "European Qualifications Framework"
    assert eqf["targetCode"] == "7"
    assert eqf["targetName"] == "EQF level 7"
    assert eqf["targetUrl"].startswith("https://")
    assert cycle["targetFramework"] == "Qualifications Framework for the European Higher Education Area"
    assert cycle["targetCode"] == "second cycle"


def test_cycle_is_optional(learner, microcredential, results):
    cred = build(learner, replace(microcredential, cycle=None), results)
    assert len(cred["credentialSubject"]["achievement"]["alignment"]) == 1


def test_annex1_type_of_assessment(credential):
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["assessmentType"] == "Written exam and graded project with oral defence"


def test_annex1_form_of_participation(credential):
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["participationForm"] == "hybrid (online lectures, on-site labs)"


def test_annex1_type_of_quality_assurance(credential):
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["qualityAssurance"].startswith("Internal quality assurance")


# --- Annex I optional elements --------------------------------------------------------------


def test_optional_grades_per_course(credential):
    subject = credential["credentialSubject"]
    descriptions = {d["id"]: d for d in subject["achievement"]["resultDescription"]}
    by_course = {descriptions[r["resultDescription"]]["name"]: r for r in subject["result"]}
    foundations = by_course["Foundations of Machine Learning"]
    assert foundations["value"] == "15"
    assert foundations["gradingScale"] == "0-20"
    assert foundations["status"] == "Completed"
    assert foundations["assessmentDate"] == "2025-06-12T14:00:00Z"
    assert by_course["Machine Learning Project"]["value"] == "17"
    for description in descriptions.values():
        assert description["type"] == ["ResultDescription"]
        assert description["resultType"] == "Result"


def test_optional_supervision_and_identity_verification(credential):
    results = credential["credentialSubject"]["result"]
    assert [r["supervisedAssessment"] for r in results] == [True, False]
    assert [r["identityVerified"] for r in results] == [True, True]


def test_optional_prerequisites_and_stackability(credential):
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["prerequisites"] == "A bachelor's degree in engineering or science"
    assert achievement["stackability"].startswith("Stackable towards")


def test_academic_year_is_the_ob_term(credential):
    assert credential["credentialSubject"]["term"] == "2024-2025"


def test_optional_elements_are_omitted_not_null(learner, microcredential):
    mc = replace(microcredential, prerequisites=None, stackability=None, cycle=None)
    bare = [CourseResult(course_id=c.id, assessed_at=ISSUED_AT) for c in mc.courses]
    cred = build(Learner(id="r1", given_name="Bo", family_name="Li"), mc, bare, identity_salt="")
    achievement = cred["credentialSubject"]["achievement"]
    assert "prerequisites" not in achievement and "stackability" not in achievement
    for result in cred["credentialSubject"]["result"]:
        assert set(result) == {"type", "resultDescription", "status", "assessmentDate"}
    assert "emailAddress" not in identifiers(cred)
    assert "credentialStatus" not in cred
    # JSON-LD drops nulls silently; the builder must omit, never emit null.
    assert "null" not in json.dumps(cred)


# --- status entry ---------------------------------------------------------------------------


def test_credential_status_entry(credential):
    assert credential["credentialStatus"] == {
        "id": f"{STATUS_LIST_URL}#42",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "42",
        "statusListCredential": STATUS_LIST_URL,
    }


# --- refusing bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(eqf_level=9), "EQF level"),
        (dict(ects_credits=Decimal("0")), "ECTS"),
        (dict(learning_outcomes=()), "learning outcome"),
        (dict(assessment_type="  "), "assessment_type"),
    ],
)
def test_rejects_incomplete_microcredential(learner, microcredential, results, change, message):
    mc: MicroCredential = replace(microcredential, **change)
    with pytest.raises(CredentialContentError, match=message):
        build(learner, mc, results)


def test_rejects_naive_issue_date(learner, microcredential, results):
    with pytest.raises(CredentialContentError, match="timezone-aware"):
        build(learner, microcredential, results, issued_at=datetime(2025, 7, 1))


def test_rejects_missing_unknown_and_duplicate_course_results(learner, microcredential, results):
    with pytest.raises(CredentialContentError, match="no result"):
        build(learner, microcredential, results[:1])
    with pytest.raises(CredentialContentError, match="not in the micro-credential"):
        build(learner, microcredential, [*results, CourseResult("X999", ISSUED_AT)])
    with pytest.raises(CredentialContentError, match="two results"):
        build(learner, microcredential, [*results, results[0]])


def test_rejects_unsalted_email_hash(learner, microcredential, results):
    with pytest.raises(CredentialContentError, match="identity_salt"):
        build(learner, microcredential, results, identity_salt="")


def test_rejects_ects_not_representable_as_json_number(learner, microcredential, results):
    with pytest.raises(CredentialContentError, match="exactly"):
        build(learner, replace(microcredential, ects_credits=Decimal("0.1000000000000000000001")), results)


def test_builder_is_deterministic(learner, microcredential, results):
    assert build(learner, microcredential, results) == build(learner, microcredential, results)
