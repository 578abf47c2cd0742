"""Use cases of the enrolment service, one function each: load through the store, decide with the domain, write
through the store.

Each use case stores the new state and queues the events announcing it in the outbox in the SAME unit of work:
a refused or rolled-back request leaves neither a row nor an event, and a committed one always gets its event
published. The use cases called from HTTP take the Database and open the unit of work themselves; those called
from the consumer take the Store of the kit's transaction.

The consumer applies what arrives on enrolment.events: other campus systems' enrolments and cancellations, and
our own events read back. Our own events need no special case: when one arrives, the enrolment it announces is
already stored with the same data, so the domain calls it a duplicate (or an already-cancelled enrolment) and
nothing changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from reliability.consumer import RejectEvent
from reliability.events import require_storable

from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    EventPayload,
    Student,
    new_event,
)
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
from enrolment.store import Database, Store, WriteConflict
from enrolment.store import StoredEnrolment as StoredEnrolment  # what the use cases return

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


def new_enrolment_id() -> str:
    """A fresh enrolment id: "enr-" + 32 hex digits of a random UUID (36 characters, matches the contract)."""
    return "enr-" + uuid.uuid4().hex


# --- our own state changes (HTTP) --------------------------------------------------------------------------


def enrol(database: Database, catalogue: Catalogue, command: EnrolCommand) -> StoredEnrolment:
    """Enrol a student; raises AcademicYearNotInCatalogue, UnknownMicroCredential or AlreadyEnrolled.

    Two concurrent requests for the same student and micro-credential can both pass the domain's check on
    PostgreSQL; the database's unique index then refuses the second at flush (WriteConflict), and running the
    use case again reports AlreadyEnrolled.
    """
    try:
        with database.unit_of_work() as store:
            return _enrol(store, catalogue, command)
    except WriteConflict:
        with database.unit_of_work() as store:
            return _enrol(store, catalogue, command)


def _enrol(store: Store, catalogue: Catalogue, command: EnrolCommand) -> StoredEnrolment:
    existing = [stored.enrolment for stored in store.enrolments_of_student(command.student.id)]
    decision = domain_enrol(
        catalogue,
        student_ref=command.student.id,
        academic_year=command.academic_year,
        microcredential_id=command.microcredential_id,
        enrolled_at=command.enrolled_at,
        origin=SOURCE,
        existing=existing,
        enrolment_id=new_enrolment_id(),
    )
    stored = store.add_enrolment(decision.enrolment, command.student, "api", recorded_at=_now())
    _publish(store, decision.events, command.student)
    store.flush()
    log.info("enrolment created", extra={"enrolment_id": decision.enrolment.id})
    return stored


def cancel(database: Database, enrolment_id: str, cancelled_at: datetime, reason: str | None) -> CancelOutcome:
    """Cancel an enrolment at the moment the student asked; a repeated cancellation changes and publishes nothing.

    Raises EnrolmentNotFound, or CancellationBeforeEnrolment for a date before the enrolment.
    """
    with database.unit_of_work() as store:
        stored = store.enrolment(enrolment_id, for_update=True)
        if stored is None:
            raise EnrolmentNotFound(enrolment_id)
        decision = stored.enrolment.cancel(cancelled_at, reason)
        if decision.result is Result.CANCELLED:
            stored = store.save_status(stored, decision.enrolment)
            _publish(store, decision.events, stored.student)
            log.info("enrolment cancelled", extra={"enrolment_id": enrolment_id})
        return CancelOutcome(decision.result, stored)


def enrolment(database: Database, enrolment_id: str) -> StoredEnrolment:
    """One enrolment, ours or another system's; raises EnrolmentNotFound."""
    with database.reading() as store:
        stored = store.enrolment(enrolment_id)
    if stored is None:
        raise EnrolmentNotFound(enrolment_id)
    return stored


