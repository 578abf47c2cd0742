"""The HTTP API of the certification service.

Open (a credential is meant to be shown, and verifiers must fetch what it points to):
  GET /credentials/{id}, GET /credentials/{id}/certificate.pdf, GET /issuer, GET /status-lists/{id},
  GET /contexts/microcredential/v1, POST /verify, GET /verify (page), /health, /metrics, /docs.
Bearer token (API_TOKENS):
  POST /credentials/{id}/revocation, GET /enrolments/{id}/progress, GET /credentials/held,
  GET /assessments/rejected.

Credential ids are random UUIDs, so an open credential URL is a capability: whoever was given it (the learner,
an employer they showed it to, the QR code on the certificate) may read it; nobody can enumerate them. The PDF
shows no more than the JSON (the learner's name, no e-mail), so it is open on the same terms.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from reliability.database import transaction
from reliability.http import database_check, install_error_handlers, operations_router, token_protected
from reliability.runtime import ServiceRuntime, notify_relay
from sqlalchemy.engine import Engine
from sqlmodel import Session

from certification import handlers, storage
from certification.adapters import microcredential_context
from certification.adapters.issuer import Issuer
from certification.adapters.pdf import render_certificate_pdf
from certification.config import CertificationSettings
from certification.domain import CompletionStatus, Learner, certificate

MAX_VERIFY_BODY = 1_000_000
"""Bytes; a credential is a few kilobytes, so a megabyte is generous and bounds the canonicalisation work."""

JSON_LD = "application/ld+json"
# Verifiers, wallets and the verification page of another site fetch these from the browser.
OPEN_CORS = {"Access-Control-Allow-Origin": "*"}
PAGE_SECURITY = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

CredentialIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$", description="The credential's UUID.")
]
EnrolmentIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
StatusListIdPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9]+$")]


# --- bodies -------------------------------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class RevocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, AfterValidator(_no_nul)] = Field(
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
    missing: list[str] = Field(description='What the credential waits for: "catalogue entry" or metadata fields.')
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
    count: int
    held: list[HeldOut]


class RejectedList(BaseModel):
    count: int
    assessments: list[RejectedAssessmentOut]


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text_of = {
        401: "No bearer token.",
        403: "The token is not allowed.",
        404: "Not found.",
        413: "Body too large.",
        422: "Invalid request.",
    }
    return {code: {"model": ErrorOut, "description": text_of[code]} for code in codes}


# --- the app ------------------------------------------------------------------------------------------------


def create_app(
    settings: CertificationSettings, engine: Engine, issuer: Issuer, runtime: ServiceRuntime | None = None
) -> FastAPI:
    app = FastAPI(
        title="Certification service",
        version="1.0.0",
        description="Micro-credentials (W3C VC 2.0 / Open Badges 3.0, eddsa-rdfc-2022) for completed enrolments: "
        "the credentials, their issuer and revocation lists, verification, and the printable certificate.",
    )
    install_error_handlers(app)
    protected = token_protected(settings.api_tokens)

    def read(function: Any, *args: Any) -> Any:
        with Session(engine, expire_on_commit=False) as session:
            return function(session, *args)

    # --- documents verifiers fetch (open) ---

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("verify")

    @app.get("/issuer", tags=["issuer"], summary="Controller document of the issuer (its public keys)")
    def issuer_document() -> JSONResponse:
        """Resolves the issuer id: every key that signs or signed credentials, as Multikey verification methods."""
        return JSONResponse(issuer.controller_document(), headers=OPEN_CORS)

    @app.get("/contexts/microcredential/v1", tags=["issuer"], summary="Our JSON-LD context")
    def context_document() -> Response:
        return _json(microcredential_context(issuer.base_url), JSON_LD, {**OPEN_CORS, "Cache-Control": "max-age=86400"})

    @app.get("/status-lists/{list_id}", tags=["issuer"], responses=_errors(404, 422))
    def status_list(list_id: StatusListIdPath) -> JSONResponse:
        """The signed BitstringStatusListCredential (revocation); re-signed at every revocation."""
        row = read(storage.get_status_list, list_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no status list {list_id!r}")
        # Revocations must reach verifiers promptly: caches revalidate every time.
        return JSONResponse(row.credential, headers={**OPEN_CORS, "Cache-Control": "no-cache"})

    # --- credentials ---

    @app.get("/credentials/held", tags=["credentials"], dependencies=protected, responses=_errors(401, 403))
    def list_held() -> HeldList:
        """Complete enrolments whose credential waits for catalogue metadata (issued when it arrives)."""
        rows = read(storage.held_credentials)
        return HeldList(count=len(rows), held=[_held_out(row) for row in rows])

    @app.get("/credentials/{credential_id}", tags=["credentials"], responses=_errors(404, 422))
    def get_credential(credential_id: CredentialIdPath) -> JSONResponse:
        """The signed credential exactly as issued (a revoked one too: its status list says it is revoked)."""
        row = read(storage.get_credential, credential_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no credential {credential_id!r}")
        return JSONResponse(row.document, headers=OPEN_CORS)

    @app.get(
        "/credentials/{credential_id}/certificate.pdf",
        tags=["credentials"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}, **_errors(404, 422)},
    )
    def get_certificate(credential_id: CredentialIdPath) -> Response:
        """A printable one-page certificate of the credential, with a QR code to its verification page."""

        def load(session: Session) -> tuple[storage.CredentialRow, storage.EnrolmentRow] | None:
            row = storage.get_credential(session, credential_id)
            enrolment = None if row is None else storage.get_enrolment(session, row.enrolment_id)
            return None if row is None or enrolment is None else (row, enrolment)

        found = read(load)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"there is no credential {credential_id!r}")
        row, enrolment = found
        pdf = render_certificate_pdf(
            learner=_learner_of(enrolment),
            microcredential=certificate.microcredential_of_document(row.document),
            issued_at=certificate.issued_at_of(row.document),
            verification_url=issuer.verification_url(row.url),
            credential_id=row.url,
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="certificate-{row.id}.pdf"'},
        )

    @app.post(
        "/credentials/{credential_id}/revocation",
        tags=["credentials"],
        dependencies=protected,
        responses=_errors(401, 403, 404, 422),
    )
    async def revoke_credential(credential_id: CredentialIdPath, request: RevocationRequest) -> RevocationOut:
        """Revoke: sets the credential's bit in its status list, re-signs the list, publishes CredentialRevoked.

        Repeating it changes nothing and publishes nothing; the first reason stands."""

        def run() -> handlers.RevokeOutcome:
            with transaction(engine) as session:
                return handlers.revoke(session, credential_id, request.reason, issuer)

        try:
            outcome = await run_in_threadpool(run)
        except handlers.CredentialNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        if outcome.changed:
            notify_relay(runtime)
        credential = outcome.credential
        assert credential.revoked_at is not None and credential.revocation_reason is not None
        return RevocationOut(
            credential_id=credential.id,
            enrolment_id=credential.enrolment_id,
            revoked_at=credential.revoked_at,
            reason=credential.revocation_reason,
            status_list=issuer.status_list_url(credential.status_list_id),
            status_list_index=credential.status_index,
            already_revoked=not outcome.changed,
        )

    # --- enrolments and operations (token) ---

    @app.get(
        "/enrolments/{enrolment_id}/progress",
        tags=["enrolments"],
        dependencies=protected,
        responses=_errors(401, 403, 404, 422),
    )
    def progress(enrolment_id: EnrolmentIdPath) -> ProgressOut:
        """Each course's state (passed / failed / missing) with the assessment that counts, and the credential."""
        found = read(_progress, enrolment_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"enrolment {enrolment_id!r} is not known here (yet)")
        result: ProgressOut = found
        return result

    @app.get("/assessments/rejected", tags=["enrolments"], dependencies=protected, responses=_errors(401, 403))
    def list_rejected() -> RejectedList:
        """Assessments kept before their enrolment arrived that turned out to be for a course not in it."""
        rows = read(storage.rejected_assessments)
        return RejectedList(count=len(rows), assessments=[_rejected_out(row) for row in rows])

    # --- verification ---

    @app.post(
        "/verify",
        tags=["verification"],
        responses=_errors(413, 422),
        openapi_extra={
            "requestBody": {
                "required": True,
                "description": "The credential (a JSON object) to verify.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    async def verify(request: Request) -> VerificationOut:
        """Verify a credential against this issuer's keys and status lists (nothing is fetched from elsewhere).

        Always 200 for a JSON body: `verified` says whether every check passed, `checks` says which did not
        and why. A credential of another issuer is answered as not verified, with the reason."""
        body = await request.body()
        if len(body) > MAX_VERIFY_BODY:
            raise HTTPException(413, f"at most {MAX_VERIFY_BODY} bytes")
        try:
            document = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise HTTPException(422, f"the body is not JSON: {error}") from error
        return await run_in_threadpool(_verify, document)

    def _verify(document: Any) -> VerificationOut:
        def status_list_of(list_id: str) -> dict[str, Any] | None:
            row = read(storage.get_status_list, list_id)
            return None if row is None else row.credential

        result = issuer.verify(document, status_list_of)
        return VerificationOut(
            verified=result.verified,
            revoked=result.revoked,
            checks=[CheckOut(name=c.name, ok=c.ok, reason=c.reason) for c in result.checks],
            **certificate.summary(document),
        )

    @app.get("/verify", tags=["verification"], response_class=HTMLResponse, summary="Verification page")
    def verify_page() -> HTMLResponse:
        """A page to paste or upload a credential, or open one by its link (`?credential=<credential URL>`)."""
        page = (
            _asset("verify.html")
            .replace("{{PUBLIC_BASE_URL}}", html.escape(issuer.base_url))
            .replace("{{ISSUER_ID}}", html.escape(issuer.issuer_id))
        )
        return HTMLResponse(page, headers=PAGE_SECURITY)

    @app.get("/static/verify.js", include_in_schema=False)
    def verify_script() -> Response:
        return Response(_asset("verify.js"), media_type="text/javascript", headers=PAGE_SECURITY)

    @app.get("/static/verify.css", include_in_schema=False)
    def verify_style() -> Response:
        return Response(_asset("verify.css"), media_type="text/css", headers=PAGE_SECURITY)

    checks = runtime.health_checks() if runtime is not None else {"database": database_check(engine)}
    app.include_router(operations_router(checks))
    return app


# --- reads --------------------------------------------------------------------------------------------------


def _progress(session: Session, enrolment_id: str) -> ProgressOut | None:
    enrolment = storage.get_enrolment(session, enrolment_id)
    if enrolment is None:
        return None
    rows = storage.assessments_of(session, enrolment_id)
    counted = [row for row in rows if row.rejected_reason is None]
    completion: CompletionStatus = handlers.completion_of(session, enrolment)
    courses = []
    for course in enrolment.courses:
        latest = completion.latest.get(course["id"])
        of_course = [row for row in counted if row.course_id == course["id"]]
        # The stored row behind the counting assessment (same instant and outcome; a fail wins a tie).
        counting = next(
            (
                row
                for row in reversed(of_course)
                if latest is not None and row.assessed_at == latest.assessed_at and row.passed == latest.passed
            ),
            None,
        )
        state: Literal["passed", "failed", "missing"] = (
            "missing" if latest is None else "passed" if latest.passed else "failed"
        )
        courses.append(
            CourseProgressOut(
                course_id=course["id"],
                title=course["title"],
                state=state,
                counting=None if counting is None else _attempt_out(counting),
                attempts=len(of_course),
            )
        )
    credential = storage.credential_of_enrolment(session, enrolment_id)
    held = session.get(storage.HeldCredentialRow, enrolment_id)
    return ProgressOut(
        enrolment_id=enrolment.id,
        status="cancelled" if enrolment.status == storage.CANCELLED else "active",
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
        complete=completion.complete,
        courses=courses,
        credential=None
        if credential is None
        else CredentialRef(
            id=credential.id, url=credential.url, issued_at=credential.issued_at, revoked_at=credential.revoked_at
        ),
        held=None if held is None else _held_out(held),
        rejected_assessments=[_rejected_out(row) for row in rows if row.rejected_reason is not None],
    )


def _learner_of(enrolment: storage.EnrolmentRow) -> Learner:
    return Learner(
        id=enrolment.student_id,
        given_name=enrolment.student_given_name,
        family_name=enrolment.student_family_name,
        email=None,  # the certificate never shows it
    )


def _attempt_out(row: storage.AssessmentRow) -> AttemptOut:
    return AttemptOut(
        passed=row.passed,
        assessed_at=row.assessed_at,
        grade=row.grade_value,
        grading_scale=row.grade_scale,
        assessment_type=row.assessment_type,
    )


def _held_out(row: storage.HeldCredentialRow) -> HeldOut:
    return HeldOut(
        enrolment_id=row.enrolment_id,
        microcredential_id=row.microcredential_id,
        academic_year=row.academic_year,
        missing=list(row.missing),
        held_since=row.held_since,
    )


def _rejected_out(row: storage.AssessmentRow) -> RejectedAssessmentOut:
    return RejectedAssessmentOut(
        enrolment_id=row.enrolment_id,
        course_id=row.course_id,
        event_id=row.event_id,
        event_source=row.event_source,
        received_at=row.received_at,
        reason=row.rejected_reason or "",
    )


def _json(document: Any, media_type: str, headers: dict[str, str]) -> Response:
    return Response(json.dumps(document, ensure_ascii=False), media_type=media_type, headers=headers)


@cache
def _asset(name: str) -> str:
    return resources.files("certification").joinpath("web").joinpath(name).read_text("utf-8")


__all__ = ["RevocationRequest", "VerificationOut", "create_app"]
