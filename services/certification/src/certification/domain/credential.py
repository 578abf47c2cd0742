"""Build the unsigned micro-credential: a W3C VC 2.0 that is also an Open Badges 3.0
``OpenBadgeCredential`` and carries every mandatory element of Annex I of the EU
Council Recommendation of 16 June 2022 on micro-credentials.

Pure: no clock, no randomness, no I/O. Everything that varies (time, salt,
identifiers) is an argument, so the same input always yields the same document,
which is what a signature over it needs. docs/credentials.md maps each Annex I
element to its JSON path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from certification.domain.model import (
    AwardingBody,
    CourseResult,
    Learner,
    MicroCredential,
    StatusListEntry,
)
from certification.domain.vocabulary import (
    DEFAULT_CONTEXT_BASE_URL,
    EQF_FRAMEWORK,
    EQF_URL,
    QF_EHEA_FRAMEWORK,
    QF_EHEA_URL,
    credential_context,
)

JsonObject = dict[str, Any]

CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")
ACHIEVEMENT_TYPE = "MicroCredential"
# OB 3.0 IdentifierTypeEnum values used for the learner.
IDENTITY_TYPE_NAME = "name"
IDENTITY_TYPE_EMAIL = "emailAddress"
IDENTITY_TYPE_STUDENT_ID = "sisSourcedId"


class CredentialContentError(ValueError):
    """The inputs cannot make a meaningful credential."""


def xsd_datetime(moment: datetime) -> str:
    """XSD dateTimeStamp in UTC with second precision.

    Verifiers (e.g. Digital Bazaar's) check ``created``/``validFrom`` against a
    W3C date regex; one canonical spelling also keeps signatures reproducible.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CredentialContentError(f"datetime must be timezone-aware: {moment!r}")
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_number(value: Decimal) -> int | float:
    """A JSON number that canonicalises identically in Python and JavaScript.

    JSON-LD turns a native integer into "6" but a native float into "6.0E0"; JS
    has no int/float distinction, so an integral value must be emitted as int.
    """
    if not value.is_finite():
        raise CredentialContentError(f"not a finite number: {value}")
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) != value:
        raise CredentialContentError(f"{value} cannot be represented exactly as a JSON number")
    return as_float


def identity_hash(value: str, salt: str) -> str:
    """OB 3.0 IdentityHash: ``sha256$`` + hex(SHA-256(value + salt))."""
    return "sha256$" + hashlib.sha256((value + salt).encode("utf-8")).hexdigest()


def normalise_email(email: str) -> str:
    # The holder re-computes the hash from what they type; case and surrounding
    # blanks must not matter.
    return email.strip().lower()


def default_achievement_id(issuer_id: str, microcredential_id: str) -> str:
    return f"{issuer_id.rstrip('/')}/achievements/{quote(microcredential_id, safe='')}"


def credential_status_entry(entry: StatusListEntry) -> JsonObject:
    """``credentialStatus`` value for a W3C Bitstring Status List entry."""
    if entry.index < 0:
        raise CredentialContentError("status list index must be >= 0")
    return {
        "id": f"{entry.status_list_credential}#{entry.index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": entry.purpose,
        # The spec makes the index a string (it may exceed JSON's safe integers).
        "statusListIndex": str(entry.index),
        "statusListCredential": entry.status_list_credential,
    }


def _learner_identifiers(learner: Learner, salt: str) -> list[JsonObject]:
    identifiers: list[JsonObject] = [
        {
            "type": "IdentityObject",
            "identityType": IDENTITY_TYPE_NAME,
            "hashed": False,
            "identityHash": learner.full_name,
        },
        {
            "type": "IdentityObject",
            "identityType": IDENTITY_TYPE_STUDENT_ID,
            "hashed": False,
            "identityHash": learner.id,
        },
    ]
    if learner.email:
        if not salt:
            # An unsalted e-mail hash is reversible by dictionary; refuse it.
            raise CredentialContentError("identity_salt is required when the learner has an e-mail")
        identifiers.append(
            {
                "type": "IdentityObject",
                "identityType": IDENTITY_TYPE_EMAIL,
                "hashed": True,
                "identityHash": identity_hash(normalise_email(learner.email), salt),
                "salt": salt,
            }
        )
    return identifiers


