"""Request and response bodies of the enrolment API, the error documentation of its routes, and the mapping of
domain objects to response bodies."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from contracts.text import Identifier
from contracts.types import AcademicYear, Credits, Instant
from fastapi import Path
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator

from contracts import AwardingBody, Course, TuitionTerms
from enrolment.domain import ENROLMENT_ID_PATTERN, AlreadyEnrolled, MicroCredential
from enrolment.usecases import StoredEnrolment

# --- request and response bodies ---------------------------------------------------------------------------

# One line of text without surrounding whitespace, control characters (NUL cannot even be stored in
# PostgreSQL) or the bidirectional overrides the contract refuses in names (U+202A-U+202E, U+2066-U+2069). The
# pattern is for the OpenAPI document; the validator gives the caller a readable reason.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_ONE_LINE_PATTERN = rf"^[^\s{_FORBIDDEN}](?:[^{_FORBIDDEN}]*[^\s{_FORBIDDEN}])?$"
_CONTROL = re.compile(rf"[{_FORBIDDEN}]")
_CONTROL_IN_PARAGRAPH = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (tabs, line breaks, NUL) or bidirectional overrides")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _paragraph(value: str) -> str:
    if _CONTROL_IN_PARAGRAPH.search(value):
        raise ValueError(
            "must not contain control characters other than tabs and line breaks, or bidirectional overrides"
        )
    return value


def _one_line_text(max_length: int, example: str) -> Any:
    return Annotated[
        str,
        Field(
            min_length=1, max_length=max_length, json_schema_extra={"pattern": _ONE_LINE_PATTERN}, examples=[example]
        ),
        AfterValidator(_one_line),
    ]


# The contract's Identifier: 1-64 visible ASCII characters.
StudentId = Annotated[Identifier, Field(examples=["s0123456"])]
# Reads stay lenient: enrolments recorded before the contract bounded ids can still be listed.
StudentIdQuery = _one_line_text(128, "s0123456")
PersonName = _one_line_text(200, "Amira")
MicroCredentialId = _one_line_text(64, "mc-data-analysis-python")
EnrolmentIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=ENROLMENT_ID_PATTERN.pattern,
        description="The enrolment id (also the Kafka key of its events).",
    ),
]


class StudentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: StudentId
    given_name: PersonName  # type: ignore[valid-type]
    family_name: PersonName  # type: ignore[valid-type]
    email: EmailStr = Field(examples=["amira.peeters@student.example.org"])


class EnrolmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    student: StudentIn
    microcredential_id: MicroCredentialId  # type: ignore[valid-type]
    academic_year: AcademicYear


class CancellationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cancelled_at: Instant | None = Field(
        default=None,
        description="When the student cancelled, RFC 3339 with an offset; decides the refund. Default: now.",
    )
    reason: Annotated[str, AfterValidator(_paragraph)] | None = Field(default=None, max_length=1000)

    @field_validator("cancelled_at")
    @classmethod
    def _representable_in_utc(cls, value: datetime | None) -> datetime | None:
        # 9999-12-31T23:59:59-23:59 is a valid RFC 3339 string but no Python instant once converted to UTC.
        if value is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("is out of range once converted to UTC") from None
        return value


class StudentOut(BaseModel):
    id: str
    given_name: str
    family_name: str
    email: str


class EnrolledMicrocredentialOut(BaseModel):
    id: str
    title: str
    academic_year: str
    courses: list[Course]
    total_credits: Credits


class EnrolmentOut(BaseModel):
    id: str
    status: Literal["active", "cancelled"]
    student: StudentOut
    microcredential: EnrolledMicrocredentialOut = Field(
        description="The micro-credential as it was in the catalogue when the student enrolled."
    )
    tuition: TuitionTerms
    enrolled_at: datetime
    cancelled_at: datetime | None = None
    cancellation_reason: str | None = None
    origin: str = Field(description="CloudEvents source of the system that created the enrolment.")


class MicrocredentialOut(BaseModel):
    id: str
    academic_year: str
    title: str
    description: str
    language: str
    format: str
    courses: list[Course]
    total_credits: Credits
    semesters: list[int]
    tuition: TuitionTerms
    learning_outcomes: list[str]
    eqf_level: int | None = None
    cycle: str | None = None
    assessment_type: str | None = None
    participation_form: str | None = None
    quality_assurance: str | None = None
    awarding_body: AwardingBody | None = None
    prerequisites: str | None = None
    stackability: str | None = None
    missing_credential_metadata: list[str] = Field(
        description="Elements a credential needs that this entry does not describe yet."
    )


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    status: int
    message: str
    details: list[ErrorDetail] | None = None
    existing_enrolment_id: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody


_ERROR_TEXT = {
    400: "The body is not parseable JSON.",
    401: "No valid bearer token (WWW-Authenticate says why).",
    403: "The token lacks the operation's scope (error insufficient_scope).",
    404: "Not found.",
    409: "The student is already enrolled (the message and existing_enrolment_id name the enrolment).",
    413: "The body is larger than REQUEST_BODY_LIMIT.",
    429: "Too many failed authentications from this address (Retry-After says when to try again).",
    422: "Invalid request, or refused by the catalogue (the message says why).",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


# OpenAPI links: what a client (or a stateful fuzzer) can do next with the enrolment it just created.
ENROLMENT_LINKS = {
    "GetEnrolment": {"operationId": "getEnrolment", "parameters": {"enrolment_id": "$response.body#/id"}},
    "CancelEnrolment": {"operationId": "cancelEnrolment", "parameters": {"enrolment_id": "$response.body#/id"}},
    "ListEnrolmentsOfStudent": {
        "operationId": "listEnrolments",
        "parameters": {"student_id": "$response.body#/student/id"},
    },
}


# --- mapping to response bodies ----------------------------------------------------------------------------


def already_enrolled(error: AlreadyEnrolled) -> JSONResponse:
    body = ErrorOut(error=ErrorBody(status=409, message=str(error), existing_enrolment_id=error.existing_enrolment_id))
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=409)


def _courses(courses: Sequence[Any]) -> list[Course]:
    return [Course(id=c.id, title=c.title, credits=c.credits, semester=c.semester) for c in courses]


def _tuition(source: Any) -> TuitionTerms:
    tuition = source.tuition
    return TuitionTerms(currency=tuition.currency, fixed_fee=tuition.fixed_fee, per_credit=tuition.per_credit)


def microcredential_out(entry: MicroCredential) -> MicrocredentialOut:
    body = entry.awarding_body
    return MicrocredentialOut(
        id=entry.id,
        academic_year=entry.academic_year,
        title=entry.title,
        description=entry.description,
        language=entry.language,
        format=entry.format,
        courses=_courses(entry.courses),
        total_credits=entry.total_credits,
        semesters=sorted(entry.semesters),
        tuition=_tuition(entry),
        learning_outcomes=list(entry.learning_outcomes),
        eqf_level=entry.eqf_level,
        cycle=entry.cycle,
        assessment_type=entry.assessment_type,
        participation_form=entry.participation_form,
        quality_assurance=entry.quality_assurance,
        awarding_body=None
        if body is None
        else AwardingBody(name=body.name, url=body.url, country=body.country, region=body.region),
        prerequisites=entry.prerequisites,
        stackability=entry.stackability,
        missing_credential_metadata=list(entry.missing_credential_metadata()),
    )


def enrolment_out(stored: StoredEnrolment) -> EnrolmentOut:
    enrolment, student = stored.enrolment, stored.student
    snapshot = enrolment.microcredential
    return EnrolmentOut(
        id=enrolment.id,
        status=enrolment.status.value,
        student=StudentOut(
            id=student.id, given_name=student.given_name, family_name=student.family_name, email=student.email
        ),
        microcredential=EnrolledMicrocredentialOut(
            id=snapshot.id,
            title=snapshot.title,
            academic_year=snapshot.academic_year,
            courses=_courses(snapshot.courses),
            total_credits=sum((course.credits for course in snapshot.courses), Decimal(0)),
        ),
        tuition=_tuition(snapshot),
        # Always UTC, whether the row was just written (caller's offset) or read back (stored in UTC); the event
        # keeps the offset the caller gave, because policy dates depend on it.
        enrolled_at=enrolment.enrolled_at.astimezone(UTC),
        cancelled_at=None if enrolment.cancelled_at is None else enrolment.cancelled_at.astimezone(UTC),
        cancellation_reason=enrolment.reason,
        origin=enrolment.origin,
    )
