"""GET /enrolments/{id}/statement: the invoice of an enrolment and, once it is cancelled, its reimbursement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from reliability.auth import Principal, require

from billing import usecases
from billing.entrypoints.http.formatting import UNAUTHORISED, credits, money, reimbursement_out
from billing.entrypoints.http.models import InvoiceLineOut, InvoiceOut, StatementOut
from billing.store import Database


def router(database: Database) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/enrolments/{enrolment_id}/statement",
        response_model=StatementOut,
        responses={**UNAUTHORISED, 404: {"description": "Billing knows no such enrolment."}},
    )
    def statement(enrolment_id: str, principal: Annotated[Principal, Depends(require("billing:read"))]) -> StatementOut:
        """The invoice of an enrolment and, once it is cancelled, its reimbursement, line by line. A student's
        token: only their own enrolments (another's answers 404, as an unknown one does)."""
        found = usecases.statement_of(database, enrolment_id)
        if found is None or not principal.sees(found.enrolment.student_id):
            # Whether a cancellation waits is operations' business; a student is told only "not known".
            waiting = principal.kind != "student" and usecases.has_waiting_cancellation(database, enrolment_id)
            note = " (a cancellation of it is waiting for the enrolment to arrive)" if waiting else ""
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no enrolment {enrolment_id!r} is known{note}")
        return statement_out(found)

    return router


def statement_out(found: usecases.Statement) -> StatementOut:
    enrolment, invoice, reimbursement = found.enrolment, found.invoice, found.reimbursement
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
                InvoiceLineOut(semester=line.semester, credits=credits(line.credits), amount=money(line.amount))
                for line in found.invoice_lines
            ],
            fixed_fee=money(invoice.fixed_fee),
            total=money(invoice.total),
        ),
        reimbursement=None if reimbursement is None else reimbursement_out(reimbursement, found.reimbursement_lines),
    )
