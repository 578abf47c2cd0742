"""Properties of the reimbursement engine that must hold for every enrolment, instant and shipped policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from billing.adapters.policy_files import builtin_registry, load_builtin_policy
from billing.domain import (
    CancellationBeforeEnrolmentError,
    CancellationPolicy,
    Course,
    EnrolmentSnapshot,
    NaiveDatetimeError,
    TuitionTerms,
    calculate_reimbursement,
    compute_invoice,
    window_for,
    window_intervals,
)
from hypothesis import given, settings
from hypothesis import strategies as st

BRUSSELS = ZoneInfo("Europe/Brussels")
POLICIES = tuple(builtin_registry())
POLICY_IDS = [policy.id for policy in POLICIES]

offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
zones = st.one_of(st.just(UTC), offsets, st.timezones())
academic_years = st.integers(min_value=2024, max_value=2030)

courses = st.builds(
    lambda tenths, semester: (Decimal(tenths) / 10, semester),
    st.integers(min_value=1, max_value=300),
    st.sampled_from([1, 2]),
)
terms = st.builds(
    TuitionTerms,
    currency=st.sampled_from(["EUR", "USD", "GBP"]),
    fixed_fee=st.integers(min_value=0, max_value=200_000).map(lambda cents: Decimal(cents) / 100),
    per_credit=st.builds(
        lambda units, places: Decimal(units).scaleb(-places),
        st.integers(min_value=0, max_value=10_000_000),
        st.integers(min_value=0, max_value=5),
    ),
)


@st.composite
def snapshots(draw: st.DrawFn, semesters: tuple[int, ...] = (1, 2)) -> EnrolmentSnapshot:
    first_year = draw(academic_years)
    drawn = draw(st.lists(courses, min_size=1, max_size=6))
    items = tuple(
        Course(id=f"C{index}", credits=credits, semester=semester if semester in semesters else semesters[0])
        for index, (credits, semester) in enumerate(drawn)
    )
    enrolled = draw(
        st.datetimes(
            min_value=datetime(first_year - 1, 3, 1),
            max_value=datetime(first_year + 1, 6, 30),
            timezones=zones,
        )
    )
    return EnrolmentSnapshot(
        academic_year=f"{first_year}-{first_year + 1}", courses=items, terms=draw(terms), enrolled_at=enrolled
    )


@st.composite
def cancellations(draw: st.DrawFn, snapshot: EnrolmentSnapshot) -> datetime:
    """An aware instant at or after enrolment, up to the end of the academic year's second calendar year."""
    start = snapshot.enrolled_at.astimezone(UTC).replace(tzinfo=None)
    end = datetime(snapshot.year.second_year + 1, 1, 1)
    moment = draw(st.datetimes(min_value=start, max_value=max(start, end)))
    return moment.replace(tzinfo=UTC).astimezone(draw(zones))


@st.composite
def cases(draw: st.DrawFn) -> tuple[EnrolmentSnapshot, datetime]:
    snapshot = draw(snapshots())
    return snapshot, draw(cancellations(snapshot))


@settings(max_examples=300, deadline=None)
@given(case=cases(), policy=st.sampled_from(POLICIES))
def test_refunds_never_exceed_what_was_invoiced(
    case: tuple[EnrolmentSnapshot, datetime], policy: CancellationPolicy
) -> None:
    snapshot, cancelled_at = case
    result = calculate_reimbursement(snapshot, cancelled_at, policy)
    invoice = compute_invoice(snapshot)
    assert [line.semester for line in result.lines] == [line.semester for line in invoice.lines]
    for refund_line, invoice_line in zip(result.lines, invoice.lines, strict=True):
        assert refund_line.invoiced == invoice_line.amount
        # A semester is refunded whole or not at all.
        assert refund_line.refunded in (Decimal("0.00"), invoice_line.amount)
        assert Decimal("0") <= refund_line.refunded <= invoice_line.amount
    assert result.fixed_fee in (Decimal("0.00"), invoice.fixed_fee)
    assert result.total == sum((line.refunded for line in result.lines), result.fixed_fee)
    assert Decimal("0") <= result.total <= invoice.total
    assert all(type(amount) is Decimal for amount in (result.total, result.fixed_fee))


