"""Enrolments: enrol and cancel (scope enrolments:write), read one and list a student's (enrolments:read). Each
route: request model -> use case -> response model; the use cases open their own unit of work on the Database.

A student's token acts only on that student: it enrols only them, and another student's enrolment answers 404
as if it did not exist (existence is not revealed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from reliability.auth import Principal, require
from reliability.pagination import PageRequest, cursor_after, link_next, page_request

from contracts import Student
from enrolment import usecases
from enrolment.domain import AlreadyEnrolled, Catalogue, EnrolmentError
from enrolment.entrypoints.http.models import (
    ENROLMENT_LINKS,
    CancellationRequest,
    EnrolmentIdPath,
    EnrolmentOut,
    EnrolmentRequest,
    StudentIdQuery,
    already_enrolled,
    enrolment_out,
    errors,
)
from enrolment.store import Database
from enrolment.usecases import EnrolCommand, EnrolmentNotFound, StoredEnrolment

CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a cancellation date may lie (clocks of callers differ); further is refused."""


def enrolments_router(database: Database, catalogue: Catalogue) -> APIRouter:
    router = APIRouter(tags=["enrolments"])
    _add_enrol(router, database, catalogue)
    _add_reads(router, database)
    _add_cancel(router, database)
    return router


def _visible(database: Database, enrolment_id: str, principal: Principal) -> StoredEnrolment:
    """The enrolment, when the caller may see it; else EnrolmentNotFound, as for an unknown one."""
    stored = usecases.enrolment(database, enrolment_id)
    if not principal.sees(stored.student.id):
        raise EnrolmentNotFound(enrolment_id)
    return stored


def _add_enrol(router: APIRouter, database: Database, catalogue: Catalogue) -> None:
    created = {
        "headers": {"Location": {"description": "URL of the enrolment", "schema": {"type": "string"}}},
        "links": ENROLMENT_LINKS,
    }

    @router.post(
        "/enrolments",
        operation_id="enrol",
        status_code=status.HTTP_201_CREATED,
        responses={201: created, **errors(400, 401, 403, 409, 413, 422, 429)},
    )
    async def create_enrolment(
        request: EnrolmentRequest,
        response: Response,
        principal: Annotated[Principal, Depends(require("enrolments:write"))],
    ) -> EnrolmentOut:
        """Enrol a student; also publishes EnrolmentCreated (with the catalogue snapshot) on enrolment.events."""
        if not principal.sees(request.student.id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a student's token may enrol only that student")
        command = EnrolCommand(
            student=Student(**request.student.model_dump()),
            microcredential_id=request.microcredential_id,
            academic_year=request.academic_year,
            enrolled_at=datetime.now(UTC),
        )
        try:
            stored = await run_in_threadpool(usecases.enrol, database, catalogue, command)
        except AlreadyEnrolled as error:
            return already_enrolled(error)  # type: ignore[return-value]
        except EnrolmentError as error:
            raise HTTPException(422, str(error)) from error
        response.headers["Location"] = f"/enrolments/{stored.enrolment.id}"
        return enrolment_out(stored)


def _add_reads(router: APIRouter, database: Database) -> None:
    @router.get("/enrolments", operation_id="listEnrolments", responses=errors(401, 403, 422, 429))
    def list_enrolments(
        request: Request,
        response: Response,
        principal: Annotated[Principal, Depends(require("enrolments:read"))],
        page: Annotated[PageRequest, Depends(page_request)],
        student_id: Annotated[
            StudentIdQuery | None,
            Query(
                description="The student whose enrolments to list; a student's token: only (and by default) their own."
            ),
        ] = None,
    ) -> list[EnrolmentOut]:
        """A student's enrolments, oldest first, including those other campus systems published. Paginated:
        `limit`, and the `Link: <...>; rel="next"` / `X-Next-Cursor` headers name the next page."""
        if student_id is None:
            if principal.student_id is None:
                raise HTTPException(422, "invalid request: query.student_id: Field required")
            student_id = principal.student_id
        if not principal.sees(student_id):
            return []  # another student's list is as empty as an unknown student's
        found = usecases.enrolments_of_student(database, student_id, page.offset, page.fetch_limit())
        link_next(request, response, cursor_after(page, len(found)))
        return [enrolment_out(stored) for stored in found[: page.limit]]

    @router.get("/enrolments/{enrolment_id}", operation_id="getEnrolment", responses=errors(401, 403, 404, 422, 429))
    def get_enrolment(
        enrolment_id: EnrolmentIdPath, principal: Annotated[Principal, Depends(require("enrolments:read"))]
    ) -> EnrolmentOut:
        try:
            return enrolment_out(_visible(database, enrolment_id, principal))
        except EnrolmentNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error


def _add_cancel(router: APIRouter, database: Database) -> None:
    @router.post(
        "/enrolments/{enrolment_id}/cancellation",
        operation_id="cancelEnrolment",
        status_code=status.HTTP_202_ACCEPTED,
        responses=errors(400, 401, 403, 404, 413, 422, 429),
    )
    async def cancel_enrolment(
        enrolment_id: EnrolmentIdPath,
        principal: Annotated[Principal, Depends(require("enrolments:write"))],
        request: Annotated[CancellationRequest | None, Body()] = None,
    ) -> EnrolmentOut:
        """Cancel an enrolment; publishes EnrolmentCancelled. Repeating it is harmless: same answer, no new event,
        and the first cancellation date stays (it decides the refund)."""
        request = request or CancellationRequest()
        cancelled_at = _cancelled_at(request)
        try:
            if principal.kind == "student":
                await run_in_threadpool(_visible, database, enrolment_id, principal)
            outcome = await run_in_threadpool(usecases.cancel, database, enrolment_id, cancelled_at, request.reason)
        except EnrolmentNotFound as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from error
        except EnrolmentError as error:
            raise HTTPException(422, str(error)) from error
        return enrolment_out(outcome.enrolment)


def _cancelled_at(request: CancellationRequest) -> datetime:
    """The moment the student cancelled (default: now); a moment further ahead than clocks differ is refused."""
    now = datetime.now(UTC)
    cancelled_at = request.cancelled_at or now
    if cancelled_at > now + CLOCK_SKEW:
        raise HTTPException(
            422, f"cancelled_at {cancelled_at.isoformat()} is in the future; give the moment the student cancelled"
        )
    return cancelled_at
