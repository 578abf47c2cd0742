"""Billing's use cases: invoice an enrolment, reimburse its cancellation, settle cancellations that came first,
keep the catalogue's tuition and invoice enrolments that waited for it (`billing.usecases.catalogue`).

Tuition comes from the catalogue the enrolment service publishes (catalogue.microcredentials), never from an
EnrolmentCreated alone: the snapshot must agree with the current catalogue entry (`domain.catalogue`), or the
event is rejected with what disagrees; an enrolment whose entry has not arrived waits for it.

They run in the Kafka path, a batch of enrolment events at a time: the store reads what the batch needs with one
query per table, each event is decided here, in memory, and the store writes everything with one INSERT per
table. One event is a batch of one: a single implementation of the rules. The HTTP API's use cases only read.

A redelivered event never reaches a use case (the kit records event identities); what they guard against is a
*different* event about the same enrolment: a second EnrolmentCreated or a second EnrolmentCancelled with a new
id, or a cancellation that arrives before its enrolment.

Published events are deterministic functions of the consumed ones, so replaying enrolment.events into an
empty database publishes the very same billing.events (same ids, same bytes):
- ids are derived from "invoice"/"reimbursement" and the enrolment id (reliability.events.EventIds);
- `time` is the `time` of the consumed event that caused it, in UTC, not the processing time;
- instants are published in UTC, so an event built from a stored row equals one built from the wire.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from reliability.consumer import RejectEvent
from reliability.events import EventIds

from billing import domain
from billing.store import (
    Database,
    EnrolmentRow,
    InvoiceLineRow,
    InvoiceRow,
    PendingCancellationRow,
    ReimbursementLineRow,
    ReimbursementRow,
    Store,
    WaitingEnrolmentRow,
)
from contracts import (
    CloudEvent,
    EnrolmentCancelled,
    EnrolmentCreated,
    MicroCredentialPublished,
    ReimbursementCalculated,
    SemesterAmount,
    TuitionInvoiced,
    catalogue_key,
    new_event,
)

log = logging.getLogger(__name__)

SOURCE = "/services/billing"
EVENT_IDS = EventIds("billing")


def invoice_event_id(enrolment_id: str) -> str:
    return EVENT_IDS.of("invoice", enrolment_id)


def reimbursement_event_id(enrolment_id: str) -> str:
    return EVENT_IDS.of("reimbursement", enrolment_id)


# --- the Kafka path -----------------------------------------------------------------------------------------


def bill_enrolment_events(
    store: Store,
    events: Sequence[tuple[CloudEvent[Any], AbstractContextManager[object]]],
    policy: domain.CancellationPolicy,
) -> None:
    """Apply a partition's batch in order, each event within its context (its trace span); `policy` is the
    active cancellation policy for new reimbursements. A RejectEvent makes the kit start over one at a time. One
    INFO line per batch counts the outcomes; each event's own is at DEBUG (at INFO 60 µs per event, benchmark.md)."""
    store.load_catalogue_and_enrolments(
        (catalogue_key_of(event.data) for event, _ in events if event.type == EnrolmentCreated.event_type),
        (event.data.enrolment_id for event, _ in events),
    )
    outcomes: Counter[str] = Counter()
    for event, context in events:
        with context:
            outcomes[_bill(store, event, policy)] += 1
    store.save()
    log.info("enrolment events billed", extra={"events": len(events), "outcomes": dict(sorted(outcomes.items()))})


def bill_enrolment_event(store: Store, event: CloudEvent[Any], policy: domain.CancellationPolicy) -> None:
    """Apply one EnrolmentCreated or EnrolmentCancelled (the kit has opened the event's trace span)."""
    bill_enrolment_events(store, [(event, nullcontext())], policy)


def _bill(store: Store, event: CloudEvent[Any], policy: domain.CancellationPolicy) -> str:
    if event.type == EnrolmentCreated.event_type:  # returns what became of the event (`domain.Outcome`)
        return invoice(store, event, policy)
    if event.type == EnrolmentCancelled.event_type:
        return reimburse(store, event, policy)
    raise TypeError(f"billing does not handle {event.type}")  # the kit hands over only the types billing registered


