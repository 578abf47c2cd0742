"""The HTTP API of the enrolment service: thin routes over the use cases in `enrolment.service`.

Status codes: 201 enrolled (Location header), 202 cancellation accepted (also when repeated), 401/403 token,
404 unknown enrolment or micro-credential (on reads), 409 already enrolled, 422 invalid request, no catalogue
for the year, or a micro-credential that year's catalogue does not offer (on POST /enrolments: the problem is
in the body, not in the URL). Every error is JSON: {"error": {"status", "message", ...}}.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from contracts.types import AcademicYear, Credits, Instant
from fastapi import Body, FastAPI, HTTPException, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator
from reliability.database import transaction
from reliability.http import database_check, install_error_handlers, operations_router, token_protected
from reliability.runtime import ServiceRuntime, notify_relay
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from contracts import AwardingBody, Course, Student, TuitionTerms
from enrolment import service
from enrolment.config import EnrolmentSettings
from enrolment.domain import (
    ENROLMENT_ID_PATTERN,
    AcademicYearNotInCatalogue,
    AlreadyEnrolled,
    Catalogue,
    EnrolmentError,
    MicroCredential,
    Result,
    UnknownMicroCredential,
)
from enrolment.service import EnrolCommand, EnrolmentNotFound
from enrolment.storage import StoredEnrolment

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a cancellation date may lie (clocks of callers differ); further is refused."""

# --- request and response bodies ---------------------------------------------------------------------------

# One line of text without surrounding whitespace or control characters (NUL cannot even be stored in
# PostgreSQL). The pattern is for the OpenAPI document; the validator gives the caller a readable reason.
_ONE_LINE_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_PARAGRAPH = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (tabs, line breaks, NUL)")
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def _paragraph(value: str) -> str:
    if _CONTROL_IN_PARAGRAPH.search(value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


def _one_line_text(max_length: int, example: str) -> Any:
    return Annotated[
        str,
        Field(
            min_length=1, max_length=max_length, json_schema_extra={"pattern": _ONE_LINE_PATTERN}, examples=[example]
        ),
        AfterValidator(_one_line),
    ]


StudentId = _one_line_text(128, "s0123456")
PersonName = _one_line_text(200, "Amira")
MicroCredentialId = _one_line_text(128, "mc-data-analysis-python")
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

    id: StudentId  # type: ignore[valid-type]
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
    401: "No bearer token.",
    403: "The token is not allowed.",
    404: "Not found.",
    409: "The student is already enrolled (the message and existing_enrolment_id name the enrolment).",
    422: "Invalid request, or refused by the catalogue (the message says why).",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": _ERROR_TEXT[code]} for code in codes}


# OpenAPI links: what a client (or a stateful fuzzer) can do next with the enrolment it just created.
_ENROLMENT_LINKS = {
    "GetEnrolment": {"operationId": "getEnrolment", "parameters": {"enrolment_id": "$response.body#/id"}},
    "CancelEnrolment": {"operationId": "cancelEnrolment", "parameters": {"enrolment_id": "$response.body#/id"}},
    "ListEnrolmentsOfStudent": {
        "operationId": "listEnrolments",
        "parameters": {"student_id": "$response.body#/student/id"},
    },
}

# --- the app -----------------------------------------------------------------------------------------------


def create_app(
    settings: EnrolmentSettings, engine: Engine, catalogue: Catalogue, runtime: ServiceRuntime | None = None
) -> FastAPI:
    app = FastAPI(
        title="Enrolment service",
        version="1.0.0",
        description="Micro-credential catalogue and enrolments. Write endpoints and endpoints showing personal "
        "data need a bearer token; the catalogue is public.",
    )
    install_error_handlers(app)
    protected = token_protected(settings.api_tokens)

    # --- catalogue (public) ---

    @app.get("/microcredentials", operation_id="listMicroCredentials", tags=["catalogue"], responses=_errors(404, 422))
    def list_microcredentials(
        academic_year: Annotated[
            AcademicYear | None, Query(description="Only this academic year; default: every year.")
        ] = None,
    ) -> list[MicrocredentialOut]:
        years = catalogue.years() if academic_year is None else (academic_year,)
        try:
            return [_microcredential_out(entry) for year in years for entry in catalogue.entries(year)]
        except AcademicYearNotInCatalogue as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error

    @app.get(
        "/microcredentials/{microcredential_id}",
        operation_id="getMicroCredential",
        tags=["catalogue"],
        responses=_errors(404, 422),
    )
    def get_microcredential(
        microcredential_id: Annotated[str, Path(min_length=1, max_length=128)],
        academic_year: Annotated[
            AcademicYear | None, Query(description="Default: the newest academic year that offers it.")
        ] = None,
    ) -> MicrocredentialOut:
        try:
            if academic_year is not None:
                return _microcredential_out(catalogue.get(academic_year, microcredential_id))
            for year in reversed(catalogue.years()):
                try:
                    return _microcredential_out(catalogue.get(year, microcredential_id))
                except UnknownMicroCredential:
                    continue
        except EnrolmentError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"micro-credential {microcredential_id!r} is in no catalogue (years: {', '.join(catalogue.years())})",
        )

    # --- enrolments (token) ---

    @app.post(
        "/enrolments",
        operation_id="enrol",
        tags=["enrolments"],
        status_code=status.HTTP_201_CREATED,
        dependencies=protected,
        responses={
            201: {
                "headers": {"Location": {"description": "URL of the enrolment", "schema": {"type": "string"}}},
                "links": _ENROLMENT_LINKS,
            },
            **_errors(400, 401, 403, 409, 422),
        },
    )
    async def create_enrolment(request: EnrolmentRequest, response: Response) -> EnrolmentOut:
        """Enrol a student; also publishes EnrolmentCreated (with the catalogue snapshot) on enrolment.events."""
        command = EnrolCommand(
            student=Student(**request.student.model_dump()),
            microcredential_id=request.microcredential_id,
            academic_year=request.academic_year,
            enrolled_at=datetime.now(UTC),
        )
        try:
            stored = await run_in_threadpool(_enrol, engine, catalogue, command)
        except AlreadyEnrolled as error:
            return _already_enrolled(error)  # type: ignore[return-value]
        except EnrolmentError as error:
            raise HTTPException(422, str(error)) from error
        notify_relay(runtime)
        response.headers["Location"] = f"/enrolments/{stored.enrolment.id}"
        return _enrolment_out(stored)

    @app.get(
        "/enrolments",
        operation_id="listEnrolments",
        tags=["enrolments"],
        dependencies=protected,
        responses=_errors(401, 403, 422),
    )
    def list_enrolments(
        student_id: Annotated[StudentId, Query(description="The student whose enrolments to list.")],  # type: ignore[valid-type]
    ) -> list[EnrolmentOut]:
        """A student's enrolments, oldest first, including those other campus systems published."""
        with transaction(engine) as session:
            return [_enrolment_out(stored) for stored in service.enrolments_of_student(session, student_id)]

    @app.get(
        "/enrolments/{enrolment_id}",
        operation_id="getEnrolment",
        tags=["enrolments"],
        dependencies=protected,
        responses=_errors(401, 403, 404, 422),
    )
    def get_enrolment(enrolment_id: EnrolmentIdPath) -> EnrolmentOut:
        try:
            with transaction(engine) as session:
                return _enrolment_out(service.get_enrolment(session, enrolment_id))
        except EnrolmentNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error

    @app.post(
        "/enrolments/{enrolment_id}/cancellation",
        operation_id="cancelEnrolment",
        tags=["enrolments"],
        status_code=status.HTTP_202_ACCEPTED,
        dependencies=protected,
        responses=_errors(400, 401, 403, 404, 422),
    )
    async def cancel_enrolment(
        enrolment_id: EnrolmentIdPath, request: Annotated[CancellationRequest | None, Body()] = None
    ) -> EnrolmentOut:
        """Cancel an enrolment; publishes EnrolmentCancelled. Repeating it is harmless: same answer, no new event,
        and the first cancellation date stays (it decides the refund)."""
        request = request or CancellationRequest()
        now = datetime.now(UTC)
        cancelled_at = request.cancelled_at or now
        if cancelled_at > now + CLOCK_SKEW:
            raise HTTPException(
                422,
                f"cancelled_at {cancelled_at.isoformat()} is in the future; give the moment the student cancelled",
            )
        try:
            outcome = await run_in_threadpool(_cancel, engine, enrolment_id, cancelled_at, request.reason)
        except EnrolmentNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        except EnrolmentError as error:
            raise HTTPException(422, str(error)) from error
        if outcome.result is Result.CANCELLED:
            notify_relay(runtime)
        return _enrolment_out(outcome.enrolment)

    _list_every_allowed_method(app)
    checks = runtime.health_checks() if runtime is not None else {"database": database_check(engine)}
    app.include_router(operations_router(checks))
    return app


