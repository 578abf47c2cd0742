"""Tuition: an enrolment snapshot and the invoice it produces.

Invoice rule: per semester that has credits, ``credits x per_credit`` rounded to the cent half-up; the
fixed fee once; the total is the sum of those already-rounded figures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.domain.money import add, multiply, require_currency, require_decimal, round_to_cent

SEMESTERS: tuple[int, ...] = (1, 2)

_ACADEMIC_YEAR = re.compile(r"(\d{4})-(\d{4})")
_TENTH = Decimal("0.1")


@dataclass(frozen=True, order=True)
class AcademicYear:
    """An academic year such as ``2026-2027``: it starts in ``first_year`` and ends in ``first_year + 1``."""

    first_year: int

    @classmethod
    def parse(cls, text: str) -> AcademicYear:
        match = _ACADEMIC_YEAR.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"academic year must look like '2026-2027', got {text!r}")
        first, second = int(match.group(1)), int(match.group(2))
        if second != first + 1:
            raise ValueError(f"academic year must span two consecutive calendar years, got {text!r}")
        return cls(first)

    @property
    def second_year(self) -> int:
        return self.first_year + 1

    def __str__(self) -> str:
        return f"{self.first_year}-{self.second_year}"


def require_aware(value: object, name: str) -> datetime:
    """Refuse naive datetimes: a wall-clock time without an offset names no instant."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


class NaiveDatetimeError(ValueError):
    """A datetime without a UTC offset was given where an instant is required."""


@dataclass(frozen=True)
class Course:
    id: str
    credits: Decimal
    semester: int

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("course id must be a non-empty string")
        credits = require_decimal(self.credits, f"credits of course {self.id}")
        if credits <= 0:
            raise ValueError(f"credits of course {self.id} must be > 0, got {credits}")
        if credits % _TENTH != 0:
            raise ValueError(f"credits of course {self.id} may have at most one decimal, got {credits}")
        if isinstance(self.semester, bool) or self.semester not in SEMESTERS:
            raise ValueError(f"semester of course {self.id} must be 1 or 2, got {self.semester!r}")


@dataclass(frozen=True)
class TuitionTerms:
    currency: str
    fixed_fee: Decimal
    per_credit: Decimal

    def __post_init__(self) -> None:
        require_currency(self.currency)
        fixed_fee = require_decimal(self.fixed_fee, "fixed_fee")
        per_credit = require_decimal(self.per_credit, "per_credit")
        if fixed_fee < 0:
            raise ValueError(f"fixed_fee must be >= 0, got {fixed_fee}")
        # The fixed fee is invoiced as is, so it must already be a whole number of cents.
        if round_to_cent(fixed_fee) != fixed_fee:
            raise ValueError(f"fixed_fee must be a whole number of cents, got {fixed_fee}")
        if per_credit < 0:
            raise ValueError(f"per_credit must be >= 0, got {per_credit}")


@dataclass(frozen=True)
class EnrolmentSnapshot:
    """What billing needs to know about one enrolment, as it stood when it was priced."""

    academic_year: str
    courses: tuple[Course, ...]
    terms: TuitionTerms
    enrolled_at: datetime

    def __post_init__(self) -> None:
        AcademicYear.parse(self.academic_year)
        object.__setattr__(self, "courses", tuple(self.courses))
        if not self.courses:
            raise ValueError("an enrolment has at least one course")
        for course in self.courses:
            if not isinstance(course, Course):
                raise TypeError(f"courses must be Course instances, got {type(course).__name__}")
        ids = [course.id for course in self.courses]
        duplicates = sorted({course_id for course_id in ids if ids.count(course_id) > 1})
        if duplicates:
            raise ValueError(f"course ids must be unique, repeated: {', '.join(duplicates)}")
        if not isinstance(self.terms, TuitionTerms):
            raise TypeError("terms must be TuitionTerms")
        require_aware(self.enrolled_at, "enrolled_at")

    @property
    def year(self) -> AcademicYear:
        return AcademicYear.parse(self.academic_year)

    def credits_by_semester(self) -> dict[int, Decimal]:
        """Credits per semester, only for semesters that have credits, in semester order."""
        totals: dict[int, Decimal] = {}
        for semester in SEMESTERS:
            credits = [course.credits for course in self.courses if course.semester == semester]
            if credits:
                totals[semester] = add(*credits)
        return totals

    @property
    def semesters(self) -> frozenset[int]:
        return frozenset(course.semester for course in self.courses)


@dataclass(frozen=True)
class InvoiceLine:
    semester: int
    credits: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    academic_year: str
    currency: str
    lines: tuple[InvoiceLine, ...]
    fixed_fee: Decimal
    total: Decimal

    def line_for(self, semester: int) -> InvoiceLine | None:
        return next((line for line in self.lines if line.semester == semester), None)


def compute_invoice(snapshot: EnrolmentSnapshot) -> Invoice:
    terms = snapshot.terms
    # Rounding is applied to the semester's credit total, not per course: the policy prices a
    # semester's credits, and refunds are made per semester from these same lines.
    lines = tuple(
        InvoiceLine(semester=semester, credits=credits, amount=round_to_cent(multiply(credits, terms.per_credit)))
        for semester, credits in snapshot.credits_by_semester().items()
    )
    fixed_fee = round_to_cent(terms.fixed_fee)
    total = add(*(line.amount for line in lines), fixed_fee)
    return Invoice(
        academic_year=snapshot.academic_year,
        currency=terms.currency,
        lines=lines,
        fixed_fee=fixed_fee,
        total=total,
    )