def invoice(store: Store, event: CloudEvent[EnrolmentCreated], policy: domain.CancellationPolicy) -> str:
    """Invoice the enrolment from its catalogue entry, or keep it until the entry arrives."""
    data = event.data
    existing = store.billed_enrolment(data.enrolment_id)
    try:
        claimed = _billed_enrolment(event)
    except ValueError as error:  # the contract let it through but the money rules cannot take it
        if existing is not None:
            raise _changed_enrolment(existing) from error
        raise RejectEvent(f"cannot invoice enrolment {data.enrolment_id}: {error}") from error
    waiting = domain.WaitingEnrolment(enrolment=claimed, event_time=event.time)
    if existing is None and store.catalogue_entry(waiting.catalogue_key) is None:
        # catalogue.microcredentials and enrolment.events are not ordered with each other (and a rebuild reads
        # them in any interleaving): keep the enrolment, decide when the entry arrives.
        store.keep_enrolment_waiting(waiting)
        log.info(
            "enrolment waits for its catalogue entry",
            extra={"enrolment_id": data.enrolment_id, "event_id": event.id, "catalogue_key": waiting.catalogue_key},
        )
        return domain.Outcome.WAITING_FOR_CATALOGUE
    return invoice_claimed(store, waiting, policy)


def invoice_claimed(store: Store, waiting: domain.WaitingEnrolment, policy: domain.CancellationPolicy) -> str:
    """Invoice the claimed enrolment if it agrees with its (present) catalogue entry, priced from the entry;
    then settle any cancellation of it that arrived first. Returns INVOICED or ALREADY_INVOICED; a RejectEvent
    before anything is written."""
    claimed = waiting.enrolment
    enrolment_id = claimed.enrolment_id
    existing = store.billed_enrolment(enrolment_id)
    if existing is not None:
        if not existing.describes_the_same_enrolment_as(claimed):
            raise _changed_enrolment(existing)
        # The producer announced the same enrolment again under a new id: already invoiced, nothing to do.
        log.info(
            "enrolment already invoiced", extra={"enrolment_id": enrolment_id, "event_id": claimed.created_event_id}
        )
        return domain.ALREADY_INVOICED
    entry = store.catalogue_entry(waiting.catalogue_key)
    if entry is None:  # callers only come here with the entry present
        raise RuntimeError(f"no catalogue entry {waiting.catalogue_key} to price enrolment {enrolment_id}")
    differences = domain.disagreements(claimed.snapshot, entry)
    if differences:
        raise RejectEvent(_disagreement_reason(enrolment_id, entry, differences))
    enrolment = replace(claimed, snapshot=domain.priced_from_catalogue(claimed.snapshot, entry))
    try:
        computed = domain.compute_invoice(enrolment.snapshot)
    except ValueError as error:
        raise RejectEvent(f"cannot invoice enrolment {enrolment_id}: {error}") from error
    event_id = invoice_event_id(enrolment_id)
    store.add_invoice(enrolment, computed, event_id)
    payload = TuitionInvoiced(
        enrolment_id=enrolment_id,
        student_id=enrolment.student_id,
        microcredential_id=enrolment.microcredential_id,
        academic_year=computed.academic_year,
        currency=computed.currency,
        lines=[semester_amount(line.semester, line.credits, line.amount) for line in computed.lines],
        fixed_fee=computed.fixed_fee,
        total=computed.total,
    )
    # The cause's time, not the moment the catalogue entry let it through: a rebuild publishes the same event.
    time = waiting.event_time.astimezone(UTC)
    store.publish(new_event(payload, source=SOURCE, event_id=event_id, time=time))
    log.debug("tuition invoiced", extra={"enrolment_id": enrolment_id, "event_id": event_id})
    settle_waiting_cancellations(store, enrolment, policy)
    return domain.INVOICED


