"""Use cases of the enrolment service: one function each, all inside the caller's database transaction.

Each use case loads, asks the domain, stores the new state and queues the events announcing it in the outbox
(reliability.outbox) in the SAME transaction: a refused or rolled-back request leaves neither a row nor an
event, and a committed one always gets its event published.

The consumer handlers apply what arrives on enrolment.events: other campus systems' enrolments and
cancellations, and our own events read back. Our own events need no special case: when one arrives, the
enrolment it announces is already stored with the same data, so the domain calls it a duplicate (or an
already-cancelled enrolment) and nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from reliability.consumer import Handler, RejectEvent
from reliability.outbox import add_to_outbox
from sqlmodel import Session

from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    Student,
    new_event,
)
from enrolment import storage
from enrolment.domain import (
    Catalogue,
    DomainEvent,
    EnrolmentCreatedEvent,
    EnrolmentError,
    Result,
    apply_foreign_cancelled,
    apply_foreign_created,
)
from enrolment.domain import enrol as domain_enrol
from enrolment.domain.wire import (
    enrolled_from_wire,
    to_enrolment_cancelled,
    to_enrolment_created,
    to_microcredential_published,
)
from enrolment.storage import StoredEnrolment

log = logging.getLogger(__name__)

SOURCE = "/services/enrolment"
"""CloudEvents `source` of every event this service publishes."""


class EnrolmentNotFound(EnrolmentError):
    def __init__(self, enrolment_id: str) -> None:
        super().__init__(f"there is no enrolment {enrolment_id!r}")
        self.enrolment_id = enrolment_id


@dataclass(frozen=True)
class EnrolCommand:
    student: Student
    microcredential_id: str
    academic_year: str
    enrolled_at: datetime


@dataclass(frozen=True)
class CancelOutcome:
    result: Result
    """CANCELLED, or ALREADY_CANCELLED for a repeated request (nothing changed, nothing published)."""
    enrolment: StoredEnrolment


# --- our own state changes ---------------------------------------------------------------------------------


def enrol(session: Session, catalogue: Catalogue, command: EnrolCommand) -> StoredEnrolment:
    """Enrol a student; raises AcademicYearNotInCatalogue, UnknownMicroCredential or AlreadyEnrolled.

    Two concurrent requests for the same student and micro-credential can both pass the domain's check on
    PostgreSQL; the database's unique index then refuses the second at flush (IntegrityError), and running the
    use case again reports AlreadyEnrolled.
    """
    existing = [stored.enrolment for stored in storage.enrolments_of_student(session, command.student.id)]
    decision = domain_enrol(
        catalogue,
        student_ref=command.student.id,
        academic_year=command.academic_year,
        microcredential_id=command.microcredential_id,
        enrolled_at=command.enrolled_at,
        origin=SOURCE,
        existing=existing,
    )
    stored = storage.add_enrolment(session, decision.enrolment, command.student, "api", recorded_at=_now())
    _queue(session, decision.events, command.student)
    session.flush()
    log.info("enrolment created", extra={"enrolment_id": decision.enrolment.id})
    return stored


def cancel(session: Session, enrolment_id: str, cancelled_at: datetime, reason: str | None) -> CancelOutcome:
    """Cancel an enrolment at the moment the student asked; a repeated cancellation changes and publishes nothing.

    Raises EnrolmentNotFound, or CancellationBeforeEnrolment for a date before the enrolment.
    """
    stored = storage.get_enrolment(session, enrolment_id, for_update=True)
    if stored is None:
        raise EnrolmentNotFound(enrolment_id)
    decision = stored.enrolment.cancel(cancelled_at, reason)
    if decision.result is Result.CANCELLED:
        stored = storage.save_status(session, stored, decision.enrolment)
        _queue(session, decision.events, stored.student)
        log.info("enrolment cancelled", extra={"enrolment_id": enrolment_id})
    return CancelOutcome(decision.result, stored)


def get_enrolment(session: Session, enrolment_id: str) -> StoredEnrolment:
    stored = storage.get_enrolment(session, enrolment_id)
    if stored is None:
        raise EnrolmentNotFound(enrolment_id)
    return stored


def enrolments_of_student(session: Session, student_id: str) -> list[StoredEnrolment]:
    return storage.enrolments_of_student(session, student_id)


def _queue(session: Session, events: tuple[DomainEvent, ...], student: Student) -> None:
    for event in events:
        payload: EventPayload
        if isinstance(event, EnrolmentCreatedEvent):
            payload = to_enrolment_created(event, student)
        else:
            payload = to_enrolment_cancelled(event)
        add_to_outbox(session, new_event(payload, source=SOURCE))


# --- events on enrolment.events (other systems' and our own) -----------------------------------------------


def on_enrolment_created(session: Session, event: CloudEvent[EnrolmentCreated]) -> None:
    """Record an enrolment published on the topic; ours (read back) and redeliveries are duplicates: no change."""
    data = event.data
    _require_storable(data.student.id, data.student.given_name, data.student.family_name, data.student.email)
    _require_storable(data.microcredential.title, *(course.title for course in data.microcredential.courses))
    _require_representable(data.enrolled_at)
    current = storage.get_enrolment(session, data.enrolment_id, for_update=True)
    pending = storage.get_pending_cancellation(session, data.enrolment_id) if current is None else None
    try:
        outcome = apply_foreign_created(
            None if current is None else current.enrolment,
            enrolment_id=data.enrolment_id,
            student_ref=data.student.id,
            microcredential=enrolled_from_wire(data.microcredential, data.tuition),
            enrolled_at=data.enrolled_at,
            origin=event.source,
            pending=pending,
        )
    except EnrolmentError as error:
        raise RejectEvent(f"{event.type} {event.id} from {event.source}: {error}") from error
    if outcome.result is Result.DUPLICATE or outcome.enrolment is None:
        return
    storage.add_enrolment(session, outcome.enrolment, data.student, "event", recorded_at=_now())
    if pending is not None:
        storage.drop_pending_cancellation(session, data.enrolment_id)
    extra = {"enrolment_id": data.enrolment_id, "source": event.source, "result": outcome.result.value}
    if outcome.note is not None:
        log.warning(outcome.note, extra=extra)
    log.info("enrolment recorded from an event", extra=extra)


def on_enrolment_cancelled(session: Session, event: CloudEvent[EnrolmentCancelled]) -> None:
    """Record a cancellation published on the topic; before its enrolment arrives it is kept pending."""
    data = event.data
    if data.reason is not None:
        _require_storable(data.reason)
    _require_representable(data.cancelled_at)
    current = storage.get_enrolment(session, data.enrolment_id, for_update=True)
    pending = storage.get_pending_cancellation(session, data.enrolment_id) if current is None else None
    try:
        outcome = apply_foreign_cancelled(
            None if current is None else current.enrolment,
            enrolment_id=data.enrolment_id,
            cancelled_at=data.cancelled_at,
            reason=data.reason,
            pending=pending,
        )
    except EnrolmentError as error:
        raise RejectEvent(f"{event.type} {event.id} from {event.source}: {error}") from error
    extra = {"enrolment_id": data.enrolment_id, "source": event.source, "result": outcome.result.value}
    if outcome.result is Result.PENDING and outcome.pending is not None:
        storage.keep_pending_cancellation(session, outcome.pending, event.source, received_at=_now())
        log.info("cancellation kept until its enrolment arrives", extra=extra)
    elif outcome.result is Result.CANCELLED and current is not None and outcome.enrolment is not None:
        storage.save_status(session, current, outcome.enrolment)
        log.info("enrolment cancelled by an event", extra=extra)


HANDLERS: dict[str, Handler] = {
    EnrolmentCreated.event_type: on_enrolment_created,
    EnrolmentCancelled.event_type: on_enrolment_cancelled,
}
"""What the service's consumer applies from enrolment.events, by CloudEvents type."""


