"""Billing's HTTP API: statements, the finance office's reimbursement export, cancellations on hold.

Routes only read what the handlers stored; no figure is computed here. Amounts are decimal strings with two
decimals, credits decimal strings, instants RFC 3339 in UTC. Everything about a student's money needs a
bearer token; /health, /metrics and the OpenAPI document (/docs, /openapi.json) are open.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field
from reliability.http import database_check, install_error_handlers, operations_router, token_protected
from reliability.runtime import ServiceRuntime
from sqlalchemy.engine import Engine
from sqlmodel import Session

from billing import storage
from billing.config import BillingSettings

CSV_MEDIA_TYPE = "text/csv"
ACADEMIC_YEAR_PATTERN = r"^\d{4}-\d{4}$"


# --- response models ----------------------------------------------------------------------------------------


class InvoiceLineOut(BaseModel):
    semester: int
    credits: str = Field(examples=["6"])
    amount: str = Field(examples=["300.00"])


class InvoiceOut(BaseModel):
    event_id: str = Field(description="Id of the TuitionInvoiced event on billing.events.")
    currency: str
    lines: list[InvoiceLineOut]
    fixed_fee: str
    total: str


class ReimbursementLineOut(BaseModel):
    semester: int
    credits: str
    invoiced: str = Field(description="What this semester's line of the invoice was.")
    refunded: str = Field(description="What is refunded of it (0.00 included).")


class ReimbursementOut(BaseModel):
    event_id: str = Field(description="Id of the ReimbursementCalculated event on billing.events.")
    cancellation_event_id: str = Field(description="The EnrolmentCancelled event this reimbursement settled.")
    cancelled_at: datetime
    policy: str = Field(description='Policy id and version used, e.g. "uantwerp-en@1".', examples=["uantwerp-en@1"])
    policy_id: str
    policy_version: str
    rule: str = Field(examples=["full-refund"])
    currency: str
    lines: list[ReimbursementLineOut]
    fixed_fee: str = Field(description="The refunded part of the fixed fee.")
    total: str


class StatementOut(BaseModel):
    enrolment_id: str
    student_id: str
    microcredential_id: str
    academic_year: str
    currency: str
    enrolled_at: datetime
    status: Literal["invoiced", "cancelled"]
    invoice: InvoiceOut
    reimbursement: ReimbursementOut | None


class ReimbursementListItem(ReimbursementOut):
    enrolment_id: str
    student_id: str
    microcredential_id: str
    academic_year: str


class ReimbursementList(BaseModel):
    academic_year: str | None
    count: int
    reimbursements: list[ReimbursementListItem]


class PendingCancellationOut(BaseModel):
    enrolment_id: str
    event_id: str
    event_source: str
    cancelled_at: datetime
    received_at: datetime
    status: str
    status_reason: str | None
    resolved_at: datetime | None


class PendingCancellationList(BaseModel):
    status: str
    count: int
    cancellations: list[PendingCancellationOut]


# --- app ----------------------------------------------------------------------------------------------------


def create_app(settings: BillingSettings, engine: Engine, runtime: ServiceRuntime | None = None) -> FastAPI:
    app = FastAPI(
        title="Billing service",
        version="1.0.0",
        description=(
            "Tuition invoices and cancellation reimbursements of micro-credential enrolments. Consumes "
            "enrolment.events, publishes billing.events. Financial endpoints need `Authorization: Bearer <token>`."
        ),
    )
    install_error_handlers(app)
    checks = runtime.health_checks() if runtime is not None else {"database": database_check(engine)}
    app.include_router(operations_router(checks))
    app.include_router(_billing_router(engine, settings))
    return app


def _billing_router(engine: Engine, settings: BillingSettings) -> APIRouter:
    # Fail closed: with no API_TOKENS configured every financial request is refused (403), never served.
    router = APIRouter(dependencies=token_protected(settings.api_tokens), tags=["billing"])
    unauthorised: dict[int | str, dict[str, Any]] = {
        401: {"description": "No bearer token."},
        403: {"description": "Unknown token."},
    }

    @router.get(
        "/enrolments/{enrolment_id}/statement",
        response_model=StatementOut,
        responses={**unauthorised, 404: {"description": "Billing knows no such enrolment."}},
    )
    def statement(enrolment_id: str) -> StatementOut:
        """The invoice of an enrolment and, once it is cancelled, its reimbursement, line by line."""
        with Session(engine) as session:
            enrolment = storage.get_enrolment(session, enrolment_id)
            invoice = storage.get_invoice(session, enrolment_id)
            if enrolment is None or invoice is None:
                waiting = storage.pending_cancellations(session, enrolment_id=enrolment_id)
                note = " (a cancellation of it is waiting for the enrolment to arrive)" if waiting else ""
                raise HTTPException(status.HTTP_404_NOT_FOUND, f"no enrolment {enrolment_id!r} is known{note}")
            reimbursement = storage.get_reimbursement(session, enrolment_id)
            return StatementOut(
                enrolment_id=enrolment.enrolment_id,
                student_id=enrolment.student_id,
                microcredential_id=enrolment.microcredential_id,
                academic_year=enrolment.academic_year,
                currency=enrolment.currency,
                enrolled_at=enrolment.enrolled_at,
                status="invoiced" if reimbursement is None else "cancelled",
                invoice=InvoiceOut(
                    event_id=invoice.event_id,
                    currency=invoice.currency,
                    lines=[
                        InvoiceLineOut(
                            semester=line.semester, credits=_credits(line.credits), amount=_money(line.amount)
                        )
                        for line in storage.invoice_lines(session, enrolment_id)
                    ],
                    fixed_fee=_money(invoice.fixed_fee),
                    total=_money(invoice.total),
                ),
                reimbursement=None
                if reimbursement is None
                else _reimbursement_out(reimbursement, storage.reimbursement_lines(session, enrolment_id)),
            )

    @router.get(
        "/reimbursements",
        response_model=ReimbursementList,
        responses={
            **unauthorised,
            200: {
                "description": "JSON, or CSV for the finance office with `Accept: text/csv`.",
                "content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}},
            },
        },
    )
    def list_reimbursements(
        request: Request,
        academic_year: Annotated[
            str | None, Query(pattern=ACADEMIC_YEAR_PATTERN, description="e.g. 2026-2027; all years when absent.")
        ] = None,
    ) -> ReimbursementList | Response:
        """Every reimbursement (of one academic year), in enrolment-id order."""
        with Session(engine) as session:
            rows = storage.reimbursements(session, academic_year)
            lines = storage.lines_of_reimbursements(session, [r.enrolment_id for r, _ in rows])
        items = [
            ReimbursementListItem(
                **_reimbursement_out(reimbursement, lines[reimbursement.enrolment_id]).model_dump(),
                enrolment_id=enrolment.enrolment_id,
                student_id=enrolment.student_id,
                microcredential_id=enrolment.microcredential_id,
                academic_year=enrolment.academic_year,
            )
            for reimbursement, enrolment in rows
        ]
        if CSV_MEDIA_TYPE in request.headers.get("accept", ""):
            name = f"reimbursements-{academic_year or 'all'}.csv"
            return Response(
                _reimbursements_csv(items),
                media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return ReimbursementList(academic_year=academic_year, count=len(items), reimbursements=items)

    @router.get("/cancellations/pending", response_model=PendingCancellationList, responses=unauthorised)
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
        with Session(engine) as session:
            rows = storage.pending_cancellations(session, statuses=(status_filter,))
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


# --- helpers ------------------------------------------------------------------------------------------------


def _money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def _credits(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _reimbursement_out(
    reimbursement: storage.Reimbursement, lines: Iterable[storage.ReimbursementLine]
) -> ReimbursementOut:
    return ReimbursementOut(
        event_id=reimbursement.event_id,
        cancellation_event_id=reimbursement.cancellation_event_id,
        cancelled_at=reimbursement.cancelled_at,
        policy=reimbursement.policy,
        policy_id=reimbursement.policy_id,
        policy_version=reimbursement.policy_version,
        rule=reimbursement.rule,
        currency=reimbursement.currency,
        lines=[
            ReimbursementLineOut(
                semester=line.semester,
                credits=_credits(line.credits),
                invoiced=_money(line.invoiced),
                refunded=_money(line.refunded),
            )
            for line in lines
        ],
        fixed_fee=_money(reimbursement.fixed_fee),
        total=_money(reimbursement.total),
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


def _reimbursements_csv(items: list[ReimbursementListItem]) -> str:
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
