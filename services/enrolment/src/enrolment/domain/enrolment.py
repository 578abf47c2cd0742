"""The Enrolment aggregate and its rules: enrol, cancel, and applying what other campus systems published.

Everything is immutable: a rule returns the new state together with the domain events to publish, so the
use cases can store both in one transaction (outbox) and nothing is half-applied when a rule refuses.
Events are plain dataclasses; ``enrolment.domain.wire`` turns them into contract payloads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from enrolment.domain.catalogue import Catalogue, CatalogueCourse, CatalogueTuition, MicroCredential
from enrolment.domain.errors import (
    AlreadyEnrolled,
    CancellationBeforeEnrolment,
    ForeignEventConflict,
    InvalidEnrolmentData,
)

ENROLMENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
"""The contract's EnrolmentId: it is also the Kafka key, so it stays short and URL/header safe."""

MAX_REF_LENGTH = 64  # the contract's Identifier
MAX_REASON_LENGTH = 1000  # the contract's EnrolmentCancelled.reason


class EnrolmentStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class EnrolledMicroCredential:
    """The micro-credential as it was when the student enrolled; later catalogue edits do not change it.

    It holds what billing needs (courses, credits, semesters, tuition terms) and nothing descriptive: the
    descriptive metadata travels separately on the catalogue topic.
    """

    id: str
    title: str
    academic_year: str
    courses: tuple[CatalogueCourse, ...]
    tuition: CatalogueTuition

    @classmethod
    def from_entry(cls, entry: MicroCredential) -> EnrolledMicroCredential:
        return cls(
            id=entry.id,
            title=entry.title,
            academic_year=entry.academic_year,
            courses=entry.courses,
            tuition=entry.tuition,
        )


# --- domain events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrolmentCreatedEvent:
    enrolment_id: str
    student_ref: str
    microcredential: EnrolledMicroCredential
    enrolled_at: datetime


@dataclass(frozen=True)
class EnrolmentCancelledEvent:
    enrolment_id: str
    cancelled_at: datetime
    reason: str | None


DomainEvent = EnrolmentCreatedEvent | EnrolmentCancelledEvent


# --- the aggregate -----------------------------------------------------------------------------------------


class Result(StrEnum):
    """What a rule did; the service layer maps it to a response (201, 200, 202) or a log line."""

    CREATED = "created"
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already cancelled"
    CREATED_AND_CANCELLED = "created and cancelled"
    DUPLICATE = "duplicate"
    PENDING = "pending"


@dataclass(frozen=True)
class Decision:
    """Outcome of one of OUR state changes: the new state and the events to publish (none if nothing changed)."""

    result: Result
    enrolment: Enrolment
    events: tuple[DomainEvent, ...]


@dataclass(frozen=True)
class Enrolment:
    id: str
    student_ref: str
    microcredential: EnrolledMicroCredential
    enrolled_at: datetime
    origin: str
    """CloudEvents `source` of the system that created the enrolment (ours, or another campus system's)."""
    status: EnrolmentStatus = EnrolmentStatus.ACTIVE
    cancelled_at: datetime | None = None
    reason: str | None = None
    """Why it was cancelled, as the student or the cancelling system gave it."""

    def __post_init__(self) -> None:
        # Checked on every construction, so a row read back from storage obeys the same invariants as a new one.
        _check_enrolment_id(self.id)
        _check_ref("student_ref", self.student_ref)
        _check_ref("origin", self.origin, max_length=2000)
        _require_aware("enrolled_at", self.enrolled_at)
        if self.status is EnrolmentStatus.CANCELLED:
            if self.cancelled_at is None:
                raise InvalidEnrolmentData(f"enrolment {self.id!r} is cancelled but has no cancelled_at")
            _require_aware("cancelled_at", self.cancelled_at)
            if self.cancelled_at < self.enrolled_at:
                raise CancellationBeforeEnrolment(self.id, self.enrolled_at.isoformat(), self.cancelled_at.isoformat())
        elif self.cancelled_at is not None or self.reason is not None:
            raise InvalidEnrolmentData(f"enrolment {self.id!r} is active but has a cancellation date or reason")

    @property
    def academic_year(self) -> str:
        return self.microcredential.academic_year

    @property
    def microcredential_id(self) -> str:
        return self.microcredential.id

    @property
    def is_active(self) -> bool:
        return self.status is EnrolmentStatus.ACTIVE

    def cancel(self, cancelled_at: datetime, reason: str | None = None) -> Decision:
        """Cancel the enrolment at the moment the student asked (that date decides the refund, not "now").

        Idempotent: cancelling a cancelled enrolment keeps the FIRST cancellation date and reason and publishes
        nothing, so a retried request can never move the refund date.
        """
        _require_aware("cancelled_at", cancelled_at)
        reason = _normalise_reason(reason)
        if self.status is EnrolmentStatus.CANCELLED:
            return Decision(Result.ALREADY_CANCELLED, self, ())
        if cancelled_at < self.enrolled_at:
            raise CancellationBeforeEnrolment(self.id, self.enrolled_at.isoformat(), cancelled_at.isoformat())
        cancelled = replace(self, status=EnrolmentStatus.CANCELLED, cancelled_at=cancelled_at, reason=reason)
        return Decision(Result.CANCELLED, cancelled, (EnrolmentCancelledEvent(self.id, cancelled_at, reason),))


