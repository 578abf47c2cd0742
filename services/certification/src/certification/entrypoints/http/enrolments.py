"""What certification knows of an enrolment, and the assessments it had to set aside (bearer token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

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


def enrolments_router(database: Database, protected: list[Any]) -> APIRouter:
    router = APIRouter(tags=["enrolments"], dependencies=protected)

    @router.get("/enrolments/{enrolment_id}/progress", responses=errors(401, 403, 404, 422))
    def progress(enrolment_id: EnrolmentIdPath) -> ProgressOut:
        """Each course's state (passed / failed / missing) with the assessment that counts, and the credential."""
        found = usecases.enrolment_progress(database, enrolment_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"enrolment {enrolment_id!r} is not known here (yet)")
        return progress_out(found)

    @router.get("/assessments/rejected", responses=errors(401, 403))
    def list_rejected() -> RejectedList:
        """Assessments kept before their enrolment arrived that turned out to be for a course not in it."""
        rows = usecases.rejected_assessments(database)
        return RejectedList(count=len(rows), assessments=[rejected_out(row) for row in rows])

    return router
