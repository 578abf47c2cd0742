"""The kit's consumer handlers of enrolment.events: each builds a Store on the kit's session and calls a use case."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reliability.consumer import BatchHandler, Handler, Record
from reliability.tracing import consuming
from sqlmodel import Session

from billing import domain, usecases
from billing.store import Store
from contracts import CloudEvent, EnrolmentCancelled, EnrolmentCreated


def event_handlers(policy: domain.CancellationPolicy) -> dict[str, Handler]:
    """The per-event handlers: what the kit runs to apply a batch one event at a time after a rejection."""

    def handle(session: Session, event: CloudEvent[Any]) -> None:
        usecases.bill_enrolment_event(Store(session), event, policy)

    return {EnrolmentCreated.event_type: handle, EnrolmentCancelled.event_type: handle}


def batch_handler(policy: domain.CancellationPolicy) -> BatchHandler:
    """The batch handler; `policy` is the active cancellation policy for new reimbursements."""

    def handle(session: Session, batch: Sequence[tuple[Record, CloudEvent[Any]]]) -> None:
        spans = [(event, consuming(event.type, event.id, event.subject, record.headers)) for record, event in batch]
        usecases.bill_enrolment_events(Store(session), spans, policy)

    return handle