def _list_every_allowed_method(app: FastAPI) -> None:
    """A 405's Allow header must list every method of the path (RFC 9110); Starlette lists only those of the
    first route that matched the path, so `OPTIONS /enrolments` would claim only POST is allowed."""

    @app.middleware("http")
    async def allow_header(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if response.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
            methods = {
                method
                for route in app.routes
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                for method in route.methods or ()
            }
            if methods:
                response.headers["Allow"] = ", ".join(sorted(methods))
        return response


# --- use cases in one transaction each (run in a worker thread) --------------------------------------------


def _enrol(engine: Engine, catalogue: Catalogue, command: EnrolCommand) -> StoredEnrolment:
    try:
        with transaction(engine) as session:
            return service.enrol(session, catalogue, command)
    except IntegrityError:
        # A concurrent request enrolled the same student first (unique index); this time the domain sees it.
        with transaction(engine) as session:
            return service.enrol(session, catalogue, command)


def _cancel(engine: Engine, enrolment_id: str, cancelled_at: datetime, reason: str | None) -> service.CancelOutcome:
    with transaction(engine) as session:
        return service.cancel(session, enrolment_id, cancelled_at, reason)


# --- mapping to response bodies ----------------------------------------------------------------------------


def _already_enrolled(error: AlreadyEnrolled) -> JSONResponse:
    body = ErrorOut(error=ErrorBody(status=409, message=str(error), existing_enrolment_id=error.existing_enrolment_id))
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), status_code=409)


def _courses(courses: Sequence[Any]) -> list[Course]:
    return [Course(id=c.id, title=c.title, credits=c.credits, semester=c.semester) for c in courses]


def _tuition(source: Any) -> TuitionTerms:
    tuition = source.tuition
    return TuitionTerms(currency=tuition.currency, fixed_fee=tuition.fixed_fee, per_credit=tuition.per_credit)


def _microcredential_out(entry: MicroCredential) -> MicrocredentialOut:
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


def _enrolment_out(stored: StoredEnrolment) -> EnrolmentOut:
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


__all__ = ["CancellationRequest", "EnrolmentOut", "EnrolmentRequest", "MicrocredentialOut", "create_app"]