def enrolments_of_student(
    database: Database, student_id: str, offset: int = 0, limit: int | None = None
) -> list[StoredEnrolment]:
    """A student's enrolments, oldest first, including those other campus systems published (a page of them)."""
    with database.reading() as store:
        return store.enrolments_of_student(student_id, offset, limit)


def _publish(store: Store, events: tuple[DomainEvent, ...], student: Student) -> None:
    for event in events:
        payload: EventPayload
        if isinstance(event, EnrolmentCreatedEvent):
            payload = to_enrolment_created(event, student)
        else:
            payload = to_enrolment_cancelled(event)
        store.publish(new_event(payload, source=SOURCE))


# --- events on enrolment.events (other systems' and our own; called in the consumer's transaction) ----------


def record_foreign_enrolment(store: Store, event: CloudEvent[EnrolmentCreated]) -> None:
    """Record an enrolment published on the topic; ours (read back) and redeliveries are duplicates: no change."""
    data = event.data
    require_storable(data.student.id, data.student.given_name, data.student.family_name, data.student.email)
    require_storable(data.microcredential.title, *(course.title for course in data.microcredential.courses))
    _require_representable(data.enrolled_at)
    current = store.enrolment(data.enrolment_id, for_update=True)
    pending = store.pending_cancellation(data.enrolment_id) if current is None else None
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
    store.add_enrolment(outcome.enrolment, data.student, "event", recorded_at=_now())
    if pending is not None:
        store.drop_pending_cancellation(data.enrolment_id)
    extra = {"enrolment_id": data.enrolment_id, "source": event.source, "result": outcome.result.value}
    if outcome.note is not None:
        log.warning(outcome.note, extra=extra)
    log.info("enrolment recorded from an event", extra=extra)


def record_foreign_cancellation(store: Store, event: CloudEvent[EnrolmentCancelled]) -> None:
    """Record a cancellation published on the topic; before its enrolment arrives it is kept pending."""
    data = event.data
    if data.reason is not None:
        require_storable(data.reason)
    _require_representable(data.cancelled_at)
    current = store.enrolment(data.enrolment_id, for_update=True)
    pending = store.pending_cancellation(data.enrolment_id) if current is None else None
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
        store.keep_pending_cancellation(outcome.pending, event.source, received_at=_now())
        log.info("cancellation kept until its enrolment arrives", extra=extra)
    elif outcome.result is Result.CANCELLED and current is not None and outcome.enrolment is not None:
        store.save_status(current, outcome.enrolment)
        log.info("enrolment cancelled by an event", extra=extra)


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


def publish_catalogue(database: Database, catalogue: Catalogue) -> int:
    """Queue a MicroCredentialPublished for every entry whose content changed since it was last queued.

    Run at start: a restart with an unchanged catalogue publishes nothing. An entry removed from the files is
    not tombstoned: credentials of past enrolments still need its metadata, and compaction keeps the last one.
    A replica starting at the same moment may record the same keys first (WriteConflict); then we see its
    hashes and queue only what still differs. Returns the number of records queued.
    """
    try:
        with database.unit_of_work() as store:
            return _publish_changed_entries(store, catalogue)
    except WriteConflict:
        with database.unit_of_work() as store:
            return _publish_changed_entries(store, catalogue)


def _publish_changed_entries(store: Store, catalogue: Catalogue) -> int:
    published = store.published_catalogue_hashes()
    queued = 0
    for entry in catalogue:
        payload: EventPayload = to_microcredential_published(entry)
        key = payload.subject()
        content_hash = catalogue_content_hash(payload)
        if published.get(key) == content_hash:
            continue
        event = new_event(payload, source=SOURCE)
        store.publish(event)
        store.record_catalogue_publication(key, content_hash, event.id, published_at=_now())
        queued += 1
    if queued:
        log.info("catalogue entries queued for publication", extra={"count": queued})
    return queued


def _now() -> datetime:
    return datetime.now(UTC)