def reimburse(store: Store, event: CloudEvent[EnrolmentCancelled], policy: domain.CancellationPolicy) -> str:
    """Compute and announce the reimbursement, or keep the cancellation until its enrolment arrives."""
    data = event.data
    cancellation = domain.WaitingCancellation(
        enrolment_id=data.enrolment_id,
        event_source=event.source,
        event_id=event.id,
        event_time=event.time,
        cancelled_at=data.cancelled_at,
    )
    enrolment = store.billed_enrolment(data.enrolment_id)
    if enrolment is None:
        # Two producers, two partitions or a replay can deliver the cancellation first: keep it, settle later.
        store.keep_waiting(cancellation)
        log.info(
            "cancellation waits for its enrolment", extra={"enrolment_id": data.enrolment_id, "event_id": event.id}
        )
        return domain.Outcome.WAITING_FOR_ENROLMENT
    first = store.first_cancellation(data.enrolment_id)
    if first is not None:
        log.info(
            "enrolment already reimbursed; the first cancellation stands",
            extra={"enrolment_id": data.enrolment_id, "event_id": event.id, "first_cancellation_event_id": first},
        )
        return domain.Outcome.ALREADY_REIMBURSED
    try:
        _reimburse(store, enrolment, cancellation, policy)
    except domain.CancellationBeforeEnrolmentError as error:
        raise RejectEvent(_before_enrolment_reason(enrolment, data.cancelled_at)) from error
    return domain.Outcome.REIMBURSED


def settle_waiting_cancellations(
    store: Store, enrolment: domain.BilledEnrolment, policy: domain.CancellationPolicy
) -> None:
    """Resolve the cancellations that arrived before the enrolment, in arrival order; the first valid one wins."""
    settled: domain.WaitingCancellation | None = None
    for pending in store.take_waiting_cancellations(enrolment.enrolment_id):
        if settled is not None:
            reason = f"cancellation {settled.event_id} of this enrolment was settled first"
            store.resolve(pending, domain.SUPERSEDED, reason)
            continue
        try:
            _reimburse(store, enrolment, pending, policy)
        except domain.CancellationBeforeEnrolmentError:
            # The cancellation's own message is long committed, so it cannot go to the DLQ any more; it stays
            # here, visible to operators, with the same reason the DLQ would have carried.
            store.resolve(pending, domain.REJECTED, _before_enrolment_reason(enrolment, pending.cancelled_at))
            log.warning(
                "waiting cancellation rejected",
                extra={"enrolment_id": enrolment.enrolment_id, "event_id": pending.event_id},
            )
            continue
        store.resolve(pending, domain.SETTLED)
        settled = pending


def _reimburse(
    store: Store,
    enrolment: domain.BilledEnrolment,
    cancellation: domain.WaitingCancellation,
    policy: domain.CancellationPolicy,
) -> None:
    """Compute with the policy, store the figures and queue ReimbursementCalculated (also for a zero refund)."""
    result = domain.calculate_reimbursement(enrolment.snapshot, cancellation.cancelled_at, policy)
    enrolment_id = enrolment.enrolment_id
    event_id = reimbursement_event_id(enrolment_id)
    store.add_reimbursement(cancellation, result, event_id)
    reference = domain.policy_reference(policy)
    payload = ReimbursementCalculated(
        enrolment_id=enrolment_id,
        cancelled_at=cancellation.cancelled_at.astimezone(UTC),
        policy=reference,
        rule=result.rule_id,
        currency=result.currency,
        lines=[semester_amount(line.semester, line.credits, line.refunded) for line in result.lines],
        fixed_fee=result.fixed_fee,
        total=result.total,
    )
    time = cancellation.event_time.astimezone(UTC)
    store.publish(new_event(payload, source=SOURCE, event_id=event_id, time=time))
    ids = {"enrolment_id": enrolment_id, "event_id": event_id}
    log.debug("reimbursement calculated", extra={**ids, "policy": reference, "rule": result.rule_id})


# --- the HTTP API -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    enrolment: EnrolmentRow
    invoice: InvoiceRow
    invoice_lines: list[InvoiceLineRow]
    reimbursement: ReimbursementRow | None
    reimbursement_lines: list[ReimbursementLineRow]


@dataclass(frozen=True)
class ReimbursementEntry:
    reimbursement: ReimbursementRow
    enrolment: EnrolmentRow
    lines: list[ReimbursementLineRow]