@settings(max_examples=200, deadline=None)
@given(snapshot=snapshots(semesters=(2,)), data=st.data())
def test_second_semester_only_enrolment_in_the_middle_window_is_refunded_in_full(
    snapshot: EnrolmentSnapshot, data: st.DataObject
) -> None:
    policy = load_builtin_policy("uantwerp-en")
    year = snapshot.year
    # Middle window: 1 December (first year) 00:00 up to 15 March (second year) 00:00, Brussels.
    start = datetime(year.first_year, 12, 1, tzinfo=BRUSSELS)
    end = datetime(year.second_year, 3, 15, tzinfo=BRUSSELS)
    moment = data.draw(
        st.datetimes(
            min_value=start.astimezone(UTC).replace(tzinfo=None),
            max_value=(end.astimezone(UTC) - timedelta(microseconds=1)).replace(tzinfo=None),
        )
    ).replace(tzinfo=UTC)
    cancelled_at = max(moment, snapshot.enrolled_at).astimezone(data.draw(zones))
    if cancelled_at >= end:
        return  # enrolled after the window closed: nothing to check for this draw
    result = calculate_reimbursement(snapshot, cancelled_at, policy)
    assert result.rule_id == "second-semester-only-full-refund"
    assert result.total == compute_invoice(snapshot).total


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    first_year=academic_years,
    instant=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=zones),
)
def test_every_instant_falls_in_exactly_one_window(
    policy: CancellationPolicy, first_year: int, instant: datetime
) -> None:
    intervals = window_intervals(policy, f"{first_year}-{first_year + 1}")
    containing = [interval for interval in intervals if interval.contains(instant)]
    assert len(containing) == 1
    assert window_for(policy, f"{first_year}-{first_year + 1}", instant) is containing[0].window


@pytest.mark.parametrize("policy_id", POLICY_IDS)
def test_windows_tile_the_timeline_without_gaps_or_overlaps(policy_id: str) -> None:
    intervals = window_intervals(load_builtin_policy(policy_id), "2026-2027")
    assert intervals[0].start is None
    assert intervals[-1].end is None
    for earlier, later in pairwise(intervals):
        assert earlier.end is not None
        assert earlier.end == later.start
        assert later.end is None or earlier.end < later.end


@settings(max_examples=300, deadline=None)
@given(case=cases(), policy=st.sampled_from(POLICIES), other_zone=zones)
def test_result_does_not_depend_on_the_offset_the_instant_is_written_in(
    case: tuple[EnrolmentSnapshot, datetime], policy: CancellationPolicy, other_zone: tzinfo
) -> None:
    snapshot, cancelled_at = case
    as_written = calculate_reimbursement(snapshot, cancelled_at, policy)
    rewritten = calculate_reimbursement(snapshot, cancelled_at.astimezone(other_zone), policy)
    in_utc = calculate_reimbursement(snapshot, cancelled_at.astimezone(UTC), policy)
    assert as_written == rewritten == in_utc


@settings(max_examples=100, deadline=None)
@given(snapshot=snapshots(), naive=st.datetimes(), policy=st.sampled_from(POLICIES))
def test_naive_cancellation_instants_are_rejected(
    snapshot: EnrolmentSnapshot, naive: datetime, policy: CancellationPolicy
) -> None:
    with pytest.raises(NaiveDatetimeError):
        calculate_reimbursement(snapshot, naive, policy)


def test_cancellation_before_enrolment_is_rejected() -> None:
    snapshot = EnrolmentSnapshot(
        academic_year="2026-2027",
        courses=(Course(id="A", credits=Decimal("3"), semester=1),),
        terms=TuitionTerms(currency="EUR", fixed_fee=Decimal("0"), per_credit=Decimal("10")),
        enrolled_at=datetime(2026, 10, 1, 12, 0, tzinfo=UTC),
    )
    with pytest.raises(CancellationBeforeEnrolmentError):
        calculate_reimbursement(snapshot, datetime(2026, 10, 1, 11, 59, tzinfo=UTC), load_builtin_policy("vub"))
