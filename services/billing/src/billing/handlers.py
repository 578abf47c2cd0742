"""Billing's use cases, one handler per consumed event type, run by the kit's idempotent consumer.

Each handler maps the contract onto the domain, calls it, stores the figures and queues the event announcing
them, all in the session (one transaction) the kit gives it. A redelivered event never reaches a handler (the
kit records event identities); what the handlers guard against is a *different* event about the same
enrolment: a second EnrolmentCreated or a second EnrolmentCancelled with a new id.

Published events are deterministic functions of the consumed ones, so replaying enrolment.events into an
empty database publishes the very same billing.events (same ids, same bytes):
- ids are UUIDv5 of "invoice:<enrolment id>" / "reimbursement:<enrolment id>";
- `time` is the `time` of the consumed event that caused it, in UTC, not the processing time;
- instants are published in UTC, so an event built from a stored row equals one built from the wire.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from reliability.consumer import Handler, RejectEvent
from reliability.outbox import add_to_outbox
from sqlalchemy import text
from sqlmodel import Session

from billing import domain, storage
from billing.config import policy_reference
from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    ReimbursementCalculated,
    SemesterAmount,
    TuitionInvoiced,
    new_event,
)

log = logging.getLogger(__name__)

SOURCE = "/services/billing"
_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:microcredentials:services:billing")


def invoice_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"invoice:{enrolment_id}"))


def reimbursement_event_id(enrolment_id: str) -> str:
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"reimbursement:{enrolment_id}"))


def handlers_for(policy: domain.CancellationPolicy) -> Mapping[str, Handler]:
    """The kit's handler table; `policy` is the active cancellation policy for new reimbursements."""
    return {
        EnrolmentCreated.event_type: partial(on_enrolment_created, policy=policy),
        EnrolmentCancelled.event_type: partial(on_enrolment_cancelled, policy=policy),
    }


# --- use cases ----------------------------------------------------------------------------------------------


def on_enrolment_created(
    session: Session, event: CloudEvent[EnrolmentCreated], *, policy: domain.CancellationPolicy
) -> None:
    """Invoice the enrolment; then settle any cancellation of it that arrived first."""
    data = event.data
    lock_enrolment(session, data.enrolment_id)
    existing = storage.get_enrolment(session, data.enrolment_id)
    if existing is not None:
        if _courses_json(data) == existing.courses and _same_terms(existing, data):
            # The producer announced the same enrolment again under a new id: already invoiced, nothing to do.
            log.info("enrolment already invoiced", extra={"enrolment_id": data.enrolment_id, "event_id": event.id})
            return
        raise RejectEvent(
            f"enrolment {data.enrolment_id} was already invoiced from event {existing.created_event_id} with "
            "different courses or terms; an invoice is never changed by a later EnrolmentCreated"
        )
    try:
        snapshot = _snapshot_from_event(data)
        invoice = domain.compute_invoice(snapshot)
    except ValueError as error:  # the contract let it through but the money rules cannot price it
        raise RejectEvent(f"cannot invoice enrolment {data.enrolment_id}: {error}") from error

    now = datetime.now(UTC)
    enrolment = storage.Enrolment(
        enrolment_id=data.enrolment_id,
        student_id=data.student.id,
        microcredential_id=data.microcredential.id,
        academic_year=data.microcredential.academic_year,
        currency=data.tuition.currency,
        per_credit=data.tuition.per_credit,
        fixed_fee=data.tuition.fixed_fee,
        enrolled_at=data.enrolled_at,
        courses=_courses_json(data),
        created_event_source=event.source,
        created_event_id=event.id,
        recorded_at=now,
    )
    session.add(enrolment)
    session.flush()  # parent rows first: PostgreSQL checks foreign keys per statement
    event_id = invoice_event_id(data.enrolment_id)
    session.add(
        storage.Invoice(
            enrolment_id=data.enrolment_id,
            event_id=event_id,
            currency=invoice.currency,
            fixed_fee=invoice.fixed_fee,
            total=invoice.total,
            recorded_at=now,
        )
    )
    session.flush()
    for line in invoice.lines:
        session.add(
            storage.InvoiceLine(
                enrolment_id=data.enrolment_id, semester=line.semester, credits=line.credits, amount=line.amount
            )
        )
    payload = TuitionInvoiced(
        enrolment_id=data.enrolment_id,
        student_id=data.student.id,
        microcredential_id=data.microcredential.id,
        academic_year=invoice.academic_year,
        currency=invoice.currency,
        lines=[_semester_amount(line.semester, line.credits, line.amount) for line in invoice.lines],
        fixed_fee=invoice.fixed_fee,
        total=invoice.total,
    )
    add_to_outbox(session, new_event(payload, source=SOURCE, event_id=event_id, time=event.time.astimezone(UTC)))
    log.info("tuition invoiced", extra={"enrolment_id": data.enrolment_id, "event_id": event_id})
    _settle_waiting_cancellations(session, enrolment, snapshot, policy, now)


