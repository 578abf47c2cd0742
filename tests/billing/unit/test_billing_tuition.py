"""Tuition invoice rules: per-semester lines, half-up cent rounding, fixed fee once, Decimal only."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from billing.domain import (
    AcademicYear,
    Course,
    EnrolmentSnapshot,
    InvoiceLine,
    NaiveDatetimeError,
    TuitionTerms,
    compute_invoice,
)

ENROLLED = datetime(2026, 9, 1, 10, 0, tzinfo=UTC)


def terms(per_credit: str = "50.00", fixed_fee: str = "100.00", currency: str = "EUR") -> TuitionTerms:
    return TuitionTerms(currency=currency, fixed_fee=Decimal(fixed_fee), per_credit=Decimal(per_credit))


def snapshot(*courses: Course, tuition: TuitionTerms | None = None, year: str = "2026-2027") -> EnrolmentSnapshot:
    return EnrolmentSnapshot(academic_year=year, courses=courses, terms=tuition or terms(), enrolled_at=ENROLLED)


def course(course_id: str, credits: str, semester: int) -> Course:
    return Course(id=course_id, credits=Decimal(credits), semester=semester)


def test_two_semesters_give_one_line_each_plus_the_fixed_fee_once() -> None:
    invoice = compute_invoice(
        snapshot(course("A", "6", 1), course("B", "3", 1), course("C", "4", 2), tuition=terms("50.00", "245.00"))
    )
    # 9 credits x 50.00 = 450.00; 4 credits x 50.00 = 200.00; 450.00 + 200.00 + 245.00 = 895.00
    assert invoice.lines == (
        InvoiceLine(semester=1, credits=Decimal("9"), amount=Decimal("450.00")),
        InvoiceLine(semester=2, credits=Decimal("4"), amount=Decimal("200.00")),
    )
    assert invoice.fixed_fee == Decimal("245.00")
    assert invoice.total == Decimal("895.00")
    assert invoice.currency == "EUR"
    assert invoice.academic_year == "2026-2027"


def test_half_a_cent_rounds_up() -> None:
    # 1.5 x 33.33 = 49.995 -> 50.00 (banker's rounding would give 50.00 too, so see the next test)
    invoice = compute_invoice(snapshot(course("A", "1.5", 1), tuition=terms("33.33", "0")))
    assert invoice.lines[0].amount == Decimal("50.00")
    assert invoice.total == Decimal("50.00")


@pytest.mark.parametrize(
    ("credits", "per_credit", "expected"),
    [
        ("0.5", "0.05", "0.03"),  # 0.025 -> 0.03 half-up (half-even would give 0.02)
        ("0.5", "0.01", "0.01"),  # 0.005 -> 0.01
        ("2.5", "10.001", "25.00"),  # 25.0025 -> 25.00
        ("1.5", "10.003", "15.00"),  # 15.0045 -> 15.00, rounding once, not twice
        ("0.1", "0.15", "0.02"),  # 0.015 -> 0.02
        ("3.0", "33.335", "100.01"),  # 100.005 -> 100.01
    ],
)
def test_semester_amount_is_rounded_half_up_to_the_cent(credits: str, per_credit: str, expected: str) -> None:
    invoice = compute_invoice(snapshot(course("A", credits, 2), tuition=terms(per_credit, "0")))
    assert invoice.lines[0].amount == Decimal(expected)


def test_rounding_applies_to_the_semester_total_not_to_each_course() -> None:
    # 1.5 + 1.5 = 3.0 credits x 33.33 = 99.99; rounding each course first would give 50.00 + 50.00 = 100.00
    invoice = compute_invoice(snapshot(course("A", "1.5", 1), course("B", "1.5", 1), tuition=terms("33.33", "0")))
    assert invoice.lines == (InvoiceLine(semester=1, credits=Decimal("3.0"), amount=Decimal("99.99")),)


def test_only_semesters_with_credits_get_a_line() -> None:
    second_only = compute_invoice(snapshot(course("A", "5", 2)))
    assert [line.semester for line in second_only.lines] == [2]
    # 5 x 50.00 = 250.00 + 100.00 fixed = 350.00
    assert second_only.total == Decimal("350.00")

    first_only = compute_invoice(snapshot(course("A", "3", 1), course("B", "3", 1)))
    assert [line.semester for line in first_only.lines] == [1]
    # 6 x 50.00 = 300.00 + 100.00 fixed = 400.00
    assert first_only.total == Decimal("400.00")


def test_lines_are_in_semester_order_whatever_the_course_order() -> None:
    invoice = compute_invoice(snapshot(course("B", "4", 2), course("A", "6", 1)))
    assert [line.semester for line in invoice.lines] == [1, 2]


def test_fixed_fee_is_charged_once_however_many_courses() -> None:
    invoice = compute_invoice(
        snapshot(*(course(f"C{i}", "1", 1 + i % 2) for i in range(6)), tuition=terms("10.00", "75.50"))
    )
    # 3 + 3 credits x 10.00 = 60.00, plus 75.50 once = 135.50
    assert invoice.fixed_fee == Decimal("75.50")
    assert invoice.total == Decimal("135.50")


def test_every_amount_is_a_decimal_with_cents() -> None:
    invoice = compute_invoice(snapshot(course("A", "6", 1), course("B", "4.5", 2), tuition=terms("12", "80")))
    amounts = [line.amount for line in invoice.lines] + [invoice.fixed_fee, invoice.total]
    assert all(type(amount) is Decimal for amount in amounts)
    assert all(amount.as_tuple().exponent == -2 for amount in amounts)
    assert all(type(line.credits) is Decimal for line in invoice.lines)
    # 6 x 12 = 72.00; 4.5 x 12 = 54.00; + 80.00 = 206.00
    assert invoice.total == Decimal("206.00")


def test_zero_per_credit_rate_invoices_only_the_fixed_fee() -> None:
    invoice = compute_invoice(snapshot(course("A", "3", 1), tuition=terms("0", "150.00")))
    assert invoice.lines[0].amount == Decimal("0.00")
    assert invoice.total == Decimal("150.00")


@pytest.mark.parametrize("credits", [1.5, 3, True])
def test_credits_that_are_not_decimal_are_refused(credits: object) -> None:
    with pytest.raises(TypeError):
        Course(id="A", credits=credits, semester=1)  # type: ignore[arg-type]


@pytest.mark.parametrize("credits", ["0", "-1", "1.25", "0.05", "NaN", "Infinity"])
def test_credits_must_be_positive_with_at_most_one_decimal(credits: str) -> None:
    with pytest.raises(ValueError, match="credits"):
        Course(id="A", credits=Decimal(credits), semester=1)


def test_credits_written_with_a_trailing_zero_are_accepted() -> None:
    assert Course(id="A", credits=Decimal("1.50"), semester=1).credits == Decimal("1.5")


@pytest.mark.parametrize("semester", [0, 3, True, "1"])
def test_semester_must_be_1_or_2(semester: object) -> None:
    with pytest.raises(ValueError, match="semester"):
        Course(id="A", credits=Decimal("3"), semester=semester)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("currency", "fixed_fee", "per_credit", "message"),
    [
        ("eur", "0", "1", "currency"),
        ("EURO", "0", "1", "currency"),
        ("EUR", "-0.01", "1", "fixed_fee"),
        ("EUR", "10.005", "1", "whole number of cents"),
        ("EUR", "0", "-1", "per_credit"),
    ],
)
def test_invalid_tuition_terms_are_refused(currency: str, fixed_fee: str, per_credit: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TuitionTerms(currency=currency, fixed_fee=Decimal(fixed_fee), per_credit=Decimal(per_credit))


def test_float_amounts_in_terms_are_refused() -> None:
    with pytest.raises(TypeError):
        TuitionTerms(currency="EUR", fixed_fee=100.0, per_credit=Decimal("50"))  # type: ignore[arg-type]


@pytest.mark.parametrize("year", ["2026/2027", "2026-2028", "26-27", "2027-2026", ""])
def test_academic_year_must_be_two_consecutive_years(year: str) -> None:
    with pytest.raises(ValueError, match="academic year"):
        snapshot(course("A", "3", 1), year=year)


def test_academic_year_parses_into_its_two_calendar_years() -> None:
    year = AcademicYear.parse("2026-2027")
    assert (year.first_year, year.second_year, str(year)) == (2026, 2027, "2026-2027")


def test_an_enrolment_needs_courses_with_unique_ids() -> None:
    with pytest.raises(ValueError, match="at least one course"):
        snapshot()
    with pytest.raises(ValueError, match="unique"):
        snapshot(course("A", "3", 1), course("A", "3", 2))


def test_a_naive_enrolment_time_is_refused() -> None:
    with pytest.raises(NaiveDatetimeError):
        EnrolmentSnapshot(
            academic_year="2026-2027",
            courses=(course("A", "3", 1),),
            terms=terms(),
            enrolled_at=datetime(2026, 9, 1, 10, 0),
        )
