"""Billing's rows as the domain sees them: the mappings the unit of work and its catalogue part share."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from billing import domain

Row = dict[str, Any]
Item = TypeVar("Item", bound=Hashable)


class Waiting(Generic[Item]):
    """What waits for something still to arrive, as one unit of work sees it: kept under the key it waits for (in
    arrival order, with its row), taken when that arrives, then resolved. Cancellations wait for their enrolment,
    enrolments for their catalogue entry."""

    def __init__(self) -> None:
        self._by_key: dict[str, list[tuple[Item, Row]]] = {}
        self._taken: dict[Item, Row] = {}
        self.resolved: list[Row] = []
        """Stored rows this unit resolved: updated, not inserted."""

    def keep(self, key: str, item: Item, row: Row) -> None:
        self._by_key.setdefault(key, []).append((item, row))

    def take(self, key: str) -> list[Item]:
        taken = self._by_key.pop(key, [])
        self._taken.update(taken)
        return [item for item, _ in taken]

    def resolve(self, item: Item, status: str, reason: str | None) -> None:
        row = self._taken.pop(item)
        row.update(status=status, status_reason=reason, resolved_at=datetime.now(UTC))
        if "id" in row:  # stored by an earlier unit; one from this unit is inserted as it ends up
            self.resolved.append(row)


def course_rows(courses: Iterable[domain.Course]) -> list[Row]:
    return [
        {"id": course.id, "credits": format(course.credits.normalize(), "f"), "semester": course.semester}
        for course in courses
    ]


def courses_of(rows: Iterable[Row]) -> tuple[domain.Course, ...]:
    return tuple(
        domain.Course(id=course["id"], credits=Decimal(course["credits"]), semester=course["semester"])
        for course in rows
    )


def resolution_of(row: Row) -> Row:
    return {
        "row_id": row["id"],
        "new_status": row["status"],
        "new_status_reason": row["status_reason"],
        "new_resolved_at": row["resolved_at"],
    }


def billed_enrolment_of(row: Any) -> domain.BilledEnrolment:
    """The invoiced enrolment of a stored row (the same snapshot the invoice was computed from)."""
    snapshot = domain.EnrolmentSnapshot(
        academic_year=row["academic_year"],
        courses=courses_of(row["courses"]),
        terms=domain.TuitionTerms(currency=row["currency"], fixed_fee=row["fixed_fee"], per_credit=row["per_credit"]),
        enrolled_at=row["enrolled_at"],
    )
    return domain.BilledEnrolment(
        enrolment_id=row["enrolment_id"],
        student_id=row["student_id"],
        microcredential_id=row["microcredential_id"],
        snapshot=snapshot,
        created_event_source=row["created_event_source"],
        created_event_id=row["created_event_id"],
    )


def waiting_cancellation_of(row: Row) -> domain.WaitingCancellation:
    return domain.WaitingCancellation(
        enrolment_id=row["enrolment_id"],
        event_source=row["event_source"],
        event_id=row["event_id"],
        event_time=row["event_time"],
        cancelled_at=row["cancelled_at"],
    )