def enrol(
    catalogue: Catalogue,
    *,
    student_ref: str,
    academic_year: str,
    microcredential_id: str,
    enrolled_at: datetime,
    origin: str,
    existing: Iterable[Enrolment] = (),
    enrolment_id: str,
) -> Decision:
    """Enrol a student in a micro-credential of an academic year's catalogue, under a fresh `enrolment_id`.

    `existing` is what the service holds for this student (more is harmless: only active enrolments of the same
    micro-credential and year block). Raises AcademicYearNotInCatalogue, UnknownMicroCredential or
    AlreadyEnrolled; the year is checked first so that "no catalogue for 2030-2031" is not reported as an
    unknown micro-credential.
    """
    _check_ref("student_ref", student_ref)
    _require_aware("enrolled_at", enrolled_at)
    entry = catalogue.get(academic_year, microcredential_id)
    for other in existing:
        if (
            other.is_active
            and other.student_ref == student_ref
            and other.microcredential_id == microcredential_id
            and other.academic_year == academic_year
        ):
            raise AlreadyEnrolled(student_ref, microcredential_id, academic_year, other.id)
    enrolment = Enrolment(
        id=enrolment_id,
        student_ref=student_ref,
        microcredential=EnrolledMicroCredential.from_entry(entry),
        enrolled_at=enrolled_at,
        origin=origin,
    )
    event = EnrolmentCreatedEvent(enrolment.id, student_ref, enrolment.microcredential, enrolled_at)
    return Decision(Result.CREATED, enrolment, (event,))


# --- events published by other campus systems --------------------------------------------------------------
#
# Choice for a cancellation that arrives before its creation (different partitions, a replay, a late
# producer): we keep it PENDING instead of creating a placeholder enrolment. A placeholder would need a
# student and a micro-credential snapshot that we do not have, and every reader (duplicate check, API) would
# have to know about half-filled rows. The service stores the PendingCancellation by enrolment id and passes
# it to apply_foreign_created, which applies it the moment the creation arrives.
#
# Foreign changes never produce events to publish: the other system has already published them, and
# re-publishing would make consumers see every foreign fact twice.


@dataclass(frozen=True)
class PendingCancellation:
    enrolment_id: str
    cancelled_at: datetime
    reason: str | None


@dataclass(frozen=True)
class ForeignOutcome:
    """What applying a foreign event did. Store `enrolment` (if any) and `pending` (None: delete any stored one)."""

    result: Result
    enrolment: Enrolment | None
    pending: PendingCancellation | None = None
    note: str | None = None
    """Set when part of the input was dropped, for the service to log or dead-letter."""


