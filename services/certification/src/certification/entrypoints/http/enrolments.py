"""What certification knows of an enrolment (scope credentials:read; a student's token only their own), and the
assessments it had to set aside (credentials:read, systems only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from reliability.auth import Principal, require
from reliability.pagination import PageRequest, cursor_after, page_request

from certification import usecases
from certification.entrypoints.http.models import (
    EnrolmentIdPath,
    ProgressOut,
    RejectedList,
    errors,
    progress_out,
    rejected_out,
)
from certification.store import Database


def enrolments_router(database: Database) -> APIRouter:
    router = APIRouter(tags=["enrolments"])

    @router.get("/enrolments/{enrolment_id}/progress", responses=errors(401, 403, 404, 422, 429))
    def progress(
        enrolment_id: EnrolmentIdPath, principal: Annotated[Principal, Depends(require("credentials:read"))]
    ) -> ProgressOut:
        """Each course's state (passed / failed / missing) with the assessment that counts, and the credential."""
        found = usecases.enrolment_progress(database, enrolment_id)
        if found is None or not principal.sees(found.enrolment.student_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"enrolment {enrolment_id!r} is not known here (yet)")
        return progress_out(found)

    @router.get("/assessments/rejected", responses=errors(401, 403, 422, 429))
    def list_rejected(
        _principal: Annotated[Principal, Depends(require("credentials:read", systems_only=True))],
        page: Annotated[PageRequest, Depends(page_request)],
    ) -> RejectedList:
        """Assessments kept before their enrolment arrived that turned out to be for a course not in it; a page
        of at most `limit`, `next_cursor` names the next one."""
        rows = usecases.rejected_assessments(database, page.offset, page.fetch_limit())
        next_cursor = cursor_after(page, len(rows))
        rows = rows[: page.limit]
        return RejectedList(count=len(rows), assessments=[rejected_out(row) for row in rows], next_cursor=next_cursor)

    return router