def statement_of(database: Database, enrolment_id: str) -> Statement | None:
    """What billing stored of an enrolment: invoice (with lines) and reimbursement (with lines), if any."""
    with database.reading() as store:
        enrolment = store.enrolment(enrolment_id)
        invoice_row = store.invoice(enrolment_id)
        if enrolment is None or invoice_row is None:
            return None
        reimbursement = store.reimbursement(enrolment_id)
        return Statement(
            enrolment=enrolment,
            invoice=invoice_row,
            invoice_lines=store.invoice_lines(enrolment_id),
            reimbursement=reimbursement,
            reimbursement_lines=[] if reimbursement is None else store.reimbursement_lines(enrolment_id),
        )


def has_waiting_cancellation(database: Database, enrolment_id: str) -> bool:
    with database.reading() as store:
        return bool(store.pending_cancellations(enrolment_id=enrolment_id))


def reimbursements_of(
    database: Database,
    academic_year: str | None,
    *,
    student_id: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[ReimbursementEntry]:
    """Reimbursements (of one academic year, of one student) with enrolment and lines, in enrolment-id order."""
    with database.reading() as store:
        rows = store.reimbursements(academic_year, student_id=student_id, offset=offset, limit=limit)
        lines = store.lines_of_reimbursements([reimbursement.enrolment_id for reimbursement, _ in rows])
    return [
        ReimbursementEntry(reimbursement, enrolment, lines[reimbursement.enrolment_id])
        for reimbursement, enrolment in rows
    ]


def pending_cancellations(
    database: Database, status: str, offset: int = 0, limit: int | None = None
) -> list[PendingCancellationRow]:
    """Cancellations that arrived before their enrolment, with this outcome, in arrival order (a page of them)."""
    with database.reading() as store:
        return store.pending_cancellations(statuses=(status,), offset=offset, limit=limit)


def waiting_enrolments(database: Database, status: str) -> list[WaitingEnrolmentRow]:
    """Enrolments that arrived before their catalogue entry, with this outcome, in arrival order."""
    with database.reading() as store:
        return store.waiting_enrolments(statuses=(status,))


# --- mapping the contract onto the domain --------------------------------------------------------------------


def catalogue_key_of(data: EnrolmentCreated | MicroCredentialPublished) -> str:
    if isinstance(data, EnrolmentCreated):
        return catalogue_key(data.microcredential.academic_year, data.microcredential.id)
    return catalogue_key(data.academic_year, data.microcredential_id)


def _disagreement_reason(enrolment_id: str, entry: domain.CatalogueEntry, differences: list[str]) -> str:
    return (
        f"enrolment {enrolment_id} disagrees with catalogue entry {entry.key}: {'; '.join(differences)}; "
        "billing invoices only the catalogue's tuition and courses"
    )


def _billed_enrolment(event: CloudEvent[EnrolmentCreated]) -> domain.BilledEnrolment:
    data = event.data
    return domain.BilledEnrolment(
        enrolment_id=data.enrolment_id,
        student_id=data.student.id,
        microcredential_id=data.microcredential.id,
        snapshot=snapshot_from_event(data),
        created_event_source=event.source,
        created_event_id=event.id,
    )


def snapshot_from_event(data: EnrolmentCreated) -> domain.EnrolmentSnapshot:
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


def semester_amount(semester: int, credits: Decimal, amount: Decimal) -> SemesterAmount:
    # Validated like a wire value: the domain's semester is a plain int, the contract's a Literal[1, 2]. The
    # domain sums credits from a money zero ("0.00"), so "6.00" is normalised to the contract's "6".
    return SemesterAmount.model_validate(
        {"semester": semester, "credits": format(credits.normalize(), "f"), "amount": amount}
    )


def _changed_enrolment(existing: domain.BilledEnrolment) -> RejectEvent:
    return RejectEvent(
        f"enrolment {existing.enrolment_id} was already invoiced from event {existing.created_event_id} "
        "with different courses or terms; an invoice is never changed by a later EnrolmentCreated"
    )


def _before_enrolment_reason(enrolment: domain.BilledEnrolment, cancelled_at: datetime) -> str:
    return (
        f"cancellation of enrolment {enrolment.enrolment_id} is dated {cancelled_at.astimezone(UTC).isoformat()}, "
        f"before the enrolment itself ({enrolment.snapshot.enrolled_at.astimezone(UTC).isoformat()}); refused rather "
        "than guessing a refund: the producer must send a corrected EnrolmentCancelled"
    )
