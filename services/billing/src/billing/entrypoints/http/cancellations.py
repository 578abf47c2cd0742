"""GET /cancellations/pending: cancellations that arrived before their enrolment, by outcome (for operators)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from reliability.auth import Principal, require
from reliability.pagination import PageRequest, cursor_after, page_request

from billing import usecases
from billing.entrypoints.http.formatting import UNAUTHORISED
from billing.entrypoints.http.models import PendingCancellationList, PendingCancellationOut
from billing.store import Database


def router(database: Database) -> APIRouter:
    router = APIRouter()

    @router.get("/cancellations/pending", response_model=PendingCancellationList, responses=UNAUTHORISED)
    def pending(
        _principal: Annotated[Principal, Depends(require("operations", systems_only=True))],
        page: Annotated[PageRequest, Depends(page_request)],
        status_filter: Annotated[
            Literal["waiting", "settled", "superseded", "rejected"],
            Query(
                alias="status",
                description="waiting (default): enrolment not arrived yet; rejected: refused when it arrived "
                "(dated before the enrolment); settled / superseded: history.",
            ),
        ] = "waiting",
    ) -> PendingCancellationList:
        """Cancellations that arrived before their enrolment, by outcome, in arrival order; a page of at most
        `limit`, `next_cursor` names the next one."""
        rows = usecases.pending_cancellations(database, status_filter, page.offset, page.fetch_limit())
        next_cursor = cursor_after(page, len(rows))
        rows = rows[: page.limit]
        return PendingCancellationList(
            status=status_filter,
            count=len(rows),
            next_cursor=next_cursor,
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
