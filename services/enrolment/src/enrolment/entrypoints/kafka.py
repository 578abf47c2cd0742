"""Enrolment's FastStream subscriber of enrolment.events (what other campus systems publish): decoded event -> one
use case, in the kit's transaction (the processed-event record, the state change and its outbox rows commit
together; offsets are committed after it, never before)."""

from __future__ import annotations

from typing import Any

from reliability.consumer import EventSession, Handler
from reliability.subscribers import KafkaKit, Subscribers

from contracts import CloudEvent, EnrolmentCancelled, EnrolmentCreated
from enrolment import usecases
from enrolment.store import Store


def subscribers() -> Subscribers:
    def declare(kit: KafkaKit) -> None:
        @kit.handler(EnrolmentCreated)
        def record_enrolment(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_foreign_enrolment(Store(session), event)

        @kit.handler(EnrolmentCancelled)
        def record_cancellation(session: EventSession, event: CloudEvent[Any]) -> None:
            usecases.record_foreign_cancellation(Store(session), event)

    return declare


def event_handlers() -> dict[str, Handler]:
    """The handler of each CloudEvents type the subscriber applies (for applying events without a broker)."""
    return KafkaKit.declared(subscribers()).handlers()
