"""Request and response bodies of the HTTP API, the path parameters, and the error responses routes declare."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from contracts.text import PARAGRAPH_PATTERN
from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the rows use cases return; only their attributes are read here
    from certification.store import AssessmentRow, HeldCredentialRow
    from certification.usecases import Progress

CredentialIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="The credential's UUID.")
]
EnrolmentIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
StatusListIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9]+$")]


_PUBLISHABLE = re.compile(PARAGRAPH_PATTERN)


def _publishable(value: str) -> str:
    # What the contract's CredentialRevoked.reason takes, so the event can always be built.
    if not _PUBLISHABLE.fullmatch(value):
        raise ValueError(
            "must not contain control characters other than tabs and line breaks (NUL included), or bidirectional overrides"
        )
    return value


class RevocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, AfterValidator(_publishable)] = Field(
        min_length=1,
        max_length=1000,
        description="Why the credential is withdrawn; published in CredentialRevoked.",
        examples=["Issued in error: the grade of course DL-2 was corrected to a fail"],
    )


class RevocationOut(BaseModel):
    credential_id: str
    enrolment_id: str
    revoked_at: datetime
    reason: str
    status_list: str = Field(description="URL of the status list credential whose bit is now set.")
    status_list_index: int
    already_revoked: bool = Field(description="True when the credential was revoked before; nothing changed.")


class CheckOut(BaseModel):
    name: str
    ok: bool
    reason: str


class VerificationOut(BaseModel):
    verified: bool
    revoked: bool | None = Field(description="The revocation bit, once it could be read.")
    checks: list[CheckOut]
    credential_id: str | None
    learner: str | None = Field(description="The learner's name as the credential states it.")
    title: str | None
    issuer: str | None
    issued: str | None = Field(description="validFrom, the date of issuing.")


class AttemptOut(BaseModel):
    passed: bool
    assessed_at: datetime
    grade: str | None
    grading_scale: str | None
    assessment_type: str | None


class CourseProgressOut(BaseModel):
    course_id: str
    title: str
    state: Literal["passed", "failed", "missing"]
    counting: AttemptOut | None = Field(description="The assessment that counts: the latest by assessed_at.")
    attempts: int


class CredentialRef(BaseModel):
    id: str
    url: str
    issued_at: datetime
    revoked_at: datetime | None


class HeldOut(BaseModel):
    enrolment_id: str
    microcredential_id: str
    academic_year: str
    missing: list[str] = Field(
        description='What the credential waits for: "catalogue entry", metadata fields, or a catalogue entry the '
        'enrolment snapshot agrees with ("snapshot disagrees with the catalogue: ...").'
    )
    held_since: datetime


class RejectedAssessmentOut(BaseModel):
    enrolment_id: str
    course_id: str
    event_id: str
    event_source: str
    received_at: datetime
    reason: str


class ProgressOut(BaseModel):
    enrolment_id: str
    status: Literal["active", "cancelled"]
    microcredential_id: str
    academic_year: str
    complete: bool
    courses: list[CourseProgressOut]
    credential: CredentialRef | None
    held: HeldOut | None
    rejected_assessments: list[RejectedAssessmentOut]


class HeldList(BaseModel):
    count: int = Field(description="Entries on this page.")
    held: list[HeldOut]
    next_cursor: str | None = Field(default=None, description="`cursor` of the next page; null on the last.")


class RejectedList(BaseModel):
    count: int = Field(description="Entries on this page.")
    assessments: list[RejectedAssessmentOut]
    next_cursor: str | None = Field(default=None, description="`cursor` of the next page; null on the last.")


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error responses a route declares in the OpenAPI document."""
    text_of = {
        401: "No valid bearer token (WWW-Authenticate says why).",
        403: "The token lacks the operation's scope (error insufficient_scope).",
        404: "Not found.",
        413: "Body too large.",
        422: "Invalid request.",
        429: "Too many failed authentications from this address (Retry-After says when to try again).",
        503: "No capacity now (Retry-After says when to try again).",
    }
    return {code: {"model": ErrorOut, "description": text_of[code]} for code in codes}


# --- from what the use cases return ---


def progress_out(progress: Progress) -> ProgressOut:
    enrolment, credential = progress.enrolment, progress.credential
    return ProgressOut(
        enrolment_id=enrolment.id,
        status=progress.status,
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
        complete=progress.complete,
        courses=[
            CourseProgressOut(
                course_id=course.course_id,
                title=course.title,
                state=course.state,
                counting=None if course.counting is None else attempt_out(course.counting),
                attempts=course.attempts,
            )
            for course in progress.courses
        ],
        credential=None
        if credential is None
        else CredentialRef(
            id=credential.id, url=credential.url, issued_at=credential.issued_at, revoked_at=credential.revoked_at
        ),
        held=None if progress.held is None else held_out(progress.held),
        rejected_assessments=[rejected_out(row) for row in progress.rejected],
    )


def attempt_out(row: AssessmentRow) -> AttemptOut:
    return AttemptOut(
        passed=row.passed,
        assessed_at=row.assessed_at,
        grade=row.grade_value,
        grading_scale=row.grade_scale,
        assessment_type=row.assessment_type,
    )


def held_out(row: HeldCredentialRow) -> HeldOut:
    return HeldOut(
        enrolment_id=row.enrolment_id,
        microcredential_id=row.microcredential_id,
        academic_year=row.academic_year,
        missing=list(row.missing),
        held_since=row.held_since,
    )


def rejected_out(row: AssessmentRow) -> RejectedAssessmentOut:
    return RejectedAssessmentOut(
        enrolment_id=row.enrolment_id,
        course_id=row.course_id,
        event_id=row.event_id,
        event_source=row.event_source,
        received_at=row.received_at,
        reason=row.rejected_reason or "",
    )
