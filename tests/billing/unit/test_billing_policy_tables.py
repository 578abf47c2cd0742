"""Table tests of the four shipped cancellation policies around every cut-off.

Every expected figure is worked out here from the published rule, with the enrolments below:

- MIXED: 6 first-semester credits (6 x 50.00 = 300.00) and 4 second-semester credits (4 x 50.00 = 200.00),
  fixed fee 100.00; invoice total 600.00.
- SECOND_ONLY: 5 second-semester credits (5 x 50.00 = 250.00), fixed fee 100.00; invoice total 350.00.
- FIRST_ONLY: 3 first-semester credits (3 x 50.00 = 150.00), fixed fee 100.00; invoice total 250.00.

Brussels is on CEST (+02:00) until 25 October 2026 03:00, on CET (+01:00) until 28 March 2027 02:00, then
on CEST again. Cut-offs are local midnight, so 1 December 2026 00:00 Brussels is 30 November 23:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from billing.adapters.policy_files import load_builtin_policy, parse_policy_text
from billing.domain import (
    Course,
    EnrolmentSnapshot,
    Reimbursement,
    TuitionTerms,
    calculate_reimbursement,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
OFFSETS: dict[str, tzinfo] = {
    "UTC": UTC,
    "+01:00": timezone(timedelta(hours=1)),
    "-05:00": timezone(timedelta(hours=-5)),
    "+14:00": timezone(timedelta(hours=14)),
}
TERMS = TuitionTerms(currency="EUR", fixed_fee=Decimal("100.00"), per_credit=Decimal("50.00"))

MIXED = {1: "6", 2: "4"}
SECOND_ONLY = {2: "5"}
FIRST_ONLY = {1: "3"}
# Invoiced per semester, by hand: credits x 50.00.
INVOICED = {
    "MIXED": {1: Decimal("300.00"), 2: Decimal("200.00")},
    "SECOND_ONLY": {2: Decimal("250.00")},
    "FIRST_ONLY": {1: Decimal("150.00")},
}
ENROLMENTS = {"MIXED": MIXED, "SECOND_ONLY": SECOND_ONLY, "FIRST_ONLY": FIRST_ONLY}
EARLY_ENROLMENT = "2026-06-01 10:00"


def brussels(local: str) -> datetime:
    return datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=BRUSSELS)


def make_snapshot(kind: str, enrolled_local: str = EARLY_ENROLMENT, year: str = "2026-2027") -> EnrolmentSnapshot:
    courses = tuple(
        Course(id=f"S{semester}", credits=Decimal(credits), semester=semester)
        for semester, credits in ENROLMENTS[kind].items()
    )
    return EnrolmentSnapshot(academic_year=year, courses=courses, terms=TERMS, enrolled_at=brussels(enrolled_local))


@dataclass(frozen=True)
class Expected:
    rule: str
    refunded: dict[int, str]
    fixed_fee: str
    total: str


def assert_reimbursement(result: Reimbursement, policy_id: str, kind: str, expected: Expected) -> None:
    assert (result.policy_id, result.policy_version, result.rule_id) == (policy_id, 1, expected.rule)
    assert result.currency == "EUR"
    assert [(line.semester, line.invoiced, line.refunded) for line in result.lines] == [
        (semester, invoiced, Decimal(expected.refunded[semester])) for semester, invoiced in INVOICED[kind].items()
    ]
    assert result.fixed_fee == Decimal(expected.fixed_fee)
    assert result.total == Decimal(expected.total)


# Refunds by rule for the MIXED enrolment, worked out by hand.
MIXED_ALL = Expected("full-refund", {1: "300.00", 2: "200.00"}, "100.00", "600.00")  # 300 + 200 + 100
MIXED_SECOND = Expected("second-semester-refund", {1: "0.00", 2: "200.00"}, "0.00", "200.00")
MIXED_NONE = Expected("no-refund", {1: "0.00", 2: "0.00"}, "0.00", "0.00")

# (policy, enrolment, enrolled at, cancelled at in Brussels local time, expected)
ROWS = [
    # --- uantwerp-en: before 1 Dec everything; 1 Dec - 14 Mar second semester; from 15 Mar nothing.
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2026-09-15 12:00", MIXED_ALL, id="en-september"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2026-11-30 23:59", MIXED_ALL, id="en-30nov-2359"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2026-12-01 00:00", MIXED_SECOND, id="en-1dec-0000"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2026-12-01 00:01", MIXED_SECOND, id="en-1dec-0001"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2027-03-14 23:59", MIXED_SECOND, id="en-14mar-2359"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2027-03-15 00:00", MIXED_NONE, id="en-15mar-0000"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2027-03-28 01:59", MIXED_NONE, id="en-28mar-cet"),
    pytest.param("uantwerp-en", "MIXED", EARLY_ENROLMENT, "2027-03-28 03:00", MIXED_NONE, id="en-28mar-cest"),
    pytest.param(
        "uantwerp-en",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2026-11-30 23:59",
        Expected("full-refund", {2: "250.00"}, "100.00", "350.00"),
        id="en-second-only-30nov",
    ),
    pytest.param(
        "uantwerp-en",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2026-12-01 00:00",
        Expected("second-semester-only-full-refund", {2: "250.00"}, "100.00", "350.00"),
        id="en-second-only-1dec",
    ),
    pytest.param(
        "uantwerp-en",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2027-03-14 23:59",
        Expected("second-semester-only-full-refund", {2: "250.00"}, "100.00", "350.00"),
        id="en-second-only-14mar",
    ),
    pytest.param(
        "uantwerp-en",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2027-03-15 00:00",
        Expected("no-refund", {2: "0.00"}, "0.00", "0.00"),
        id="en-second-only-15mar",
    ),
    pytest.param(
        "uantwerp-en",
        "FIRST_ONLY",
        EARLY_ENROLMENT,
        "2026-12-01 00:00",
        Expected("second-semester-refund", {1: "0.00"}, "0.00", "0.00"),
        id="en-first-only-1dec",
    ),
    # --- uantwerp-nl: as uantwerp-en but the first cut-off is 1 November.
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2026-10-31 23:59", MIXED_ALL, id="nl-31oct-2359"),
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2026-11-01 00:00", MIXED_SECOND, id="nl-1nov-0000"),
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2026-11-30 23:59", MIXED_SECOND, id="nl-30nov-2359"),
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2027-03-14 23:59", MIXED_SECOND, id="nl-14mar-2359"),
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2027-03-15 00:00", MIXED_NONE, id="nl-15mar-0000"),
    pytest.param("uantwerp-nl", "MIXED", EARLY_ENROLMENT, "2027-03-28 03:00", MIXED_NONE, id="nl-28mar-cest"),
    pytest.param(
        "uantwerp-nl",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2026-11-01 00:00",
        Expected("second-semester-only-full-refund", {2: "250.00"}, "100.00", "350.00"),
        id="nl-second-only-1nov",
    ),
    # --- ugent: full refund incl. fixed amount before the academic year starts (Monday 28 Sep 2026 00:00,
    # CEST) or within 14 days of enrolling; before 1 Dec all but the fixed amount; 1 Dec - 14 Mar second
    # semester; from 15 Mar nothing.
    pytest.param(
        "ugent",
        "MIXED",
        EARLY_ENROLMENT,
        "2026-09-27 23:59",
        Expected("full-refund-before-academic-year", {1: "300.00", 2: "200.00"}, "100.00", "600.00"),
        id="ugent-27sep-2359",
    ),
    pytest.param(
        "ugent",
        "MIXED",
        EARLY_ENROLMENT,
        "2026-09-28 00:00",
        Expected("refund-except-fixed-amount", {1: "300.00", 2: "200.00"}, "0.00", "500.00"),
        id="ugent-28sep-0000",
    ),
    pytest.param(
        "ugent",
        "MIXED",
        EARLY_ENROLMENT,
        "2026-11-30 23:59",
        Expected("refund-except-fixed-amount", {1: "300.00", 2: "200.00"}, "0.00", "500.00"),
        id="ugent-30nov-2359",
    ),
    pytest.param("ugent", "MIXED", EARLY_ENROLMENT, "2026-12-01 00:00", MIXED_SECOND, id="ugent-1dec-0000"),
    pytest.param("ugent", "MIXED", EARLY_ENROLMENT, "2027-03-14 23:59", MIXED_SECOND, id="ugent-14mar-2359"),
    pytest.param("ugent", "MIXED", EARLY_ENROLMENT, "2027-03-15 00:00", MIXED_NONE, id="ugent-15mar-0000"),
    pytest.param("ugent", "MIXED", EARLY_ENROLMENT, "2027-03-28 01:59", MIXED_NONE, id="ugent-28mar-cet"),
    pytest.param(
        "ugent",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2026-12-01 00:00",
        Expected("second-semester-refund", {2: "250.00"}, "0.00", "250.00"),
        id="ugent-second-only-1dec-keeps-fixed-amount",
    ),
    # Enrolled 15 Oct (CEST); the 14th day is 29 Oct, after the switch to CET on 25 Oct.
    pytest.param(
        "ugent",
        "MIXED",
        "2026-10-15 14:00",
        "2026-10-29 23:59",
        Expected("full-refund-within-14-days", {1: "300.00", 2: "200.00"}, "100.00", "600.00"),
        id="ugent-14th-day-2359",
    ),
    pytest.param(
        "ugent",
        "MIXED",
        "2026-10-15 14:00",
        "2026-10-30 00:00",
        Expected("refund-except-fixed-amount", {1: "300.00", 2: "200.00"}, "0.00", "500.00"),
        id="ugent-15th-day-0000",
    ),
    # A late enrolment keeps its 14 days even across the 15 March cut-off and the switch to CEST.
    pytest.param(
        "ugent",
        "MIXED",
        "2027-03-20 12:00",
        "2027-04-03 23:59",
        Expected("full-refund-within-14-days", {1: "300.00", 2: "200.00"}, "100.00", "600.00"),
        id="ugent-late-enrolment-14th-day",
    ),
    pytest.param("ugent", "MIXED", "2027-03-20 12:00", "2027-04-04 00:00", MIXED_NONE, id="ugent-late-15th-day"),
    # --- vub: until 30 Nov every course fee; 1 Dec - 15 Mar (included) second semester; from 16 Mar
    # nothing; the fixed costs never.
    pytest.param(
        "vub",
        "MIXED",
        EARLY_ENROLMENT,
        "2026-11-30 23:59",
        Expected("course-fees-refund", {1: "300.00", 2: "200.00"}, "0.00", "500.00"),
        id="vub-30nov-2359",
    ),
    pytest.param("vub", "MIXED", EARLY_ENROLMENT, "2026-12-01 00:00", MIXED_SECOND, id="vub-1dec-0000"),
    pytest.param("vub", "MIXED", EARLY_ENROLMENT, "2027-03-15 00:00", MIXED_SECOND, id="vub-15mar-0000"),
    pytest.param("vub", "MIXED", EARLY_ENROLMENT, "2027-03-15 23:59", MIXED_SECOND, id="vub-15mar-2359"),
    pytest.param("vub", "MIXED", EARLY_ENROLMENT, "2027-03-16 00:00", MIXED_NONE, id="vub-16mar-0000"),
    pytest.param("vub", "MIXED", EARLY_ENROLMENT, "2027-03-28 03:00", MIXED_NONE, id="vub-28mar-cest"),
    pytest.param(
        "vub",
        "SECOND_ONLY",
        EARLY_ENROLMENT,
        "2026-12-01 00:00",
        Expected("second-semester-refund", {2: "250.00"}, "0.00", "250.00"),
        id="vub-second-only-1dec-keeps-fixed-costs",
    ),
]


@pytest.mark.parametrize("offset", list(OFFSETS))
@pytest.mark.parametrize(("policy_id", "kind", "enrolled", "cancelled", "expected"), ROWS)
def test_refund_around_each_cut_off_whatever_offset_the_instant_is_written_in(
    policy_id: str, kind: str, enrolled: str, cancelled: str, expected: Expected, offset: str
) -> None:
    written = brussels(cancelled).astimezone(OFFSETS[offset])
    assert written.utcoffset() == OFFSETS[offset].utcoffset(None)
    result = calculate_reimbursement(make_snapshot(kind, enrolled), written, load_builtin_policy(policy_id))
    assert_reimbursement(result, policy_id, kind, expected)
    assert result.cancelled_at_local.replace(tzinfo=None) == datetime.strptime(cancelled, "%Y-%m-%d %H:%M")


# Instants spelled out literally, so these rows do not depend on the test's own zone conversion.
LITERAL_ROWS = [
    pytest.param("uantwerp-en", "2026-11-30T22:59:00+00:00", MIXED_ALL, id="en-2259Z-is-2359-brussels"),
    pytest.param("uantwerp-en", "2026-11-30T23:30:00+00:00", MIXED_SECOND, id="en-2330Z-is-already-1dec"),
    pytest.param("uantwerp-en", "2026-11-30T17:59:00-05:00", MIXED_ALL, id="en-new-york-1759"),
    pytest.param("uantwerp-en", "2026-11-30T18:00:00-05:00", MIXED_SECOND, id="en-new-york-1800"),
    pytest.param("uantwerp-en", "2026-12-01T12:59:00+14:00", MIXED_ALL, id="en-kiritimati-1dec-1259"),
    pytest.param("uantwerp-en", "2026-12-01T13:00:00+14:00", MIXED_SECOND, id="en-kiritimati-1dec-1300"),
    pytest.param("uantwerp-en", "2027-03-14T22:59:00Z", MIXED_SECOND, id="en-14mar-2259Z"),
    pytest.param("uantwerp-en", "2027-03-14T23:00:00Z", MIXED_NONE, id="en-14mar-2300Z"),
    pytest.param("uantwerp-en", "2027-03-14T18:59:00-04:00", MIXED_SECOND, id="en-new-york-edt-1859"),
    pytest.param("uantwerp-en", "2027-03-14T19:00:00-04:00", MIXED_NONE, id="en-new-york-edt-1900"),
    pytest.param("uantwerp-en", "2027-03-15T12:59:00+14:00", MIXED_SECOND, id="en-kiritimati-15mar-1259"),
    pytest.param("uantwerp-en", "2027-03-15T13:00:00+14:00", MIXED_NONE, id="en-kiritimati-15mar-1300"),
    pytest.param("uantwerp-nl", "2026-10-31T22:59:00Z", MIXED_ALL, id="nl-31oct-2259Z"),
    pytest.param("uantwerp-nl", "2026-10-31T23:00:00Z", MIXED_SECOND, id="nl-31oct-2300Z"),
    pytest.param("uantwerp-nl", "2026-10-31T23:59:00+01:00", MIXED_ALL, id="nl-31oct-2359-cet"),
    pytest.param(
        "ugent",
        "2026-09-27T21:59:00Z",
        Expected("full-refund-before-academic-year", {1: "300.00", 2: "200.00"}, "100.00", "600.00"),
        id="ugent-27sep-2159Z-is-2359-cest",
    ),
    pytest.param(
        "ugent",
        "2026-09-27T22:00:00Z",
        Expected("refund-except-fixed-amount", {1: "300.00", 2: "200.00"}, "0.00", "500.00"),
        id="ugent-27sep-2200Z-is-28sep-cest",
    ),
    pytest.param("vub", "2027-03-15T22:59:00Z", MIXED_SECOND, id="vub-15mar-2259Z"),
    pytest.param("vub", "2027-03-15T23:00:00Z", MIXED_NONE, id="vub-15mar-2300Z"),
    pytest.param("vub", "2027-03-16T12:59:00+14:00", MIXED_SECOND, id="vub-kiritimati-16mar-1259"),
]


@pytest.mark.parametrize(("policy_id", "cancelled", "expected"), LITERAL_ROWS)
def test_refund_for_instants_written_literally(policy_id: str, cancelled: str, expected: Expected) -> None:
    result = calculate_reimbursement(
        make_snapshot("MIXED"), datetime.fromisoformat(cancelled), load_builtin_policy(policy_id)
    )
    assert_reimbursement(result, policy_id, "MIXED", expected)


def test_cancellation_on_1_december_refunds_only_second_semester() -> None:
    result = calculate_reimbursement(
        make_snapshot("MIXED"), brussels("2026-12-01 09:00"), load_builtin_policy("uantwerp-en")
    )
    # 4 second-semester credits x 50.00 = 200.00; first semester and fixed fee kept.
    assert [(line.semester, line.refunded) for line in result.lines] == [(1, Decimal("0.00")), (2, Decimal("200.00"))]
    assert result.fixed_fee == Decimal("0.00")
    assert result.total == Decimal("200.00")


def test_early_enrolment_for_next_year_cancelled_in_december_is_before_that_years_1_december() -> None:
    snapshot = make_snapshot("MIXED", enrolled_local="2026-11-15 10:00", year="2027-2028")
    policy = load_builtin_policy("uantwerp-en")
    assert calculate_reimbursement(snapshot, brussels("2026-12-10 12:00"), policy).rule_id == "full-refund"
    assert calculate_reimbursement(snapshot, brussels("2027-11-30 23:59"), policy).rule_id == "full-refund"
    after = calculate_reimbursement(snapshot, brussels("2027-12-01 00:00"), policy)
    assert (after.rule_id, after.total) == ("second-semester-refund", Decimal("200.00"))


def test_ugent_academic_year_start_follows_the_academic_year_of_the_enrolment() -> None:
    # 2027-2028 starts on Monday 27 September 2027 (first Monday on or after 22 September).
    snapshot = make_snapshot("MIXED", enrolled_local="2027-05-01 10:00", year="2027-2028")
    policy = load_builtin_policy("ugent")
    before = calculate_reimbursement(snapshot, brussels("2027-09-26 23:59"), policy)
    after = calculate_reimbursement(snapshot, brussels("2027-09-27 00:00"), policy)
    assert (before.rule_id, before.total) == ("full-refund-before-academic-year", Decimal("600.00"))
    assert (after.rule_id, after.total) == ("refund-except-fixed-amount", Decimal("500.00"))


TIME_OF_DAY_POLICY = """
id: time-of-day-test
version: 1
institution: Test
description: Cut-offs at local times that fall on the days the clocks change.
source: {url: "https://example.org/policy"}
timezone: Europe/Brussels
windows:
  - rule: before-autumn-cut-off
    until: {date: "10-25", year: first, time: "02:30"}
    refund: {semesters: all, fixed_fee: true}
  - rule: before-spring-cut-off
    until: {date: "03-28", year: second, time: "03:00"}
    refund: {semesters: [2], fixed_fee: false}
  - rule: nothing
    refund: {semesters: [], fixed_fee: false}
