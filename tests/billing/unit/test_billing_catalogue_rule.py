"""The comparison rule: an enrolment's snapshot must repeat its catalogue entry's tuition and courses."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from billing.domain import (
    CatalogueEntry,
    Course,
    EnrolmentSnapshot,
    TuitionTerms,
    compute_invoice,
    disagreements,
    priced_from_catalogue,
)

ENROLLED_AT = datetime(2026, 9, 1, 8, tzinfo=UTC)
ENTRY = CatalogueEntry(
    academic_year="2026-2027",
    microcredential_id="mc-heritage",
    courses=(Course("HAR1", Decimal("3"), 1), Course("HAR2", Decimal("3"), 1)),
    terms=TuitionTerms("EUR", Decimal("245.00"), Decimal("11.90")),
)


def snapshot(courses=None, currency="EUR", fixed_fee="245.00", per_credit="11.90") -> EnrolmentSnapshot:
    return EnrolmentSnapshot(
        academic_year="2026-2027",
        courses=tuple(courses if courses is not None else ENTRY.courses),
        terms=TuitionTerms(currency, Decimal(fixed_fee), Decimal(per_credit)),
        enrolled_at=ENROLLED_AT,
    )


def test_a_snapshot_that_repeats_the_entry_agrees():
    assert disagreements(snapshot(), ENTRY) == []


def test_amounts_compare_as_numbers_and_course_order_does_not_matter():
    reordered = (Course("HAR2", Decimal("3.0"), 1), Course("HAR1", Decimal("3"), 1))
    assert disagreements(snapshot(reordered, fixed_fee="245", per_credit="11.9"), ENTRY) == []


def test_a_lower_per_credit_rate_is_named_with_both_amounts():
    assert disagreements(snapshot(per_credit="1.00"), ENTRY) == ["per_credit 1.00 (catalogue: 11.90)"]


def test_a_waived_fixed_fee_and_another_currency_are_both_named():
    assert disagreements(snapshot(currency="USD", fixed_fee="0.00"), ENTRY) == [
        "currency USD (catalogue: EUR)",
        "fixed_fee 0.00 (catalogue: 245.00)",
    ]


def test_fewer_credits_a_moved_semester_a_dropped_and_an_invented_course_are_each_named():
    claimed = (Course("HAR1", Decimal("1.5"), 2), Course("FREE", Decimal("60"), 1))
    assert disagreements(snapshot(claimed), ENTRY) == [
        "course HAR1 credits 1.5 (catalogue: 3)",
        "course HAR1 semester 2 (catalogue: 1)",
        "course FREE is not in the catalogue entry",
        "course HAR2 of the catalogue entry is missing",
    ]


def test_a_subset_of_the_courses_is_not_the_micro_credential():
    # Paying for one course of two is not a cheaper way to the same credential.
    assert disagreements(snapshot(ENTRY.courses[:1]), ENTRY) == ["course HAR2 of the catalogue entry is missing"]


def test_an_agreeing_snapshot_is_priced_with_the_entrys_values_in_the_enrolments_course_order():
    reordered = (Course("HAR2", Decimal("3.0"), 1), Course("HAR1", Decimal("3"), 1))
    priced = priced_from_catalogue(snapshot(reordered, per_credit="11.9"), ENTRY)
    assert [course.id for course in priced.courses] == ["HAR2", "HAR1"]
    assert priced.terms is ENTRY.terms and priced.enrolled_at == ENROLLED_AT
    # 6 x 11.90 = 71.40; + 245.00 = 316.40.
    assert compute_invoice(priced).total == Decimal("316.40")


def test_a_disagreeing_snapshot_cannot_be_priced():
    with pytest.raises(ValueError, match="disagrees with catalogue entry 2026-2027/mc-heritage"):
        priced_from_catalogue(snapshot(per_credit="1.00"), ENTRY)