def on_enrolment_cancelled(
    session: Session, event: CloudEvent[EnrolmentCancelled], *, policy: domain.CancellationPolicy
) -> None:
    """Compute and announce the reimbursement, or keep the cancellation until its enrolment arrives."""
    data = event.data
    lock_enrolment(session, data.enrolment_id)
    enrolment = storage.get_enrolment(session, data.enrolment_id)
    if enrolment is None:
        # Two producers, two partitions or a replay can deliver the cancellation first: keep it, settle later.
        session.add(
            storage.PendingCancellation(
                enrolment_id=data.enrolment_id,
                event_source=event.source,
                event_id=event.id,
                event_time=event.time,
                cancelled_at=data.cancelled_at,
                received_at=datetime.now(UTC),
                status=storage.WAITING,
            )
        )
        log.info(
            "cancellation waits for its enrolment", extra={"enrolment_id": data.enrolment_id, "event_id": event.id}
        )
        return
    existing = storage.get_reimbursement(session, data.enrolment_id)
    if existing is not None:
        log.info(
            "enrolment already reimbursed; the first cancellation stands",
            extra={
                "enrolment_id": data.enrolment_id,
                "event_id": event.id,
                "first_cancellation_event_id": existing.cancellation_event_id,
            },
        )
        return
    try:
        _reimburse(
            session,
            enrolment,
            snapshot_of(enrolment),
            policy,
            cancelled_at=data.cancelled_at,
            cancellation_source=event.source,
            cancellation_event_id=event.id,
            event_time=event.time,
        )
    except domain.CancellationBeforeEnrolmentError as error:
        raise RejectEvent(_before_enrolment_reason(data.enrolment_id, data.cancelled_at, enrolment)) from error


# --- helpers ------------------------------------------------------------------------------------------------


