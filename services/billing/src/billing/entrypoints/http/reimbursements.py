"""GET /reimbursements (scope billing:export): the reimbursements (of one academic year), page by page, as JSON
or as CSV for the finance office."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from reliability.auth import Principal, require
from reliability.pagination import PageRequest, cursor_after, link_next, page_request

from billing import usecases
from billing.entrypoints.http.formatting import UNAUTHORISED, reimbursement_out
from billing.entrypoints.http.models import ReimbursementList, ReimbursementListItem
from billing.store import Database

CSV_MEDIA_TYPE = "text/csv"
ACADEMIC_YEAR_PATTERN = r"^\d{4}-\d{4}$"


def router(database: Database) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/reimbursements",
        response_model=ReimbursementList,
        responses={
            **UNAUTHORISED,
            200: {
                "description": "JSON, or CSV for the finance office with `Accept: text/csv`.",
                "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
            },
        },
    )
    def list_reimbursements(
        request: Request,
        principal: Annotated[Principal, Depends(require("billing:export"))],
        page: Annotated[PageRequest, Depends(page_request)],
        academic_year: Annotated[
            str | None, Query(pattern=ACADEMIC_YEAR_PATTERN, description="e.g. 2026-2027; all years when absent.")
        ] = None,
    ) -> ReimbursementList | Response:
        """Reimbursements (of one academic year), in enrolment-id order, a page of at most `limit`: the JSON's
        `next_cursor` (the CSV's `Link: <...>; rel="next"` header) names the next page. A student's token lists
        only that student's."""
        entries = usecases.reimbursements_of(
            database, academic_year, student_id=principal.student_id, offset=page.offset, limit=page.fetch_limit()
        )
        next_cursor = cursor_after(page, len(entries))
        items = [_item(entry) for entry in entries[: page.limit]]
        if CSV_MEDIA_TYPE in request.headers.get("accept", ""):
            name = f"reimbursements-{academic_year or 'all'}.csv"
            response = Response(
                reimbursements_csv(items),
                media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
            link_next(request, response, next_cursor)
            return response
        return ReimbursementList(
            academic_year=academic_year, count=len(items), reimbursements=items, next_cursor=next_cursor
        )

    return router


def _item(entry: usecases.ReimbursementEntry) -> ReimbursementListItem:
    enrolment = entry.enrolment
    return ReimbursementListItem(
        **reimbursement_out(entry.reimbursement, entry.lines).model_dump(),
        enrolment_id=enrolment.enrolment_id,
        student_id=enrolment.student_id,
        microcredential_id=enrolment.microcredential_id,
        academic_year=enrolment.academic_year,
    )


CSV_COLUMNS = (
    "enrolment_id",
    "student_id",
    "microcredential_id",
    "academic_year",
    "cancelled_at",
    "policy",
    "rule",
    "currency",
    "semester_1_credits",
    "semester_1_refund",
    "semester_2_credits",
    "semester_2_refund",
    "fixed_fee_refund",
    "total_refund",
    "event_id",
)


def reimbursements_csv(items: list[ReimbursementListItem]) -> str:
    """One row per reimbursement, one column pair per semester (0 / 0.00 where the enrolment has none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in items:
        by_semester = {line.semester: line for line in item.lines}
        row: list[str] = [
            item.enrolment_id,
            item.student_id,
            item.microcredential_id,
            item.academic_year,
            item.cancelled_at.isoformat(),
            item.policy,
            item.rule,
            item.currency,
        ]
        for semester in (1, 2):
            line = by_semester.get(semester)
            row += [line.credits, line.refunded] if line is not None else ["0", "0.00"]
        row += [item.fixed_fee, item.total, item.event_id]
        writer.writerow([_spreadsheet_safe(value) for value in row])
    return buffer.getvalue()


def _spreadsheet_safe(value: str) -> str:
    # Ids come from other systems; one starting with '=' or '+' would run as a formula in the finance office's
    # spreadsheet. Amounts and dates never start with these characters.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
