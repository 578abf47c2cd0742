"""Billing's FastStream subscribers of enrolment.events and catalogue.microcredentials: decoded event -> use
case, in the kit's transaction.

The kit (`reliability.subscribers`) turns these declarations into a batch subscriber per topic on its
`KafkaBroker`, with manual acknowledgement: offsets are committed after the database commit, never before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from reliability.consumer import BatchHandler, EventSession, Handler, Record
from reliability.subscribers import KafkaKit, Subscribers
from reliability.tracing import consuming

from billing import domain, usecases
from billing.store import Store
from billing.usecases import catalogue
from contracts import CloudEvent, EnrolmentCancelled, EnrolmentCreated, MicroCredentialPublished, topics

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def subscribers(policy: domain.CancellationPolicy, clock: Clock = _utc_now) -> Subscribers:
    """`policy` is the active cancellation policy for new reimbursements; `clock` tells catalogue entries dated
    in the future from plausible ones."""

    def declare(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCreated, EnrolmentCancelled)
        def bill(session: EventSession, event: CloudEvent[Any]) -> None:
            # The reference, and the path after a rejection: the kit opens this event's span and savepoint.
            usecases.bill_enrolment_event(Store(session), event, policy)

        @kit.batch_handler(topics.ENROLMENT_EVENTS)
        def bill_batch(session: EventSession, batch: Sequence[tuple[Record, CloudEvent[Any]]]) -> None:
            usecases.bill_enrolment_events(Store(session), _in_spans(batch), policy)

        @kit.handler(MicroCredentialPublished)
        def record_catalogue_entry(session: EventSession, event: CloudEvent[Any]) -> None:
            catalogue.record_catalogue_event(Store(session), event, policy, clock())

        @kit.batch_handler(topics.CATALOGUE)
        def record_catalogue_batch(session: EventSession, batch: Sequence[tuple[Record, CloudEvent[Any]]]) -> None:
            catalogue.record_catalogue_entries(Store(session), _in_spans(batch), policy, clock())

    return declare


def event_handlers(policy: domain.CancellationPolicy, clock: Clock = _utc_now) -> dict[str, Handler]:
    """The per-event handlers the subscribers apply (for applying events without a broker)."""
    return KafkaKit.declared(subscribers(policy, clock)).handlers()


def batch_handler(policy: domain.CancellationPolicy) -> BatchHandler:
    """The enrolment.events subscriber's batch handler (for applying batches without a broker)."""
    return KafkaKit.declared(subscribers(policy)).batch_handlers()[topics.ENROLMENT_EVENTS]


def batch_handlers(policy: domain.CancellationPolicy, clock: Clock = _utc_now) -> dict[str, BatchHandler]:
    """Topic -> the batch handler of its subscriber (for applying batches without a broker)."""
    return KafkaKit.declared(subscribers(policy, clock)).batch_handlers()


def _in_spans(
    batch: Sequence[tuple[Record, CloudEvent[Any]]],
) -> list[tuple[CloudEvent[Any], AbstractContextManager[None]]]:
    return [(event, consuming(event.type, event.id, event.subject, record.headers)) for record, event in batch]
