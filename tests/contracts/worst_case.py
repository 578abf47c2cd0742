"""The largest events the contract's bounds allow: every list full, every text at its maximum length in the
characters that cost the most bytes on the wire.

Texts are written in U+1D538 (4 bytes of UTF-8, the most any character costs; control characters, which JSON
would escape to 6, are refused), identifiers in '"' (escaped to 2 bytes, and to 3 once URL-quoted), URLs in
ASCII (all the contract lets through). The bounds
are read from the models' JSON Schemas, so a bound changed later changes the worst case with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from certification.domain.credential import build_credential
from certification.domain.issuing import described_microcredential
from certification.domain.model import CourseResult, Grade, Learner, StatusListEntry
from contracts.envelope import Envelope
from contracts.events import AwardingBody, MicroCredentialSnapshot
from contracts.events import Grade as GradeModel
from pydantic import BaseModel

from contracts import (
    CloudEvent,
    Course,
    CourseCompleted,
    CredentialIssued,
    EnrolmentCreated,
    EventPayload,
    MicroCredentialPublished,
    Student,
    new_event,
)

WIDE = "\U0001d538"
ISSUED_AT = datetime(2027, 7, 3, 8, 0, tzinfo=UTC)


def bound(model: type[BaseModel], field: str, keyword: str = "maxLength", *, item: bool = False) -> int:
    """A bound of `model.field` as its JSON Schema states it (`item`: of the field's list items)."""
    schema: dict[str, Any] = model.model_json_schema()["properties"][field]
    for candidate in [schema, *schema.get("anyOf", [])]:
        node = candidate.get("items", {}) if item else candidate
        if keyword in node:
            return int(node[keyword])
    raise LookupError(f"{model.__name__}.{field} has no {keyword}")


def text(model: type[BaseModel], field: str) -> str:
    return WIDE * bound(model, field)


def ident(model: type[BaseModel], field: str, tag: int = 0) -> str:
    length = bound(model, field)
    return (f"{tag:02d}" + '"' * length)[:length]


def url(model: type[BaseModel], field: str) -> str:
    # URLs are ASCII (RFC 3986): a character costs one byte.
    prefix = "https://credentials.example.edu/"
    return prefix + "u" * (bound(model, field) - len(prefix))


def envelope_fields() -> dict[str, Any]:
    return {"source": "/" + "s" * (bound(Envelope, "source") - 1), "event_id": '"' * bound(Envelope, "id")}


def courses() -> list[Course]:
    count = bound(MicroCredentialPublished, "courses", "maxItems")
    return [
        Course(id=ident(Course, "id", index), title=text(Course, "title"), credits=Decimal("999.9"), semester=2)
        for index in range(count)
    ]


def largest_catalogue_entry() -> MicroCredentialPublished:
    outcomes = bound(MicroCredentialPublished, "learning_outcomes", "maxItems")
    outcome_length = bound(MicroCredentialPublished, "learning_outcomes", item=True)
    texts = ("description", "cycle", "assessment_type", "participation_form", "quality_assurance")
    return MicroCredentialPublished(
        microcredential_id=ident(MicroCredentialPublished, "microcredential_id"),
        academic_year="2026-2027",
        title=text(MicroCredentialPublished, "title"),
        language=("abcdefgh" + "-abcdefgh" * 4)[: bound(MicroCredentialPublished, "language")],
        format="distance",
        courses=courses(),
        tuition={"currency": "EUR", "fixed_fee": "999999999999.99", "per_credit": "999999999999.99"},
        learning_outcomes=[WIDE * outcome_length] * outcomes,
        eqf_level=8,
        awarding_body=AwardingBody(
            name=text(AwardingBody, "name"),
            url=url(AwardingBody, "url"),
            country="BE",
            region=text(AwardingBody, "region"),
        ),
        prerequisites=text(MicroCredentialPublished, "prerequisites"),
        stackability=text(MicroCredentialPublished, "stackability"),
        **{name: text(MicroCredentialPublished, name) for name in texts},
    )


def largest_email() -> str:
    # 64 characters of local part, then labels of at most 63: as long as an address may be.
    total = bound(Student, "email")
    domain = "b" * 63 + "." + "c" * 63 + "."
    return "a" * 64 + "@" + domain + "d" * (total - 64 - 1 - len(domain) - 4) + ".org"


def largest_student() -> Student:
    return Student(
        id=ident(Student, "id"),
        given_name=text(Student, "given_name"),
        family_name=text(Student, "family_name"),
        email=largest_email(),
    )


def largest_enrolment_created() -> CloudEvent[EventPayload]:
    payload = EnrolmentCreated(
        enrolment_id="E" * bound(EnrolmentCreated, "enrolment_id"),
        student=largest_student(),
        microcredential=MicroCredentialSnapshot(
            id=ident(MicroCredentialSnapshot, "id"),
            title=text(MicroCredentialSnapshot, "title"),
            academic_year="2026-2027",
            courses=courses(),
        ),
        tuition={"currency": "EUR", "fixed_fee": "999999999999.99", "per_credit": "999999999999.99"},
        enrolled_at="2026-09-01T09:30:00.123456789+02:00",
    )
    return new_event(payload, time=ISSUED_AT, **envelope_fields())


def largest_course_completed() -> CloudEvent[EventPayload]:
    payload = CourseCompleted(
        enrolment_id="E" * bound(CourseCompleted, "enrolment_id"),
        course_id=ident(CourseCompleted, "course_id"),
        passed=True,
        grade=GradeModel(value=text(GradeModel, "value"), scale=text(GradeModel, "scale")),
        assessed_at=ISSUED_AT,
        assessment_type=text(CourseCompleted, "assessment_type"),
        supervised=True,
        identity_verified=True,
    )
    return new_event(payload, time=ISSUED_AT, **envelope_fields())


def largest_credential_issued() -> CloudEvent[EventPayload]:
    """What certification would issue for the largest catalogue entry and enrolment, signed."""
    entry = largest_catalogue_entry()
    student = largest_student()
    credential_url = url(CredentialIssued, "credential_url")
    microcredential = described_microcredential(
        microcredential_id=entry.microcredential_id,
        academic_year=entry.academic_year,
        published=entry,
        issuer_url="https://credentials.example.edu",
    )
    grade = Grade(value=text(GradeModel, "value"), scale=text(GradeModel, "scale"))
    results = [
        CourseResult(course.id, ISSUED_AT - timedelta(days=1), grade, supervised=True, identity_verified=True)
        for course in entry.courses
    ]
    issuer_id = "https://credentials.example.edu/issuer"
    document = build_credential(
        learner=Learner(student.id, student.given_name, student.family_name, student.email),
        microcredential=microcredential,
        results=results,
        issued_at=ISSUED_AT,
        credential_id=credential_url,
        issuer_id=issuer_id,
        identity_salt="0" * 64,
        status=StatusListEntry("https://credentials.example.edu/status-lists/" + "l" * 36, 2**31),
    )
    # An eddsa-rdfc-2022 proof is the same size whatever it signs (a 64-byte signature in base58btc).
    document["proof"] = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-rdfc-2022",
        "created": "2027-07-03T08:00:00Z",
        "verificationMethod": issuer_id + "#" + "k" * 64,
        "proofPurpose": "assertionMethod",
        "proofValue": "z" + "1" * 90,
    }
    payload = CredentialIssued(
        enrolment_id="E" * bound(CredentialIssued, "enrolment_id"),
        credential_id=ident(CredentialIssued, "credential_id"),
        student_id=student.id,
        microcredential_id=entry.microcredential_id,
        issued_at=ISSUED_AT,
        credential_url=credential_url,
        credential=document,
    )
    return new_event(payload, time=ISSUED_AT, **envelope_fields())


def largest_catalogue_event() -> CloudEvent[EventPayload]:
    return new_event(largest_catalogue_entry(), time=ISSUED_AT, **envelope_fields())
