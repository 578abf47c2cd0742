"""Billing keeps the catalogue: the latest entry per key, and the enrolments that waited for it are invoiced.

The catalogue (catalogue.microcredentials, compacted) is what the enrolment service published; it, not an
EnrolmentCreated, says what a micro-credential costs. An entry dated in the future beyond the clock skew is
refused (it would stay "latest" until that date); one dated before the entry kept is older news and ignored.
Recording an entry decides every enrolment that waited for it, in arrival order, with the same rule as an
enrolment that finds its entry present (`invoice_claimed`): a rebuild reads the two topics in any interleaving
and must invoice the same.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from reliability.consumer import RejectEvent
from reliability.provenance import future_time_reason

from billing import domain
from billing.store import Store
from billing.usecases import catalogue_key_of, invoice_claimed
from contracts import CloudEvent, MicroCredentialPublished

log = logging.getLogger(__name__)


def record_catalogue_entries(
    store: Store,
    events: Sequence[tuple[CloudEvent[Any], AbstractContextManager[object]]],
    policy: domain.CancellationPolicy,
    now: datetime,
) -> None:
    """Keep the latest catalogue entry per key and invoice the enrolments that waited for it; `now` is this
    service's clock, against which an entry dated in the future is refused. A RejectEvent makes the kit start
    over one at a time."""
    keys = [catalogue_key_of(event.data) for event, _ in events]
    store.load_catalogue(keys, shared=False)
    store.load_enrolments(store.load_waiting_enrolments(keys))
    for event, context in events:
        with context:
            record_catalogue_entry(store, event, policy, now)
    store.save()


def record_catalogue_event(
    store: Store, event: CloudEvent[Any], policy: domain.CancellationPolicy, now: datetime
) -> None:
    """Apply one MicroCredentialPublished (the kit has opened the event's trace span)."""
    record_catalogue_entries(store, [(event, nullcontext())], policy, now)


def record_catalogue_entry(
    store: Store, event: CloudEvent[MicroCredentialPublished], policy: domain.CancellationPolicy, now: datetime
) -> None:
    data = event.data
    key = catalogue_key_of(data)
    future = future_time_reason(event.time, now)
    if future is not None:
        # It would win every "latest entry" comparison until that date and freeze the tuition.
        raise RejectEvent(f"catalogue entry {key} refused: {future}")
    current_time = store.catalogue_entry_time(key)
    if current_time is not None and event.time < current_time:
        log.info("older catalogue entry ignored", extra={"catalogue_key": key, "event_id": event.id})
        return
    try:
        entry = _catalogue_entry(data)
    except ValueError as error:
        raise RejectEvent(f"cannot price from catalogue entry {key}: {error}") from error
    store.put_catalogue_entry(entry, event_source=event.source, event_id=event.id, event_time=event.time)
    released: Counter[str] = Counter()
    for waiting in store.take_waiting_enrolments(key):
        enrolment_id = waiting.enrolment.enrolment_id
        try:
            outcome = invoice_claimed(store, waiting, policy)
        except RejectEvent as rejected:
            # The enrolment's own message is long committed, so it cannot go to the DLQ any more; it stays in
            # the waiting table, visible to operators, with the reason the DLQ would have carried.
            store.resolve_enrolment(waiting, domain.REJECTED, rejected.reason)
            log.warning(
                "waiting enrolment rejected",
                extra={"enrolment_id": enrolment_id, "event_id": waiting.enrolment.created_event_id},
            )
            released[domain.REJECTED] += 1
            continue
        store.resolve_enrolment(waiting, outcome)
        released[outcome] += 1
    # The invoices' own lines are at DEBUG (`usecases.invoice_claimed`): this one counts them.
    log.info(
        "catalogue entry recorded",
        extra={"catalogue_key": key, "event_id": event.id, "waiting_enrolments": dict(sorted(released.items()))},
    )


def _catalogue_entry(data: MicroCredentialPublished) -> domain.CatalogueEntry:
    return domain.CatalogueEntry(
        academic_year=data.academic_year,
        microcredential_id=data.microcredential_id,
        courses=tuple(
            domain.Course(id=course.id, credits=course.credits, semester=course.semester) for course in data.courses
        ),
        terms=domain.TuitionTerms(
            currency=data.tuition.currency, fixed_fee=data.tuition.fixed_fee, per_credit=data.tuition.per_credit
        ),
    )
