"""Billing's FastStream subscriber of enrolment.events: decoded event -> use case, in the kit's transaction.

The kit (`reliability.subscribers`) turns this declaration into a batch subscriber of the topic on its
`KafkaBroker`, with manual acknowledgement: offsets are committed after the database commit, never before.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from reliability.consumer import BatchHandler, EventSession, Handler, Record
from reliability.subscribers import KafkaKit, Subscribers
from reliability.tracing import consuming

from billing import domain, usecases
from billing.store import Store
from contracts import CloudEvent, EnrolmentCancelled, EnrolmentCreated, topics


def subscribers(policy: domain.CancellationPolicy) -> Subscribers:
    """`policy` is the active cancellation policy for new reimbursements."""

    def declare(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCreated, EnrolmentCancelled)
        def bill(session: EventSession, event: CloudEvent[Any]) -> None:
            # The reference, and the path after a rejection: the kit opens this event's span and savepoint.
            usecases.bill_enrolment_event(Store(session), event, policy)

        @kit.batch_handler(topics.ENROLMENT_EVENTS)
        def bill_batch(session: EventSession, batch: Sequence[tuple[Record, CloudEvent[Any]]]) -> None:
            usecases.bill_enrolment_events(Store(session), _in_spans(batch), policy)

    return declare


def event_handlers(policy: domain.CancellationPolicy) -> dict[str, Handler]:
    """The per-event handlers the subscriber applies (for applying events without a broker)."""
    return KafkaKit.declared(subscribers(policy)).handlers()


def batch_handler(policy: domain.CancellationPolicy) -> BatchHandler:
    """The subscriber's batch handler (for applying batches without a broker)."""
    return KafkaKit.declared(subscribers(policy)).batch_handlers()[topics.ENROLMENT_EVENTS]


def _in_spans(
    batch: Sequence[tuple[Record, CloudEvent[Any]]],
) -> list[tuple[CloudEvent[Any], AbstractContextManager[None]]]:
    return [(event, consuming(event.type, event.id, event.subject, record.headers)) for record, event in batch]