def apply_foreign_created(
    current: Enrolment | None,
    *,
    enrolment_id: str,
    student_ref: str,
    microcredential: EnrolledMicroCredential,
    enrolled_at: datetime,
    origin: str,
    pending: PendingCancellation | None = None,
) -> ForeignOutcome:
    """Record an enrolment another system created; a redelivery (or our own event read back) is a no-op.

    Another system's enrolment is a fact, so no catalogue or duplicate-enrolment rule is applied to it.
    The same id with a different student, micro-credential or year raises ForeignEventConflict.
    """
    _check_enrolment_id(enrolment_id)
    _require_aware("enrolled_at", enrolled_at)
    if current is not None:
        if current.id != enrolment_id:
            raise ValueError(f"current enrolment {current.id!r} is not {enrolment_id!r}")
        held = (current.student_ref, current.microcredential_id, current.academic_year)
        incoming = (student_ref, microcredential.id, microcredential.academic_year)
        if held != incoming:
            raise ForeignEventConflict(
                f"enrolment {enrolment_id!r} already exists as (student, micro-credential, year) {held}; "
                f"{origin} published it as {incoming}"
            )
        # Same enrolment: the first version we stored wins, so a redelivery can never change the snapshot.
        return ForeignOutcome(Result.DUPLICATE, current)

    enrolment = Enrolment(
        id=enrolment_id,
        student_ref=student_ref,
        microcredential=microcredential,
        enrolled_at=enrolled_at,
        origin=origin,
    )
    if pending is None:
        return ForeignOutcome(Result.CREATED, enrolment)
    if pending.enrolment_id != enrolment_id:
        raise ValueError(f"pending cancellation of {pending.enrolment_id!r} passed for {enrolment_id!r}")
    if pending.cancelled_at < enrolled_at:
        # Keeping it pending would keep it forever; applying it would break the invariant billing relies on.
        note = (
            f"dropped the pending cancellation of {enrolment_id!r} dated {pending.cancelled_at.isoformat()}: "
            f"it is before the enrolment ({enrolled_at.isoformat()})"
        )
        return ForeignOutcome(Result.CREATED, enrolment, note=note)
    cancelled = replace(
        enrolment, status=EnrolmentStatus.CANCELLED, cancelled_at=pending.cancelled_at, reason=pending.reason
    )
    return ForeignOutcome(Result.CREATED_AND_CANCELLED, cancelled)


def apply_foreign_cancelled(
    current: Enrolment | None,
    *,
    enrolment_id: str,
    cancelled_at: datetime,
    reason: str | None = None,
    pending: PendingCancellation | None = None,
) -> ForeignOutcome:
    """Record a cancellation another system published; idempotent, and it may arrive before the creation.

    Unknown enrolment: returns Result.PENDING with the cancellation to keep (the first one kept wins, as for
    our own cancellations). A cancellation dated before the enrolment raises CancellationBeforeEnrolment.
    """
    _check_enrolment_id(enrolment_id)
    _require_aware("cancelled_at", cancelled_at)
    reason = _normalise_reason(reason)
    if current is None:
        kept = pending if pending is not None else PendingCancellation(enrolment_id, cancelled_at, reason)
        return ForeignOutcome(Result.PENDING, None, pending=kept)
    if current.id != enrolment_id:
        raise ValueError(f"current enrolment {current.id!r} is not {enrolment_id!r}")
    decision = current.cancel(cancelled_at, reason)
    return ForeignOutcome(decision.result, decision.enrolment)


# --- checks ------------------------------------------------------------------------------------------------


def _check_enrolment_id(enrolment_id: str) -> None:
    if not ENROLMENT_ID_PATTERN.fullmatch(enrolment_id):
        raise InvalidEnrolmentData(f"enrolment id must be 1-64 characters of A-Z a-z 0-9 . _ : -, got {enrolment_id!r}")


def _check_ref(name: str, value: str, max_length: int = MAX_REF_LENGTH) -> None:
    if not value or value != value.strip() or len(value) > max_length:
        raise InvalidEnrolmentData(
            f"{name} must be 1-{max_length} characters without surrounding whitespace, got {value!r}"
        )


def _require_aware(name: str, value: datetime) -> None:
    # A naive time is ambiguous by up to a day around midnight, and refund deadlines fall on dates.
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidEnrolmentData(f"{name} must be timezone-aware (with a UTC offset), got {value.isoformat()}")


def _normalise_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidEnrolmentData(f"reason must be at most {MAX_REASON_LENGTH} characters, got {len(reason)}")
    return reason or None