def _alignments(mc: MicroCredential) -> list[JsonObject]:
    alignments: list[JsonObject] = [
        {
            "type": ["Alignment"],
            "targetName": f"EQF level {mc.eqf_level}",
            "targetFramework": EQF_FRAMEWORK,
            "targetCode": str(mc.eqf_level),
            "targetType": "ext:EQFLevel",
            "targetUrl": EQF_URL,
        }
    ]
    if mc.cycle:
        alignments.append(
            {
                "type": ["Alignment"],
                "targetName": mc.cycle,
                "targetFramework": QF_EHEA_FRAMEWORK,
                "targetCode": mc.cycle,
                "targetType": "ext:QFEHEACycle",
                "targetUrl": QF_EHEA_URL,
            }
        )
    return alignments


def _criteria_narrative(mc: MicroCredential) -> str:
    courses = "; ".join(course.title for course in mc.courses)
    return (
        f"Awarded on passing the assessment of every course of the micro-credential ({courses}). "
        f"Type of assessment: {mc.assessment_type}."
    )


def _result_description_id(achievement_id: str, course_id: str) -> str:
    return f"{achievement_id}#course-{quote(course_id, safe='')}"


def _validate(mc: MicroCredential, results: tuple[CourseResult, ...], issued_at: datetime) -> dict[str, CourseResult]:
    if not 1 <= mc.eqf_level <= 8:
        raise CredentialContentError(f"EQF level must be 1..8, got {mc.eqf_level}")
    if mc.ects_credits <= 0:
        raise CredentialContentError("ECTS credits must be positive")
    if not mc.learning_outcomes:
        raise CredentialContentError("at least one learning outcome is required (Annex I)")
    if not mc.courses:
        raise CredentialContentError("a micro-credential needs at least one course")
    for label, text in (
        ("title", mc.title),
        ("description", mc.description),
        ("assessment_type", mc.assessment_type),
        ("participation_form", mc.participation_form),
        ("quality_assurance", mc.quality_assurance),
        ("awarding_body.name", mc.awarding_body.name),
        ("awarding_body.country_code", mc.awarding_body.country_code),
    ):
        if not text.strip():
            raise CredentialContentError(f"{label} must not be empty (Annex I)")
    xsd_datetime(issued_at)
    by_course: dict[str, CourseResult] = {}
    for result in results:
        if result.course_id in by_course:
            raise CredentialContentError(f"two results for course {result.course_id!r}")
        xsd_datetime(result.assessed_at)
        by_course[result.course_id] = result
    course_ids = [course.id for course in mc.courses]
    unknown = sorted(set(by_course) - set(course_ids))
    missing = [cid for cid in course_ids if cid not in by_course]
    if unknown:
        raise CredentialContentError(f"results for courses not in the micro-credential: {unknown}")
    if missing:
        raise CredentialContentError(f"no result for courses: {missing}")
    return by_course