def _require_storable(*texts: str) -> None:
    # PostgreSQL text cannot hold NUL; without this check such an event would fail on every retry and only
    # then reach the dead-letter topic, with a database error instead of a reason.
    for value in texts:
        if "\x00" in value:
            raise RejectEvent("a text field contains a NUL character, which cannot be stored")


def _require_representable(instant: datetime) -> None:
    try:
        instant.astimezone(UTC)
    except OverflowError:
        raise RejectEvent(f"instant {instant.isoformat()} is out of range once converted to UTC") from None


# --- the catalogue topic -----------------------------------------------------------------------------------


def catalogue_content_hash(payload: EventPayload) -> str:
    """A hash of what a catalogue record says (not of its envelope, whose id and time change every time)."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def publish_catalogue(session: Session, catalogue: Catalogue) -> int:
    """Queue a MicroCredentialPublished for every entry whose content changed since it was last queued.

    Run at start: a restart with an unchanged catalogue publishes nothing. An entry removed from the files is
    not tombstoned: credentials of past enrolments still need its metadata, and compaction keeps the last one.
    Returns the number of records queued.
    """
    published = storage.published_catalogue_hashes(session)
    queued = 0
    for entry in catalogue:
        payload: EventPayload = to_microcredential_published(entry)
        key = payload.subject()
        content_hash = catalogue_content_hash(payload)
        if published.get(key) == content_hash:
            continue
        event = new_event(payload, source=SOURCE)
        add_to_outbox(session, event)
        storage.record_catalogue_publication(session, key, content_hash, event.id, published_at=_now())
        queued += 1
    if queued:
        log.info("catalogue entries queued for publication", extra={"count": queued})
    return queued


def _now() -> datetime:
    return datetime.now(UTC)
