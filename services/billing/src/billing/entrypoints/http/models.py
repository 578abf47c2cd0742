"""Request and response models of billing's HTTP API: amounts are decimal strings with two decimals, credits
decimal strings, instants RFC 3339 in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


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
    count: int = Field(description="Reimbursements on this page.")
    reimbursements: list[ReimbursementListItem]
    next_cursor: str | None = Field(default=None, description="`cursor` of the next page; null on the last.")


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
    count: int = Field(description="Cancellations on this page.")
    cancellations: list[PendingCancellationOut]
    next_cursor: str | None = Field(default=None, description="`cursor` of the next page; null on the last.")
