"""GET /cancellations/pending: cancellations that arrived before their enrolment, by outcome (for operators)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from billing import usecases
from billing.entrypoints.http.formatting import UNAUTHORISED
from billing.entrypoints.http.models import PendingCancellationList, PendingCancellationOut
from billing.store import Database


def router(database: Database) -> APIRouter:
    router = APIRouter()

    @router.get("/cancellations/pending", response_model=PendingCancellationList, responses=UNAUTHORISED)
    def pending(
        status_filter: Annotated[
            Literal["waiting", "settled", "superseded", "rejected"],
            Query(
                alias="status",
                description="waiting (default): enrolment not arrived yet; rejected: refused when it arrived "
                "(dated before the enrolment); settled / superseded: history.",
            ),
        ] = "waiting",
    ) -> PendingCancellationList:
        """Cancellations that arrived before their enrolment, by outcome, in arrival order."""
        rows = usecases.pending_cancellations(database, status_filter)
        return PendingCancellationList(
            status=status_filter,
            count=len(rows),
            cancellations=[
                PendingCancellationOut(
                    enrolment_id=row.enrolment_id,
                    event_id=row.event_id,
                    event_source=row.event_source,
                    cancelled_at=row.cancelled_at,
                    received_at=row.received_at,
                    status=row.status,
                    status_reason=row.status_reason,
                    resolved_at=row.resolved_at,
                )
                for row in rows
            ],
        )

    return router
