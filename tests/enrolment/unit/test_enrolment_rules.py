"""Enrolment rules: enrol (and its refusals) and cancel (idempotent, dated by the student's request)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from enrolment.adapters.catalogue import load_catalogue
from enrolment.domain import (
    AcademicYearNotInCatalogue,
    AlreadyEnrolled,
    CancellationBeforeEnrolment,
    Catalogue,
    Decision,
    EnrolledMicroCredential,
    Enrolment,
    EnrolmentCancelledEvent,
    EnrolmentCreatedEvent,
    EnrolmentRefused,
    EnrolmentStatus,
    InvalidEnrolmentData,
    Result,
    UnknownMicroCredential,
    enrol,
)
from enrolment.usecases import new_enrolment_id

ORIGIN = "urn:uantwerpen:enrolment-service"
BRUSSELS_WINTER = timezone(timedelta(hours=1))
ENROLLED_AT = datetime(2026, 9, 15, 10, 0, tzinfo=BRUSSELS_WINTER)


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def enrol_in(catalogue: Catalogue, mc: str = "mc-eu-policy-making", year: str = "2026-2027", **kwargs: Any) -> Decision:
    arguments: dict[str, Any] = {
        "student_ref": "s0123456",
        "academic_year": year,
        "microcredential_id": mc,
        "enrolled_at": ENROLLED_AT,
        "origin": ORIGIN,
        "enrolment_id": new_enrolment_id(),
    }
    arguments.update(kwargs)
    return enrol(catalogue, **arguments)


# --- enrol -------------------------------------------------------------------------------------------------------


def test_enrol_creates_an_active_enrolment_and_one_event(catalogue: Catalogue) -> None:
    decision = enrol_in(catalogue)
    enrolment = decision.enrolment
    assert decision.result is Result.CREATED
    assert enrolment.status is EnrolmentStatus.ACTIVE and enrolment.is_active
    assert (enrolment.student_ref, enrolment.microcredential_id, enrolment.academic_year) == (
        "s0123456",
        "mc-eu-policy-making",
        "2026-2027",
    )
    assert enrolment.enrolled_at == ENROLLED_AT and enrolment.origin == ORIGIN
    assert enrolment.cancelled_at is None and enrolment.reason is None
    assert decision.events == (EnrolmentCreatedEvent(enrolment.id, "s0123456", enrolment.microcredential, ENROLLED_AT),)


def test_enrolment_snapshots_courses_and_tuition_of_its_year(catalogue: Catalogue) -> None:
    snapshot = enrol_in(catalogue, mc="mc-heritage-adaptive-reuse", year="2027-2028").enrolment.microcredential
    # The 2027-2028 file indexes the per-credit fee to 12.40 and renumbers the courses.
    assert snapshot.tuition.per_credit == Decimal("12.40")
    assert [course.id for course in snapshot.courses] == ["2027MCHAR1", "2027MCHAR2"]
    assert snapshot.academic_year == "2027-2028"


def test_enrolment_ids_are_generated_unique_and_match_the_contract(catalogue: Catalogue) -> None:
    ids = {enrol_in(catalogue, student_ref=f"s{n}").enrolment.id for n in range(50)}
    assert len(ids) == 50
    for enrolment_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", enrolment_id)
        assert enrolment_id.startswith("enr-")
    assert re.fullmatch(r"enr-[0-9a-f]{32}", new_enrolment_id())


def test_a_given_enrolment_id_is_used_and_checked(catalogue: Catalogue) -> None:
    assert enrol_in(catalogue, enrolment_id="enr-client.42:a_b").enrolment.id == "enr-client.42:a_b"
    for bad in ("", "has space", "x" * 65, "enr/1"):
        with pytest.raises(InvalidEnrolmentData, match="enrolment id"):
            enrol_in(catalogue, enrolment_id=bad)


def test_unknown_microcredential_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(UnknownMicroCredential) as caught:
        enrol_in(catalogue, mc="mc-astrology")
    assert "mc-astrology" in str(caught.value) and "2026-2027" in str(caught.value)
    assert isinstance(caught.value, EnrolmentRefused)


def test_microcredential_only_offered_in_another_year_is_unknown(catalogue: Catalogue) -> None:
    # mc-digital-humanities starts in 2027-2028 only.
    with pytest.raises(UnknownMicroCredential):
        enrol_in(catalogue, mc="mc-digital-humanities", year="2026-2027")
    assert enrol_in(catalogue, mc="mc-digital-humanities", year="2027-2028").result is Result.CREATED


def test_academic_year_without_catalogue_is_refused_before_the_microcredential_is_looked_up(
    catalogue: Catalogue,
) -> None:
    with pytest.raises(AcademicYearNotInCatalogue) as caught:
        enrol_in(catalogue, mc="mc-astrology", year="2030-2031")
    assert "2030-2031" in str(caught.value)
    assert caught.value.known_years == ("2026-2027", "2027-2028")


def test_second_active_enrolment_in_same_microcredential_and_year_is_refused(catalogue: Catalogue) -> None:
    first = enrol_in(catalogue).enrolment
    with pytest.raises(AlreadyEnrolled) as caught:
        enrol_in(catalogue, existing=[first])
    assert caught.value.existing_enrolment_id == first.id
    assert first.id in str(caught.value)


def test_a_cancelled_enrolment_does_not_block_re_enrolling(catalogue: Catalogue) -> None:
    first = enrol_in(catalogue).enrolment
    cancelled = first.cancel(ENROLLED_AT + timedelta(days=3)).enrolment
    again = enrol_in(catalogue, existing=[cancelled], enrolled_at=ENROLLED_AT + timedelta(days=4))
    assert again.result is Result.CREATED and again.enrolment.id != first.id
    # ...but the new active one blocks a third.
    with pytest.raises(AlreadyEnrolled):
        enrol_in(catalogue, existing=[cancelled, again.enrolment])


def test_other_student_other_microcredential_or_other_year_do_not_block(catalogue: Catalogue) -> None:
    existing = [enrol_in(catalogue).enrolment]
    assert enrol_in(catalogue, existing=existing, student_ref="s9999999").result is Result.CREATED
    assert enrol_in(catalogue, existing=existing, mc="mc-port-logistics").result is Result.CREATED
    early = enrol_in(catalogue, existing=existing, mc="mc-heritage-adaptive-reuse", year="2027-2028")
    assert early.result is Result.CREATED


def test_enrolled_at_must_be_timezone_aware(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidEnrolmentData, match="timezone-aware"):
        enrol_in(catalogue, enrolled_at=datetime(2026, 9, 15, 10, 0))


@pytest.mark.parametrize("student_ref", ["", " s1", "x" * 129])
def test_student_ref_is_checked(catalogue: Catalogue, student_ref: str) -> None:
    with pytest.raises(InvalidEnrolmentData, match="student_ref"):
        enrol_in(catalogue, student_ref=student_ref)


# --- cancel ------------------------------------------------------------------------------------------------------


def active(catalogue: Catalogue) -> Enrolment:
    return enrol_in(catalogue, enrolment_id="enr-1").enrolment


def test_cancel_records_date_and_reason_and_emits_one_event(catalogue: Catalogue) -> None:
    cancelled_at = datetime(2026, 11, 30, 23, 30, tzinfo=BRUSSELS_WINTER)
    decision = active(catalogue).cancel(cancelled_at, "  changed jobs  ")
    assert decision.result is Result.CANCELLED
    assert decision.enrolment.status is EnrolmentStatus.CANCELLED and not decision.enrolment.is_active
    assert decision.enrolment.cancelled_at == cancelled_at
    assert decision.enrolment.reason == "changed jobs"
    assert decision.events == (EnrolmentCancelledEvent("enr-1", cancelled_at, "changed jobs"),)


def test_cancel_does_not_modify_the_original(catalogue: Catalogue) -> None:
    enrolment = active(catalogue)
    enrolment.cancel(ENROLLED_AT + timedelta(days=1))
    assert enrolment.is_active


def test_cancelling_twice_reports_already_cancelled_and_keeps_the_first_date(catalogue: Catalogue) -> None:
    first_date = ENROLLED_AT + timedelta(days=10)
    cancelled = active(catalogue).cancel(first_date, "first").enrolment
    again = cancelled.cancel(first_date + timedelta(days=100), "second")
    assert again.result is Result.ALREADY_CANCELLED
    assert str(again.result) == "already cancelled"
    assert again.events == ()
    assert again.enrolment == cancelled
    assert (again.enrolment.cancelled_at, again.enrolment.reason) == (first_date, "first")


def test_cancelled_at_must_be_timezone_aware(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidEnrolmentData, match="timezone-aware"):
        active(catalogue).cancel(datetime(2026, 10, 1, 12, 0))


def test_cancelled_at_before_enrolled_at_is_refused(catalogue: Catalogue) -> None:
    with pytest.raises(CancellationBeforeEnrolment, match="enr-1"):
        active(catalogue).cancel(ENROLLED_AT - timedelta(seconds=1))


def test_cancelled_at_equal_to_enrolled_at_is_allowed(catalogue: Catalogue) -> None:
    assert active(catalogue).cancel(ENROLLED_AT).result is Result.CANCELLED


def test_order_is_decided_on_the_instant_not_the_wall_clock(catalogue: Catalogue) -> None:
    # 09:30 UTC is 10:30 in Brussels (+01:00): after the 10:00+01:00 enrolment, though the clock reads earlier.
    later_instant = datetime(2026, 9, 15, 9, 30, tzinfo=UTC)
    assert active(catalogue).cancel(later_instant).result is Result.CANCELLED
    earlier_instant = datetime(2026, 9, 15, 10, 30, tzinfo=timezone(timedelta(hours=2)))  # 08:30 UTC
    with pytest.raises(CancellationBeforeEnrolment):
        active(catalogue).cancel(earlier_instant)


def test_reason_is_optional_blank_means_none_and_length_is_limited(catalogue: Catalogue) -> None:
    later = ENROLLED_AT + timedelta(days=1)
    assert active(catalogue).cancel(later).enrolment.reason is None
    assert active(catalogue).cancel(later, "   ").enrolment.reason is None
    assert active(catalogue).cancel(later, "x" * 1000).enrolment.reason == "x" * 1000
    with pytest.raises(InvalidEnrolmentData, match="1000"):
        active(catalogue).cancel(later, "x" * 1001)


# --- invariants on construction (e.g. when a row is read back from storage) ---------------------------------------


def snapshot(catalogue: Catalogue) -> EnrolledMicroCredential:
    return EnrolledMicroCredential.from_entry(catalogue.get("2026-2027", "mc-port-logistics"))


def test_a_cancelled_enrolment_needs_a_cancellation_date(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidEnrolmentData, match="cancelled_at"):
        Enrolment("enr-1", "s1", snapshot(catalogue), ENROLLED_AT, ORIGIN, status=EnrolmentStatus.CANCELLED)


def test_an_active_enrolment_has_no_cancellation_data(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidEnrolmentData, match="active"):
        Enrolment("enr-1", "s1", snapshot(catalogue), ENROLLED_AT, ORIGIN, reason="why")


def test_stored_cancellation_before_enrolment_is_refused(catalogue: Catalogue) -> None:
    enrolment = Enrolment("enr-1", "s1", snapshot(catalogue), ENROLLED_AT, ORIGIN)
    with pytest.raises(CancellationBeforeEnrolment):
        replace(enrolment, status=EnrolmentStatus.CANCELLED, cancelled_at=ENROLLED_AT - timedelta(days=1))


def test_snapshot_carries_what_billing_needs(catalogue: Catalogue) -> None:
    entry = catalogue.get("2026-2027", "mc-port-logistics")
    taken = snapshot(catalogue)
    assert (taken.id, taken.title, taken.academic_year) == (entry.id, entry.title, "2026-2027")
    assert taken.courses == entry.courses and taken.tuition == entry.tuition
