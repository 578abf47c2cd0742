"""The kit's consumer handlers of enrolment.events: each builds a Store on the kit's session and calls a use case."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from reliability.consumer import BatchHandler, Handler, Record
from reliability.tracing import consuming

from billing import domain, usecases
from billing.store import Store
from contracts import CloudEvent, EnrolmentCancelled, EnrolmentCreated


def event_handlers(policy: domain.CancellationPolicy) -> dict[str, Handler]:
    """The per-event handlers: what the kit runs to apply a batch one event at a time after a rejection (the kit
    opens each event's trace span); `policy` is the active cancellation policy for new reimbursements."""
    return {
        event_type: lambda session, event: usecases.bill_enrolment_event(Store(session), event, policy)
        for event_type in (EnrolmentCreated.event_type, EnrolmentCancelled.event_type)
    }


def batch_handler(policy: domain.CancellationPolicy) -> BatchHandler:
    """The batch handler: a partition's batch in one use case, each event applied within its own trace span."""
    return lambda session, batch: usecases.bill_enrolment_events(Store(session), _in_spans(batch), policy)


def _in_spans(
    batch: Sequence[tuple[Record, CloudEvent[Any]]],
) -> list[tuple[CloudEvent[Any], AbstractContextManager[None]]]:
    return [(event, consuming(event.type, event.id, event.subject, record.headers)) for record, event in batch]