"""


@pytest.mark.parametrize(
    ("cancelled", "rule"),
    [
        # 28 March 2027 the clocks jump from 02:00 CET to 03:00 CEST: 01:59 CET and 03:00 CEST are one
        # real minute apart and fall either side of a 03:00 cut-off.
        ("2027-03-28T01:59:00+01:00", "before-spring-cut-off"),
        ("2027-03-28T00:59:00Z", "before-spring-cut-off"),
        ("2027-03-28T03:00:00+02:00", "nothing"),
        ("2027-03-28T01:00:00Z", "nothing"),
        # 25 October 2026 02:30 happens twice; the cut-off is its first occurrence (02:30 CEST, 00:30 UTC).
        ("2026-10-25T02:29:00+02:00", "before-autumn-cut-off"),
        ("2026-10-25T02:30:00+02:00", "before-spring-cut-off"),
        ("2026-10-25T02:29:00+01:00", "before-spring-cut-off"),
    ],
)
def test_local_time_of_day_cut_offs_on_clock_change_days(cancelled: str, rule: str) -> None:
    policy = parse_policy_text(TIME_OF_DAY_POLICY, "inline")
    result = calculate_reimbursement(make_snapshot("MIXED"), datetime.fromisoformat(cancelled), policy)
    assert result.rule_id == rule
