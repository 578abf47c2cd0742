"""The cancellation engine: which rule of a policy applies to a cancellation, and what it refunds.

Commitments (docs/cancellation-policies.md):
- cut-off dates belong to the enrolment's academic year, not to the calendar year of the cancellation;
- the cancellation instant is read as wall-clock time in the policy's zone (Europe/Brussels);
- a window's ``until`` is exclusive: the cut-off instant itself belongs to the next window;
- a refunded semester returns exactly its invoiced amount, so a refund never exceeds the invoice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.domain.money import ZERO, add
from billing.domain.policy import CancellationPolicy, Case, Conditions, PolicyVersion, RefundSpec, Window
from billing.domain.tuition import AcademicYear, EnrolmentSnapshot, compute_invoice, require_aware


class CancellationBeforeEnrolmentError(ValueError):
    """The cancellation instant precedes the enrolment instant."""


@dataclass(frozen=True)
class ReimbursementLine:
    semester: int
    credits: Decimal
    invoiced: Decimal
    refunded: Decimal


@dataclass(frozen=True)
class Reimbursement:
    policy_id: str
    policy_version: PolicyVersion
    rule_id: str
    academic_year: str
    currency: str
    cancelled_at_local: datetime
    lines: tuple[ReimbursementLine, ...]
    fixed_fee: Decimal
    total: Decimal


@dataclass(frozen=True)
class WindowInterval:
    """Where a window lies for one academic year: ``start`` inclusive, ``end`` exclusive, ``None`` = unbounded."""

    window: Window
    start: datetime | None
    end: datetime | None

    def contains(self, instant: datetime) -> bool:
        return (self.start is None or self.start <= instant) and (self.end is None or instant < self.end)


def _academic_year(value: AcademicYear | str) -> AcademicYear:
    return value if isinstance(value, AcademicYear) else AcademicYear.parse(value)


def window_intervals(policy: CancellationPolicy, academic_year: AcademicYear | str) -> tuple[WindowInterval, ...]:
    year = _academic_year(academic_year)
    intervals: list[WindowInterval] = []
    start: datetime | None = None
    for window in policy.windows:
        end = None if window.until is None else window.until.instant(year, policy.zone)
        intervals.append(WindowInterval(window=window, start=start, end=end))
        start = end
    return tuple(intervals)


def window_for(policy: CancellationPolicy, academic_year: AcademicYear | str, instant: datetime) -> Window:
    require_aware(instant, "instant")
    year = _academic_year(academic_year)
    for window in policy.windows:
        if window.until is None or instant < window.until.instant(year, policy.zone):
            return window
    raise AssertionError("unreachable: a validated policy ends with an open-ended window")


@dataclass(frozen=True)
class _Facts:
    cancelled_at: datetime
    enrolled_at: datetime
    semesters: frozenset[int]
    academic_year: AcademicYear


def _holds(when: Conditions, facts: _Facts, policy: CancellationPolicy) -> bool:
    if when.only_semesters is not None and not facts.semesters <= when.only_semesters:
        return False
    if when.within_days_of_enrolment is not None:
        # Calendar days in the policy's zone: enrolling on 5 October leaves 19 October as the last day
        # "within 14 days", whatever the hour of either event.
        enrolled_on = facts.enrolled_at.astimezone(policy.zone).date()
        cancelled_on = facts.cancelled_at.astimezone(policy.zone).date()
        if (cancelled_on - enrolled_on).days > when.within_days_of_enrolment:
            return False
    if when.before_academic_year_start:
        start = policy.academic_year_start
        if start is None or facts.cancelled_at >= start.instant(facts.academic_year, policy.zone):
            return False
    return True


def _first_applicable(cases: tuple[Case, ...], facts: _Facts, policy: CancellationPolicy) -> Case | None:
    return next((case for case in cases if _holds(case.when, facts, policy)), None)


def _resolve(policy: CancellationPolicy, facts: _Facts) -> tuple[str, RefundSpec]:
    case = _first_applicable(policy.special_cases, facts, policy)
    if case is not None:
        return case.rule, case.refund
    window = window_for(policy, facts.academic_year, facts.cancelled_at)
    case = _first_applicable(window.special_cases, facts, policy)
    if case is not None:
        return case.rule, case.refund
    return window.rule, window.refund


def calculate_reimbursement(
    snapshot: EnrolmentSnapshot, cancelled_at: datetime, policy: CancellationPolicy
) -> Reimbursement:
    require_aware(cancelled_at, "cancelled_at")
    if cancelled_at < snapshot.enrolled_at:
        raise CancellationBeforeEnrolmentError(
            f"cancelled_at {cancelled_at.isoformat()} precedes enrolled_at {snapshot.enrolled_at.isoformat()}"
        )
    facts = _Facts(
        cancelled_at=cancelled_at,
        enrolled_at=snapshot.enrolled_at,
        semesters=snapshot.semesters,
        academic_year=snapshot.year,
    )
    rule_id, refund = _resolve(policy, facts)
    invoice = compute_invoice(snapshot)
    lines = tuple(
        ReimbursementLine(
            semester=line.semester,
            credits=line.credits,
            invoiced=line.amount,
            refunded=line.amount if refund.covers(line.semester) else ZERO,
        )
        for line in invoice.lines
    )
    fixed_fee = invoice.fixed_fee if refund.fixed_fee else ZERO
    return Reimbursement(
        policy_id=policy.id,
        policy_version=policy.version,
        rule_id=rule_id,
        academic_year=invoice.academic_year,
        currency=invoice.currency,
        cancelled_at_local=cancelled_at.astimezone(policy.zone),
        lines=lines,
        fixed_fee=fixed_fee,
        total=add(*(line.refunded for line in lines), fixed_fee),
    )
