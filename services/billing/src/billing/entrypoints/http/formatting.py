"""How the API writes stored figures: money with two decimals, credits as exact decimal text."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from billing.entrypoints.http.models import ReimbursementLineOut, ReimbursementOut

if TYPE_CHECKING:
    from billing.store import ReimbursementLineRow, ReimbursementRow

UNAUTHORISED: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid bearer token (WWW-Authenticate says why)."},
    403: {"description": "The token lacks the operation's scope (error insufficient_scope)."},
    429: {"description": "Too many failed authentications from this address (Retry-After says when)."},
}


def money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


def credits(value: Decimal) -> str:
    return format(value.normalize(), "f")


def reimbursement_out(reimbursement: ReimbursementRow, lines: Iterable[ReimbursementLineRow]) -> ReimbursementOut:
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
                credits=credits(line.credits),
                invoiced=money(line.invoiced),
                refunded=money(line.refunded),
            )
            for line in lines
        ],
        fixed_fee=money(reimbursement.fixed_fee),
        total=money(reimbursement.total),
    )
