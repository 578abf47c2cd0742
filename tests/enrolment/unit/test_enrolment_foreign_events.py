"""Events other campus systems published: applied idempotently, and a cancellation may come before its creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from enrolment.adapters.catalogue import load_catalogue
from enrolment.domain import (
    CancellationBeforeEnrolment,
    EnrolledMicroCredential,
    Enrolment,
    EnrolmentStatus,
    ForeignEventConflict,
    ForeignOutcome,
    PendingCancellation,
    Result,
    apply_foreign_cancelled,
    apply_foreign_created,
    enrol,
)

FOREIGN = "urn:uantwerpen:sisa"
ENROLLED_AT = datetime(2026, 9, 20, 8, 0, tzinfo=UTC)
CANCELLED_AT = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def snapshot() -> EnrolledMicroCredential:
    return EnrolledMicroCredential.from_entry(load_catalogue().get("2026-2027", "mc-sustainable-finance"))


def created(current: Enrolment | None, snapshot: EnrolledMicroCredential, **kwargs: Any) -> ForeignOutcome:
    arguments: dict[str, Any] = {
        "enrolment_id": "sisa-77",
        "student_ref": "s0200000",
        "microcredential": snapshot,
        "enrolled_at": ENROLLED_AT,
        "origin": FOREIGN,
    }
    arguments.update(kwargs)
    return apply_foreign_created(current, **arguments)


def test_foreign_creation_is_recorded_with_its_origin(snapshot: EnrolledMicroCredential) -> None:
    outcome = created(None, snapshot)
    assert outcome.result is Result.CREATED and outcome.pending is None and outcome.note is None
    assert outcome.enrolment is not None
    assert (outcome.enrolment.id, outcome.enrolment.origin, outcome.enrolment.status) == (
        "sisa-77",
        FOREIGN,
        EnrolmentStatus.ACTIVE,
    )
    assert not hasattr(outcome, "events")  # other systems already published it; we never republish


def test_redelivered_creation_is_a_duplicate_and_keeps_the_first_version(snapshot: EnrolledMicroCredential) -> None:
    first = created(None, snapshot).enrolment
    again = created(first, snapshot, enrolled_at=ENROLLED_AT + timedelta(hours=1))
    assert again.result is Result.DUPLICATE
    assert again.enrolment == first


def test_our_own_event_read_back_is_a_duplicate() -> None:
    catalogue = load_catalogue()
    ours = enrol(
        catalogue,
        student_ref="s1",
        academic_year="2026-2027",
        microcredential_id="mc-port-logistics",
        enrolled_at=ENROLLED_AT,
        origin="urn:uantwerpen:enrolment-service",
        enrolment_id="enr-0123456789abcdef0123456789abcdef",
    ).enrolment
    outcome = apply_foreign_created(
        ours,
        enrolment_id=ours.id,
        student_ref="s1",
        microcredential=ours.microcredential,
        enrolled_at=ENROLLED_AT,
        origin="urn:uantwerpen:enrolment-service",
    )
    assert outcome.result is Result.DUPLICATE and outcome.enrolment is ours


def test_same_id_for_another_student_is_a_conflict(snapshot: EnrolledMicroCredential) -> None:
    first = created(None, snapshot).enrolment
    with pytest.raises(ForeignEventConflict, match="sisa-77"):
        created(first, snapshot, student_ref="s0300000")


def test_foreign_cancellation_of_a_known_enrolment(snapshot: EnrolledMicroCredential) -> None:
    enrolment = created(None, snapshot).enrolment
    outcome = apply_foreign_cancelled(enrolment, enrolment_id="sisa-77", cancelled_at=CANCELLED_AT, reason="moved")
    assert outcome.result is Result.CANCELLED
    assert outcome.enrolment is not None
    assert (outcome.enrolment.status, outcome.enrolment.cancelled_at, outcome.enrolment.reason) == (
        EnrolmentStatus.CANCELLED,
        CANCELLED_AT,
        "moved",
    )
    again = apply_foreign_cancelled(
        outcome.enrolment, enrolment_id="sisa-77", cancelled_at=CANCELLED_AT + timedelta(days=1)
    )
    assert again.result is Result.ALREADY_CANCELLED
    assert again.enrolment == outcome.enrolment


def test_cancellation_before_creation_is_kept_pending_then_applied(snapshot: EnrolledMicroCredential) -> None:
    waiting = apply_foreign_cancelled(None, enrolment_id="sisa-77", cancelled_at=CANCELLED_AT, reason="moved")
    assert waiting.result is Result.PENDING and waiting.enrolment is None
    assert waiting.pending == PendingCancellation("sisa-77", CANCELLED_AT, "moved")

    outcome = created(None, snapshot, pending=waiting.pending)
    assert outcome.result is Result.CREATED_AND_CANCELLED
    assert outcome.pending is None  # resolved: the service deletes what it kept
    assert outcome.enrolment is not None
    assert outcome.enrolment.status is EnrolmentStatus.CANCELLED
    assert (outcome.enrolment.enrolled_at, outcome.enrolment.cancelled_at) == (ENROLLED_AT, CANCELLED_AT)


def test_redelivered_pending_cancellation_keeps_the_first(snapshot: EnrolledMicroCredential) -> None:
    first = apply_foreign_cancelled(None, enrolment_id="sisa-77", cancelled_at=CANCELLED_AT).pending
    again = apply_foreign_cancelled(
        None, enrolment_id="sisa-77", cancelled_at=CANCELLED_AT + timedelta(days=2), pending=first
    )
    assert again.result is Result.PENDING and again.pending == first


def test_pending_cancellation_dated_before_the_enrolment_is_dropped_with_a_note(
    snapshot: EnrolledMicroCredential,
) -> None:
    pending = PendingCancellation("sisa-77", ENROLLED_AT - timedelta(days=1), None)
    outcome = created(None, snapshot, pending=pending)
    assert outcome.result is Result.CREATED and outcome.pending is None
    assert outcome.enrolment is not None and outcome.enrolment.is_active
    assert outcome.note is not None and "before the enrolment" in outcome.note


def test_foreign_cancellation_before_the_enrolment_is_refused(snapshot: EnrolledMicroCredential) -> None:
    enrolment = created(None, snapshot).enrolment
    with pytest.raises(CancellationBeforeEnrolment):
        apply_foreign_cancelled(enrolment, enrolment_id="sisa-77", cancelled_at=ENROLLED_AT - timedelta(minutes=1))


def test_foreign_events_need_aware_times_and_valid_ids(snapshot: EnrolledMicroCredential) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        created(None, snapshot, enrolled_at=datetime(2026, 9, 20, 8, 0))
    with pytest.raises(ValueError, match="timezone-aware"):
        apply_foreign_cancelled(None, enrolment_id="sisa-77", cancelled_at=datetime(2026, 12, 5))
    with pytest.raises(ValueError, match="enrolment id"):
        apply_foreign_cancelled(None, enrolment_id="sisa 77", cancelled_at=CANCELLED_AT)