def lock_enrolment(session: Session, enrolment_id: str) -> None:
    """Serialise the handling of one enrolment across replicas until this transaction ends.

    An enrolment and a cancellation that overtook it (another partition) can be applied by two replicas at
    once. Under PostgreSQL's READ COMMITTED each would miss the other's uncommitted row: the cancellation
    would be stored as waiting after the enrolment looked for waiting ones, and wait forever. Both handlers
    take this lock first, so the second sees what the first committed. SQLite needs none: the kit begins
    every transaction with BEGIN IMMEDIATE, which already serialises writers.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"billing-enrolment:{enrolment_id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)  # advisory lock keys are signed 64-bit integers
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _settle_waiting_cancellations(
    session: Session,
    enrolment: storage.Enrolment,
    snapshot: domain.EnrolmentSnapshot,
    policy: domain.CancellationPolicy,
    now: datetime,
) -> None:
    """Resolve the cancellations that arrived before the enrolment, in arrival order; the first valid one wins."""
    settled: storage.PendingCancellation | None = None
    for pending in storage.pending_cancellations(session, enrolment_id=enrolment.enrolment_id):
        pending.resolved_at = now
        if settled is not None:
            pending.status = storage.SUPERSEDED
            pending.status_reason = f"cancellation {settled.event_id} of this enrolment was settled first"
            continue
        try:
            _reimburse(
                session,
                enrolment,
                snapshot,
                policy,
                cancelled_at=pending.cancelled_at,
                cancellation_source=pending.event_source,
                cancellation_event_id=pending.event_id,
                event_time=pending.event_time,
            )
        except domain.CancellationBeforeEnrolmentError:
            # The cancellation's own message is long committed, so it cannot go to the DLQ any more; it stays
            # here, visible to operators, with the same reason the DLQ would have carried.
            pending.status = storage.REJECTED
            pending.status_reason = _before_enrolment_reason(enrolment.enrolment_id, pending.cancelled_at, enrolment)
            log.warning(
                "waiting cancellation rejected",
                extra={"enrolment_id": enrolment.enrolment_id, "event_id": pending.event_id},
            )
            continue
        pending.status = storage.SETTLED
        settled = pending


def _reimburse(
    session: Session,
    enrolment: storage.Enrolment,
    snapshot: domain.EnrolmentSnapshot,
    policy: domain.CancellationPolicy,
    *,
    cancelled_at: datetime,
    cancellation_source: str,
    cancellation_event_id: str,
    event_time: datetime,
) -> None:
    """Compute with `policy`, store the figures and queue ReimbursementCalculated (also for a zero refund)."""
    result = domain.calculate_reimbursement(snapshot, cancelled_at, policy)
    event_id = reimbursement_event_id(enrolment.enrolment_id)
    session.add(
        storage.Reimbursement(
            enrolment_id=enrolment.enrolment_id,
            event_id=event_id,
            cancellation_event_source=cancellation_source,
            cancellation_event_id=cancellation_event_id,
            cancelled_at=cancelled_at,
            policy_id=result.policy_id,
            policy_version=str(result.policy_version),
            rule=result.rule_id,
            currency=result.currency,
            fixed_fee=result.fixed_fee,
            total=result.total,
            recorded_at=datetime.now(UTC),
        )
    )
    session.flush()
    for line in result.lines:
        session.add(
            storage.ReimbursementLine(
                enrolment_id=enrolment.enrolment_id,
                semester=line.semester,
                credits=line.credits,
                invoiced=line.invoiced,
                refunded=line.refunded,
            )
        )
    payload = ReimbursementCalculated(
        enrolment_id=enrolment.enrolment_id,
        cancelled_at=cancelled_at.astimezone(UTC),
        policy=policy_reference(policy),
        rule=result.rule_id,
        currency=result.currency,
        lines=[_semester_amount(line.semester, line.credits, line.refunded) for line in result.lines],
        fixed_fee=result.fixed_fee,
        total=result.total,
    )
    add_to_outbox(session, new_event(payload, source=SOURCE, event_id=event_id, time=event_time.astimezone(UTC)))
    log.info(
        "reimbursement calculated",
        extra={
            "enrolment_id": enrolment.enrolment_id,
            "event_id": event_id,
            "policy": policy_reference(policy),
            "rule": result.rule_id,
        },
    )


def _before_enrolment_reason(enrolment_id: str, cancelled_at: datetime, enrolment: storage.Enrolment) -> str:
    return (
        f"cancellation of enrolment {enrolment_id} is dated {cancelled_at.astimezone(UTC).isoformat()}, before "
        f"the enrolment itself ({enrolment.enrolled_at.astimezone(UTC).isoformat()}); refused rather than "
        "guessing a refund: the producer must send a corrected EnrolmentCancelled"
    )


def _snapshot_from_event(data: EnrolmentCreated) -> domain.EnrolmentSnapshot:
    return domain.EnrolmentSnapshot(
        academic_year=data.microcredential.academic_year,
        courses=tuple(
            domain.Course(id=course.id, credits=course.credits, semester=course.semester)
            for course in data.microcredential.courses
        ),
        terms=domain.TuitionTerms(
            currency=data.tuition.currency, fixed_fee=data.tuition.fixed_fee, per_credit=data.tuition.per_credit
        ),
        enrolled_at=data.enrolled_at,
    )


def snapshot_of(enrolment: storage.Enrolment) -> domain.EnrolmentSnapshot:
    """The domain snapshot of a stored enrolment (the same one the invoice was computed from)."""
    return domain.EnrolmentSnapshot(
        academic_year=enrolment.academic_year,
        courses=tuple(
            domain.Course(id=course["id"], credits=Decimal(course["credits"]), semester=course["semester"])
            for course in enrolment.courses
        ),
        terms=domain.TuitionTerms(
            currency=enrolment.currency, fixed_fee=enrolment.fixed_fee, per_credit=enrolment.per_credit
        ),
        enrolled_at=enrolment.enrolled_at,
    )


def _semester_amount(semester: int, credits: Decimal, amount: Decimal) -> SemesterAmount:
    # Validated like a wire value: the domain's semester is a plain int, the contract's a Literal[1, 2]. The
    # domain sums credits from a money zero ("0.00"), so "6.00" is normalised to the contract's "6".
    return SemesterAmount.model_validate(
        {"semester": semester, "credits": format(credits.normalize(), "f"), "amount": amount}
    )


def _courses_json(data: EnrolmentCreated) -> list[dict[str, object]]:
    return [
        {"id": course.id, "credits": format(course.credits.normalize(), "f"), "semester": course.semester}
        for course in data.microcredential.courses
    ]


def _same_terms(enrolment: storage.Enrolment, data: EnrolmentCreated) -> bool:
    return (
        enrolment.student_id == data.student.id
        and enrolment.microcredential_id == data.microcredential.id
        and enrolment.academic_year == data.microcredential.academic_year
        and enrolment.currency == data.tuition.currency
        and enrolment.per_credit == data.tuition.per_credit
        and enrolment.fixed_fee == data.tuition.fixed_fee
        and enrolment.enrolled_at == data.enrolled_at
    )