def build_credential(
    *,
    learner: Learner,
    microcredential: MicroCredential,
    results: Iterable[CourseResult],
    issued_at: datetime,
    credential_id: str,
    issuer_id: str,
    identity_salt: str = "",
    context_base_url: str = DEFAULT_CONTEXT_BASE_URL,
    status: StatusListEntry | None = None,
    achievement_id: str | None = None,
) -> JsonObject:
    """Return the unsigned credential as a JSON-compatible dict.

    ``identity_salt`` salts the learner's e-mail hash (required when the learner
    has an e-mail); draw it from ``secrets`` per credential and keep it in the
    credential (OB 3.0 carries it in ``IdentityObject.salt``).
    """
    mc = microcredential
    by_course = _validate(mc, tuple(results), issued_at)
    achievement_id = achievement_id or default_achievement_id(issuer_id, mc.id)
    result_descriptions, subject_results = _results(mc, by_course, achievement_id)
    credential: JsonObject = {
        "@context": credential_context(context_base_url),
        "id": credential_id,
        "type": list(CREDENTIAL_TYPES),
        "name": mc.title,
        "issuer": _issuer_profile(mc.awarding_body, issuer_id),
        # Annex I "date of issuing". OB's awardedDate is left out on purpose:
        # the OB 3.0.3 context types it "xsd:dateTime" without defining the
        # xsd prefix, so it would sign a bogus datatype IRI.
        "validFrom": xsd_datetime(issued_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": _learner_identifiers(learner, identity_salt),
            "achievement": _achievement(mc, achievement_id, result_descriptions),
            "creditsEarned": json_number(mc.ects_credits),
            "term": mc.academic_year,
            "result": subject_results,
        },
    }
    if status is not None:
        credential["credentialStatus"] = credential_status_entry(status)
    return credential


def _issuer_profile(body: AwardingBody, issuer_id: str) -> JsonObject:
    address: JsonObject = {"type": ["Address"], "addressCountryCode": body.country_code.upper()}
    if body.region:
        address["addressRegion"] = body.region
    return {
        "id": issuer_id,
        "type": ["Profile"],
        "name": body.name,
        "url": body.url,
        "address": address,
    }


def _results(
    mc: MicroCredential, by_course: dict[str, CourseResult], achievement_id: str
) -> tuple[list[JsonObject], list[JsonObject]]:
    """Per course, in order: its ResultDescription in the achievement and the learner's Result."""
    result_descriptions: list[JsonObject] = []
    subject_results: list[JsonObject] = []
    for course in mc.courses:
        rd_id = _result_description_id(achievement_id, course.id)
        result_descriptions.append(
            {
                "id": rd_id,
                "type": ["ResultDescription"],
                "name": course.title,
                # OB ResultType "Result": a generic result; the grading scale,
                # which OB has no field for, is carried by our gradingScale.
                "resultType": "Result",
            }
        )
        subject_results.append(_result(by_course[course.id], rd_id))
    return result_descriptions, subject_results


def _result(course_result: CourseResult, rd_id: str) -> JsonObject:
    result: JsonObject = {
        "type": ["Result"],
        "resultDescription": rd_id,
        "status": "Completed",
        "assessmentDate": xsd_datetime(course_result.assessed_at),
    }
    if course_result.grade is not None:
        result["value"] = course_result.grade.value
        if course_result.grade.scale:
            result["gradingScale"] = course_result.grade.scale
    if course_result.supervised is not None:
        result["supervisedAssessment"] = course_result.supervised
    if course_result.identity_verified is not None:
        result["identityVerified"] = course_result.identity_verified
    return result


def _achievement(mc: MicroCredential, achievement_id: str, result_descriptions: list[JsonObject]) -> JsonObject:
    achievement: JsonObject = {
        "id": achievement_id,
        "type": ["Achievement"],
        "achievementType": ACHIEVEMENT_TYPE,
        "name": mc.title,
        "description": mc.description,
        "criteria": {"narrative": _criteria_narrative(mc)},
        "creditsAvailable": json_number(mc.ects_credits),
        "alignment": _alignments(mc),
        "resultDescription": result_descriptions,
        "learningOutcomes": list(mc.learning_outcomes),
        "assessmentType": mc.assessment_type,
        "participationForm": mc.participation_form,
        "qualityAssurance": mc.quality_assurance,
    }
    if mc.prerequisites:
        achievement["prerequisites"] = mc.prerequisites
    if mc.stackability:
        achievement["stackability"] = mc.stackability
    return achievement
